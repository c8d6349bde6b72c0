//! Hand-built `_metadata` files, one per version / feature, written from the format doc with the
//! byte builder (never with the crate's encoder).

use super::*;

pub const BACKEND_ID: &str = "00000000-0000-0001-0000-000000000002";

/// The worked example of doc §8 (V6, written by Flink 2.3.0), completed where the doc elides
/// bytes. Returns the bytes and the offset where the trailer starts.
pub fn worked_example_v6() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(6).i64(7);
    assert_eq!(b.len(), 0x10);
    b.i32(1)
        .u32(0xC96B_1696)
        .i32(16)
        .i32(3)
        .utf("hook")
        .bytes32(b"AB");
    assert_eq!(b.len(), 0x2c);
    b.i32(4);
    // operator 0
    b.utf("My Op").utf("my-uid");
    assert_eq!(b.len(), 0x3f);
    b.raw(&OP_ID).i32(2).i32(128);
    assert_eq!(b.len(), 0x57);
    b.raw(&s1("coord", &[9, 8, 7]));
    assert_eq!(b.len(), 0x66);
    b.i32(2);
    b.i32(0); // subtask index 0
    assert_eq!(b.len(), 0x6e);
    b.i32(1);
    assert_eq!(b.len(), 0x72);
    b.u8(4).i32(1);
    assert_eq!(b.len(), 0x77);
    b.utf("listState");
    assert_eq!(b.len(), 0x82);
    b.u8(1).i64s(&[10, 20]);
    assert_eq!(b.len(), 0x97);
    b.raw(&s6("abc", 33));
    assert_eq!(b.len(), 0xa5);
    b.i32(0); // raw operator state absent
    assert_eq!(b.len(), 0xa9);
    b.u8(11).i64(7);
    assert_eq!(b.len(), 0xb2);
    b.utf(BACKEND_ID);
    assert_eq!(b.len(), 0xd8);
    b.i32(0).i32(64).i64(555);
    assert_eq!(b.len(), 0xe8);
    b.raw(&s6("meta", 44));
    assert_eq!(b.len(), 0xf7);
    b.i32(1).utf("000009.sst");
    assert_eq!(b.len(), 0x107);
    b.raw(&s2(1000, "s3://bucket/job/shared/f1"));
    // private list: one inline file named after its would-be path
    b.i32(1)
        .utf("MANIFEST-000005")
        .raw(&s1("s3://bucket/job/chk-7/m5", &[1, 2, 3, 4]));
    b.utf("handle-id-1");
    b.u8(0); // raw keyed state
             // 1 input channel (type 1), 1 result subpartition (type 2)
    b.i32(1)
        .u8(1)
        .i32(0)
        .i32(0)
        .i32(1)
        .i64s(&[0])
        .i64(5)
        .raw(&s6("chan", 100));
    b.i32(1)
        .u8(2)
        .i32(0)
        .i32(0)
        .i32(0)
        .i64s(&[5])
        .i64(7)
        .raw(&s6("chan", 100));
    // second entry: finished subtask 1
    b.raw(&[0xff, 0xff, 0xff, 0xfe]);
    // operator 1: fully finished
    b.utf("")
        .utf("")
        .raw(&[0xAB; 16])
        .i32(1)
        .i32(128)
        .u8(0)
        .i32(-1);
    // operator 2: one stateless subtask (18 bytes after the index)
    b.utf("Sink: Writer")
        .utf("")
        .raw(&[0xCD; 16])
        .i32(1)
        .i32(128)
        .u8(0)
        .i32(1)
        .i32(0);
    Sub::default().write(&mut b);
    // operator 3: file-merging operator state with a segment delegate
    b.utf("Map")
        .utf("map-uid")
        .raw(&[0xEF; 16])
        .i32(1)
        .i32(128)
        .u8(0)
        .i32(1)
        .i32(0);
    Sub {
        managed_op: Some(o17(
            &[("buf", 0, &[0])],
            "s3://bucket/taskowned/job_x_tm_y",
            "s3://bucket/job/shared/job_x_op_z_0_1",
            false,
            &s15(
                0,
                64,
                1,
                "s3://bucket/job/shared/job_x_op_z_0_1/seg1",
                "lf-1",
            ),
        )),
        ..Sub::default()
    }
    .write(&mut b);
    let trailer_at = b.len();
    b.raw(&properties_trailer(true, true, false));
    (b.bytes(), trailer_at)
}

