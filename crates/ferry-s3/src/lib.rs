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
//! Layout (the shape of every backend crate, `docs/adding-a-backend.md`): this file (the
//! factory, its schemes and declared option keys), [`config`] and [`flink_conf`] (settings,
//! option keys, limits), [`backend`] (the `Storage` impl), `reader`, `writer` and `copy` (how
//! bytes move), `core` (every SDK call) and `error` (the cited error table). Modules depend
//! only downwards in that list.

pub mod backend;
pub mod config;
mod copy;
mod core;
mod error;
pub mod flink_conf;
mod reader;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::registry::{BackendFactory, BackendOptions, OptionKey, Registry};
use ferry_core::{Location, Result, Storage};

pub use backend::S3Storage;
pub use config::S3Settings;
pub use writer::S3Upload;

/// Opens [`S3Storage`]s for the S3 schemes.
#[derive(Debug, Default)]
pub struct S3Factory;

#[async_trait]
impl BackendFactory for S3Factory {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["s3", "s3a", "s3n", "s3p"]
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
        core::bucket_key(location)?;
        Ok(Arc::new(S3Storage::open(options).await?))
    }
}

/// Registers the `s3`, `s3a`, `s3n` and `s3p` schemes.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(S3Factory));
}
