//! Channel-state handles (context C, unaligned checkpoints): the 1.11 layout (no subtask index),
//! the 1.12+ layout, and the V6 typed layout with merged handles (types 1–4).

use crate::error::{DecodeErrorKind, HandleContext};
use crate::model::{ChannelHandle, ChannelStateLayout, MergedChannelHandle, SingleChannelHandle};
use crate::read::{self, Crumb, Reader};
use crate::write::{self, Writer};

use super::stream;

/// Which collection a channel handle belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    Input,
    Output,
}

impl Collection {
    fn single_tag(self) -> u8 {
        match self {
            Collection::Input => 1,
            Collection::Output => 2,
        }
    }

    fn merged_tag(self) -> u8 {
        match self {
            Collection::Input => 3,
            Collection::Output => 4,
        }
    }

    fn context(self) -> HandleContext {
        match self {
            Collection::Input => HandleContext::InputChannel,
            Collection::Output => HandleContext::ResultSubpartition,
        }
    }
}

/// Smallest possible encoded channel handle (merged V6: type + index + size + null + len).
pub(crate) const MIN_CHANNEL_HANDLE_LEN: usize = 18;

/// Decodes one channel handle.
pub(crate) fn decode(
    r: &mut Reader<'_>,
    version: i32,
    layout: ChannelStateLayout,
    collection: Collection,
) -> read::Result<ChannelHandle> {
    if version >= 6 {
        let at = r.pos();
        let tag = r.u8()?;
        if tag == collection.single_tag() {
            decode_single(r, true)
        } else if tag == collection.merged_tag() {
            let subtask_index = r.i32()?;
            let state_size = r.i64()?;
            let delegate = r.scoped(Crumb::Field("delegate"), stream::decode)?;
            let channel_offsets = r.scoped(Crumb::Field("channel_offsets"), |r| r.bytes32())?;
            Ok(ChannelHandle::Merged(MergedChannelHandle {
                subtask_index,
                state_size,
                delegate,
                channel_offsets,
            }))
        } else {
            Err(r.error_at(
                DecodeErrorKind::UnknownHandleTag {
                    tag,
                    context: collection.context(),
                },
                at,
            ))
        }
    } else {
        decode_single(
            r,
            layout == ChannelStateLayout::Flink1_12Plus || version >= 4,
        )
    }
}

fn decode_single(r: &mut Reader<'_>, with_subtask: bool) -> read::Result<ChannelHandle> {
    let subtask_index = if with_subtask { Some(r.i32()?) } else { None };
    let gate_or_partition = r.i32()?;
    let channel_or_subpartition = r.i32()?;
    let offsets = r.i64_array()?;
    let state_size = r.i64()?;
    let delegate = r.scoped(Crumb::Field("delegate"), stream::decode)?;
    Ok(ChannelHandle::Single(SingleChannelHandle {
        subtask_index,
        gate_or_partition,
        channel_or_subpartition,
        offsets,
        state_size,
        delegate,
    }))
}

/// Encodes one channel handle.
pub(crate) fn encode(
    w: &mut Writer,
    h: &ChannelHandle,
    version: i32,
    layout: ChannelStateLayout,
    collection: Collection,
) -> write::Result<()> {
    match h {
        ChannelHandle::Single(s) => {
            let with_subtask = version >= 4 || layout == ChannelStateLayout::Flink1_12Plus;
            if s.subtask_index.is_some() != with_subtask {
                return Err(w.inconsistent(
                    "channel subtask_index must be set exactly unless the V3 file uses the \
                     Flink 1.11 channel layout",
                ));
            }
            if version >= 6 {
                w.u8(collection.single_tag());
            }
            if let Some(i) = s.subtask_index {
                w.i32(i);
            }
            w.i32(s.gate_or_partition);
            w.i32(s.channel_or_subpartition);
            w.i64_array(&s.offsets)?;
            w.i64(s.state_size);
            w.scoped(Crumb::Field("delegate"), |w| {
                stream::encode(w, s.delegate.as_ref())
            })
        }
        ChannelHandle::Merged(m) => {
            if version < 6 {
                return Err(w.inconsistent("merged channel handles exist only in V6+"));
            }
            w.u8(collection.merged_tag());
            w.i32(m.subtask_index);
            w.i64(m.state_size);
            w.scoped(Crumb::Field("delegate"), |w| {
                stream::encode(w, m.delegate.as_ref())
            })?;
            w.scoped(Crumb::Field("channel_offsets"), |w| {
                w.bytes32(&m.channel_offsets)
            })
        }
    }
}
