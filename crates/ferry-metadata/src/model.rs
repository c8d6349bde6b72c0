//! The typed, lossless model of a `_metadata` file: [`Metadata`], operators, subtasks, master
//! states and every state-handle kind, keeping raw tags, raw counts/presence ints and raw strings
//! so that encoding a decoded file reproduces it byte for byte.
//!
//! Field comments name the on-disk tag per context as in the format doc: `S-2` = tag 2 in the
//! stream-handle context, `K-11` = tag 11 in the keyed context, `O-17` = tag 17 in the operator
//! context.

use std::fmt;

use serde::Serialize;

use crate::mutf8::JavaString;

/// A decoded `_metadata` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// Format version (1–7) from the header.
    pub version: i32,
    /// Checkpoint id (savepoints too; 0 for State Processor API output).
    pub checkpoint_id: i64,
    /// Master (JobManager hook) states, V2+. Always empty in V1.
    pub master_states: Vec<MasterState>,
    /// Operator (V2+) or task (V1) states, in file order.
    pub operators: Vec<OperatorState>,
    /// Which V3 sub-layouts the file uses (only meaningful for version 3).
    pub layout: Layout,
    /// Everything after the last operator, verbatim: for V4+ the Java-serialized
    /// `CheckpointProperties` blob (plus anything after it), for V1–V3 unexpected trailing bytes
    /// (normally empty).
    #[serde(serialize_with = "crate::model::serialize_hex")]
    pub trailer: Vec<u8>,
}

/// Layout variants that changed inside format version 3 without a version bump (doc §4.8).
/// Files of other versions always use the `…Plus` variants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Layout {
    /// Channel-state handle layout.
    pub channel_state: ChannelStateLayout,
    /// Changelog handle layout (tags K-8, K-9, K-10).
    pub changelog: ChangelogLayout,
}

/// Channel-state handle layout in V3 files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum ChannelStateLayout {
    /// Flink 1.11.x: no subtask index.
    Flink1_11,
    /// Flink 1.12 and later: with subtask index.
    #[default]
    Flink1_12Plus,
}

/// Changelog handle layout of tags K-8/K-9/K-10 in V3 files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum ChangelogLayout {
    /// Flink 1.14.x: no checkpointed size / materialization id / state-handle id.
    Flink1_14,
    /// Flink 1.15 and later.
    #[default]
    Flink1_15Plus,
}

/// A JobManager-side master state (opaque payload; never holds paths Flink knows about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MasterState {
    /// Hook-defined version.
    pub version: i32,
    /// Hook name.
    pub name: JavaString,
    /// Opaque payload.
    #[serde(serialize_with = "crate::model::serialize_hex")]
    pub payload: Vec<u8>,
}

/// A 16-byte Flink `AbstractID` (OperatorID, or JobVertexID in V1) in file order
/// (lower long, then upper long, both big-endian).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorId(pub [u8; 16]);

impl OperatorId {
    /// The 32-char lowercase hex string exactly as Flink prints the id (UI, logs, REST):
    /// the 16 bytes hex-encoded in file order.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xF), 16).unwrap_or('0'));
        }
        s
    }

    /// Parses a 32-char hex id (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(OperatorId(out))
    }

    /// Java's `lowerPart`.
    pub fn lower_part(&self) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        i64::from_be_bytes(b)
    }

    /// Java's `upperPart`.
    pub fn upper_part(&self) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..]);
        i64::from_be_bytes(b)
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperatorId({})", self.to_hex())
    }
}

impl Serialize for OperatorId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// State of one operator (V2+) or task (V1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorState {
    /// V5+: operator name as stored (`""` = unknown). `None` for versions < 5.
    pub name: Option<JavaString>,
    /// V5+: operator uid as stored (`""` = not set). `None` for versions < 5.
    pub uid: Option<JavaString>,
    /// Operator id (V1: job vertex id).
    pub id: OperatorId,
    /// Parallelism.
    pub parallelism: i32,
    /// Max parallelism.
    pub max_parallelism: i32,
    /// V1/V2 legacy "chain length" field (written as 1 by V2 writers). `None` for V3+.
    pub chain_length: Option<i32>,
    /// V3+: operator-coordinator state (Flink only accepts null or S-1). Always `None` for V1/V2.
    pub coordinator_state: Option<StreamHandle>,
    /// Subtask states, or the fully-finished marker.
    pub subtasks: SubtaskStates,
}