/// V1 (Flink 1.2): task states with chain length, duration, legacy handles and operator-state
/// counts (one entry per chained operator).
pub fn v1_file() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(1).i64(3).i32(1);
    b.raw(&OP_ID).i32(2).i32(128).i32(2).i32(1);
    b.i32(0).i64(-1);
    b.i32(1).raw(&s2(10, "hdfs:/flink/legacy"));
    b.i32(2)
        .raw(&o4(&[("s", 0, &[0, 4])], &s2(8, "hdfs:/flink/op")))
        .u8(0);
    b.i32(0);
    b.raw(&k_key_groups(
        3,
        0,
        &[0, 7],
        &s2(20, "hdfs:/flink/kg"),
        None,
    ));
    b.u8(0);
    let end = b.len();
    (b.bytes(), end)
}

/// V2 (Flink 1.3–1.10): chain length 1, duration -1, legacy count 0, all absolute paths,
/// K-3 and K-5.
pub fn v2_file() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(2).i64(42).i32(0).i32(1);
    b.raw(&OP_ID).i32(1).i32(128).i32(1).i32(2);
    // subtask 0: O-4 + K-3
    b.i32(0).i64(-1).i32(0);
    b.i32(1).raw(&o4(
        &[("buffer", 0, &[0]), ("union", 1, &[3, 9])],
        &s2(12, "hdfs://nn:8020/flink/chk-42/op"),
    ));
    b.i32(0);
    b.raw(&k_key_groups(
        3,
        0,
        &[0, 5, 9],
        &s2(30, "hdfs://nn:8020/flink/chk-42/kg"),
        None,
    ));
    b.u8(0);
    // subtask 1: K-5 incremental
    b.i32(1).i64(-1).i32(0).i32(0).i32(0);
    b.raw(&k5(&Incremental {
        checkpoint_id: 41,
        backend: "old-style-backend-id",
        start: 64,
        count: 64,
        meta: s2(100, "hdfs://nn:8020/flink/chk-42/meta"),
        shared: vec![("000001.sst", s2(4096, "hdfs://nn:8020/flink/shared/a"))],
        private: vec![("CURRENT", s2(16, "hdfs://nn:8020/flink/shared/b"))],
    }));
    b.u8(0);
    let end = b.len();
    (b.bytes(), end)
}

/// V3 with the Flink 1.12+ channel layout: coordinator S-1, finished subtask, fully finished
/// operator, K-7 with S-6 delegate, S-3 inside a K-11 shared list, channel handles.
pub fn v3_modern() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(3).i64(9).i32(0).i32(2);
    let s0 = Sub {
        managed_keyed: k_key_groups(7, 0, &[0, 11], &s6("f-uuid-1", 22), None),
        input: vec![{
            let mut c = B::new();
            c.i32(0)
                .i32(0)
                .i32(1)
                .i64s(&[0, 8])
                .i64(16)
                .raw(&s6("chan-file", 64));
            c.bytes()
        }],
        ..Sub::default()
    };
    let s1_ = Sub {
        raw_op: Some(o4(&[], &s_null())),
        managed_keyed: k11(
            &Incremental {
                checkpoint_id: 9,
                backend: BACKEND_ID,
                start: 64,
                count: 64,
                meta: s6("meta-uuid", 200),
                shared: vec![(
                    "000010.sst",
                    s3(64, &[0], &s2(9, "file:/tmp/flink/shared/x")),
                )],
                private: vec![],
            },
            -1,
            "kh-1",
        ),
        output: vec![{
            let mut c = B::new();
            c.i32(1)
                .i32(0)
                .i32(2)
                .i64s(&[])
                .i64(0)
                .raw(&s6("chan-file", 64));
            c.bytes()
        }],
        ..Sub::default()
    };
    op_v3(
        &mut b,
        &s1("00000000000000000000000000000001", &[1]),
        &[(0, Some(&s0)), (-3, None), (1, Some(&s1_))],
    );
    op_v3(&mut b, &s_null(), &[]);
    // make the second operator fully finished: rewrite its count (last 4 bytes) to -1
    let n = b.0.len();
    b.0[n - 4..].copy_from_slice(&(-1i32).to_be_bytes());
    let end = b.len();
    (b.bytes(), end)
}

