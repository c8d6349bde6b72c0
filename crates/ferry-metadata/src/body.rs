//! Top-level layout: header, checkpoint id, master states, operator and subtask records for
//! every format version (1–7), the V4+ properties trailer, and detection of the V3 sub-layouts.

use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
use crate::handles::channel::{self, Collection, MIN_CHANNEL_HANDLE_LEN};
use crate::handles::{keyed, operator, stream};
use crate::model::{
    ChangelogLayout, ChannelStateLayout, Layout, LegacyFields, MasterState, Metadata, OperatorId,
    OperatorState, OperatorStateSlot, RefCheckpointId, SubtaskEntry, SubtaskState, SubtaskStates,
};
use crate::read::{self, Crumb, Reader};
use crate::write::{self, Writer};

/// Magic number at the start of every `_metadata` file.
pub const METADATA_MAGIC: u32 = 0x4960_672D;
/// Magic number at the start of every master-state record.
pub const MASTER_STATE_MAGIC: u32 = 0xC96B_1696;
/// Java object-serialization stream magic + version, the start of the V4+ trailer.
pub const JAVA_SERIALIZATION_MAGIC: [u8; 4] = [0xAC, 0xED, 0x00, 0x05];
/// The V4+ trailer of a file without `CheckpointProperties` (as written by the State Processor
/// API): stream magic followed by `TC_NULL`.
pub const NULL_PROPERTIES_TRAILER: [u8; 5] = [0xAC, 0xED, 0x00, 0x05, 0x70];
/// Lowest format version this crate decodes/encodes.
pub const MIN_VERSION: i32 = 1;
/// Highest format version this crate decodes/encodes (7 is unreleased, from post-2.3 sources).
pub const MAX_VERSION: i32 = 7;

const MIN_MASTER_STATE_LEN: usize = 18;
const MIN_OPERATOR_LEN: usize = 29;
const MIN_SUBTASK_ENTRY_LEN: usize = 4;

/// Decodes a complete `_metadata` file.
///
/// For version 3 the Flink 1.11 channel-state layout and the Flink 1.14 changelog layout are
/// detected automatically (the newer layouts are tried first; an older one is chosen only if it
/// parses the file up to its exact end while the newer one does not) and recorded in
/// [`Metadata::layout`] so that [`encode`] reproduces the bytes.
pub fn decode(bytes: &[u8]) -> Result<Metadata, DecodeError> {
    let version = read_header(bytes)?;
    if version != 3 {
        return decode_with_layout(bytes, Layout::default());
    }
    let modern = decode_with_layout(bytes, Layout::default());
    if matches!(&modern, Ok(m) if m.trailer.is_empty()) {
        return modern;
    }
    let alternatives = [
        Layout {
            channel_state: ChannelStateLayout::Flink1_12Plus,
            changelog: ChangelogLayout::Flink1_14,
        },
        Layout {
            channel_state: ChannelStateLayout::Flink1_11,
            changelog: ChangelogLayout::Flink1_15Plus,
        },
    ];
    let mut first_ok = None;
    for layout in alternatives {
        if let Ok(m) = decode_with_layout(bytes, layout) {
            if m.trailer.is_empty() {
                return Ok(m);
            }
            first_ok.get_or_insert(m);
        }
    }
    match (modern, first_ok) {
        (Ok(m), _) => Ok(m),
        (Err(_), Some(m)) => Ok(m),
        (Err(e), None) => Err(e),
    }
}

/// Reads and checks the 8-byte header; returns the format version.
pub fn read_header(bytes: &[u8]) -> Result<i32, DecodeError> {
    let mut r = Reader::new(bytes);
    let magic = r.u32()?;
    if magic != METADATA_MAGIC {
        return Err(r.error_at(DecodeErrorKind::BadMagic { found: magic }, 0));
    }
    let version = r.i32()?;
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(r.error_at(DecodeErrorKind::UnknownVersion { version }, 4));
    }
    Ok(version)
}

