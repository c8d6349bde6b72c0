//! ferry's Google Cloud Storage backend: `gs://bucket/name`, on Apache OpenDAL's GCS service
//! (pinned, public `Operator` API only) plus a few direct JSON API calls OpenDAL lacks.
//!
//! * **One store per endpoint and credentials**, serving every bucket (the location's
//!   authority). Copies between two locations of one store run server-side (`rewriteTo`, any
//!   buckets); across endpoints or credentials they stream through ferry.
//! * **Configuration** from `BackendOptions` (`endpoint`, `credential_path`, `token`,
//!   `service_account`, `anonymous`, `project`, `temp_prefix`) and the environment
//!   (`STORAGE_EMULATOR_HOST`, `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's Application Default
//!   Credentials, the VM metadata server). See [`config`] and `docs/backends/gcs.md`.
//! * **Integrity**: `stat`, `checksum` and every upload's receipt report the object's crc32c
//!   (composite objects: the CRC32C of the whole content), which the engine compares with the
//!   CRC32C it computed while streaming.
//! * **Large objects**: parallel composite uploads (parts as temporary objects, composed in a
//!   tree of ≤ 32-source composes, then deleted; the upload id is the resume token) and
//!   parallel ranged reads, both driven by the engine within its memory budget. OpenDAL's
//!   chunked writer (the XML multipart API) is not used.
//!
//! Layout (the shape of every backend crate, `docs/adding-a-backend.md`): this file (the
//! factory, its schemes and declared option keys), [`config`] (settings, option keys, limits),
//! [`backend`] (the `Storage` impl), `upload` (composite uploads and the streaming writer),
//! [`compose`] (the compose tree), `core` (every request) and `error` (the cited error table).
//! Modules depend only downwards in that list.

pub mod backend;
pub mod compose;
pub mod config;
mod core;
mod error;
mod upload;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::registry::{BackendFactory, BackendOptions, OptionKey, Registry};
use ferry_core::{Location, Result, Storage};

pub use backend::GcsStorage;
pub use config::GcsSettings;
pub use upload::GcsUpload;

/// Opens [`GcsStorage`]s for `gs://`.
#[derive(Debug, Default)]
pub struct GcsFactory;

#[async_trait]
impl BackendFactory for GcsFactory {
    fn name(&self) -> &'static str {
        "gcs"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["gs"]
    }

    fn option_keys(&self) -> &'static [OptionKey] {
        config::OPTIONS
    }

    /// One store per endpoint and settings, whatever the bucket: the registry already keys
    /// its cache by the options, so the key itself is empty.
    fn store_key(&self, _: &Location, _: &BackendOptions) -> String {
        String::new()
    }

    async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        core::bucket_name(location)?;
        Ok(Arc::new(GcsStorage::open(options)?))
    }
}

/// Registers the `gs` scheme.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(GcsFactory));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_open_a_store_without_network() {
        let store = GcsStorage::open(
            &BackendOptions::new()
                .with("endpoint", "http://127.0.0.1:9")
                .with("project", "p"),
        )
        .unwrap();
        assert_eq!(store.identity(), "gcs|http://127.0.0.1:9|anonymous|p");
        assert_eq!(store.capabilities().max_parts, 1024);
        let registry = Registry::new().with(register);
        assert_eq!(registry.schemes(), vec!["gs".to_string()]);
    }
}