impl OperatorState {
    /// The operator name as Rust text if set (V5+, non-empty).
    pub fn name_str(&self) -> Option<String> {
        self.name
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|n| n.to_string_lossy().into_owned())
    }

    /// The operator uid as Rust text if set (V5+, non-empty).
    pub fn uid_str(&self) -> Option<String> {
        self.uid
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|n| n.to_string_lossy().into_owned())
    }

    /// Whether the operator is marked fully finished (V3+, negative subtask count).
    pub fn is_fully_finished(&self) -> bool {
        matches!(self.subtasks, SubtaskStates::FullyFinished { .. })
    }
}

/// The subtask part of an operator record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SubtaskStates {
    /// V3+ (Flink 1.14+): negative subtask count = fully finished operator, no entries.
    /// Flink writes -1; the raw value is kept.
    FullyFinished {
        /// The raw (negative) count.
        raw_count: i32,
    },
    /// Subtask entries in file order.
    Entries(Vec<SubtaskEntry>),
}

/// One subtask entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubtaskEntry {
    /// The stored index. In V3+, a negative value `i` marks finished subtask `-i - 1` with no
    /// body (then `state` is `None`).
    pub raw_index: i32,
    /// The subtask state; `None` exactly for V3+ finished subtasks.
    pub state: Option<SubtaskState>,
}

impl SubtaskEntry {
    /// Whether this entry is a finished-subtask marker (no state).
    pub fn is_finished(&self) -> bool {
        self.state.is_none()
    }

    /// The real subtask index (decoding the finished-subtask encoding).
    pub fn subtask_index(&self) -> i64 {
        let raw = i64::from(self.raw_index);
        if self.state.is_none() && raw < 0 {
            -raw - 1
        } else {
            raw
        }
    }
}

/// The state of one running subtask.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SubtaskState {
    /// V1/V2 only: duration and legacy (Flink ≤ 1.1) state. `None` for V3+.
    pub legacy: Option<LegacyFields>,
    /// Managed operator state.
    pub managed_operator_state: OperatorStateSlot,
    /// Raw operator state.
    pub raw_operator_state: OperatorStateSlot,
    /// Managed keyed state (`None` = tag 0). Boxed: a [`KeyedHandle`] is ~200 bytes and raw
    /// keyed state is almost always absent, so an unboxed pair would double a subtask's size.
    pub managed_keyed_state: Option<Box<KeyedHandle>>,
    /// Raw keyed state (`None` = tag 0).
    pub raw_keyed_state: Option<Box<KeyedHandle>>,
    /// V3+: input-channel state (unaligned checkpoints).
    pub input_channel_state: Vec<ChannelHandle>,
    /// V3+: result-subpartition state (unaligned checkpoints).
    pub result_subpartition_state: Vec<ChannelHandle>,
    /// V7 only: the reference-checkpoint-id trailer. `None` for other versions.
    pub ref_checkpoint: Option<RefCheckpointId>,
}

/// V1/V2 per-subtask legacy fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LegacyFields {
    /// "duration" (always -1 in practice).
    pub duration: i64,
    /// Legacy (Flink ≤ 1.1 `Checkpointed`) stream handles; Flink 1.4+ rejects non-empty lists.
    pub handles: Vec<Option<StreamHandle>>,
}

/// Managed or raw operator state of a subtask.
///
/// V2+: `raw_count` is the presence int (Flink writes 0 or 1; any non-zero value means one
/// handle follows), and `handles` has exactly one entry iff `raw_count != 0`.
/// V1: `raw_count` is a real count (one entry per chained operator) and equals `handles.len()`.
/// Entries are `None` for tag 0.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OperatorStateSlot {
    /// Raw presence int (V2+) or count (V1).
    pub raw_count: i32,
    /// The handles that follow.
    pub handles: Vec<Option<OperatorHandle>>,
}