/// Decodes a file with explicitly chosen V3 sub-layouts (no detection). For versions other
/// than 3 the layout must be [`Layout::default`]; other values are ignored for them.
pub fn decode_with_layout(bytes: &[u8], layout: Layout) -> Result<Metadata, DecodeError> {
    let version = read_header(bytes)?;
    let layout = if version == 3 {
        layout
    } else {
        Layout::default()
    };
    let mut r = Reader::with_offset(bytes, 8);
    let at = r.pos();
    let checkpoint_id = r.i64()?;
    if version >= 2 && checkpoint_id < 0 {
        return Err(r.error_at(
            DecodeErrorKind::NegativeCheckpointId { id: checkpoint_id },
            at,
        ));
    }
    let mut master_states = Vec::new();
    if version >= 2 {
        let n = r.count(MIN_MASTER_STATE_LEN)?;
        for i in 0..n {
            master_states.push(r.scoped(Crumb::Index("master", i), decode_master_state)?);
        }
    }
    let n = r.count(MIN_OPERATOR_LEN)?;
    let mut operators = r.vec_for(n);
    for i in 0..n {
        operators.push(r.scoped(Crumb::Index("operator", i), |r| {
            decode_operator(r, version, layout)
        })?);
    }
    if version >= 4 {
        let rest = r.rest();
        if !rest.starts_with(&JAVA_SERIALIZATION_MAGIC) {
            let kind = if rest.len() < JAVA_SERIALIZATION_MAGIC.len()
                && JAVA_SERIALIZATION_MAGIC.starts_with(rest)
            {
                DecodeErrorKind::UnexpectedEof {
                    needed: JAVA_SERIALIZATION_MAGIC.len(),
                    remaining: rest.len(),
                }
            } else {
                DecodeErrorKind::BadPropertiesTrailer
            };
            return Err(DecodeError {
                kind,
                offset: r.pos(),
                path: "properties".to_string(),
            });
        }
    }
    let trailer = r.rest().to_vec();
    Ok(Metadata {
        version,
        checkpoint_id,
        master_states,
        operators,
        layout,
        trailer,
    })
}

fn decode_master_state(r: &mut Reader<'_>) -> read::Result<MasterState> {
    let at = r.pos();
    let magic = r.u32()?;
    if magic != MASTER_STATE_MAGIC {
        return Err(r.error_at(DecodeErrorKind::BadMasterStateMagic { found: magic }, at));
    }
    let len_at = r.pos();
    let declared = r.i32()?;
    if declared <= 0 || declared as usize > r.remaining() {
        return Err(r.error_at(
            DecodeErrorKind::InvalidLength {
                len: i64::from(declared),
                remaining: r.remaining(),
            },
            len_at,
        ));
    }
    let start = r.pos();
    let version = r.i32()?;
    let name = r.scoped(Crumb::Field("name"), |r| r.utf())?;
    let payload = r.scoped(Crumb::Field("payload"), |r| r.bytes32())?;
    let actual = r.pos() - start;
    if actual != declared as usize {
        return Err(r.error_at(
            DecodeErrorKind::MasterStateLengthMismatch { declared, actual },
            len_at,
        ));
    }
    Ok(MasterState {
        version,
        name,
        payload,
    })
}

