//! Property tests: generated models of every version → encode → decode → equal, and
//! encode(decode(encode(m))) == encode(m), including the V3 legacy sub-layouts.

use ferry_metadata::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn jstr() -> impl Strategy<Value = JavaString> {
    prop_oneof![
        4 => "[a-z0-9:/._-]{0,24}".prop_map(|s| JavaString::new(&s).unwrap()),
        2 => any::<String>().prop_map(|s| JavaString::new(&s).unwrap()),
        1 => Just(JavaString::from_raw(vec![0xED, 0xA0, 0xBD])), // lone surrogate
        1 => Just(JavaString::from_raw(vec![b'x', 0xC0, 0x80])), // NUL as C0 80
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..8)
}

fn range() -> impl Strategy<Value = KeyGroupRange> {
    (any::<i32>(), any::<i32>()).prop_map(|(start, count)| KeyGroupRange { start, count })
}

fn key_groups_data(depth: u32) -> BoxedStrategy<KeyGroupsData> {
    (
        any::<i32>(),
        vec(any::<i64>(), 0..4),
        option::of(stream(depth)),
    )
        .prop_map(|(start, offsets, delegate)| KeyGroupsData {
            range: KeyGroupRange {
                start,
                count: offsets.len() as i32,
            },
            offsets,
            delegate,
        })
        .boxed()
}

fn stream(depth: u32) -> BoxedStrategy<StreamHandle> {
    let leaf = prop_oneof![
        (jstr(), bytes())
            .prop_map(|(name, data)| StreamHandle::ByteStream(ByteStreamHandle { name, data })),
        (any::<i64>(), jstr())
            .prop_map(|(state_size, path)| StreamHandle::File(FileHandle { state_size, path })),
        (jstr(), any::<i64>()).prop_map(|(relative_path, state_size)| {
            StreamHandle::RelativeFile(RelativeFileHandle {
                relative_path,
                state_size,
            })
        }),
        (any::<i64>(), any::<i64>(), any::<i32>(), jstr(), jstr()).prop_map(|(a, b, c, p, id)| {
            StreamHandle::Segment(SegmentFileHandle {
                start_pos: a,
                state_size: b,
                scope: c,
                physical_file_path: p,
                logical_file_id: id,
            })
        }),
        Just(StreamHandle::EmptySegment),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            4 => leaf,
            1 => key_groups_data(depth - 1).prop_map(|d| StreamHandle::KeyGroups(Box::new(d))),
        ]
        .boxed()
    }
}

fn named_list() -> impl Strategy<Value = Vec<NamedStreamHandle>> {
    vec(
        (jstr(), option::of(stream(1)))
            .prop_map(|(local_name, handle)| NamedStreamHandle { local_name, handle }),
        0..3,
    )
}

