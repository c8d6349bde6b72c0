//! Decoding of hand-built files (doc §8 worked example, every version 1–7, every handle tag),
//! checked field by field, plus byte-exact re-encoding.

mod common;

use common::files::*;
use ferry_metadata::*;

fn roundtrip(bytes: &[u8]) -> Metadata {
    let md = decode(bytes).unwrap_or_else(|e| panic!("decode failed: {e}"));
    let again = encode(&md).unwrap_or_else(|e| panic!("encode failed: {e}"));
    assert_eq!(again, bytes, "re-encoding is not byte-identical");
    md
}

fn entries(op: &OperatorState) -> &[SubtaskEntry] {
    match &op.subtasks {
        SubtaskStates::Entries(e) => e,
        SubtaskStates::FullyFinished { .. } => panic!("unexpected fully finished operator"),
    }
}

fn state(op: &OperatorState, i: usize) -> &SubtaskState {
    entries(op)[i].state.as_ref().expect("subtask has state")
}

#[test]
fn worked_example_v6_fields() {
    let (bytes, trailer_at) = worked_example_v6();
    let md = roundtrip(&bytes);
    assert_eq!(md.version, 6);
    assert_eq!(md.checkpoint_id, 7);
    assert_eq!(md.master_states.len(), 1);
    let ms = &md.master_states[0];
    assert_eq!(ms.version, 3);
    assert!(ms.name.eq_str("hook"));
    assert_eq!(ms.payload, b"AB");
    assert_eq!(md.operators.len(), 4);

    let op = &md.operators[0];
    assert_eq!(op.name_str().as_deref(), Some("My Op"));
    assert_eq!(op.uid_str().as_deref(), Some("my-uid"));
    assert_eq!(op.id.to_hex(), "11112222333344445555666677778888");
    assert_eq!((op.parallelism, op.max_parallelism), (2, 128));
    match &op.coordinator_state {
        Some(StreamHandle::ByteStream(b)) => {
            assert!(b.name.eq_str("coord"));
            assert_eq!(b.data, vec![9, 8, 7]);
        }
        other => panic!("coordinator: {other:?}"),
    }
    let es = entries(op);
    assert_eq!(es.len(), 2);
    assert_eq!(es[0].raw_index, 0);
    assert!(es[1].is_finished());
    assert_eq!(es[1].raw_index, -2);
    assert_eq!(es[1].subtask_index(), 1);

    let s = state(op, 0);
    assert_eq!(s.managed_operator_state.raw_count, 1);
    match &s.managed_operator_state.handles[..] {
        [Some(OperatorHandle::Stream(h))] => {
            assert_eq!(h.states.len(), 1);
            assert!(h.states[0].name.eq_str("listState"));
            assert_eq!(
                h.states[0].distribution_mode(),
                Some(DistributionMode::Union)
            );
            assert_eq!(h.states[0].offsets, vec![10, 20]);
            match &h.delegate {
                Some(StreamHandle::RelativeFile(f)) => {
                    assert!(f.relative_path.eq_str("abc"));
                    assert_eq!(f.state_size, 33);
                }
                other => panic!("delegate: {other:?}"),
            }
        }
        other => panic!("managed op: {other:?}"),
    }
    assert_eq!(s.raw_operator_state.raw_count, 0);
    assert!(s.raw_operator_state.handles.is_empty());
    match s.managed_keyed_state.as_deref() {
        Some(KeyedHandle::Incremental(k)) => {
            assert_eq!(k.kind, IncrementalKind::V2);
            assert_eq!(k.checkpoint_id, 7);
            assert!(k.backend_identifier.eq_str(BACKEND_ID));
            assert_eq!(
                k.range,
                KeyGroupRange {
                    start: 0,
                    count: 64
                }
            );
            assert_eq!(k.checkpointed_size, Some(555));
            assert!(
                matches!(&k.meta_state, Some(StreamHandle::RelativeFile(f)) if f.state_size == 44)
            );
            assert_eq!(k.shared_state.len(), 1);
            assert!(k.shared_state[0].local_name.eq_str("000009.sst"));
            match &k.shared_state[0].handle {
                Some(StreamHandle::File(f)) => {
                    assert_eq!(f.state_size, 1000);
                    assert!(f.path.eq_str("s3://bucket/job/shared/f1"));
                }
                other => panic!("shared: {other:?}"),
            }
            assert_eq!(k.private_state.len(), 1);
            assert!(k.state_handle_id.as_ref().unwrap().eq_str("handle-id-1"));
        }
        other => panic!("managed keyed: {other:?}"),
    }
    assert!(s.raw_keyed_state.is_none());
    match (&s.input_channel_state[..], &s.result_subpartition_state[..]) {
        ([ChannelHandle::Single(i)], [ChannelHandle::Single(o)]) => {
            assert_eq!(i.subtask_index, Some(0));
            assert_eq!((i.gate_or_partition, i.channel_or_subpartition), (0, 1));
            assert_eq!(i.offsets, vec![0]);
            assert_eq!(i.state_size, 5);
            assert_eq!(o.offsets, vec![5]);
            assert_eq!(o.state_size, 7);
        }
        other => panic!("channels: {other:?}"),
    }
    assert!(s.legacy.is_none() && s.ref_checkpoint.is_none());

    let finished = &md.operators[1];
    assert_eq!(
        finished.subtasks,
        SubtaskStates::FullyFinished { raw_count: -1 }
    );
    assert!(finished.is_fully_finished());
    assert_eq!(finished.name.as_ref().map(JavaString::len), Some(0));
    assert_eq!(finished.name_str(), None);

    let sink = &md.operators[2];
    assert_eq!(sink.uid_str(), None);
    assert_eq!(state(sink, 0), &SubtaskState::default());

    match &state(&md.operators[3], 0).managed_operator_state.handles[..] {
        [Some(OperatorHandle::FileMerging(h))] => {
            assert!(h.task_owned_dir.eq_str("s3://bucket/taskowned/job_x_tm_y"));
            assert!(h.shared_dir.eq_str("s3://bucket/job/shared/job_x_op_z_0_1"));
            assert_eq!(h.is_empty_raw, 0);
            match &h.delegate {
                Some(StreamHandle::Segment(seg)) => {
                    assert_eq!((seg.start_pos, seg.state_size, seg.scope), (0, 64, 1));
                    assert!(seg.logical_file_id.eq_str("lf-1"));
                }
                other => panic!("segment: {other:?}"),
            }
        }
        other => panic!("file merging: {other:?}"),
    }

    assert_eq!(md.trailer, bytes[trailer_at..].to_vec());
    let props = md.properties().expect("properties");
    assert!(!props.is_null);
    assert_eq!(props.kind, Some(SnapshotKind::Savepoint));
    assert_eq!(props.savepoint_format, Some(SavepointFormat::Canonical));
    assert_eq!(props.type_name.as_deref(), Some("Savepoint"));
    assert_eq!(props.post_checkpoint_action.as_deref(), Some("NONE"));
    assert_eq!(props.flag("forced"), Some(false));
    assert_eq!(props.flags.len(), 7);
}

