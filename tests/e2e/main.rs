//! End-to-end tests: the real `ferry` binary, run as a user runs it, one module per scenario.
//!
//! These sources live at the workspace's `tests/` and are compiled as the `e2e` integration
//! test of the `ferry-cli` package, so cargo always builds the binary they run.

mod support;

mod cp_azure;
mod cp_basic;
mod cp_errors;
mod cp_gcs;
mod cp_hdfs;
mod cp_integrity;
mod cp_resume;
mod cp_s3;
mod fault_suite;
mod flink_claim;
mod flink_control;
mod flink_restore;
mod hardening_input;
mod hardening_tree;
mod inspect;
mod install;
mod kill_trials;
mod lifecycle;
mod migrate;
mod rclone_options;
mod secrets;
mod snapshot_traps;
mod timeouts;
mod typos;
mod unattended_logs;
mod unattended_rerun;