fn decode_operator(
    r: &mut Reader<'_>,
    version: i32,
    layout: Layout,
) -> read::Result<OperatorState> {
    let (name, uid) = if version >= 5 {
        (
            Some(r.scoped(Crumb::Field("name"), |r| r.utf())?),
            Some(r.scoped(Crumb::Field("uid"), |r| r.utf())?),
        )
    } else {
        (None, None)
    };
    let id = OperatorId(r.id16()?);
    let parallelism = r.i32()?;
    let max_parallelism = r.i32()?;
    let chain_length = if version <= 2 { Some(r.i32()?) } else { None };
    let coordinator_state = if version >= 3 {
        r.scoped(Crumb::Field("coordinator_state"), stream::decode)?
    } else {
        None
    };
    let at = r.pos();
    let raw_count = r.i32()?;
    let subtasks = if version >= 3 && raw_count < 0 {
        SubtaskStates::FullyFinished { raw_count }
    } else {
        let n = r.check_count(raw_count, MIN_SUBTASK_ENTRY_LEN, at)?;
        let mut entries = r.vec_for(n);
        for j in 0..n {
            entries.push(r.scoped(Crumb::Index("subtask", j), |r| {
                let raw_index = r.i32()?;
                let state = if version >= 3 && raw_index < 0 {
                    None
                } else {
                    Some(decode_subtask(r, version, layout)?)
                };
                Ok(SubtaskEntry { raw_index, state })
            })?);
        }
        SubtaskStates::Entries(entries)
    };
    Ok(OperatorState {
        name,
        uid,
        id,
        parallelism,
        max_parallelism,
        chain_length,
        coordinator_state,
        subtasks,
    })
}

fn decode_subtask(r: &mut Reader<'_>, version: i32, layout: Layout) -> read::Result<SubtaskState> {
    let legacy = if version <= 2 {
        let duration = r.i64()?;
        let n = r.count(1)?;
        let mut handles = r.vec_for(n);
        for k in 0..n {
            handles.push(r.scoped(Crumb::Index("legacy", k), stream::decode)?);
        }
        Some(LegacyFields { duration, handles })
    } else {
        None
    };
    let managed_operator_state = decode_slot(r, version, "managed_operator_state")?;
    let raw_operator_state = decode_slot(r, version, "raw_operator_state")?;
    let managed_keyed_state = r.scoped(Crumb::Field("managed_keyed_state"), |r| {
        keyed::decode(r, layout.changelog)
    })?;
    let raw_keyed_state = r.scoped(Crumb::Field("raw_keyed_state"), |r| {
        keyed::decode(r, layout.changelog)
    })?;
    let (managed_keyed_state, raw_keyed_state) = (
        managed_keyed_state.map(Box::new),
        raw_keyed_state.map(Box::new),
    );
    let mut input_channel_state = Vec::new();
    let mut result_subpartition_state = Vec::new();
    if version >= 3 {
        for (name, collection, out) in [
            ("input_channel", Collection::Input, &mut input_channel_state),
            (
                "result_subpartition",
                Collection::Output,
                &mut result_subpartition_state,
            ),
        ] {
            let n = r.count(MIN_CHANNEL_HANDLE_LEN)?;
            *out = r.vec_for(n);
            for k in 0..n {
                out.push(r.scoped(Crumb::Index(name, k), |r| {
                    channel::decode(r, version, layout.channel_state, collection)
                })?);
            }
        }
    }
    let ref_checkpoint = if version >= 7 {
        let marker = r.u8()?;
        let id = if marker == 1 { Some(r.i64()?) } else { None };
        Some(RefCheckpointId { marker, id })
    } else {
        None
    };
    Ok(SubtaskState {
        legacy,
        managed_operator_state,
        raw_operator_state,
        managed_keyed_state,
        raw_keyed_state,
        input_channel_state,
        result_subpartition_state,
        ref_checkpoint,
    })
}

fn decode_slot(
    r: &mut Reader<'_>,
    version: i32,
    name: &'static str,
) -> read::Result<OperatorStateSlot> {
    let at = r.pos();
    let raw_count = r.scoped(Crumb::Field(name), |r| r.i32())?;
    let mut handles;
    if version == 1 {
        let n = r.scoped(Crumb::Field(name), |r| r.check_count(raw_count, 1, at))?;
        handles = r.vec_for(n);
        for i in 0..n {
            handles.push(r.scoped(Crumb::Index(name, i), operator::decode)?);
        }
    } else if raw_count != 0 {
        handles = vec![r.scoped(Crumb::Field(name), operator::decode)?];
    } else {
        handles = Vec::new();
    }
    Ok(OperatorStateSlot { raw_count, handles })
}

// ------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------