impl OperatorStateSlot {
    /// A V2+ slot holding one handle (presence int 1).
    pub fn single(handle: OperatorHandle) -> Self {
        OperatorStateSlot {
            raw_count: 1,
            handles: vec![Some(handle)],
        }
    }
}

/// V7 optional reference-checkpoint id of a subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefCheckpointId {
    /// Raw marker byte (`1` = id follows; Flink treats every other value as "absent").
    pub marker: u8,
    /// The id, present iff `marker == 1`.
    pub id: Option<i64>,
}

/// A key-group range as stored: start and **count** (not end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct KeyGroupRange {
    /// First key group.
    pub start: i32,
    /// Number of key groups.
    pub count: i32,
}

/// Key groups with per-group offsets into a delegate stream (S-3, K-3, K-7, K-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyGroupsData {
    /// The range; `offsets.len()` must equal `range.count`.
    pub range: KeyGroupRange,
    /// Offset of each key group inside the delegate stream.
    pub offsets: Vec<i64>,
    /// The data stream.
    pub delegate: Option<StreamHandle>,
}

// ------------------------------------------------------------------------------------------
// Stream handles (context S)
// ------------------------------------------------------------------------------------------

/// A stream-state handle (context S).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum StreamHandle {
    /// S-1 `ByteStreamStateHandle`: inline bytes.
    ByteStream(ByteStreamHandle),
    /// S-2 `FileStateHandle`: absolute file.
    File(FileHandle),
    /// S-3 `KeyGroupsStateHandle` used as a stream handle (no handle id).
    KeyGroups(Box<KeyGroupsData>),
    /// S-6 `RelativeFileStateHandle`: file relative to the exclusive directory.
    RelativeFile(RelativeFileHandle),
    /// S-15 `SegmentFileStateHandle`: a segment of a file-merging physical file.
    Segment(SegmentFileHandle),
    /// S-16 `EmptySegmentFileStateHandle` (placeholder, no fields).
    EmptySegment,
}

impl StreamHandle {
    /// The on-disk tag.
    pub fn tag(&self) -> u8 {
        match self {
            StreamHandle::ByteStream(_) => 1,
            StreamHandle::File(_) => 2,
            StreamHandle::KeyGroups(_) => 3,
            StreamHandle::RelativeFile(_) => 6,
            StreamHandle::Segment(_) => 15,
            StreamHandle::EmptySegment => 16,
        }
    }
}

/// S-1: inline bytes. The name is often the path the data would have had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByteStreamHandle {
    /// Handle name.
    pub name: JavaString,
    /// The data.
    #[serde(serialize_with = "crate::model::serialize_hex")]
    pub data: Vec<u8>,
}

/// S-2: absolute file (`size` before `path` on disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHandle {
    /// File size (-1 = unknown).
    pub state_size: i64,
    /// Absolute path (Flink `Path.toString()` form).
    pub path: JavaString,
}

/// S-6: relative file (`path` before `size` on disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelativeFileHandle {
    /// Path relative to the exclusive (metadata) directory.
    pub relative_path: JavaString,
    /// File size (-1 = unknown).
    pub state_size: i64,
}

/// S-15: segment of a file-merging physical file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentFileHandle {
    /// Segment start position in the physical file.
    pub start_pos: i64,
    /// Segment size.
    pub state_size: i64,
    /// `CheckpointedStateScope` ordinal (0 = EXCLUSIVE, 1 = SHARED).
    pub scope: i32,
    /// Absolute path of the physical file.
    pub physical_file_path: JavaString,
    /// Logical file id (UUID-like, not a path).
    pub logical_file_id: JavaString,
}

// ------------------------------------------------------------------------------------------
// Keyed handles (context K)
// ------------------------------------------------------------------------------------------

