//! The checks of the `decode` and `rewrite` fuzz targets, in one file shared by the targets
//! (`fuzz_targets/*.rs`) and the regression tests (`tests/fuzz_regressions.rs`), so a plain
//! `cargo test` replays saved inputs against exactly what the fuzzer checked.

// Each fuzz target uses one of these functions.
#![allow(dead_code)]

use ferry_metadata::{
    decode as decode_bytes, decode_with_layout, encode, Metadata, PathKind, PrefixMap, PrefixMaps,
    PrefixRewriteOptions,
};

/// Target `decode`: decoding arbitrary bytes never panics, and whatever decodes is a fixed
/// point: encode(decode(x)) == x, and decoding that again gives the same model. The path API,
/// the inspect report and a rewrite of every path must not panic either, and a rewritten model
/// must round-trip.
pub fn decode(data: &[u8]) {
    if let Ok(md) = ferry_metadata::decode(data) {
        let bytes = ferry_metadata::encode(&md).expect("a decoded model must encode");
        assert_eq!(bytes, data, "re-encoding differs from the input");
        let again = ferry_metadata::decode(&bytes).expect("re-encoded bytes must decode");
        assert_eq!(again, md, "decode(encode(decode(x))) differs");
        let _ = md.paths();
        let _ = md.summary();
        let _ = md.properties();
        let _ = ferry_metadata::flink_view(&md, "s3://b/chk-1");
        let report =
            ferry_metadata::InspectReport::new(&md, "s3://b/chk-1/_metadata", "s3://b/chk-1", 0);
        assert_eq!(report.totals.files, report.files.len());
        // Rewriting every absolute path must keep the file decodable and re-encodable.
        let mut moved = md.clone();
        if moved
            .rewrite_paths(|p| Some(format!("{}/moved", p.value_str())))
            .is_ok()
        {
            if let Ok(b) = ferry_metadata::encode(&moved) {
                // With the layout it was written in: V3's 1.11/1.12 channel and 1.14/1.15
                // changelog layouts are ambiguous, and changed string lengths can make bytes
                // written in the old layout parse in the new one too (found by this target).
                let back = ferry_metadata::decode_with_layout(&b, moved.layout)
                    .expect("rewritten bytes must decode");
                assert_eq!(back, moved, "rewritten model does not round-trip");
            }
        }
        // Prefix maps (in-place byte swaps for ASCII, text otherwise) agree with mapping every
        // value as text.
        let maps = ferry_metadata::PrefixMaps::new(vec![
            ferry_metadata::PrefixMap::new("s3://b", "hdfs://nn:8020/longer/root"),
            ferry_metadata::PrefixMap::new("file:/", "gs://bü/"),
        ]);
        let options = ferry_metadata::PrefixRewriteOptions {
            include_inline_names: true,
        };
        let mut fast = md.clone();
        let mut slow = md.clone();
        let a = fast.apply_prefix_maps(&maps, options).map(|r| r.stats);
        let b = slow.rewrite_paths(|p| match p.kind() {
            ferry_metadata::PathKind::Relative => None,
            _ => maps.map(&p.value_str()).map(|(_, v)| v),
        });
        assert_eq!(a.is_ok(), b.is_ok());
        if a.is_ok() {
            assert_eq!(a, b);
            assert_eq!(fast, slow, "prefix maps differ from the text route");
        }
    }
}