/// Encodes a model into `_metadata` bytes. For a decoded file the result is byte-identical to
/// the input. Fails if a string exceeds 65 535 bytes or the model holds a field combination the
/// version/tag/layout cannot express (see [`crate::EncodeErrorKind::Inconsistent`]).
pub fn encode(m: &Metadata) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    let version = m.version;
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(w.error(EncodeErrorKind::UnsupportedVersion { version }));
    }
    if version != 3 && m.layout != Layout::default() {
        return Err(w.inconsistent("the Flink 1.11/1.14 sub-layouts exist only in V3"));
    }
    if version >= 2 && m.checkpoint_id < 0 {
        return Err(w.inconsistent("checkpoint id must be >= 0 (Flink rejects negative ids)"));
    }
    w.u32(METADATA_MAGIC);
    w.i32(version);
    w.i64(m.checkpoint_id);
    if version >= 2 {
        w.count(m.master_states.len())?;
        for (i, ms) in m.master_states.iter().enumerate() {
            w.scoped(Crumb::Index("master", i), |w| encode_master_state(w, ms))?;
        }
    } else if !m.master_states.is_empty() {
        return Err(w.inconsistent("V1 files have no master states"));
    }
    w.count(m.operators.len())?;
    for (i, op) in m.operators.iter().enumerate() {
        w.scoped(Crumb::Index("operator", i), |w| {
            encode_operator(w, op, version, m.layout)
        })?;
    }
    if version >= 4 && !m.trailer.starts_with(&JAVA_SERIALIZATION_MAGIC) {
        return Err(w.inconsistent(
            "V4+ files need a Java-serialized CheckpointProperties trailer (starting AC ED 00 05)",
        ));
    }
    w.raw(&m.trailer);
    Ok(w.buf)
}

fn encode_master_state(w: &mut Writer, ms: &MasterState) -> write::Result<()> {
    w.u32(MASTER_STATE_MAGIC);
    let inner = 4usize + 2 + ms.name.len() + 4 + ms.payload.len();
    let inner = i32::try_from(inner)
        .map_err(|_| w.error(EncodeErrorKind::TooManyElements { len: inner }))?;
    w.i32(inner);
    w.i32(ms.version);
    w.utf_field("name", &ms.name)?;
    w.scoped(Crumb::Field("payload"), |w| w.bytes32(&ms.payload))
}

fn encode_operator(
    w: &mut Writer,
    op: &OperatorState,
    version: i32,
    layout: Layout,
) -> write::Result<()> {
    if (version >= 5) != (op.name.is_some() && op.uid.is_some())
        || op.name.is_some() != op.uid.is_some()
    {
        return Err(w.inconsistent("operator name and uid must be set exactly for V5+"));
    }
    if (version <= 2) != op.chain_length.is_some() {
        return Err(w.inconsistent("chain_length must be set exactly for V1/V2"));
    }
    if version <= 2 && op.coordinator_state.is_some() {
        return Err(w.inconsistent("coordinator state exists only in V3+"));
    }
    if let (Some(name), Some(uid)) = (&op.name, &op.uid) {
        w.utf_field("name", name)?;
        w.utf_field("uid", uid)?;
    }
    w.raw(&op.id.0);
    w.i32(op.parallelism);
    w.i32(op.max_parallelism);
    if let Some(c) = op.chain_length {
        w.i32(c);
    }
    if version >= 3 {
        w.scoped(Crumb::Field("coordinator_state"), |w| {
            stream::encode(w, op.coordinator_state.as_ref())
        })?;
    }
    match &op.subtasks {
        SubtaskStates::FullyFinished { raw_count } => {
            if version < 3 || *raw_count >= 0 {
                return Err(w.inconsistent(
                    "fully-finished operators exist only in V3+ and need a negative count",
                ));
            }
            w.i32(*raw_count);
        }
        SubtaskStates::Entries(entries) => {
            w.count(entries.len())?;
            for (j, e) in entries.iter().enumerate() {
                w.scoped(Crumb::Index("subtask", j), |w| {
                    let finished_marker = version >= 3 && e.raw_index < 0;
                    if finished_marker != e.state.is_none() {
                        return Err(w.inconsistent(
                            "a subtask has no state exactly when it is a V3+ finished marker \
                             (negative index)",
                        ));
                    }
                    w.i32(e.raw_index);
                    match &e.state {
                        Some(s) => encode_subtask(w, s, version, layout),
                        None => Ok(()),
                    }
                })?;
            }
        }
    }
    Ok(())
}

