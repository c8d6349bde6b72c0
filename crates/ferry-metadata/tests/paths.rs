//! Path API: enumeration (breadcrumbs, kinds, sizes), resolution against the exclusive
//! directory, rewriting through a function and through prefix maps, the 65 535-byte limit.

mod common;

use common::files::*;
use ferry_metadata::*;

fn worked() -> Metadata {
    decode(&worked_example_v6().0).unwrap()
}

#[test]
fn enumerates_every_path_field_in_file_order() {
    let got: Vec<(String, PathField, String, Option<u64>)> = worked()
        .paths()
        .into_iter()
        .map(|p| {
            (
                p.breadcrumb.clone(),
                p.field,
                p.value_str().into_owned(),
                p.size,
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    let expected = vec![
        (
            s("operator[0].coordinator_state"),
            PathField::InlineHandleName,
            s("coord"),
            None,
        ),
        (
            s("operator[0].subtask[0].managed_operator_state.delegate"),
            PathField::RelativeFilePath,
            s("abc"),
            Some(33),
        ),
        (
            s("operator[0].subtask[0].managed_keyed_state.meta"),
            PathField::RelativeFilePath,
            s("meta"),
            Some(44),
        ),
        (
            s("operator[0].subtask[0].managed_keyed_state.shared[0]"),
            PathField::FilePath,
            s("s3://bucket/job/shared/f1"),
            Some(1000),
        ),
        (
            s("operator[0].subtask[0].managed_keyed_state.private[0]"),
            PathField::InlineHandleName,
            s("s3://bucket/job/chk-7/m5"),
            None,
        ),
        (
            s("operator[0].subtask[0].input_channel[0].delegate"),
            PathField::RelativeFilePath,
            s("chan"),
            Some(100),
        ),
        (
            s("operator[0].subtask[0].result_subpartition[0].delegate"),
            PathField::RelativeFilePath,
            s("chan"),
            Some(100),
        ),
        (
            s("operator[3].subtask[0].managed_operator_state.task_owned_dir"),
            PathField::TaskOwnedDir,
            s("s3://bucket/taskowned/job_x_tm_y"),
            None,
        ),
        (
            s("operator[3].subtask[0].managed_operator_state.shared_dir"),
            PathField::SharedDir,
            s("s3://bucket/job/shared/job_x_op_z_0_1"),
            None,
        ),
        (
            s("operator[3].subtask[0].managed_operator_state.delegate"),
            PathField::SegmentFilePath,
            s("s3://bucket/job/shared/job_x_op_z_0_1/seg1"),
            Some(64),
        ),
    ];
    assert_eq!(got, expected);
}

#[test]
fn kinds_and_unknown_sizes() {
    assert_eq!(PathField::FilePath.kind(), PathKind::Absolute);
    assert_eq!(PathField::SegmentFilePath.kind(), PathKind::Absolute);
    assert_eq!(PathField::RelativeFilePath.kind(), PathKind::Relative);
    assert_eq!(PathField::TaskOwnedDir.kind(), PathKind::Directory);
    assert_eq!(PathField::SharedDir.kind(), PathKind::Directory);
    assert_eq!(
        PathField::InlineHandleName.kind(),
        PathKind::InlineHandleName
    );
    // K-11 checkpointed size -1 is not a path size; an S-2 with size -1 has size None.
    let md = decode(&v3_modern().0).unwrap();
    let p = md.paths();
    let relative: Vec<_> = p
        .iter()
        .filter(|p| p.kind() == PathKind::Relative)
        .collect();
    assert!(relative.iter().all(|p| p.size.is_some()));
    let mut m = md.clone();
    m.rewrite_paths(|_| None).unwrap();
    assert_eq!(m, md);
    let mut b = common::B::new();
    b.header(3).i64(1).i32(0).i32(1);
    common::op_v3(&mut b, &common::s2(-1, "s3://x/y"), &[]);
    let p = decode(&b.bytes()).unwrap().paths();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].size, None);
}

#[test]
fn resolves_against_the_exclusive_directory() {
    let md = worked();
    let paths = md.paths();
    let by = |crumb: &str| paths.iter().find(|p| p.breadcrumb == crumb).unwrap();
    let rel = by("operator[0].subtask[0].managed_keyed_state.meta");
    assert_eq!(
        rel.resolve("s3://bucket/sp/savepoint-abc").as_deref(),
        Some("s3://bucket/sp/savepoint-abc/meta")
    );
    assert_eq!(
        rel.resolve("s3://bucket/sp/savepoint-abc/").as_deref(),
        Some("s3://bucket/sp/savepoint-abc/meta")
    );
    let abs = by("operator[0].subtask[0].managed_keyed_state.shared[0]");
    assert_eq!(
        abs.resolve("file:/elsewhere").as_deref(),
        Some("s3://bucket/job/shared/f1")
    );
    let dir = by("operator[3].subtask[0].managed_operator_state.shared_dir");
    assert_eq!(
        dir.resolve("file:/elsewhere").as_deref(),
        Some("s3://bucket/job/shared/job_x_op_z_0_1")
    );
    assert_eq!(by("operator[0].coordinator_state").resolve("file:/x"), None);

    assert_eq!(
        exclusive_dir_of("s3://b/j/chk-3/_metadata"),
        "s3://b/j/chk-3"
    );
    assert_eq!(exclusive_dir_of("s3://b/j/chk-3/"), "s3://b/j/chk-3");
    assert_eq!(
        exclusive_dir_of("hdfs:/sp/savepoint-1"),
        "hdfs:/sp/savepoint-1"
    );
    assert_eq!(join_relative("file:/a/", "/b"), "file:/a/b");
}

#[test]
fn rewrite_with_a_function_changes_only_returned_fields() {
    let mut md = worked();
    let before = encode(&md).unwrap();
    let stats = md
        .rewrite_paths(|p| {
            (p.kind() == PathKind::Absolute)
                .then(|| p.value_str().replace("s3://bucket", "gs://other-bucket"))
        })
        .unwrap();
    assert_eq!(
        stats,
        RewriteStats {
            visited: 10,
            changed: 2
        }
    );
    let after = encode(&md).unwrap();
    // Two strings grew; nothing else changed size (no enclosing length fields).
    let growth = ("gs://other-bucket".len() - "s3://bucket".len()) * 2;
    assert_eq!(after.len(), before.len() + growth);
    let re = decode(&after).unwrap();
    let values: Vec<String> = re
        .paths()
        .iter()
        .filter(|p| p.kind() == PathKind::Absolute)
        .map(|p| p.value_str().into_owned())
        .collect();
    assert_eq!(
        values,
        vec![
            "gs://other-bucket/job/shared/f1",
            "gs://other-bucket/job/shared/job_x_op_z_0_1/seg1"
        ]
    );
    // Everything else is untouched, including the trailer.
    assert_eq!(re.trailer, md.trailer);
    assert_eq!(re.operators[1], decode(&before).unwrap().operators[1]);
}

#[test]
fn prefix_maps_longest_first_with_hit_counts() {
    let mut md = worked();
    let maps = PrefixMaps::new(vec![
        PrefixMap::parse("s3://bucket=s3a://new").unwrap(),
        PrefixMap::parse("s3://bucket/job/shared/=hdfs://nn:8020/shared/").unwrap(),
        PrefixMap::parse("s3://buck=wrong://should-not-match").unwrap(),
    ]);
    let report = md
        .apply_prefix_maps(&maps, PrefixRewriteOptions::default())
        .unwrap();
    // shared/f1, shared dir and segment go to map 1 (longer); task-owned dir to map 0;
    // map 2 never matches mid-component; inline names are skipped by default.
    assert_eq!(report.hits, vec![1, 3, 0]);
    assert_eq!(report.stats.changed, 4);
    let got: Vec<String> = md
        .paths()
        .iter()
        .filter(|p| matches!(p.kind(), PathKind::Absolute | PathKind::Directory))
        .map(|p| p.value_str().into_owned())
        .collect();
    assert_eq!(
        got,
        vec![
            "hdfs://nn:8020/shared/f1",
            "s3a://new/taskowned/job_x_tm_y",
            "hdfs://nn:8020/shared/job_x_op_z_0_1",
            "hdfs://nn:8020/shared/job_x_op_z_0_1/seg1",
        ]
    );
    // Relative paths are never mapped.
    assert!(md
        .paths()
        .iter()
        .any(|p| p.kind() == PathKind::Relative && p.value_str() == "abc"));
    assert!(md
        .paths()
        .iter()
        .any(|p| p.kind() == PathKind::InlineHandleName
            && p.value_str() == "s3://bucket/job/chk-7/m5"));

    // Opting in rewrites inline names too.
    let mut md = worked();
    let maps = PrefixMaps::new(vec![PrefixMap::new("s3://bucket/", "file:/mnt/")]);
    let opts = PrefixRewriteOptions {
        include_inline_names: true,
    };
    let report = md.apply_prefix_maps(&maps, opts).unwrap();
    assert_eq!(report.hits, vec![5]);
    assert!(md
        .paths()
        .iter()
        .any(|p| p.value_str() == "file:/mnt/job/chk-7/m5"));
    assert!(md
        .paths()
        .iter()
        .any(|p| p.value_str() == "file:/mnt/job/shared/f1"));
}

#[test]
fn prefix_map_semantics() {
    let m = PrefixMap::new("hdfs://nn:8020/", "s3a://bucket/");
    assert_eq!(
        m.apply("hdfs://nn:8020/flink/x").as_deref(),
        Some("s3a://bucket/flink/x")
    );
    assert_eq!(m.apply("hdfs://nn:8020").as_deref(), Some("s3a://bucket"));
    assert_eq!(m.apply("hdfs://nn:80201/x"), None);
    let m = PrefixMap::new("file:/data/a", "file:/data/b");
    assert_eq!(m.apply("file:/data/a/x").as_deref(), Some("file:/data/b/x"));
    assert_eq!(m.apply("file:/data/ab/x"), None);
    assert_eq!(
        PrefixMap::parse("a=b=c").unwrap(),
        PrefixMap::new("a", "b=c")
    );
    assert!(PrefixMap::parse("=x").is_err());
    assert!(PrefixMap::parse("novalue").is_err());
    let maps = PrefixMaps::new(vec![
        PrefixMap::new("s3://b", "x:"),
        PrefixMap::new("s3://b/deep", "y:"),
    ]);
    assert_eq!(maps.map("s3://b/deep/f"), Some((1, "y:/f".to_string())));
    assert_eq!(maps.map("s3://b/other"), Some((0, "x:/other".to_string())));
    assert_eq!(maps.map("gs://b"), None);
}

/// `apply_prefix_maps` swaps ASCII prefixes in place and takes the text route otherwise; both
/// must give what mapping every value as text gives.
#[test]
fn prefix_maps_in_place_agree_with_the_text_route() {
    let start = || {
        let mut md = worked();
        // One non-ASCII value, so that the text route is taken too.
        md.rewrite_paths(|p| {
            (p.field == PathField::FilePath).then(|| "s3://bucket/job/shared/ünï".to_string())
        })
        .unwrap();
        md
    };
    for maps in [
        vec![PrefixMap::new(
            "s3://bucket",
            "s3a://a-much-longer-bucket/prefix",
        )],
        vec![PrefixMap::new("s3://bucket/job/", "gs://b/")],
        vec![PrefixMap::new("s3://bucket", "gs://bücket")],
        vec![PrefixMap::new(
            "s3://bucket/job/shared",
            "s3://bucket/job/shared",
        )],
        vec![
            PrefixMap::new("s3://bucket/job/shared/ünï", "file:/x"),
            PrefixMap::new("s3://bucket/job", "file:/y"),
        ],
    ] {
        let table = PrefixMaps::new(maps.clone());
        let mut fast = start();
        let report = fast
            .apply_prefix_maps(
                &table,
                PrefixRewriteOptions {
                    include_inline_names: true,
                },
            )
            .unwrap();
        let mut slow = start();
        let stats = slow
            .rewrite_paths(|p| match p.kind() {
                PathKind::Relative => None,
                _ => table.map(&p.value_str()).map(|(_, v)| v),
            })
            .unwrap();
        assert_eq!(fast, slow, "{maps:?}");
        assert_eq!(report.stats, stats, "{maps:?}");
        assert_eq!(decode(&encode(&fast).unwrap()).unwrap(), fast, "{maps:?}");
    }
    // A prefix swap past the 65 535-byte limit changes nothing and names the field.
    let mut md = worked();
    let original = md.clone();
    let huge = format!("s3://{}", "x".repeat(65_530));
    let err = md
        .apply_prefix_maps(
            &PrefixMaps::new(vec![PrefixMap::new("s3://bucket", &huge)]),
            PrefixRewriteOptions::default(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, RewriteError::StringTooLong { breadcrumb, len }
            if breadcrumb.starts_with("operator[") && *len > 65_535),
        "{err:?}"
    );
    assert_eq!(md, original);
}

#[test]
fn java_string_limit_is_enforced_with_breadcrumb_and_no_partial_change() {
    let mut md = worked();
    let original = md.clone();
    let long = format!("s3://bucket/{}", "x".repeat(65_535));
    let err = md
        .rewrite_paths(|p| (p.field == PathField::SegmentFilePath).then(|| long.clone()))
        .unwrap_err();
    assert_eq!(
        err,
        RewriteError::StringTooLong {
            breadcrumb: "operator[3].subtask[0].managed_operator_state.delegate".to_string(),
            len: long.len(),
        }
    );
    assert!(err
        .to_string()
        .contains("operator[3].subtask[0].managed_operator_state.delegate"));
    assert_eq!(md, original, "a failed rewrite must not change anything");

    // Exactly 65 535 bytes is allowed and encodes; 3-byte chars count as 3.
    let max = "y".repeat(65_535);
    md.rewrite_paths(|p| (p.field == PathField::FilePath).then(|| max.clone()))
        .unwrap();
    let bytes = encode(&md).unwrap();
    assert!(decode(&bytes)
        .unwrap()
        .paths()
        .iter()
        .any(|p| p.value.len() == 65_535));
    let wide = "€".repeat(21_846);
    assert!(matches!(
        md.rewrite_paths(|p| (p.field == PathField::FilePath).then(|| wide.clone())),
        Err(RewriteError::StringTooLong { len: 65_538, .. })
    ));

    // The encoder also enforces the limit on raw strings, naming the field.
    let mut raw = worked();
    if let Some(StreamHandle::ByteStream(b)) = &mut raw.operators[0].coordinator_state {
        b.name = JavaString::from_raw(vec![b'a'; 70_000]);
    }
    let e = encode(&raw).unwrap_err();
    assert_eq!(e.kind, EncodeErrorKind::StringTooLong { len: 70_000 });
    assert_eq!(e.path, "operator[0].coordinator_state.name");
}

/// Found by the `decode` fuzz target: a V3 file in the Flink 1.11 channel-state layout whose
/// paths were rewritten re-encodes to bytes that *also* parse in the 1.12+ layout, so plain
/// `decode` (which prefers 1.12+) reads a different model. Re-reading with the layout the file
/// was written in gives the rewritten model back; callers that re-read what they wrote must do
/// that (`ferry rewrite` does).
#[test]
fn rewritten_v3_1_11_channel_layout_round_trips_with_its_layout() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/regressions/v3-channel-layout-ambiguity.bin"),
    )
    .unwrap();
    let md = ferry_metadata::decode(&bytes).unwrap();
    assert_eq!(
        md.layout.channel_state,
        ferry_metadata::ChannelStateLayout::Flink1_11
    );
    let mut moved = md.clone();
    moved
        .rewrite_paths(|p| Some(format!("{}/moved", p.value_str())))
        .unwrap();
    let out = ferry_metadata::encode(&moved).unwrap();
    assert_eq!(
        ferry_metadata::decode_with_layout(&out, moved.layout).unwrap(),
        moved
    );
    assert_ne!(ferry_metadata::decode(&out).unwrap().layout, moved.layout);
}
