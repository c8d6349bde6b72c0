//! Hostile input: truncation at every offset, huge counts, unknown tags with their context,
//! corrupted headers, deep nesting, and byte mutations of valid files (never a panic; whatever
//! decodes must re-encode byte-identically).

mod common;

use common::files::*;
use common::*;
use ferry_metadata::*;

#[test]
fn truncation_at_every_offset_fails_cleanly() {
    for (name, bytes, body_end) in all_files() {
        for n in 0..body_end {
            let err = match decode(&bytes[..n]) {
                Ok(_) => panic!("{name}: prefix of {n} bytes decoded"),
                Err(e) => e,
            };
            assert!(
                matches!(
                    err.kind,
                    DecodeErrorKind::UnexpectedEof { .. } | DecodeErrorKind::InvalidLength { .. }
                ),
                "{name}: prefix {n}: unexpected error {err}"
            );
            assert!(
                err.offset <= n,
                "{name}: prefix {n}: offset {} beyond input",
                err.offset
            );
        }
    }
}

#[test]
fn truncated_trailer_needs_at_least_the_java_magic() {
    let (bytes, end) = v5_file();
    for n in end..end + 4 {
        let e = decode(&bytes[..n]).unwrap_err();
        assert!(
            matches!(e.kind, DecodeErrorKind::UnexpectedEof { .. }),
            "{e}"
        );
        assert_eq!(e.path, "properties");
        assert_eq!(e.offset, end);
    }
    // From the magic on, the opaque trailer is kept as far as it goes.
    let md = decode(&bytes[..end + 10]).unwrap();
    assert_eq!(md.trailer, bytes[end..end + 10].to_vec());
    assert_eq!(encode(&md).unwrap(), bytes[..end + 10].to_vec());
}

#[test]
fn bad_properties_trailer_is_rejected() {
    let (mut bytes, end) = v4_file();
    bytes[end] = 0x00;
    let e = decode(&bytes).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::BadPropertiesTrailer);
    assert_eq!(e.offset, end);
}

#[test]
fn huge_counts_do_not_allocate() {
    // numOperators = i32::MAX with 10 bytes left.
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(i32::MAX).raw(&[0; 10]);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::InvalidLength {
            len: i64::from(i32::MAX),
            remaining: 10
        }
    );
    assert_eq!(e.offset, 20);

    // Inline data length 2^31-1 inside a coordinator handle.
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(1).raw(&OP_ID).i32(1).i32(1);
    b.u8(1).utf("n").i32(i32::MAX).raw(&[1, 2, 3]);
    let e = decode(&b.bytes()).unwrap_err();
    assert!(matches!(
        e.kind,
        DecodeErrorKind::InvalidLength {
            len: 2_147_483_647,
            remaining: 3
        }
    ));
    assert_eq!(e.path, "operator[0].coordinator_state.data");

    // Offsets count far beyond the input in an operator-state handle.
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(1);
    let mut h = B::new();
    h.u8(4).i32(1).utf("s").u8(0).i32(0x1000_0000);
    op_v3(
        &mut b,
        &s_null(),
        &[(
            0,
            Some(&Sub {
                managed_op: Some(h.bytes()),
                ..Sub::default()
            }),
        )],
    );
    let e = decode(&b.bytes()).unwrap_err();
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::InvalidLength {
                len: 0x1000_0000,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.path,
        "operator[0].subtask[0].managed_operator_state.state[0]"
    );

    // Negative counts.
    let mut b = B::new();
    b.header(2).i64(1).i32(-5);
    let e = decode(&b.bytes()).unwrap_err();
    assert!(matches!(
        e.kind,
        DecodeErrorKind::InvalidLength { len: -5, .. }
    ));
}

#[test]
fn unknown_tags_report_their_context() {
    let keyed = Sub {
        managed_keyed: vec![42],
        ..Sub::default()
    };
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(1);
    op_v3(&mut b, &s_null(), &[(0, Some(&keyed))]);
    let bytes = b.bytes();
    let tag_at = bytes.iter().rposition(|&x| x == 42).unwrap();
    let e = decode(&bytes).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnknownHandleTag {
            tag: 42,
            context: HandleContext::Keyed
        }
    );
    assert_eq!(e.offset, tag_at);
    assert_eq!(e.path, "operator[0].subtask[0].managed_keyed_state");
    assert_eq!(
        e.to_string(),
        format!(
            "unknown keyed-state handle tag 42 at byte 0x{tag_at:x} (operator[0].subtask[0].managed_keyed_state)"
        )
    );

    // Stream tag 4 (an operator-context tag) as a delegate.
    let op = Sub {
        managed_op: Some(o4(&[], &[4])),
        ..Sub::default()
    };
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(1);
    op_v3(&mut b, &s_null(), &[(0, Some(&op))]);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnknownHandleTag {
            tag: 4,
            context: HandleContext::Stream
        }
    );
    assert_eq!(
        e.path,
        "operator[0].subtask[0].managed_operator_state.delegate"
    );

    // Operator tag 2 (a stream-context tag).
    let op = Sub {
        raw_op: Some(vec![2]),
        ..Sub::default()
    };
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(1);
    op_v3(&mut b, &s_null(), &[(0, Some(&op))]);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnknownHandleTag {
            tag: 2,
            context: HandleContext::Operator
        }
    );
    assert_eq!(e.path, "operator[0].subtask[0].raw_operator_state");

    // V6: a result-subpartition type (2) inside the input-channel collection.
    let mut bad = vec![2u8];
    bad.extend_from_slice(&[0; 20]);
    let ch = Sub {
        input: vec![bad],
        ..Sub::default()
    };
    let mut b = B::new();
    b.header(6).i64(1).i32(0).i32(1).utf("").utf("");
    op_v3(&mut b, &s_null(), &[(0, Some(&ch))]);
    b.raw(&NULL_PROPERTIES_TRAILER);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnknownHandleTag {
            tag: 2,
            context: HandleContext::InputChannel
        }
    );
    assert_eq!(e.path, "operator[0].subtask[0].input_channel[0]");
    assert!(e
        .to_string()
        .starts_with("unknown input-channel-state handle tag 2 at byte 0x"));
}