fn encode_subtask(
    w: &mut Writer,
    s: &SubtaskState,
    version: i32,
    layout: Layout,
) -> write::Result<()> {
    if (version <= 2) != s.legacy.is_some() {
        return Err(w.inconsistent("legacy duration/handles must be set exactly for V1/V2"));
    }
    if version < 3 && !(s.input_channel_state.is_empty() && s.result_subpartition_state.is_empty())
    {
        return Err(w.inconsistent("channel state exists only in V3+"));
    }
    if (version >= 7) != s.ref_checkpoint.is_some() {
        return Err(w.inconsistent("ref_checkpoint must be set exactly for V7"));
    }
    if let Some(l) = &s.legacy {
        w.i64(l.duration);
        w.count(l.handles.len())?;
        for (k, h) in l.handles.iter().enumerate() {
            w.scoped(Crumb::Index("legacy", k), |w| stream::encode(w, h.as_ref()))?;
        }
    }
    encode_slot(
        w,
        &s.managed_operator_state,
        version,
        "managed_operator_state",
    )?;
    encode_slot(w, &s.raw_operator_state, version, "raw_operator_state")?;
    w.scoped(Crumb::Field("managed_keyed_state"), |w| {
        keyed::encode(w, s.managed_keyed_state.as_deref(), layout.changelog)
    })?;
    w.scoped(Crumb::Field("raw_keyed_state"), |w| {
        keyed::encode(w, s.raw_keyed_state.as_deref(), layout.changelog)
    })?;
    if version >= 3 {
        for (name, collection, list) in [
            ("input_channel", Collection::Input, &s.input_channel_state),
            (
                "result_subpartition",
                Collection::Output,
                &s.result_subpartition_state,
            ),
        ] {
            w.count(list.len())?;
            for (k, h) in list.iter().enumerate() {
                w.scoped(Crumb::Index(name, k), |w| {
                    channel::encode(w, h, version, layout.channel_state, collection)
                })?;
            }
        }
    }
    if let Some(rc) = &s.ref_checkpoint {
        if (rc.marker == 1) != rc.id.is_some() {
            return Err(w.inconsistent("ref_checkpoint id must be set exactly when marker is 1"));
        }
        w.u8(rc.marker);
        if let Some(id) = rc.id {
            w.i64(id);
        }
    }
    Ok(())
}

fn encode_slot(
    w: &mut Writer,
    slot: &OperatorStateSlot,
    version: i32,
    name: &'static str,
) -> write::Result<()> {
    let consistent = if version == 1 {
        usize::try_from(slot.raw_count).ok() == Some(slot.handles.len())
    } else {
        slot.handles.len() == usize::from(slot.raw_count != 0)
    };
    if !consistent {
        return Err(w
            .scoped(Crumb::Field(name), |w| {
                Err::<(), _>(w.inconsistent(
                    "operator-state slot: V2+ needs exactly one handle iff the presence int is \
                 non-zero; V1 needs count == number of handles",
                ))
            })
            .unwrap_err());
    }
    w.i32(slot.raw_count);
    if version == 1 {
        for (i, h) in slot.handles.iter().enumerate() {
            w.scoped(Crumb::Index(name, i), |w| operator::encode(w, h.as_ref()))?;
        }
    } else if let Some(h) = slot.handles.first() {
        w.scoped(Crumb::Field(name), |w| operator::encode(w, h.as_ref()))?;
    }
    Ok(())
}
