//! Which backends this binary links, and opening the store for a location.
//!
//! The one place that names backend crates: each registers its schemes. `FERRY_FAULTS`
//! (a test hook, see `ferry_core::fault`) wraps opened stores in the fault-injection layer.

use std::sync::Arc;

use anyhow::Context as _;
use ferry_core::fault::{parse_faults, FaultyStorage};
use ferry_core::transfer::Endpoint;
use ferry_core::{BackendOptions, Location, Registry, Storage};

/// A registry with every backend this binary links.
pub fn registry() -> Registry {
    Registry::new()
        .with(ferry_local::register)
        .with(ferry_s3::register)
        .with(ferry_hdfs::register)
        .with(ferry_gcs::register)
}

/// Parses `text` and opens the store that serves it. A location that does not parse is a
/// usage error (exit 2).
pub async fn endpoint(
    registry: &Registry,
    text: &str,
    options: &BackendOptions,
) -> anyhow::Result<Endpoint> {
    let location = Location::parse(text).map_err(crate::exit::UsageError)?;
    let storage = open(registry, &location, options).await?;
    Ok(Endpoint { storage, location })
}

/// Opens the store serving `location`, with fault injection when `FERRY_FAULTS` is set.
pub async fn open(
    registry: &Registry,
    location: &Location,
    options: &BackendOptions,
) -> anyhow::Result<Arc<dyn Storage>> {
    let storage = registry.open(location, options).await?;
    match std::env::var("FERRY_FAULTS") {
        Ok(spec) if !spec.trim().is_empty() => {
            let faults = parse_faults(&spec).context("FERRY_FAULTS")?;
            Ok(Arc::new(FaultyStorage::new(storage, faults)))
        }
        _ => Ok(storage),
    }
}
