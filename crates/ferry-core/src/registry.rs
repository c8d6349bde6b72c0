//! The backend registry: URI scheme → backend factory.
//!
//! Backends live in their own crates and register themselves: each exports a
//! `register(&mut Registry)` that adds a [`BackendFactory`] for its schemes. The CLI builds one
//! registry from every backend crate it links, and asks it for the [`Storage`] that serves a
//! [`Location`]. Opened stores are cached per (factory, store key, side), so the source and the
//! destination of a copy share an instance — and can server-side copy — when they are the same
//! store with the same settings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::Storage;

/// Per-side backend settings (`endpoint`, `region`, `profile`, …) as plain key–value pairs.
///
/// The CLI fills one `BackendOptions` per side of a copy from flags and config files; each
/// factory picks the keys it understands. Values of keys that look secret are never displayed.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct BackendOptions {
    values: BTreeMap<String, String>,
}

impl BackendOptions {
    /// Empty options.
    pub fn new() -> BackendOptions {
        BackendOptions::default()
    }

    /// Sets a key.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Sets a key, builder style.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// A key's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A timeout given in seconds (`300`, `2.5s`; `0` means no limit), or `default` when the
    /// key is absent. The error is a message for the backend to wrap.
    pub fn timeout(
        &self,
        key: &str,
        default: Option<std::time::Duration>,
    ) -> std::result::Result<Option<std::time::Duration>, String> {
        let Some(value) = self.get(key).map(str::trim) else {
            return Ok(default);
        };
        let seconds: f64 = value
            .strip_suffix('s')
            .unwrap_or(value)
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| format!("{key} must be seconds, e.g. 300 or 2.5s (0: no limit)"))?;
        Ok((seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds)))
    }

    /// A yes/no option ([`parse_flag`]), or `default` when the key is absent. The error is a
    /// message for the backend to wrap.
    pub fn flag(&self, key: &str, default: bool) -> std::result::Result<bool, String> {
        self.get(key)
            .map_or(Ok(default), |value| parse_flag(key, value))
    }
}

/// Parses a yes/no value of option `key`, as every backend spells it: `true`, `yes`, `on`, `1`
/// or `false`, `no`, `off`, `0`, in any case. The error is a message for the caller to wrap.
pub fn parse_flag(key: &str, value: &str) -> std::result::Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("{key} must be true or false, not {value:?}")),
    }
}

impl std::fmt::Debug for BackendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.values {
            let secret = ["secret", "password", "token", "key"]
                .iter()
                .any(|s| k.contains(s));
            map.entry(k, if secret { &"<redacted>" } else { v });
        }
        map.finish()
    }
}

/// One option key a backend accepts (`-o KEY=VALUE`), as `ferry options` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionKey {
    /// The key (`endpoint`).
    pub name: &'static str,
    /// What it sets, one short sentence.
    pub meaning: &'static str,
    /// The value used when the key is absent, as a user reads it (`300 s`, `unset`).
    pub default: &'static str,
}

impl OptionKey {
    /// A key with its meaning and default.
    pub const fn new(name: &'static str, meaning: &'static str, default: &'static str) -> Self {
        OptionKey {
            name,
            meaning,
            default,
        }
    }
}

/// The key among `candidates` closest to `key` (a typo's likely intent), if any is close.
pub fn closest_key<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&key, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Opens stores of one backend.
#[async_trait]
pub trait BackendFactory: Send + Sync {
    /// The backend's name (`local`, `s3`, …).
    fn name(&self) -> &'static str;

    /// The URI schemes it serves (`["s3", "s3a", "s3n", "s3p"]`).
    fn schemes(&self) -> &'static [&'static str];

    /// Every option key the backend accepts, with its meaning and default. A key given for a
    /// store of this backend that is not listed here is a usage error (the CLI checks).
    fn option_keys(&self) -> &'static [OptionKey];

    /// A key naming the store that serves `location` with `options`: locations with equal keys
    /// share one opened [`Storage`]. The default is the authority (a bucket, a NameNode).
    fn store_key(&self, location: &Location, options: &BackendOptions) -> String {
        let _ = options;
        location.authority().unwrap_or_default().to_string()
    }

    /// Opens the store that serves `location`.
    async fn open(&self, location: &Location, options: &BackendOptions)
        -> Result<Arc<dyn Storage>>;
}

/// Opened stores by (factory name, store key, options).
type OpenedStores = HashMap<(String, String, BackendOptions), Arc<dyn Storage>>;

