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
//! Layout: [`backend`] (the `Storage` and its factory), `core` (every request), `upload`
//! (composite uploads and the streaming writer), [`compose`] (the compose tree), `error` (the
//! error table), `checksum` (crc32c encoding) and [`config`] (settings).

pub mod backend;
mod checksum;
pub mod compose;
pub mod config;
mod core;
mod error;
mod upload;

pub use backend::{register, GcsFactory, GcsStorage};
pub use config::GcsSettings;
pub use upload::{GcsUpload, GcsWriter};
