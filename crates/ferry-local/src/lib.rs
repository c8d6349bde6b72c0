//! ferry's local-filesystem backend: `file://` URIs and plain paths.
//!
//! All I/O runs on tokio's blocking pool; each read has its own file handle and writes are
//! positional (`pwrite`), so one large file is read by several parts at once and its parts are
//! written as they arrive. Writes create missing parent directories. Multipart uploads write
//! parts straight into a pre-sized file at their offsets; the file's path is the upload token,
//! so a later process can resume it. The engine writes under a temp name and renames (atomic on
//! POSIX), so a file never appears under its final name half-written. Modification times can
//! be set. How data and names reach the kernel (slices, one writer per file, one name change
//! per directory at a time) is [`write`]'s job.
//!
//! One option: `direct_io` (`true` by default) lets parts of large files bypass the page cache
//! (`O_DIRECT`) where the filesystem allows it; `direct_io=false` keeps every write buffered,
//! for filesystems where direct writes are slow (NFS turns each into a synchronous RPC).
//!
//! Layout (the shape of every backend crate, `docs/adding-a-backend.md`): this file (the
//! factory), [`config`] (the option key), `backend` (the `Storage` impl), `upload` (writers and
//! multipart uploads), `core` (the system calls) and `write` (how bytes reach the kernel).
//! Modules depend only downwards in that list. There is no error table: `std::io` errors map
//! onto ferry's kinds in one place, [`ferry_core::Error::from_io`].

mod backend;
pub mod config;
mod core;
mod upload;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::registry::{BackendFactory, BackendOptions, Registry};
use ferry_core::{Error, ErrorKind, Location, OptionKey, Result, Storage};

pub use backend::LocalStorage;
pub use config::{DIRECT_IO_KEY, OPTIONS};

/// Opens the local filesystem for `file` locations.
#[derive(Debug, Default)]
pub struct LocalFactory;

#[async_trait]
impl BackendFactory for LocalFactory {
    fn name(&self) -> &'static str {
        "local"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["file"]
    }

    fn option_keys(&self) -> &'static [OptionKey] {
        OPTIONS
    }

    fn store_key(&self, _: &Location, options: &BackendOptions) -> String {
        // Two settings, two stores (the registry caches stores by this key); a bad value
        // fails in `open`.
        format!(
            "{DIRECT_IO_KEY}={:?}",
            options.flag(DIRECT_IO_KEY, true).ok()
        )
    }

    async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        let direct_io = options
            .flag(DIRECT_IO_KEY, true)
            .map_err(|message| Error::new(ErrorKind::ConfigInvalid, format!("option {message}")))?;
        match location.authority() {
            None | Some("") | Some("localhost") => {
                Ok(Arc::new(LocalStorage::with_direct_io(direct_io)))
            }
            Some(host) => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("file URIs name no host; {location} names {host:?} (write file:///path)"),
            )),
        }
    }
}

/// Registers the `file` scheme.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(LocalFactory));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_direct_io_option_is_checked_and_keys_the_store() {
        let factory = LocalFactory;
        let here = Location::parse("/tmp").unwrap();
        let bad = BackendOptions::new().with(DIRECT_IO_KEY, "maybe");
        let err = factory.open(&here, &bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.to_string().contains("direct_io"), "{err}");
        let off = BackendOptions::new().with(DIRECT_IO_KEY, "false");
        assert!(factory.open(&here, &off).await.is_ok());
        assert_ne!(
            factory.store_key(&here, &off),
            factory.store_key(&here, &BackendOptions::new()),
            "stores with different settings must not be shared"
        );
    }
}