/// A keyed-state handle (context K).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KeyedHandle {
    /// K-3 / K-7 / K-12 key-group handles.
    KeyGroups(KeyGroupsHandle),
    /// K-5 / K-11 incremental RocksDB/ForSt handles.
    Incremental(IncrementalHandle),
    /// K-8 / K-14 changelog state-backend handles.
    ChangelogBackend(ChangelogBackendHandle),
    /// K-9 in-memory changelog handle.
    InMemoryChangelog(InMemoryChangelogHandle),
    /// K-10 / K-13 changelog DSTL file handles.
    ChangelogFiles(ChangelogFilesHandle),
}

impl KeyedHandle {
    /// The on-disk tag.
    pub fn tag(&self) -> u8 {
        match self {
            KeyedHandle::KeyGroups(h) => h.kind.tag(),
            KeyedHandle::Incremental(h) => h.kind.tag(),
            KeyedHandle::ChangelogBackend(h) => h.kind.tag(),
            KeyedHandle::InMemoryChangelog(_) => 9,
            KeyedHandle::ChangelogFiles(h) => h.kind.tag(),
        }
    }
}

/// Which key-group tag was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KeyGroupsKind {
    /// K-3 (Flink ≤ 1.14 writers).
    V1,
    /// K-7 `KeyGroupsSavepointStateHandle` (canonical savepoints).
    Savepoint,
    /// K-12 (with state-handle id, Flink 1.15+).
    V2,
}

impl KeyGroupsKind {
    /// The on-disk tag.
    pub fn tag(self) -> u8 {
        match self {
            KeyGroupsKind::V1 => 3,
            KeyGroupsKind::Savepoint => 7,
            KeyGroupsKind::V2 => 12,
        }
    }
}

/// K-3 / K-7 / K-12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyGroupsHandle {
    /// Which tag.
    pub kind: KeyGroupsKind,
    /// Range, offsets and delegate.
    pub data: KeyGroupsData,
    /// K-12 only: state-handle id.
    pub state_handle_id: Option<JavaString>,
}

/// Which incremental tag was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IncrementalKind {
    /// K-5.
    V1,
    /// K-11 (checkpointed size + state-handle id).
    V2,
}

impl IncrementalKind {
    /// The on-disk tag.
    pub fn tag(self) -> u8 {
        match self {
            IncrementalKind::V1 => 5,
            IncrementalKind::V2 => 11,
        }
    }
}

/// A `(local file name, handle)` entry of an incremental handle's shared/private list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedStreamHandle {
    /// File name inside the RocksDB/ForSt instance (e.g. `000012.sst`).
    pub local_name: JavaString,
    /// The uploaded file.
    pub handle: Option<StreamHandle>,
}

/// K-5 / K-11: incremental RocksDB/ForSt snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncrementalHandle {
    /// Which tag.
    pub kind: IncrementalKind,
    /// Checkpoint that created the handle.
    pub checkpoint_id: i64,
    /// Backend identifier (normally a UUID string).
    pub backend_identifier: JavaString,
    /// Key-group range.
    pub range: KeyGroupRange,
    /// K-11 only: incremental checkpointed size.
    pub checkpointed_size: Option<i64>,
    /// The backend's meta-data file.
    pub meta_state: Option<StreamHandle>,
    /// Shared files (SSTs), in file order.
    pub shared_state: Vec<NamedStreamHandle>,
    /// Private files, in file order.
    pub private_state: Vec<NamedStreamHandle>,
    /// K-11 only: state-handle id.
    pub state_handle_id: Option<JavaString>,
}

/// Which changelog-backend tag was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ChangelogBackendKind {
    /// K-8 (layout depends on [`ChangelogLayout`]).
    V1,
    /// K-14 (adds checkpoint id).
    V2,
}

impl ChangelogBackendKind {
    /// The on-disk tag.
    pub fn tag(self) -> u8 {
        match self {
            ChangelogBackendKind::V1 => 8,
            ChangelogBackendKind::V2 => 14,
        }
    }
}

