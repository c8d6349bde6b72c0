//! Snapshot lifecycle: disposing a snapshot (`ferry dispose`) and collecting the garbage of
//! savepoint directories and checkpoint bases under a retention policy (`ferry gc`), deleting
//! exactly the files no kept snapshot needs.
//!
//! * [`policy`] — which snapshots a retention policy keeps, per job, and why.
//! * [`plan`] — find every snapshot under the roots, decide its fate, gather what the kept ones
//!   reference (with the closure code `migrate` uses), and decide every listed file.
//! * [`delete`] — carry a plan out: completion markers first, then files in batches, then
//!   the emptied snapshot directories.
//!
//! Safety rules (see `docs/lifecycle.md`):
//! * a file is deleted only if no kept complete snapshot under the roots references it;
//! * a snapshot whose `_metadata` cannot be decoded is kept, and while one is kept nothing at
//!   all is deleted (it may reference any file);
//! * any listing or read error ends the run before the first deletion; a `gc` root holding no
//!   complete snapshot is an error, never "everything is garbage";
//! * files younger than the grace period outside kept snapshots, and the newest `chk-N` of every
//!   job, are never deleted;
//! * a snapshot's `_metadata` goes first, so a half-deleted snapshot never looks complete, and a
//!   killed run is finished by running it again.
//!
//! Memory: the referenced set holds a 64-bit hash and a 32-bit snapshot index per distinct
//! referenced file (under 40 bytes each with the table's overhead), plus one decoded
//! `_metadata` at a time and one listing page or delete batch (1000 entries); listings stream
//! and are never held whole. A hash collision can only keep a file that could have gone.

pub mod delete;
pub mod plan;
pub mod policy;

pub use delete::execute;
pub use plan::{plan, Plan, PlanOptions, Scope, SnapshotRecord, Summary, Tally, Verdict};
pub use policy::Policy;

#[cfg(test)]
mod tests;
