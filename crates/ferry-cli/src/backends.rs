//! Which backends this binary links, and opening the store for a location.
//!
//! The one place that names backend crates: each registers its schemes. `FERRY_FAULTS`
//! (a test hook, see `ferry_core::fault`) wraps opened stores in the fault-injection layer.
//!
//! Option keys are checked here before any store is opened: every key must be one its store's
//! backend declares (`BackendFactory::option_keys`); a typo is a usage error naming the key,
//! the backend and the closest valid key. `ferry options` prints the declarations.

use std::sync::Arc;

use anyhow::Context as _;
use ferry_core::fault::{parse_faults, FaultyStorage};
use ferry_core::registry::closest_key;
use ferry_core::transfer::Endpoint;
use ferry_core::{BackendFactory, BackendOptions, Location, Registry, Storage};

use crate::cli::BackendArgs;

/// A registry with every backend this binary links.
pub fn registry() -> Registry {
    Registry::new()
        .with(ferry_local::register)
        .with(ferry_s3::register)
        .with(ferry_hdfs::register)
        .with(ferry_gcs::register)
        .with(ferry_azure::register)
}

/// Parses `text` and opens the store that serves it. A location that does not parse is a
/// usage error (exit 2).
pub async fn endpoint(
    registry: &Registry,
    text: &str,
    options: &BackendOptions,
) -> anyhow::Result<Endpoint> {
    let location = Location::parse(text).map_err(|e| crate::exit::usage_error(e.to_string()))?;
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

/// Rejects option keys the backends of the command's stores do not accept: `--src-option`
/// keys must be the source backend's, `--dst-option` keys the destination's, and `-o` keys
/// (both sides; each store reads its own) some linked backend's, so that one `-o` list can
/// serve several commands. `dst` is `None` for commands of one store. Locations that do not
/// parse, or name no linked backend, are left to `open` to report.
///
/// Commands that follow a snapshot's references (`verify`, `migrate`) open the stores its
/// `_metadata` names too, which may be of any backend: with `references`, `--src-option` keys
/// need only be some linked backend's as well.
pub fn check_options(
    registry: &Registry,
    args: &BackendArgs,
    src: &str,
    dst: Option<&str>,
    references: bool,
) -> anyhow::Result<()> {
    let backend = |text: &str| {
        Location::parse(text)
            .ok()
            .and_then(|location| registry.factory(location.scheme()))
    };
    let src_backend = backend(src);
    let dst_backend = dst.map_or_else(|| src_backend.clone(), backend);
    let source_readers = if references {
        registry.factories()
    } else {
        distinct([&src_backend])
    };
    let checks = [
        (
            "-o/--option",
            &args.options,
            distinct([&src_backend, &dst_backend]),
            registry.factories(),
        ),
        (
            "--src-option",
            &args.src_options,
            distinct([&src_backend]),
            source_readers,
        ),
        (
            "--dst-option",
            &args.dst_options,
            distinct([&dst_backend]),
            distinct([&dst_backend]),
        ),
    ];
    for (flag, options, named, readers) in checks {
        if named.is_empty() {
            continue;
        }
        for (key, _) in options {
            let known = readers
                .iter()
                .any(|b| b.option_keys().iter().any(|k| k.name == key));
            if !known {
                return Err(unknown_key(key, flag, &named, &readers));
            }
        }
    }
    warn_flink_conf(args);
    Ok(())
}

/// The factories given, each once.
fn distinct<const N: usize>(
    factories: [&Option<Arc<dyn BackendFactory>>; N],
) -> Vec<Arc<dyn BackendFactory>> {
    let mut all: Vec<Arc<dyn BackendFactory>> = Vec::new();
    for factory in factories.into_iter().flatten() {
        if !all.iter().any(|f| f.name() == factory.name()) {
            all.push(factory.clone());
        }
    }
    all
}

/// One warning line per key of the `--flink-conf` configuration that looks like an S3 setting
/// but that ferry does not understand (a misspelt `s3.path-style-access` would otherwise send
/// virtual-host requests to a path-style store without a word). An unreadable configuration
/// is left to the S3 backend to report.
fn warn_flink_conf(args: &BackendArgs) {
    let Some(dir) = &args.flink_conf else {
        return;
    };
    let Ok(conf) = ferry_s3::flink_conf::read(dir) else {
        return;
    };
    for key in ferry_s3::flink_conf::unrecognised_s3_keys(&conf) {
        crate::exit::note!(
            "ferry: warning: --flink-conf {}: {key} looks like an S3 setting but ferry does not \
             read it; ignored",
            dir.display()
        );
    }
}

/// The usage error for `key`: names the backends of the stores it was given for (`named`)
/// and suggests the closest key of theirs, else of the backends that could have read it.
fn unknown_key(
    key: &str,
    flag: &str,
    named: &[Arc<dyn BackendFactory>],
    readers: &[Arc<dyn BackendFactory>],
) -> anyhow::Error {
    let names: Vec<&str> = named.iter().map(|b| b.name()).collect();
    let whose = match names.as_slice() {
        [one] => format!("the {one} backend"),
        many => format!("the {} backends", many.join(" and ")),
    };
    let keys_of = |backends: &[Arc<dyn BackendFactory>]| -> Vec<&'static str> {
        backends
            .iter()
            .flat_map(|b| b.option_keys().iter().map(|k| k.name))
            .collect()
    };
    let close = closest_key(key, keys_of(named)).or_else(|| closest_key(key, keys_of(readers)));
    let hint = match close {
        Some(close) => format!("; did you mean {close:?}?"),
        None => String::new(),
    };
    crate::exit::usage_error(format!(
        "unknown option key {key:?} ({flag}) for {whose}{hint} (`ferry options` lists every key)"
    ))
}

/// Every backend's option keys with their meaning and default, as `ferry options` prints them.
pub fn options_text(registry: &Registry) -> String {
    let mut text = String::new();
    for factory in registry.factories() {
        let schemes: Vec<String> = factory
            .schemes()
            .iter()
            .map(|s| format!("{s}://"))
            .collect();
        text.push_str(&format!("{} ({}):\n", factory.name(), schemes.join(", ")));
        for key in factory.option_keys() {
            text.push_str(&format!(
                "  {:<22} {} [default: {}]\n",
                key.name, key.meaning, key.default
            ));
        }
        text.push('\n');
    }
    text.push_str(
        "Give them as -o KEY=VALUE (both sides), --src-option KEY=VALUE or --dst-option KEY=VALUE.\n\
         A key the store's backend does not list is an error (exit 2).\n",
    );
    text
}