/// K-8 / K-14: changelog state-backend handle.
///
/// Field presence: K-8 with the 1.14 layout has only `range` and the two lists; K-8 with the
/// 1.15+ layout adds `checkpointed_size`, `materialization_id` and `state_handle_id`; K-14 also
/// has `checkpoint_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangelogBackendHandle {
    /// Which tag.
    pub kind: ChangelogBackendKind,
    /// Key-group range.
    pub range: KeyGroupRange,
    /// Checkpointed size (1.15+).
    pub checkpointed_size: Option<i64>,
    /// Materialized keyed handles (`None` = tag 0, which Java drops on read).
    pub materialized: Vec<Option<KeyedHandle>>,
    /// Non-materialized (changelog) handles.
    pub non_materialized: Vec<Option<KeyedHandle>>,
    /// Materialization id (1.15+).
    pub materialization_id: Option<i64>,
    /// Checkpoint id (K-14 only).
    pub checkpoint_id: Option<i64>,
    /// State-handle id (1.15+).
    pub state_handle_id: Option<JavaString>,
}

/// One change of an in-memory changelog handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    /// Key group (-1 = metadata change).
    pub key_group: i32,
    /// Serialized change.
    #[serde(serialize_with = "crate::model::serialize_hex")]
    pub data: Vec<u8>,
}

/// K-9: in-memory changelog handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InMemoryChangelogHandle {
    /// Key-group range.
    pub range: KeyGroupRange,
    /// Sequence number from.
    pub from: i64,
    /// Sequence number to.
    pub to: i64,
    /// The changes.
    pub changes: Vec<StateChange>,
    /// State-handle id (1.15+ layout only).
    pub state_handle_id: Option<JavaString>,
}

/// Which changelog-files tag was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ChangelogFilesKind {
    /// K-10 (layout depends on [`ChangelogLayout`]).
    V1,
    /// K-13 (adds storage identifier).
    V2,
}

impl ChangelogFilesKind {
    /// The on-disk tag.
    pub fn tag(self) -> u8 {
        match self {
            ChangelogFilesKind::V1 => 10,
            ChangelogFilesKind::V2 => 13,
        }
    }
}

/// An `(offset, handle)` entry of a changelog-files handle (offset first on disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffsetStreamHandle {
    /// Offset inside the file.
    pub offset: i64,
    /// The DSTL file.
    pub handle: Option<StreamHandle>,
}

/// K-10 / K-13: changelog (DSTL) files.
///
/// Field presence: K-10 with the 1.14 layout has none of the optional fields; K-10 with the
/// 1.15+ layout has `checkpointed_size` and `state_handle_id`; K-13 also `storage_identifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangelogFilesHandle {
    /// Which tag.
    pub kind: ChangelogFilesKind,
    /// Key-group range.
    pub range: KeyGroupRange,
    /// Handles with offsets.
    pub handles: Vec<OffsetStreamHandle>,
    /// State size.
    pub state_size: i64,
    /// Checkpointed size (1.15+).
    pub checkpointed_size: Option<i64>,
    /// State-handle id (1.15+).
    pub state_handle_id: Option<JavaString>,
    /// Storage identifier (K-13 only).
    pub storage_identifier: Option<JavaString>,
}

// ------------------------------------------------------------------------------------------
// Operator handles (context O)
// ------------------------------------------------------------------------------------------

/// An operator-state handle (context O).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OperatorHandle {
    /// O-4 `OperatorStreamStateHandle`.
    Stream(OperatorStreamHandle),
    /// O-17 `FileMergingOperatorStreamStateHandle` (and its empty subclass).
    FileMerging(FileMergingOperatorHandle),
}

impl OperatorHandle {
    /// The on-disk tag.
    pub fn tag(&self) -> u8 {
        match self {
            OperatorHandle::Stream(_) => 4,
            OperatorHandle::FileMerging(_) => 17,
        }
    }

    /// The named states.
    pub fn states(&self) -> &[OperatorStateMeta] {
        match self {
            OperatorHandle::Stream(h) => &h.states,
            OperatorHandle::FileMerging(h) => &h.states,
        }
    }