/// V3 written by Flink 1.11: a channel handle without subtask index.
pub fn v3_flink_1_11_channels() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(3).i64(5).i32(0).i32(1);
    let s = Sub {
        input: vec![{
            let mut c = B::new();
            c.i32(0).i32(3).i64s(&[0]).i64(10).raw(&s6("uc-file", 10));
            c.bytes()
        }],
        ..Sub::default()
    };
    op_v3(&mut b, &s_null(), &[(0, Some(&s))]);
    let end = b.len();
    (b.bytes(), end)
}

/// V3 written by Flink 1.14: K-8 (1.14 layout) with a materialized K-3 and non-materialized
/// K-10 and K-9 (1.14 layouts).
pub fn v3_flink_1_14_changelog() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(3).i64(12).i32(0).i32(1);
    let mut k = B::new();
    k.u8(8).i32(0).i32(128);
    k.i32(2)
        .raw(&k_key_groups(
            3,
            0,
            &[0],
            &s2(7, "s3://b/taskowned/m1"),
            None,
        ))
        .u8(0);
    k.i32(2);
    k.u8(10).i32(0).i32(128).i32(2);
    k.i64(0).raw(&s2(300, "s3://b/dstl/job/dstl/f1"));
    k.i64(100).raw(&s2(300, "s3://b/dstl/job/dstl/f1"));
    k.i64(600);
    k.u8(9)
        .i32(0)
        .i32(128)
        .i64(1)
        .i64(3)
        .i32(1)
        .i32(5)
        .bytes32(b"chg");
    let s = Sub {
        managed_keyed: k.bytes(),
        ..Sub::default()
    };
    op_v3(&mut b, &s_null(), &[(0, Some(&s))]);
    let end = b.len();
    (b.bytes(), end)
}

/// V3 written by Flink 1.15: the same changelog handles in the 1.15 layout.
pub fn v3_flink_1_15_changelog() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(3).i64(12).i32(0).i32(1);
    let mut k = B::new();
    k.u8(8).i32(0).i32(128).i64(900);
    k.i32(1).raw(&k_key_groups(
        12,
        0,
        &[0],
        &s2(7, "s3://b/taskowned/m1"),
        Some("kg-id"),
    ));
    k.i32(2);
    k.u8(10)
        .i32(0)
        .i32(128)
        .i32(1)
        .i64(0)
        .raw(&s2(300, "s3://b/dstl/job/dstl/f1"));
    k.i64(300).i64(300).utf("cl-id");
    k.u8(9).i32(0).i32(128).i64(1).i64(3).i32(0).utf("mem-id");
    k.i64(77).utf("backend-handle-id");
    let s = Sub {
        managed_keyed: k.bytes(),
        ..Sub::default()
    };
    op_v3(&mut b, &s_null(), &[(0, Some(&s))]);
    let end = b.len();
    (b.bytes(), end)
}

/// V4 (Flink 1.16–1.20): K-14 with materialized K-12 (S-16 delegate) and non-materialized K-13,
/// file merging (O-17 + S-15), a null-properties trailer.
pub fn v4_file() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(4).i64(0).i32(0).i32(1);
    let mut k = B::new();
    k.u8(14).i32(0).i32(128).i64(1234);
    k.i32(1)
        .raw(&k_key_groups(12, 0, &[0], &s16(), Some("kg-id-2")));
    k.i32(1);
    k.u8(13)
        .i32(0)
        .i32(128)
        .i32(1)
        .i64(0)
        .raw(&s2(50, "s3://b/dstl/f2"));
    k.i64(50).i64(50).utf("cl-id-2").utf("filesystem");
    k.i64(3).i64(4).utf("backend-id-2");
    let s = Sub {
        managed_op: Some(o17(
            &[("a", 2, &[])],
            "s3://b/job/taskowned/job_j_tm_t",
            "s3://b/job/shared/job_j_op_o_0_1",
            true,
            &s16(),
        )),
        managed_keyed: k.bytes(),
        raw_keyed: k_key_groups(
            12,
            0,
            &[],
            &s15(10, 20, 0, "s3://b/job/taskowned/job_j_tm_t/p1", "lf"),
            Some("kg-3"),
        ),
        ..Sub::default()
    };
    op_v3(&mut b, &s_null(), &[(0, Some(&s))]);
    let end = b.len();
    b.raw(&[0xAC, 0xED, 0x00, 0x05, 0x70]);
    (b.bytes(), end)
}