#[test]
fn v1_task_layout() {
    let (bytes, _) = v1_file();
    let md = roundtrip(&bytes);
    assert_eq!(md.version, 1);
    assert_eq!(md.checkpoint_id, 3);
    assert!(md.master_states.is_empty());
    let op = &md.operators[0];
    assert_eq!(op.chain_length, Some(2));
    assert!(op.name.is_none() && op.coordinator_state.is_none());
    let s = state(op, 0);
    let legacy = s.legacy.as_ref().unwrap();
    assert_eq!(legacy.duration, -1);
    assert!(
        matches!(&legacy.handles[..], [Some(StreamHandle::File(f))] if f.path.eq_str("hdfs:/flink/legacy"))
    );
    assert_eq!(s.managed_operator_state.raw_count, 2);
    assert!(matches!(
        &s.managed_operator_state.handles[..],
        [Some(OperatorHandle::Stream(_)), None]
    ));
    assert!(
        matches!(s.managed_keyed_state.as_deref(), Some(KeyedHandle::KeyGroups(k)) if k.kind == KeyGroupsKind::V1 && k.data.offsets == vec![0, 7])
    );
    assert!(md
        .paths()
        .iter()
        .any(|p| p.breadcrumb == "operator[0].subtask[0].managed_operator_state[0].delegate"));
}