/// Target `rewrite`: what `ferry rewrite --map OLD=NEW` does to a `_metadata` — decode,
/// apply a prefix-map table, encode, decode the new bytes again — on arbitrary input.
///
/// The maps are taken from the file's own paths (a component prefix of one or two of them, so
/// they match) with a new prefix drawn from a fixed list (shorter, longer, empty, non-ASCII, a
/// NUL and an astral character — whose modified-UTF-8 lengths differ from their UTF-8 ones —
/// and one too long for Java's 65 535-byte limit); a hash of the input picks them, so a crash
/// replays. Checked: nothing panics; a failed rewrite changes nothing; every path field holds
/// exactly what the table maps its old value to (relative paths and, unless asked, inline
/// names untouched); the counts agree; the new model encodes, and its bytes decode — with the
/// layout it was read in, to the same model, and with plain `decode` at all; a rewrite that
/// changes nothing gives the input bytes back.
pub fn rewrite(data: &[u8]) {
    let Ok(md) = decode_bytes(data) else {
        return;
    };
    let seed = hash(data);
    let options = PrefixRewriteOptions {
        include_inline_names: seed & (1 << 63) != 0,
    };
    let maps = choose_maps(&md, seed, options);

    let mut after = md.clone();
    let report = match after.apply_prefix_maps(&maps, options) {
        Ok(report) => report,
        Err(_) => {
            assert_eq!(after, md, "a failed rewrite changed the model");
            return;
        }
    };

    // Every field holds what the table maps its old value to; nothing else moved.
    let old_paths = md.paths();
    let new_paths = after.paths();
    assert_eq!(
        old_paths.len(),
        new_paths.len(),
        "the rewrite changed the path count"
    );
    let (mut matched, mut changed) = (0usize, 0usize);
    for (old, new) in old_paths.iter().zip(&new_paths) {
        assert_eq!(
            (&old.breadcrumb, old.field, old.size),
            (&new.breadcrumb, new.field, new.size)
        );
        let mapped = if eligible(old.kind(), options) {
            maps.map(&old.value_str()).map(|(_, v)| v)
        } else {
            None
        };
        match mapped {
            Some(value) => {
                matched += 1;
                assert_eq!(new.value_str(), value, "{} not mapped", old.breadcrumb);
                if new.value != old.value {
                    changed += 1;
                }
            }
            None => assert_eq!(new.value, old.value, "{} changed", old.breadcrumb),
        }
    }
    assert_eq!(report.stats.visited, old_paths.len());
    assert_eq!(report.stats.changed, changed);
    assert_eq!(report.hits.iter().sum::<usize>(), matched);

    // What `ferry rewrite` writes: the new bytes, read back as it reads them.
    let bytes = encode(&after).expect("a rewritten model must encode");
    if changed == 0 {
        assert_eq!(
            bytes, data,
            "a rewrite that changed nothing changed the bytes"
        );
    }
    let back = decode_with_layout(&bytes, after.layout).expect("rewritten bytes must decode");
    assert_eq!(
        back, after,
        "rewritten bytes do not decode to the rewritten model"
    );
    decode_bytes(&bytes).expect("rewritten bytes must decode with plain decode");
}

/// New prefixes the maps choose from.
fn targets() -> [String; 9] {
    [
        "s3://bucket/new".into(),
        "hdfs://nn:8020/a/much/longer/root/than/the/one/it/replaces".into(),
        String::new(),
        "/".into(),
        "gs://bü/ünïcödé".into(),
        "file:/x".into(),
        "s3://b\u{0}nul".into(),
        "s3://\u{1F600}/astral".into(),
        "x".repeat(65_530),
    ]
}

/// FNV-1a of the input: a deterministic source of choices.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Whether a field of this kind is offered to the maps.
fn eligible(kind: PathKind, options: PrefixRewriteOptions) -> bool {
    match kind {
        PathKind::Absolute | PathKind::Directory => true,
        PathKind::InlineHandleName => options.include_inline_names,
        PathKind::Relative => false,
    }
}

/// A `/`-boundary prefix of `value` (possibly all of it), chosen by `pick`.
fn component_prefix(value: &str, pick: u64) -> String {
    let mut cuts: Vec<usize> = value.match_indices('/').map(|(i, _)| i).collect();
    cuts.push(value.len());
    let cut = cuts[(pick % cuts.len() as u64) as usize];
    value[..cut].to_string()
}

fn choose_maps(md: &Metadata, seed: u64, options: PrefixRewriteOptions) -> PrefixMaps {
    let targets = targets();
    let candidates: Vec<String> = md
        .paths()
        .into_iter()
        .filter(|p| eligible(p.kind(), options))
        .map(|p| p.value_str().into_owned())
        .collect();
    let mut maps = Vec::new();
    for round in 0..2u64 {
        let bits = seed.rotate_right((round * 24) as u32);
        let to = targets[((bits >> 8) % targets.len() as u64) as usize].clone();
        let from = if candidates.is_empty() {
            "s3://b".to_string()
        } else {
            let path = &candidates[(bits % candidates.len() as u64) as usize];
            component_prefix(path, bits >> 16)
        };
        maps.push(PrefixMap::new(from, to));
    }
    PrefixMaps::new(maps)
}