/// V5 (Flink 2.0): operator name/uid; checkpoint trailer.
pub fn v5_file() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(5).i64(100).i32(0).i32(1);
    b.utf("Source: seq").utf("src");
    let s = Sub {
        managed_op: Some(o4(&[("SourceReaderState", 0, &[0])], &s6("src-state", 31))),
        ..Sub::default()
    };
    op_v3(&mut b, &s_null(), &[(0, Some(&s))]);
    let end = b.len();
    b.raw(&properties_trailer(false, false, false));
    (b.bytes(), end)
}

/// The inner blob of a merged channel handle.
pub fn merged_blob(channels: &[(i32, i32, i64, &[i64])]) -> Vec<u8> {
    let mut b = B::new();
    b.i32(channels.len() as i32);
    for (a, c, size, offsets) in channels {
        b.i32(*a).i32(*c).i64(*size).i64s(offsets);
    }
    b.bytes()
}

/// V6 (Flink 2.1+): merged input (type 3) and output (type 4) channel handles.
pub fn v6_merged_channels() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(6).i64(8).i32(0).i32(1);
    b.utf("Window").utf("");
    let mut input = B::new();
    input
        .u8(3)
        .i32(0)
        .i64(30)
        .raw(&s6("shared-chan", 1000))
        .bytes32(&merged_blob(&[(0, 0, 10, &[0]), (0, 1, 20, &[10, 15])]));
    let mut output = B::new();
    output
        .u8(4)
        .i32(0)
        .i64(5)
        .raw(&s2(1000, "s3://b/chk-8/shared-chan"))
        .bytes32(&merged_blob(&[(1, 2, 5, &[])]));
    let s = Sub {
        input: vec![input.bytes()],
        output: vec![output.bytes()],
        ..Sub::default()
    };
    op_v3(&mut b, &s_null(), &[(0, Some(&s))]);
    let end = b.len();
    b.raw(&properties_trailer(false, false, false));
    (b.bytes(), end)
}

/// V7 (unreleased): per-subtask reference-checkpoint marker.
pub fn v7_file() -> (Vec<u8>, usize) {
    let mut b = B::new();
    b.header(7).i64(20).i32(0).i32(1);
    b.utf("op").utf("uid");
    b.raw(&OP_ID).i32(3).i32(128).u8(0).i32(3);
    b.i32(0);
    Sub::default().write(&mut b);
    b.u8(1).i64(17);
    b.i32(1);
    Sub::default().write(&mut b);
    b.u8(0);
    b.i32(-3); // finished subtask 2: no marker
    let end = b.len();
    b.raw(&properties_trailer(false, false, true));
    (b.bytes(), end)
}

/// Every hand-built file with the offset where its body ends (trailer start).
pub fn all_files() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut v = Vec::new();
    for (name, f) in [
        (
            "worked_example_v6",
            worked_example_v6 as fn() -> (Vec<u8>, usize),
        ),
        ("v1", v1_file),
        ("v2", v2_file),
        ("v3_modern", v3_modern),
        ("v3_1_11_channels", v3_flink_1_11_channels),
        ("v3_1_14_changelog", v3_flink_1_14_changelog),
        ("v3_1_15_changelog", v3_flink_1_15_changelog),
        ("v4", v4_file),
        ("v5", v5_file),
        ("v6_merged", v6_merged_channels),
        ("v7", v7_file),
    ] {
        let (bytes, end) = f();
        v.push((name, bytes, end));
    }
    v
}