#[test]
fn v2_legacy_fields_and_incremental_v1() {
    let (bytes, _) = v2_file();
    let md = roundtrip(&bytes);
    assert_eq!(md.version, 2);
    assert_eq!(md.checkpoint_id, 42);
    let op = &md.operators[0];
    assert_eq!(op.chain_length, Some(1));
    let s0 = state(op, 0);
    assert_eq!(
        s0.legacy,
        Some(LegacyFields {
            duration: -1,
            handles: vec![]
        })
    );
    match &s0.managed_operator_state.handles[..] {
        [Some(OperatorHandle::Stream(h))] => {
            assert_eq!(h.states.len(), 2);
            assert!(h.states[1].name.eq_str("union"));
            assert_eq!(h.states[1].offsets, vec![3, 9]);
        }
        other => panic!("{other:?}"),
    }
    match state(op, 1).managed_keyed_state.as_deref() {
        Some(KeyedHandle::Incremental(k)) => {
            assert_eq!(k.kind, IncrementalKind::V1);
            assert_eq!(k.checkpointed_size, None);
            assert_eq!(k.state_handle_id, None);
            assert!(k.backend_identifier.eq_str("old-style-backend-id"));
            assert_eq!(
                k.range,
                KeyGroupRange {
                    start: 64,
                    count: 64
                }
            );
            assert!(k.private_state[0].local_name.eq_str("CURRENT"));
        }
        other => panic!("{other:?}"),
    }
    assert!(md.paths().iter().all(|p| p.kind() == PathKind::Absolute));
}

