//! ferry's S3 backend: `s3://`, `s3a://`, `s3n://` and `s3p://` (Flink's and Hadoop's spellings
//! of one store) on aws-sdk-s3, for AWS and S3-compatible stores.
//!
//! * **One store per endpoint and credentials**, serving every bucket (the location's
//!   authority). Copies between two locations of one store run server-side (`CopyObject`, or
//!   parallel `UploadPartCopy` above `copy_threshold`); across endpoints or accounts they stream
//!   through ferry.
//! * **Configuration** from `BackendOptions` (per side: `endpoint`, `region`, `profile`,
//!   `path_style`, `access_key_id`, `secret_access_key`, `session_token`, `anonymous`,
//!   `ca_bundle`, `copy_threshold`, `copy_part_size`, `copy_concurrency`), a Flink configuration
//!   (`flink_conf_dir`: endpoint, region, path-style access, access and secret key, session
//!   token, under every spelling Flink's S3 filesystems accept — see [`flink_conf`]) and the
//!   SDK's standard credential chain. See `docs/backends/s3.md`.
//! * **Integrity**: every PUT and part carries the CRC32C ferry computed while reading; the
//!   server verifies it, multipart uploads ask for a full-object CRC32C, and `stat`/`checksum`
//!   report it, so the engine verifies copies without reading them back.
//! * **Large objects**: parallel multipart uploads (part `index` is part number `index + 1`,
//!   the upload id is the resume token) and parallel ranged GETs, both driven by the engine
//!   within its memory budget; failed uploads are aborted.
//!
//! Layout: [`backend`] (the `Storage` and its factory), `core` (every SDK call), `reader`,
//! `writer`, `copy`, `error` (the error table), [`config`] and [`flink_conf`] (settings).

pub mod backend;
mod checksum;
pub mod config;
mod copy;
mod core;
mod error;
pub mod flink_conf;
mod reader;
mod writer;

pub use backend::{register, S3Factory, S3Storage};
pub use config::S3Settings;
pub use writer::{S3Upload, S3Writer};
