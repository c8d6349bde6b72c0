//! Operator-state handles (context O): O-0 null, O-4 `OperatorStreamStateHandle`, O-17
//! `FileMergingOperatorStreamStateHandle`.

use crate::error::{DecodeErrorKind, HandleContext};
use crate::model::{
    FileMergingOperatorHandle, OperatorHandle, OperatorStateMeta, OperatorStreamHandle,
};
use crate::read::{self, Crumb, Reader};
use crate::write::{self, Writer};

use super::stream;

/// Decodes one (possibly null) operator handle.
pub(crate) fn decode(r: &mut Reader<'_>) -> read::Result<Option<OperatorHandle>> {
    let at = r.pos();
    let tag = r.u8()?;
    match tag {
        0 => Ok(None),
        4 => {
            let states = decode_states(r)?;
            let delegate = r.scoped(Crumb::Field("delegate"), stream::decode)?;
            Ok(Some(OperatorHandle::Stream(OperatorStreamHandle {
                states,
                delegate,
            })))
        }
        17 => {
            let states = decode_states(r)?;
            let task_owned_dir = r.scoped(Crumb::Field("task_owned_dir"), |r| r.utf())?;
            let shared_dir = r.scoped(Crumb::Field("shared_dir"), |r| r.utf())?;
            let is_empty_raw = r.u8()?;
            let delegate = r.scoped(Crumb::Field("delegate"), stream::decode)?;
            Ok(Some(OperatorHandle::FileMerging(
                FileMergingOperatorHandle {
                    states,
                    task_owned_dir,
                    shared_dir,
                    is_empty_raw,
                    delegate,
                },
            )))
        }
        _ => Err(r.error_at(
            DecodeErrorKind::UnknownHandleTag {
                tag,
                context: HandleContext::Operator,
            },
            at,
        )),
    }
}

fn decode_states(r: &mut Reader<'_>) -> read::Result<Vec<OperatorStateMeta>> {
    // name (>= 2) + mode (1) + offset count (4)
    let n = r.count(7)?;
    let mut out = r.vec_for(n);
    for i in 0..n {
        out.push(r.scoped(Crumb::Index("state", i), |r| {
            let name = r.utf()?;
            let mode = r.i8()?;
            let offsets = r.i64_array()?;
            Ok(OperatorStateMeta {
                name,
                mode,
                offsets,
            })
        })?);
    }
    Ok(out)
}

/// Encodes one (possibly null) operator handle.
pub(crate) fn encode(w: &mut Writer, h: Option<&OperatorHandle>) -> write::Result<()> {
    let Some(h) = h else {
        w.u8(0);
        return Ok(());
    };
    w.u8(h.tag());
    match h {
        OperatorHandle::Stream(s) => {
            encode_states(w, &s.states)?;
            w.scoped(Crumb::Field("delegate"), |w| {
                stream::encode(w, s.delegate.as_ref())
            })
        }
        OperatorHandle::FileMerging(s) => {
            encode_states(w, &s.states)?;
            w.utf_field("task_owned_dir", &s.task_owned_dir)?;
            w.utf_field("shared_dir", &s.shared_dir)?;
            w.u8(s.is_empty_raw);
            w.scoped(Crumb::Field("delegate"), |w| {
                stream::encode(w, s.delegate.as_ref())
            })
        }
    }
}

fn encode_states(w: &mut Writer, states: &[OperatorStateMeta]) -> write::Result<()> {
    w.count(states.len())?;
    for (i, s) in states.iter().enumerate() {
        w.scoped(Crumb::Index("state", i), |w| {
            w.utf(&s.name)?;
            w.i8(s.mode);
            w.i64_array(&s.offsets)
        })?;
    }
    Ok(())
}