/// Maps schemes to factories and caches opened stores.
#[derive(Default)]
pub struct Registry {
    factories: HashMap<String, Arc<dyn BackendFactory>>,
    opened: Mutex<OpenedStores>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds a factory for every scheme it declares; a later factory for the same scheme wins.
    pub fn register(&mut self, factory: Arc<dyn BackendFactory>) {
        for scheme in factory.schemes() {
            self.factories.insert(scheme.to_string(), factory.clone());
        }
    }

    /// Builder form of [`Registry::register`] that takes a backend crate's `register` function.
    pub fn with(mut self, register: fn(&mut Registry)) -> Registry {
        register(&mut self);
        self
    }

    /// Every scheme served, sorted.
    pub fn schemes(&self) -> Vec<String> {
        let mut schemes: Vec<String> = self.factories.keys().cloned().collect();
        schemes.sort();
        schemes
    }

    /// The factory serving `scheme`.
    pub fn factory(&self, scheme: &str) -> Option<Arc<dyn BackendFactory>> {
        self.factories.get(scheme).cloned()
    }

    /// Every factory once, sorted by name.
    pub fn factories(&self) -> Vec<Arc<dyn BackendFactory>> {
        let mut all: Vec<Arc<dyn BackendFactory>> = Vec::new();
        for factory in self.factories.values() {
            if !all.iter().any(|f| f.name() == factory.name()) {
                all.push(factory.clone());
            }
        }
        all.sort_by_key(|f| f.name());
        all
    }

    /// The store serving `location`, opened with `options` (cached).
    ///
    /// Errors: `InvalidInput` for a scheme no linked backend serves, or the factory's own error.
    pub async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        let factory = self.factories.get(location.scheme()).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "unknown scheme {:?} in {location}; this ferry serves: {}",
                    location.scheme(),
                    self.schemes().join(", ")
                ),
            )
        })?;
        let key = (
            factory.name().to_string(),
            factory.store_key(location, options),
            options.clone(),
        );
        if let Some(store) = self.lock().get(&key) {
            return Ok(store.clone());
        }
        let store = factory.open(location, options).await?;
        Ok(self.lock().entry(key).or_insert(store).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OpenedStores> {
        self.opened
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryFactory;

    #[tokio::test]
    async fn opens_and_caches_by_store_key() {
        let registry = Registry::new().with(crate::memory::register);
        let a = registry
            .open(
                &Location::parse("mem://one/x").unwrap(),
                &BackendOptions::new(),
            )
            .await
            .unwrap();
        let b = registry
            .open(
                &Location::parse("mem://one/y").unwrap(),
                &BackendOptions::new(),
            )
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = registry
            .open(
                &Location::parse("mem://two/y").unwrap(),
                &BackendOptions::new(),
            )
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        let _ = MemoryFactory::default();
    }

    #[tokio::test]
    async fn unknown_scheme_is_a_clear_error() {
        let registry = Registry::new().with(crate::memory::register);
        let err = registry
            .open(
                &Location::parse("ftp://host/x").unwrap(),
                &BackendOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("unknown scheme \"ftp\""), "{err}");
        assert!(err.to_string().contains("mem"), "{err}");
    }

    #[test]
    fn flags_take_every_spelling_a_default_and_name_a_bad_value() {
        let opts = BackendOptions::new()
            .with("a", " Yes ")
            .with("b", "OFF")
            .with("c", "maybe");
        assert_eq!(opts.flag("a", false), Ok(true));
        assert_eq!(opts.flag("b", true), Ok(false));
        assert_eq!(opts.flag("absent", true), Ok(true));
        let message = opts.flag("c", true).unwrap_err();
        assert!(
            message.contains('c') && message.contains("maybe"),
            "{message}"
        );
    }

    #[test]
    fn options_debug_redacts_secrets() {
        let opts = BackendOptions::new()
            .with("secret_key", "hunter2")
            .with("endpoint", "http://127.0.0.1:1");
        let text = format!("{opts:?}");
        assert!(!text.contains("hunter2"));
        assert!(text.contains("127.0.0.1"));
    }

    #[test]
    fn closest_key_suggests_the_intended_key_and_nothing_for_nonsense() {
        let keys = ["endpoint", "region", "path_style", "profile"];
        assert_eq!(closest_key("endpint", keys), Some("endpoint"));
        assert_eq!(closest_key("pathstyle", keys), Some("path_style"));
        assert_eq!(closest_key("Regoin", keys), Some("region"));
        assert_eq!(closest_key("zzzz", keys), None);
    }
}