fn keyed(depth: u32, layout: ChangelogLayout) -> BoxedStrategy<KeyedHandle> {
    let modern = layout == ChangelogLayout::Flink1_15Plus;
    let key_groups = (
        prop_oneof![
            Just(KeyGroupsKind::V1),
            Just(KeyGroupsKind::Savepoint),
            Just(KeyGroupsKind::V2)
        ],
        key_groups_data(1),
        jstr(),
    )
        .prop_map(|(kind, data, id)| {
            KeyedHandle::KeyGroups(KeyGroupsHandle {
                kind,
                data,
                state_handle_id: (kind == KeyGroupsKind::V2).then_some(id),
            })
        });
    let incremental = (
        prop_oneof![Just(IncrementalKind::V1), Just(IncrementalKind::V2)],
        (any::<i64>(), jstr(), range(), any::<i64>()),
        option::of(stream(1)),
        named_list(),
        named_list(),
        jstr(),
    )
        .prop_map(
            |(kind, (cp, backend, range, size), meta, shared, private, id)| {
                let v2 = kind == IncrementalKind::V2;
                KeyedHandle::Incremental(IncrementalHandle {
                    kind,
                    checkpoint_id: cp,
                    backend_identifier: backend,
                    range,
                    checkpointed_size: v2.then_some(size),
                    meta_state: meta,
                    shared_state: shared,
                    private_state: private,
                    state_handle_id: v2.then_some(id),
                })
            },
        );
    let in_memory = (
        range(),
        any::<i64>(),
        any::<i64>(),
        vec(
            (any::<i32>(), bytes()).prop_map(|(key_group, data)| StateChange { key_group, data }),
            0..3,
        ),
        jstr(),
    )
        .prop_map(move |(range, from, to, changes, id)| {
            KeyedHandle::InMemoryChangelog(InMemoryChangelogHandle {
                range,
                from,
                to,
                changes,
                state_handle_id: modern.then_some(id),
            })
        });
    let files = (
        prop_oneof![Just(ChangelogFilesKind::V1), Just(ChangelogFilesKind::V2)],
        range(),
        vec(
            (any::<i64>(), option::of(stream(1)))
                .prop_map(|(offset, handle)| OffsetStreamHandle { offset, handle }),
            0..3,
        ),
        (any::<i64>(), any::<i64>()),
        (jstr(), jstr()),
    )
        .prop_map(move |(kind, range, handles, (size, cps), (id, storage))| {
            let v2 = kind == ChangelogFilesKind::V2;
            let ids = v2 || modern;
            KeyedHandle::ChangelogFiles(ChangelogFilesHandle {
                kind,
                range,
                handles,
                state_size: size,
                checkpointed_size: ids.then_some(cps),
                state_handle_id: ids.then_some(id),
                storage_identifier: v2.then_some(storage),
            })
        });
    let leaf = prop_oneof![key_groups, incremental, in_memory, files];
    if depth == 0 {
        return leaf.boxed();
    }
    let backend = (
        prop_oneof![
            Just(ChangelogBackendKind::V1),
            Just(ChangelogBackendKind::V2)
        ],
        range(),
        vec(option::of(keyed(depth - 1, layout)), 0..3),
        vec(option::of(keyed(depth - 1, layout)), 0..3),
        (any::<i64>(), any::<i64>(), any::<i64>()),
        jstr(),
    )
        .prop_map(move |(kind, range, mat, non_mat, (size, mid, cp), id)| {
            let v2 = kind == ChangelogBackendKind::V2;
            let ids = v2 || modern;
            KeyedHandle::ChangelogBackend(ChangelogBackendHandle {
                kind,
                range,
                checkpointed_size: ids.then_some(size),
                materialized: mat,
                non_materialized: non_mat,
                materialization_id: ids.then_some(mid),
                checkpoint_id: v2.then_some(cp),
                state_handle_id: ids.then_some(id),
            })
        });
    prop_oneof![3 => leaf, 1 => backend].boxed()
}

fn operator_handle() -> impl Strategy<Value = OperatorHandle> {
    let states = vec(
        (jstr(), any::<i8>(), vec(any::<i64>(), 0..3)).prop_map(|(name, mode, offsets)| {
            OperatorStateMeta {
                name,
                mode,
                offsets,
            }
        }),
        0..3,
    )
    .boxed();
    prop_oneof![
        (states.clone(), option::of(stream(1))).prop_map(|(states, delegate)| {
            OperatorHandle::Stream(OperatorStreamHandle { states, delegate })
        }),
        (states, jstr(), jstr(), any::<u8>(), option::of(stream(0))).prop_map(
            |(states, t, s, e, delegate)| OperatorHandle::FileMerging(FileMergingOperatorHandle {
                states,
                task_owned_dir: t,
                shared_dir: s,
                is_empty_raw: e,
                delegate,
            })
        ),
    ]
}

fn channel(version: i32, layout: ChannelStateLayout) -> BoxedStrategy<ChannelHandle> {
    let with_subtask = version >= 4 || layout == ChannelStateLayout::Flink1_12Plus;
    let single = (
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        vec(any::<i64>(), 0..3),
        any::<i64>(),
        option::of(stream(0)),
    )
        .prop_map(move |(st, a, b, offsets, size, delegate)| {
            ChannelHandle::Single(SingleChannelHandle {
                subtask_index: with_subtask.then_some(st),
                gate_or_partition: a,
                channel_or_subpartition: b,
                offsets,
                state_size: size,
                delegate,
            })
        });
    if version < 6 {
        return single.boxed();
    }
    let merged = (any::<i32>(), any::<i64>(), option::of(stream(0)), bytes()).prop_map(
        |(subtask_index, state_size, delegate, channel_offsets)| {
            ChannelHandle::Merged(MergedChannelHandle {
                subtask_index,
                state_size,
                delegate,
                channel_offsets,
            })
        },
    );
    prop_oneof![single, merged].boxed()
}