    /// The data stream.
    pub fn delegate(&self) -> Option<&StreamHandle> {
        match self {
            OperatorHandle::Stream(h) => h.delegate.as_ref(),
            OperatorHandle::FileMerging(h) => h.delegate.as_ref(),
        }
    }
}

/// Distribution mode of a named operator state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DistributionMode {
    /// 0.
    SplitDistribute,
    /// 1.
    Union,
    /// 2.
    Broadcast,
}

/// Meta info of one named operator state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorStateMeta {
    /// State name.
    pub name: JavaString,
    /// Raw distribution-mode ordinal.
    pub mode: i8,
    /// Partition offsets.
    pub offsets: Vec<i64>,
}

impl OperatorStateMeta {
    /// The distribution mode, if the ordinal is known.
    pub fn distribution_mode(&self) -> Option<DistributionMode> {
        match self.mode {
            0 => Some(DistributionMode::SplitDistribute),
            1 => Some(DistributionMode::Union),
            2 => Some(DistributionMode::Broadcast),
            _ => None,
        }
    }
}

/// O-4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorStreamHandle {
    /// Named states, in file (Java hash-map iteration) order.
    pub states: Vec<OperatorStateMeta>,
    /// The data stream.
    pub delegate: Option<StreamHandle>,
}

/// O-17: file-merging operator state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileMergingOperatorHandle {
    /// Named states.
    pub states: Vec<OperatorStateMeta>,
    /// Absolute task-owned managed directory.
    pub task_owned_dir: JavaString,
    /// Absolute shared managed directory.
    pub shared_dir: JavaString,
    /// Raw `isEmpty` boolean byte (non-zero = `EmptyFileMergingOperatorStreamStateHandle`).
    pub is_empty_raw: u8,
    /// The data stream (Flink requires S-15 or S-16).
    pub delegate: Option<StreamHandle>,
}

// ------------------------------------------------------------------------------------------
// Channel handles (context C)
// ------------------------------------------------------------------------------------------

/// A channel-state handle (unaligned checkpoints). In V6+ the type byte is implied by the
/// collection (input / result subpartition) and the variant (single / merged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChannelHandle {
    /// One channel (V6 types 1/2; the only form before V6).
    Single(SingleChannelHandle),
    /// Several channels sharing one delegate (V6 types 3/4).
    Merged(MergedChannelHandle),
}

impl ChannelHandle {
    /// The delegate stream.
    pub fn delegate(&self) -> Option<&StreamHandle> {
        match self {
            ChannelHandle::Single(h) => h.delegate.as_ref(),
            ChannelHandle::Merged(h) => h.delegate.as_ref(),
        }
    }

    /// This handle's state size (not the delegate file size).
    pub fn state_size(&self) -> i64 {
        match self {
            ChannelHandle::Single(h) => h.state_size,
            ChannelHandle::Merged(h) => h.state_size,
        }
    }
}

/// A single input-channel or result-subpartition handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SingleChannelHandle {
    /// Subtask index; `None` exactly in V3 files of the Flink 1.11 layout.
    pub subtask_index: Option<i32>,
    /// Gate index (input) or partition index (output).
    pub gate_or_partition: i32,
    /// Input-channel index (input) or subpartition index (output).
    pub channel_or_subpartition: i32,
    /// Offsets in the delegate.
    pub offsets: Vec<i64>,
    /// Size of this handle's portion.
    pub state_size: i64,
    /// The (often shared) file.
    pub delegate: Option<StreamHandle>,
}

/// A V6 merged channel handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergedChannelHandle {
    /// Subtask index.
    pub subtask_index: i32,
    /// Sum of the merged channels' sizes.
    pub state_size: i64,
    /// The shared file.
    pub delegate: Option<StreamHandle>,
    /// The raw inner channel-offsets blob (see [`MergedChannelHandle::channel_entries`]).
    #[serde(serialize_with = "crate::model::serialize_hex")]
    pub channel_offsets: Vec<u8>,
}