#[test]
fn header_errors() {
    let e = decode(&[0, 1, 2, 3, 0, 0, 0, 3]).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::BadMagic { found: 0x0001_0203 });
    for v in [0, 8, -1, 1000] {
        let mut b = B::new();
        b.header(v).i64(0).i32(0).i32(0);
        let e = decode(&b.bytes()).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownVersion { version: v });
        assert_eq!(e.offset, 4);
        assert!(e
            .to_string()
            .contains(&format!("unknown metadata format version {v}")));
    }
    let e = decode(&[0x49, 0x60]).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnexpectedEof {
            needed: 4,
            remaining: 2
        }
    );
}

#[test]
fn negative_checkpoint_id_is_rejected_from_v2() {
    let mut b = B::new();
    b.header(2).i64(-1).i32(0).i32(0);
    assert_eq!(
        decode(&b.bytes()).unwrap_err().kind,
        DecodeErrorKind::NegativeCheckpointId { id: -1 }
    );
}

#[test]
fn master_state_checks() {
    let mut b = B::new();
    b.header(3).i64(1).i32(1).u32(0xDEAD_BEEF).raw(&[0; 20]);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::BadMasterStateMagic { found: 0xDEAD_BEEF }
    );
    assert_eq!(e.path, "master[0]");

    // Declared inner length 20, content 16 bytes (+4 following bytes that happen to exist).
    let mut b = B::new();
    b.header(3)
        .i64(1)
        .i32(1)
        .u32(0xC96B_1696)
        .i32(20)
        .i32(3)
        .utf("hook")
        .bytes32(b"AB");
    b.i32(0);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::MasterStateLengthMismatch {
            declared: 20,
            actual: 16
        }
    );

    let mut b = B::new();
    b.header(3)
        .i64(1)
        .i32(1)
        .u32(0xC96B_1696)
        .i32(0)
        .raw(&[0; 20]);
    assert!(matches!(
        decode(&b.bytes()).unwrap_err().kind,
        DecodeErrorKind::InvalidLength { len: 0, .. }
    ));
}

#[test]
fn deep_nesting_hits_the_depth_limit() {
    // 1000 nested S-3 handles (each 9 bytes + delegate) as a coordinator state.
    let mut handle = s_null();
    for _ in 0..1000 {
        handle = s3(0, &[], &handle);
    }
    let mut b = B::new();
    b.header(3).i64(1).i32(0).i32(1);
    op_v3(&mut b, &handle, &[]);
    let e = decode(&b.bytes()).unwrap_err();
    assert!(
        matches!(e.kind, DecodeErrorKind::DepthLimitExceeded { .. }),
        "{e}"
    );
    assert!(e
        .path
        .starts_with("operator[0].coordinator_state.delegate.delegate"));
}

#[test]
fn invalid_modified_utf8_is_rejected() {
    let mut b = B::new();
    b.header(5)
        .i64(1)
        .i32(0)
        .i32(1)
        .utf_raw(&[b'a', 0xFF])
        .raw(&[0; 40]);
    let e = decode(&b.bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::InvalidModifiedUtf8 {
            offset_in_string: 1
        }
    );
    assert_eq!(e.offset, 27); // 24 header+body bytes, 2 length bytes, then "a"
    assert_eq!(e.path, "operator[0].name");
}

/// Small deterministic PRNG (xorshift) so the test is reproducible without extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn check_fixed_point(input: &[u8]) -> bool {
    match decode(input) {
        Ok(md) => {
            let out = encode(&md).expect("a decoded model must encode");
            assert_eq!(out, input, "decode succeeded but re-encoding differs");
            true
        }
        Err(e) => {
            assert!(e.offset <= input.len());
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn single_byte_mutations_never_panic_and_decoded_files_roundtrip() {
    let mut accepted = 0usize;
    let mut total = 0usize;
    for (_, bytes, _) in all_files() {
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut m = bytes.clone();
                m[i] ^= x;
                total += 1;
                accepted += usize::from(check_fixed_point(&m));
            }
        }
    }
    // Mutations of sizes, offsets and string contents decode fine; tag/length ones do not.
    assert!(
        accepted > 0 && accepted < total,
        "accepted {accepted} of {total}"
    );
}

#[test]
fn random_inputs_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = (rng.next() % 200) as usize;
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.next().is_multiple_of(2) && v.len() >= 8 {
            v[..4].copy_from_slice(&[0x49, 0x60, 0x67, 0x2D]);
            v[4..8].copy_from_slice(&((rng.next() % 7) as i32 + 1).to_be_bytes());
        }
        check_fixed_point(&v);
    }
}
