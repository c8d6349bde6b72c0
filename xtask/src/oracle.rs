//! `cargo xtask oracle [--versions 2.3.0,…]`: checks ferry's codec against Flink's own loader.
//!
//! For every fixture of each Flink version (`crates/ferry-metadata/tests/fixtures/flink-<v>/`)
//! it writes two `_metadata` files into fresh directories under `target/oracle/`:
//!
//! * **identity** — ferry's decode → encode of the fixture (must equal the original bytes);
//! * **rewritten** — the same after `apply_prefix_maps` moved every absolute path (and inline
//!   handle name) from the fixture's generation root to `hdfs://relocated:8020/ferry/…`.
//!
//! Then Flink (`ferry.Oracle`, one JVM per version) loads each with
//! `Checkpoints.loadCheckpointMetadata`, the directory being the external pointer, and prints
//! the operators, handles and resolved paths it sees; ferry computes the same view from its own
//! model ([`ferry_metadata::flink_view`]); the two must be equal as multisets. The rewritten
//! view must also hold no path under the old root.
//!
//! `cargo xtask test` runs it for [`crate::flink::CI_VERSION`]; without `--versions` it covers
//! every version that has fixtures (downloading its jars if needed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ferry_metadata::{PrefixMap, PrefixMaps, PrefixRewriteOptions};

use crate::fixtures::fixtures_dir;
use crate::flink::Flink;
use crate::util;

/// `cargo xtask oracle …`.
pub fn run(args: &[&str]) -> Result<()> {
    let mut versions: Option<Vec<String>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--versions" => {
                versions = Some(
                    it.next()
                        .context("--versions needs a value")?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            }
            other => bail!("unknown option {other}"),
        }
    }
    let versions = match versions {
        Some(v) => v,
        None => fixture_versions()?,
    };
    let mut failures = Vec::new();
    for v in &versions {
        failures.extend(check_version(v)?);
    }
    if !failures.is_empty() {
        bail!("oracle disagreements:\n{}", failures.join("\n"));
    }
    Ok(())
}

fn fixture_versions() -> Result<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_dir(fixtures_dir())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("flink-")
                .map(str::to_string)
        })
        .collect();
    out.sort();
    Ok(out)
}

struct Case {
    name: String,
    dir: PathBuf,
    expected: Vec<String>,
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Checks every fixture of one version; returns the disagreements.
pub fn check_version(version: &str) -> Result<Vec<String>> {
    let flink = Flink::install(version)?;
    let base = fixtures_dir().join(format!("flink-{version}"));
    let work = util::root().join("target/oracle").join(version);
    let _ = std::fs::remove_dir_all(&work);
    let mut variants: Vec<PathBuf> = std::fs::read_dir(&base)
        .with_context(|| format!("no fixtures for Flink {version} in {}", base.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    variants.sort();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    for dir in &variants {
        let variant = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json"))?)?;
        let rel = manifest["metadata"]
            .as_str()
            .context("manifest: metadata")?;
        let root = manifest["original_root"]
            .as_str()
            .context("manifest: original_root")?;
        let original = std::fs::read(dir.join(rel))?;
        let md = ferry_metadata::decode(&original)?;

        let identity = work.join("identity").join(&variant);
        std::fs::create_dir_all(&identity)?;
        let bytes = ferry_metadata::encode(&md)?;
        if bytes != original {
            failures.push(format!("{version}/{variant}: identity encoding differs"));
        }
        std::fs::write(identity.join("_metadata"), &bytes)?;
        cases.push(Case {
            name: format!("{version}/{variant} identity"),
            expected: sorted(ferry_metadata::flink_view(&md, &uri(&identity))),
            dir: identity,
        });

        let new_root = format!("hdfs://relocated:8020/ferry/{version}/{variant}");
        let mut moved = md.clone();
        let report = moved.apply_prefix_maps(
            &PrefixMaps::new(vec![PrefixMap::new(root, new_root.as_str())]),
            PrefixRewriteOptions {
                include_inline_names: true,
            },
        )?;
        let rewritten = work.join("rewritten").join(&variant);
        std::fs::create_dir_all(&rewritten)?;
        std::fs::write(rewritten.join("_metadata"), ferry_metadata::encode(&moved)?)?;
        let expected = sorted(ferry_metadata::flink_view(&moved, &uri(&rewritten)));
        if let Some(stale) = expected.iter().find(|l| l.contains(root)) {
            failures.push(format!("{version}/{variant}: rewrite left {stale}"));
        }
        let absolute = md
            .paths()
            .iter()
            .filter(|p| p.value_str().starts_with(root))
            .count();
        if report.stats.changed != absolute {
            failures.push(format!(
                "{version}/{variant}: rewrote {} fields, {absolute} start with the old root",
                report.stats.changed
            ));
        }
        cases.push(Case {
            name: format!(
                "{version}/{variant} rewritten ({} fields)",
                report.stats.changed
            ),
            expected,
            dir: rewritten,
        });
    }
    let dirs: Vec<PathBuf> = cases.iter().map(|c| c.dir.clone()).collect();
    let answers = flink.oracle(&dirs)?;
    for (case, answer) in cases.iter().zip(answers) {
        match answer {
            Err(e) => failures.push(format!("{}: Flink cannot load it: {e}", case.name)),
            Ok(lines) => {
                let flink_view = sorted(lines);
                if flink_view == case.expected {
                    eprintln!(
                        "xtask: oracle {}: Flink agrees ({} operators, {} handles)",
                        case.name,
                        flink_view
                            .iter()
                            .filter(|l| l.starts_with("operator "))
                            .count(),
                        flink_view.len()
                            - 1
                            - flink_view
                                .iter()
                                .filter(|l| l.starts_with("operator "))
                                .count()
                    );
                } else {
                    let a: BTreeSet<&String> = flink_view.iter().collect();
                    let b: BTreeSet<&String> = case.expected.iter().collect();
                    failures.push(format!(
                        "{}: Flink sees {} lines, ferry says {}; only Flink: {:?}; only ferry: {:?}",
                        case.name,
                        flink_view.len(),
                        case.expected.len(),
                        a.difference(&b).take(3).collect::<Vec<_>>(),
                        b.difference(&a).take(3).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    Ok(failures)
}

fn uri(p: &Path) -> String {
    format!("file:{}", p.display())
}
