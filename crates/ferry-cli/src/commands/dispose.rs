//! `ferry dispose SNAPSHOT [--keep-root URI…] [--delete] [--trash URI] [--json]`: remove one
//! savepoint or retained checkpoint and the files outside it no other snapshot under its roots
//! references. The report is `gc`'s ([`super::gc::report`]).

use ferry_core::lifecycle::{self, PlanOptions, Scope};

use crate::backends;
use crate::cli::{DisposeArgs, GlobalArgs};
use crate::exit;

use super::gc;

/// Runs `ferry dispose`.
pub async fn run(args: DisposeArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.snapshot, None, true)?;
    let options = args.backend.side(true);
    let named = backends::endpoint(&registry, &args.snapshot, &options).await?;
    let dir = gc::snapshot_dir(named.location.clone());
    let mut roots = vec![ferry_core::transfer::Endpoint {
        storage: named.storage.clone(),
        location: lifecycle::plan::dispose_root(&dir),
    }];
    for root in &args.keep_root {
        backends::check_options(&registry, &args.backend, root, None, true)?;
        roots.push(backends::endpoint(&registry, root, &options).await?);
    }
    let mut roots = lifecycle::plan::dedupe_roots(roots);
    // The root holding the snapshot comes first: the plan disposes it from there.
    let Some(at) = roots
        .iter()
        .position(|r| dir.strip_prefix(&r.location).is_some())
    else {
        return Err(exit::usage_error(format!(
            "{dir} lies under none of the roots"
        )));
    };
    roots.swap(0, at);
    let trash = gc::trash(&registry, args.trash.as_deref(), &roots[..1], &options).await?;
    let plan = lifecycle::plan(roots, Scope::Dispose(dir), PlanOptions::default()).await?;
    gc::report(
        "dispose",
        &plan,
        args.delete,
        trash.as_ref(),
        args.json,
        global.verbose,
    )
    .await
}