fn slot(version: i32) -> BoxedStrategy<OperatorStateSlot> {
    if version == 1 {
        vec(option::of(operator_handle()), 0..3)
            .prop_map(|handles| OperatorStateSlot {
                raw_count: handles.len() as i32,
                handles,
            })
            .boxed()
    } else {
        prop_oneof![
            Just(OperatorStateSlot::default()),
            (
                any::<i32>().prop_filter("non-zero", |v| *v != 0),
                option::of(operator_handle())
            )
                .prop_map(|(raw_count, h)| OperatorStateSlot {
                    raw_count,
                    handles: vec![h]
                }),
        ]
        .boxed()
    }
}

fn subtask(version: i32, layout: Layout) -> BoxedStrategy<SubtaskState> {
    let legacy = (any::<i64>(), vec(option::of(stream(1)), 0..2))
        .prop_map(|(duration, handles)| LegacyFields { duration, handles });
    let channels = if version >= 3 { 0..3usize } else { 0..1usize };
    let refcp = (any::<u8>(), any::<i64>()).prop_map(|(marker, id)| RefCheckpointId {
        marker,
        id: (marker == 1).then_some(id),
    });
    (
        legacy,
        slot(version),
        slot(version),
        option::of(keyed(2, layout.changelog)),
        option::of(keyed(1, layout.changelog)),
        vec(channel(version, layout.channel_state), channels.clone()),
        vec(channel(version, layout.channel_state), channels),
        refcp,
    )
        .prop_map(
            move |(legacy, managed, raw, mk, rk, input, output, refcp)| SubtaskState {
                legacy: (version <= 2).then_some(legacy),
                managed_operator_state: managed,
                raw_operator_state: raw,
                managed_keyed_state: mk.map(Box::new),
                raw_keyed_state: rk.map(Box::new),
                input_channel_state: input,
                result_subpartition_state: output,
                ref_checkpoint: (version >= 7).then_some(refcp),
            },
        )
        .boxed()
}

fn operator(version: i32, layout: Layout) -> BoxedStrategy<OperatorState> {
    let entry = if version >= 3 {
        prop_oneof![
            (i32::MIN..0).prop_map(|raw_index| SubtaskEntry {
                raw_index,
                state: None
            }),
            (0..i32::MAX, subtask(version, layout)).prop_map(|(raw_index, s)| SubtaskEntry {
                raw_index,
                state: Some(s)
            }),
        ]
        .boxed()
    } else {
        (any::<i32>(), subtask(version, layout))
            .prop_map(|(raw_index, s)| SubtaskEntry {
                raw_index,
                state: Some(s),
            })
            .boxed()
    };
    let subtasks = if version >= 3 {
        prop_oneof![
            1 => (i32::MIN..0).prop_map(|raw_count| SubtaskStates::FullyFinished { raw_count }),
            4 => vec(entry, 0..3).prop_map(SubtaskStates::Entries),
        ]
        .boxed()
    } else {
        vec(entry, 0..3).prop_map(SubtaskStates::Entries).boxed()
    };
    (
        (jstr(), jstr()),
        any::<[u8; 16]>(),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        option::of(stream(1)),
        subtasks,
    )
        .prop_map(
            move |((name, uid), id, (p, mp, chain), coord, subtasks)| OperatorState {
                name: (version >= 5).then_some(name),
                uid: (version >= 5).then_some(uid),
                id: OperatorId(id),
                parallelism: p,
                max_parallelism: mp,
                chain_length: (version <= 2).then_some(chain),
                coordinator_state: if version >= 3 { coord } else { None },
                subtasks,
            },
        )
        .boxed()
}

