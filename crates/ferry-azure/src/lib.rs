//! ferry's Azure Blob Storage backend: `wasb[s]://CONTAINER@ACCOUNT.blob.core.windows.net/path`
//! and `abfs[s]://CONTAINER@ACCOUNT.dfs.core.windows.net/path`, both through the account's
//! Blob REST endpoint (Data Lake Gen2 accounts serve it too).
//!
//! * **One store per account and credentials**, serving every container; copies within the
//!   account run server-side (Copy Blob, pinned to the listed ETag).
//! * **Configuration** ([`config`]): connection string (with `BlobEndpoint`, e.g. Azurite),
//!   account key (also Hadoop's `fs.azure.account.key.*` from `--flink-conf`), SAS token,
//!   service principal, or the default chain (environment, workload identity, Azure CLI,
//!   managed identity).
//! * **Integrity**: every block and single-request upload carries `Content-MD5`, which Azure
//!   checks on arrival; ferry's CRC32C of the whole content is stored in the blob's metadata
//!   (`ferrycrc32c`) and reported by `stat`, listings and `checksum`.
//! * **Large objects**: parallel block uploads (Put Block + Put Block List, resumable by
//!   token) and parallel ranged reads, driven by the engine within its memory budget.
//!
//! Layout: [`backend`] (the `Storage` and its factory), `core` (every request), `upload`
//! (block uploads and the streaming writer), `error` (the error table), [`config`] (URIs,
//! endpoint and credentials). See `docs/backends/azure.md`.

pub mod backend;
pub mod config;
mod core;
mod error;
mod upload;

pub use backend::{register, AzureFactory, AzureStorage};
pub use config::AzureSettings;