/// One channel inside a merged channel handle's blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergedChannelEntry {
    /// Gate index (input) or partition index (output).
    pub gate_or_partition: i32,
    /// Channel index (input) or subpartition index (output).
    pub channel_or_subpartition: i32,
    /// This channel's size.
    pub state_size: i64,
    /// Offsets in the delegate.
    pub offsets: Vec<i64>,
}

impl MergedChannelHandle {
    /// Parses the inner channel-offsets blob (`numChannels`, then per channel `a, b, size,
    /// numOffsets, offsets`). Returns `None` if the blob is malformed or has trailing bytes.
    pub fn channel_entries(&self) -> Option<Vec<MergedChannelEntry>> {
        let b = &self.channel_offsets;
        let mut pos = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(pos..pos.checked_add(n)?)?;
            pos += n;
            Some(s)
        };
        let be32 = |s: &[u8]| i32::from_be_bytes([s[0], s[1], s[2], s[3]]);
        let be64 = |s: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            i64::from_be_bytes(a)
        };
        let n = usize::try_from(be32(take(4)?)).ok()?;
        if n > b.len() / 20 {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let a = be32(take(4)?);
            let c = be32(take(4)?);
            let size = be64(take(8)?);
            let k = usize::try_from(be32(take(4)?)).ok()?;
            if k > b.len() / 8 {
                return None;
            }
            let mut offsets = Vec::with_capacity(k);
            for _ in 0..k {
                offsets.push(be64(take(8)?));
            }
            out.push(MergedChannelEntry {
                gate_or_partition: a,
                channel_or_subpartition: c,
                state_size: size,
                offsets,
            });
        }
        if pos != b.len() {
            return None;
        }
        Some(out)
    }
}

pub(crate) fn serialize_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xF)] as char);
    }
    s.serialize_str(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_id_hex_is_file_order() {
        let id = OperatorId([
            0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66, 0x77, 0x77,
            0x88, 0x88,
        ]);
        assert_eq!(id.to_hex(), "11112222333344445555666677778888");
        assert_eq!(id.lower_part(), 0x1111_2222_3333_4444);
        assert_eq!(id.upper_part(), 0x5555_6666_7777_8888);
        assert_eq!(OperatorId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(
            OperatorId::from_hex("ABCDEF0123456789abcdef0123456789")
                .unwrap()
                .0[0],
            0xab
        );
        assert_eq!(OperatorId::from_hex("zz"), None);
        assert_eq!(OperatorId::from_hex(&"g".repeat(32)), None);
    }

    #[test]
    fn subtask_index_decoding() {
        let finished = SubtaskEntry {
            raw_index: -2,
            state: None,
        };
        assert!(finished.is_finished());
        assert_eq!(finished.subtask_index(), 1);
        let running = SubtaskEntry {
            raw_index: 3,
            state: Some(SubtaskState::default()),
        };
        assert_eq!(running.subtask_index(), 3);
        let min = SubtaskEntry {
            raw_index: i32::MIN,
            state: None,
        };
        assert_eq!(min.subtask_index(), 2_147_483_647);
    }

    #[test]
    fn merged_channel_blob_parse() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&1i32.to_be_bytes());
        blob.extend_from_slice(&2i32.to_be_bytes());
        blob.extend_from_slice(&3i32.to_be_bytes());
        blob.extend_from_slice(&40i64.to_be_bytes());
        blob.extend_from_slice(&1i32.to_be_bytes());
        blob.extend_from_slice(&7i64.to_be_bytes());
        let h = MergedChannelHandle {
            subtask_index: 0,
            state_size: 40,
            delegate: None,
            channel_offsets: blob.clone(),
        };
        let entries = h.channel_entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].gate_or_partition, 2);
        assert_eq!(entries[0].channel_or_subpartition, 3);
        assert_eq!(entries[0].state_size, 40);
        assert_eq!(entries[0].offsets, vec![7]);
        blob.push(0);
        let bad = MergedChannelHandle {
            channel_offsets: blob,
            ..h
        };
        assert_eq!(bad.channel_entries(), None);
    }
}