fn metadata_with(version: i32, layout: Layout, trailing: bool) -> BoxedStrategy<Metadata> {
    let masters = vec(
        (any::<i32>(), jstr(), bytes()).prop_map(|(version, name, payload)| MasterState {
            version,
            name,
            payload,
        }),
        0..2,
    );
    (
        any::<i64>(),
        masters,
        vec(operator(version, layout), 0..3),
        bytes(),
    )
        .prop_map(move |(cp, masters, operators, extra)| {
            let mut trailer = Vec::new();
            if version >= 4 {
                trailer.extend_from_slice(&JAVA_SERIALIZATION_MAGIC);
                trailer.extend_from_slice(&extra);
            } else if trailing {
                trailer = extra;
            }
            Metadata {
                version,
                checkpoint_id: if version >= 2 { cp & i64::MAX } else { cp },
                master_states: if version >= 2 { masters } else { vec![] },
                operators,
                layout,
                trailer,
            }
        })
        .boxed()
}

fn any_metadata() -> impl Strategy<Value = Metadata> {
    (1..=7i32).prop_flat_map(|v| metadata_with(v, Layout::default(), false))
}

fn legacy_layouts() -> impl Strategy<Value = Metadata> {
    let layouts = prop_oneof![
        Just(Layout {
            channel_state: ChannelStateLayout::Flink1_11,
            changelog: ChangelogLayout::Flink1_15Plus
        }),
        Just(Layout {
            channel_state: ChannelStateLayout::Flink1_12Plus,
            changelog: ChangelogLayout::Flink1_14
        }),
        Just(Layout::default()),
    ];
    (layouts, any::<bool>()).prop_flat_map(|(l, trailing)| metadata_with(3, l, trailing))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_is_identity(m in any_metadata()) {
        let bytes = encode(&m).expect("generated models are consistent");
        let back = decode(&bytes).expect("encoded bytes decode");
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(encode(&back).unwrap(), bytes);
    }

    #[test]
    fn encode_is_a_fixed_point_for_v3_sub_layouts(m in legacy_layouts()) {
        let bytes = encode(&m).expect("generated models are consistent");
        let back = decode(&bytes).expect("encoded bytes decode");
        prop_assert_eq!(encode(&back).unwrap(), bytes);
    }

    #[test]
    fn paths_and_identity_rewrite_preserve_bytes(m in any_metadata()) {
        let bytes = encode(&m).unwrap();
        let mut m2 = m.clone();
        let n = m.paths().len();
        let stats = m2.rewrite_paths(|p| Some(p.value.to_string_lossy().into_owned())).unwrap();
        prop_assert_eq!(stats.visited, n);
        // Values whose lossy text re-encodes to the same bytes are unchanged.
        let lossy_changes = m.paths().iter().filter(|p| {
            JavaString::new(&p.value.to_string_lossy()).map(|j| j != p.value).unwrap_or(true)
        }).count();
        prop_assert_eq!(stats.changed, lossy_changes);
        if lossy_changes == 0 {
            prop_assert_eq!(encode(&m2).unwrap(), bytes);
        }
    }

    #[test]
    fn prefix_rewrite_round_trips_and_reports_add_up(m in any_metadata()) {
        // Move every absolute path and inline name under a new root: the result encodes,
        // decodes to itself, and the inspect report and Flink view stay consistent.
        let mut moved = m.clone();
        let maps = PrefixMaps::new(vec![PrefixMap::new("", "s3://moved")]);
        let report = moved
            .apply_prefix_maps(&maps, PrefixRewriteOptions { include_inline_names: true })
            .unwrap();
        prop_assert_eq!(report.hits.iter().sum::<usize>() >= report.stats.changed, true);
        let bytes = encode(&moved).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), moved.clone());
        let r = InspectReport::new(&moved, "s3://b/chk/_metadata", "s3://b/chk", bytes.len() as u64);
        prop_assert_eq!(r.totals.files, r.files.len());
        prop_assert_eq!(r.totals.files_inside + r.totals.files_outside, r.totals.files);
        prop_assert_eq!(r.operators.len(), moved.operators.len());
        let view = flink_view(&moved, "s3://b/chk");
        prop_assert_eq!(view.iter().filter(|l| l.starts_with("operator ")).count(), moved.operators.len());
        // Relative references are never rewritten.
        let rel = |md: &Metadata| -> Vec<JavaString> {
            md.paths().into_iter().filter(|p| p.kind() == PathKind::Relative).map(|p| p.value).collect()
        };
        prop_assert_eq!(rel(&m), rel(&moved));
    }
}
