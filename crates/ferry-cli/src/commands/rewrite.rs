//! `ferry rewrite METADATA (-o OUT | --in-place) [--map OLD=NEW]... [--force] [--json]`: a
//! metadata-only rewrite of the absolute paths inside a Flink `_metadata`, for snapshots whose
//! files another tool already moved. Without maps the output is the input, byte for byte.
//!
//! Safe defaults: the input is replaced only with `--in-place`, an existing OUT only with
//! `--force`; the new bytes are decoded again before they are written.

use std::io::Write;

use anyhow::{bail, Context as _};
use ferry_core::relocate::snapshot;
use ferry_core::storage::WriteOptions;
use ferry_core::{EntryKind, ErrorKind, Location};
use ferry_metadata::{PrefixMap, PrefixMaps, PrefixRewriteOptions};
use serde::Serialize;

use crate::backends;
use crate::cli::{GlobalArgs, RewriteArgs};
use crate::exit;

/// One `--map` and how many fields it changed.
#[derive(Debug, Serialize)]
struct MapReport {
    from: String,
    to: String,
    fields: usize,
}

/// The `--json` report.
#[derive(Debug, Serialize)]
struct RewriteReport {
    input: String,
    output: String,
    format_version: i32,
    maps: Vec<MapReport>,
    /// Path fields examined (absolute, relative, directories, inline names).
    fields_visited: usize,
    /// Fields whose value changed.
    fields_changed: usize,
    bytes_in: usize,
    bytes_out: usize,
    /// The output is byte-identical to the input.
    identical: bool,
}

/// A prefix as Flink stores paths: `file:///x`, `file:/x` and `/x` are all `file:/x`;
/// anything ferry cannot parse as a location is taken literally.
fn flink_form(text: &str) -> String {
    match Location::parse(text) {
        Ok(location) => {
            let mut s = location.to_string();
            if text.ends_with('/') && !s.ends_with('/') {
                s.push('/');
            }
            s
        }
        Err(_) => text.to_string(),
    }
}

fn parse_maps(specs: &[String]) -> anyhow::Result<Vec<PrefixMap>> {
    specs
        .iter()
        .map(|spec| {
            let map = PrefixMap::parse(spec).with_context(|| format!("--map {spec}"))?;
            Ok(PrefixMap::new(flink_form(&map.from), flink_form(&map.to)))
        })
        .collect()
}

/// Runs `ferry rewrite`.
pub async fn run(args: RewriteArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let maps = parse_maps(&args.maps)?;
    let registry = backends::registry();
    backends::check_options(
        &registry,
        &args.backend(),
        &args.metadata,
        args.output.as_deref(),
        false,
    )?;
    let options = args.backend().side(true);
    let input = backends::endpoint(&registry, &args.metadata, &options).await?;
    let snap = snapshot::open(input.storage.as_ref(), &input.location).await?;

    let mut md = snap.metadata.clone();
    let table = PrefixMaps::new(maps.clone());
    let rewrite = md.apply_prefix_maps(
        &table,
        PrefixRewriteOptions {
            include_inline_names: !args.keep_inline_names,
        },
    )?;
    let unmatched: Vec<&PrefixMap> = maps
        .iter()
        .zip(&rewrite.hits)
        .filter(|(_, &hits)| hits == 0)
        .map(|(m, _)| m)
        .collect();
    if let (Some(first), false) = (unmatched.first(), args.allow_unmatched) {
        let example = snap
            .metadata
            .paths()
            .iter()
            .find(|p| p.kind() == ferry_metadata::PathKind::Absolute)
            .map(|p| format!(" (its paths look like {})", p.value_str()))
            .unwrap_or_else(|| " (it holds no absolute path)".to_string());
        bail!(
            "--map {}={} matched no path in {}{example}; nothing written (check OLD, or pass \
             --allow-unmatched)",
            first.from,
            first.to,
            snap.metadata_location
        );
    }
    let out_bytes: Vec<u8> = if rewrite.stats.changed == 0 {
        snap.raw.to_vec()
    } else {
        let bytes = ferry_metadata::encode(&md).context("cannot encode the rewritten metadata")?;
        // Belt and braces: what we write must decode to what we meant (in the V3 sub-layout
        // it was read with: those layouts are ambiguous once string lengths change).
        let again = ferry_metadata::decode_with_layout(&bytes, md.layout)
            .context("the rewritten metadata does not decode (a ferry bug)")?;
        anyhow::ensure!(
            again == md,
            "the rewritten metadata does not round-trip (a ferry bug)"
        );
        bytes
    };

    let (storage, output) = if args.in_place {
        (input.storage.clone(), snap.metadata_location.clone())
    } else {
        let text = args
            .output
            .as_deref()
            .context("-o OUT or --in-place is required")?;
        let out = backends::endpoint(&registry, text, &options).await?;
        let mut location = out.location.clone();
        let as_dir = text.ends_with('/')
            || matches!(
                out.storage.stat(&location).await,
                Ok(entry) if entry.kind == EntryKind::Directory
            );
        if as_dir {
            location = location.join(ferry_core::relocate::METADATA_FILE);
        }
        if location == snap.metadata_location {
            bail!("{location} is the input; pass --in-place to replace it");
        }
        match out.storage.stat(&location).await {
            Ok(_) if !args.force => {
                bail!("{location} exists; pass --force to replace it")
            }
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
        (out.storage, location)
    };
    let write_options = WriteOptions {
        size_hint: Some(out_bytes.len() as u64),
        ..WriteOptions::default()
    };
    let bytes_out = out_bytes.len();
    storage
        .put(&output, out_bytes.clone().into(), &write_options)
        .await
        .with_context(|| format!("writing {output}"))?;

    let report = RewriteReport {
        input: snap.metadata_location.to_string(),
        output: output.to_string(),
        format_version: md.version,
        maps: maps
            .iter()
            .zip(&rewrite.hits)
            .map(|(m, &fields)| MapReport {
                from: m.from.clone(),
                to: m.to.clone(),
                fields,
            })
            .collect(),
        fields_visited: rewrite.stats.visited,
        fields_changed: rewrite.stats.changed,
        bytes_in: snap.raw.len(),
        bytes_out,
        identical: out_bytes.as_slice() == snap.raw.as_ref(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        crate::json::print(&report)?;
    } else if !global.quiet {
        for m in &report.maps {
            writeln!(out, "{} -> {}: {} fields", m.from, m.to, m.fields)?;
        }
        writeln!(
            out,
            "wrote {} ({} bytes): {} of {} path fields changed{}",
            report.output,
            report.bytes_out,
            report.fields_changed,
            report.fields_visited,
            if report.identical {
                ", byte-identical to the input"
            } else {
                ""
            }
        )?;
    }
    for m in report.maps.iter().filter(|m| m.fields == 0) {
        // Only reached with --allow-unmatched.
        if !global.quiet {
            crate::exit::note!("ferry: warning: --map {}={} matched no path", m.from, m.to);
        }
    }
    Ok(exit::OK)
}
