//! Carrying out a [`Plan`]: what it decided to delete goes, in an order that keeps every kept
//! snapshot restorable at every moment, and a run killed at any point can be run again.
//!
//! 1. The `_metadata` of every snapshot that goes, first: from then on it is an incomplete
//!    directory, never a complete-looking snapshot with files missing (Flink discards a
//!    checkpoint's metadata first too). A later run finds it incomplete and finishes it.
//! 2. Every scan root is listed again and each file decided again with the plan's referenced
//!    set; files that go are deleted in batches of [`DELETE_BATCH`] ([`Storage::delete_many`]:
//!    one S3 DeleteObjects request each). Nothing a kept snapshot references is ever in a
//!    batch, so the order within this step does not matter for kept snapshots.
//! 3. The directories of snapshots that went are removed if empty (never recursively).
//!
//! `--trash` moves instead of deleting: each file goes to the same path under the trash
//! location (same store; a rename where the store has one, else a server-side copy and a
//! delete).

use futures::TryStreamExt;

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::relocate::METADATA_FILE;
use crate::storage::{Entry, Storage, DELETE_BATCH};
use crate::transfer::Endpoint;

use super::plan::{Plan, Summary, Verdict};

/// Deletes (or moves to `trash`) what `plan` decided, calling `each` for every decided file,
/// and returns what went. Refuses a plan that something blocks.
pub async fn execute(
    plan: &Plan,
    trash: Option<&Endpoint>,
    mut each: impl FnMut(&Entry, Verdict),
) -> Result<Summary> {
    if let Some(why) = &plan.blocked {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("nothing deleted: {why}"),
        ));
    }
    let mut done = Summary::default();
    for (i, s) in plan.snapshots.iter().enumerate() {
        if s.keep || !s.complete {
            continue;
        }
        let storage = plan.storage(s.root).as_ref();
        let marker = s.location.join(METADATA_FILE);
        match storage.stat(&marker).await {
            Ok(entry) => {
                remove(storage, std::slice::from_ref(&marker), trash).await?;
                done.count(plan, &entry, Verdict::Snapshot(i));
                each(&entry, Verdict::Snapshot(i));
            }
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    for (r, scan) in &plan.scans {
        let storage = plan.storage(*r).as_ref();
        let mut batch: Vec<Location> = Vec::with_capacity(DELETE_BATCH);
        let mut listing = storage.list(scan);
        while let Some(entry) = listing.try_next().await? {
            let verdict = plan.decide(scan, &entry);
            if !verdict.deletes() {
                continue;
            }
            done.count(plan, &entry, verdict);
            each(&entry, verdict);
            batch.push(entry.location);
            if batch.len() == DELETE_BATCH {
                remove(storage, &batch, trash).await?;
                batch.clear();
            }
        }
        remove(storage, &batch, trash).await?;
    }
    for s in plan.snapshots.iter().filter(|s| !s.keep) {
        plan.storage(s.root).remove_empty_dir(&s.location).await?;
    }
    Ok(done)
}

/// Deletes `batch`, or moves it under `trash`.
async fn remove(storage: &dyn Storage, batch: &[Location], trash: Option<&Endpoint>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let Some(trash) = trash else {
        return storage.delete_many(batch).await;
    };
    for location in batch {
        let to = trash_place(&trash.location, location);
        if storage.capabilities().atomic_rename {
            storage.rename(location, &to).await?;
        } else {
            // The copy is pinned to the version seen now (`stat`), so what is deleted next
            // is what was copied.
            let entry = storage.stat(location).await?;
            storage.copy(&entry, &to).await?;
            storage.delete(location).await?;
        }
    }
    Ok(())
}

/// Where `location` goes under `trash`: the same path below it.
pub fn trash_place(trash: &Location, location: &Location) -> Location {
    trash.join(location.path().trim_start_matches('/'))
}