#[test]
fn v3_modern_layout() {
    let (bytes, _) = v3_modern();
    let md = roundtrip(&bytes);
    assert_eq!(md.layout, Layout::default());
    let op = &md.operators[0];
    assert!(matches!(
        &op.coordinator_state,
        Some(StreamHandle::ByteStream(_))
    ));
    let es = entries(op);
    assert_eq!(
        es.iter().map(|e| e.raw_index).collect::<Vec<_>>(),
        vec![0, -3, 1]
    );
    assert_eq!(es[1].subtask_index(), 2);
    assert!(
        matches!(state(op, 0).managed_keyed_state.as_deref(), Some(KeyedHandle::KeyGroups(k)) if k.kind == KeyGroupsKind::Savepoint && k.state_handle_id.is_none())
    );
    match &state(op, 0).input_channel_state[..] {
        [ChannelHandle::Single(c)] => {
            assert_eq!(c.subtask_index, Some(0));
            assert_eq!(c.offsets, vec![0, 8]);
        }
        other => panic!("{other:?}"),
    }
    let s2 = state(op, 2);
    assert_eq!(s2.raw_operator_state.raw_count, 1);
    match s2.managed_keyed_state.as_deref() {
        Some(KeyedHandle::Incremental(k)) => {
            assert_eq!(k.checkpointed_size, Some(-1));
            match &k.shared_state[0].handle {
                Some(StreamHandle::KeyGroups(kg)) => {
                    assert_eq!(
                        kg.range,
                        KeyGroupRange {
                            start: 64,
                            count: 1
                        }
                    );
                    assert!(matches!(&kg.delegate, Some(StreamHandle::File(_))));
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        md.operators[1].subtasks,
        SubtaskStates::FullyFinished { raw_count: -1 }
    );
}

#[test]
fn v3_flink_1_11_channel_layout_is_detected() {
    let (bytes, _) = v3_flink_1_11_channels();
    let md = roundtrip(&bytes);
    assert_eq!(md.layout.channel_state, ChannelStateLayout::Flink1_11);
    assert_eq!(md.layout.changelog, ChangelogLayout::Flink1_15Plus);
    match &state(&md.operators[0], 0).input_channel_state[..] {
        [ChannelHandle::Single(c)] => {
            assert_eq!(c.subtask_index, None);
            assert_eq!((c.gate_or_partition, c.channel_or_subpartition), (0, 3));
            assert_eq!(c.state_size, 10);
        }
        other => panic!("{other:?}"),
    }
    // The newer layout alone does not explain the file.
    assert!(
        !matches!(decode_with_layout(&bytes, Layout::default()), Ok(m) if m.trailer.is_empty())
    );
    // Encoding the same model with the newer layout is refused rather than silently wrong.
    let mut wrong = md.clone();
    wrong.layout.channel_state = ChannelStateLayout::Flink1_12Plus;
    assert!(matches!(
        encode(&wrong).unwrap_err().kind,
        EncodeErrorKind::Inconsistent { .. }
    ));
}

#[test]
fn v3_flink_1_14_changelog_layout_is_detected() {
    let (bytes, _) = v3_flink_1_14_changelog();
    let md = roundtrip(&bytes);
    assert_eq!(md.layout.changelog, ChangelogLayout::Flink1_14);
    assert_eq!(md.layout.channel_state, ChannelStateLayout::Flink1_12Plus);
    match state(&md.operators[0], 0).managed_keyed_state.as_deref() {
        Some(KeyedHandle::ChangelogBackend(c)) => {
            assert_eq!(c.kind, ChangelogBackendKind::V1);
            assert_eq!(c.checkpointed_size, None);
            assert_eq!(c.materialization_id, None);
            assert_eq!(c.state_handle_id, None);
            assert!(matches!(
                &c.materialized[..],
                [Some(KeyedHandle::KeyGroups(_)), None]
            ));
            match &c.non_materialized[..] {
                [Some(KeyedHandle::ChangelogFiles(f)), Some(KeyedHandle::InMemoryChangelog(m))] => {
                    assert_eq!(f.kind, ChangelogFilesKind::V1);
                    assert_eq!(f.handles.len(), 2);
                    assert_eq!(f.handles[1].offset, 100);
                    assert_eq!(f.state_size, 600);
                    assert_eq!(f.checkpointed_size, None);
                    assert_eq!((m.from, m.to), (1, 3));
                    assert_eq!(
                        m.changes,
                        vec![StateChange {
                            key_group: 5,
                            data: b"chg".to_vec()
                        }]
                    );
                    assert_eq!(m.state_handle_id, None);
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn v3_flink_1_15_changelog_layout() {
    let (bytes, _) = v3_flink_1_15_changelog();
    let md = roundtrip(&bytes);
    assert_eq!(md.layout, Layout::default());
    match state(&md.operators[0], 0).managed_keyed_state.as_deref() {
        Some(KeyedHandle::ChangelogBackend(c)) => {
            assert_eq!(c.checkpointed_size, Some(900));
            assert_eq!(c.materialization_id, Some(77));
            assert_eq!(c.checkpoint_id, None);
            assert!(c
                .state_handle_id
                .as_ref()
                .unwrap()
                .eq_str("backend-handle-id"));
            match &c.non_materialized[..] {
                [Some(KeyedHandle::ChangelogFiles(f)), Some(KeyedHandle::InMemoryChangelog(m))] => {
                    assert_eq!((f.state_size, f.checkpointed_size), (300, Some(300)));
                    assert!(f.state_handle_id.as_ref().unwrap().eq_str("cl-id"));
                    assert_eq!(f.storage_identifier, None);
                    assert!(m.state_handle_id.as_ref().unwrap().eq_str("mem-id"));
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn v4_changelog_v2_file_merging_null_properties() {
    let (bytes, end) = v4_file();
    let md = roundtrip(&bytes);
    assert_eq!(md.checkpoint_id, 0);
    assert_eq!(md.trailer, NULL_PROPERTIES_TRAILER.to_vec());
    assert_eq!(bytes.len() - end, 5);
    assert!(md.properties().unwrap().is_null);
    let s = state(&md.operators[0], 0);
    match s.managed_keyed_state.as_deref() {
        Some(KeyedHandle::ChangelogBackend(c)) => {
            assert_eq!(c.kind, ChangelogBackendKind::V2);
            assert_eq!((c.materialization_id, c.checkpoint_id), (Some(3), Some(4)));
            assert!(
                matches!(&c.materialized[..], [Some(KeyedHandle::KeyGroups(k))] if k.kind == KeyGroupsKind::V2 && matches!(k.data.delegate, Some(StreamHandle::EmptySegment)))
            );
            match &c.non_materialized[..] {
                [Some(KeyedHandle::ChangelogFiles(f))] => {
                    assert_eq!(f.kind, ChangelogFilesKind::V2);
                    assert!(f.storage_identifier.as_ref().unwrap().eq_str("filesystem"));
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&s.managed_operator_state.handles[..], [Some(OperatorHandle::FileMerging(h))] if h.is_empty_raw == 1 && h.states[0].distribution_mode() == Some(DistributionMode::Broadcast))
    );
    assert!(
        matches!(s.raw_keyed_state.as_deref(), Some(KeyedHandle::KeyGroups(k)) if k.data.range.count == 0 && matches!(&k.data.delegate, Some(StreamHandle::Segment(seg)) if seg.scope == 0))
    );
}

#[test]
fn v5_name_uid_and_checkpoint_properties() {
    let (bytes, _) = v5_file();
    let md = roundtrip(&bytes);
    assert_eq!(md.operators[0].name_str().as_deref(), Some("Source: seq"));
    assert_eq!(md.operators[0].uid_str().as_deref(), Some("src"));
    let p = md.properties().unwrap();
    assert_eq!(p.kind, Some(SnapshotKind::Checkpoint));
    assert_eq!(p.savepoint_format, None);
    assert_eq!(p.type_name.as_deref(), Some("Checkpoint"));
    assert_eq!(
        p.sharing_files_strategy.as_deref(),
        Some("FORWARD_BACKWARD")
    );
    assert_eq!(p.flag("discardSubsumed"), Some(true));
}

#[test]
fn v6_merged_channel_handles() {
    let (bytes, _) = v6_merged_channels();
    let md = roundtrip(&bytes);
    let s = state(&md.operators[0], 0);
    match (&s.input_channel_state[..], &s.result_subpartition_state[..]) {
        ([ChannelHandle::Merged(i)], [ChannelHandle::Merged(o)]) => {
            assert_eq!(i.state_size, 30);
            let e = i.channel_entries().unwrap();
            assert_eq!(e.len(), 2);
            assert_eq!((e[1].channel_or_subpartition, e[1].state_size), (1, 20));
            assert_eq!(e[1].offsets, vec![10, 15]);
            assert!(matches!(&o.delegate, Some(StreamHandle::File(_))));
            assert_eq!(o.channel_entries().unwrap()[0].gate_or_partition, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn v7_reference_checkpoint_marker() {
    let (bytes, _) = v7_file();
    let md = roundtrip(&bytes);
    let es = entries(&md.operators[0]);
    assert_eq!(
        es[0].state.as_ref().unwrap().ref_checkpoint,
        Some(RefCheckpointId {
            marker: 1,
            id: Some(17)
        })
    );
    assert_eq!(
        es[1].state.as_ref().unwrap().ref_checkpoint,
        Some(RefCheckpointId {
            marker: 0,
            id: None
        })
    );
    assert!(es[2].is_finished());
    assert_eq!(md.properties().unwrap().flag("forced"), Some(true));
}

#[test]
fn trailing_bytes_are_kept_v1_to_v3() {
    for (_, mut bytes, end) in all_files()
        .into_iter()
        .filter(|(n, _, _)| matches!(*n, "v1" | "v2" | "v3_modern" | "v3_1_15_changelog"))
    {
        assert_eq!(end, bytes.len());
        bytes.extend_from_slice(b"junk\x00\x01");
        let md = roundtrip(&bytes);
        assert_eq!(md.trailer, b"junk\x00\x01".to_vec());
    }
}

#[test]
fn every_handle_kind_is_covered() {
    let mut seen = std::collections::BTreeSet::new();
    for (_, bytes, _) in all_files() {
        seen.extend(decode(&bytes).unwrap().summary().handles.into_keys());
    }
    let expected = [
        "S-1 inline",
        "S-2 file",
        "S-3 key-groups",
        "S-6 relative file",
        "S-15 segment",
        "S-16 empty segment",
        "K-3 key-groups",
        "K-5 incremental",
        "K-7 savepoint key-groups",
        "K-8 changelog backend",
        "K-9 in-memory changelog",
        "K-10 changelog files",
        "K-11 incremental",
        "K-12 key-groups",
        "K-13 changelog files",
        "K-14 changelog backend",
        "O-4 operator stream",
        "O-17 file-merging operator",
        "C single channel",
        "C merged channel",
    ];
    for e in expected {
        assert!(seen.contains(e), "no test file contains {e}");
    }
}

#[test]
fn summary_counts() {
    let (bytes, _) = worked_example_v6();
    let s = decode(&bytes).unwrap().summary();
    assert_eq!((s.operators, s.fully_finished_operators), (4, 1));
    assert_eq!((s.subtasks, s.finished_subtasks), (3, 1));
    assert_eq!(s.handles["S-6 relative file"], 4);
    // 33 + 44 + 1000 + 100 + 100 + 64 (segment)
    assert_eq!(s.referenced_bytes, 33 + 44 + 1000 + 100 + 100 + 64);
    assert_eq!(s.inline_bytes, 3 + 4);
}

#[test]
fn non_ascii_strings_roundtrip_raw() {
    // Operator name with NUL (C0 80), a supplementary char and a lone surrogate.
    let mut b = common::B::new();
    b.header(5).i64(1).i32(0).i32(1);
    let name = [b'a', 0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
    b.utf_raw(&name).utf_raw(&[0xED, 0xA0, 0xBD]);
    common::op_v3(&mut b, &[0], &[]);
    b.raw(&ferry_metadata::NULL_PROPERTIES_TRAILER);
    let md = roundtrip(&b.bytes());
    let op = &md.operators[0];
    assert_eq!(
        op.name.as_ref().unwrap().to_string_strict().unwrap(),
        "a\0😀"
    );
    assert!(op.uid.as_ref().unwrap().to_string_strict().is_err());
    assert_eq!(op.uid.as_ref().unwrap().as_bytes(), &[0xED, 0xA0, 0xBD]);
}
