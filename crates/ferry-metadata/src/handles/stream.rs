//! Stream-state handles (context S): S-0 null, S-1 inline bytes, S-2 absolute file, S-3
//! key-group handle as stream, S-6 relative file, S-15 file-merging segment, S-16 empty segment.

use crate::error::{DecodeErrorKind, HandleContext};
use crate::model::{
    ByteStreamHandle, FileHandle, KeyGroupsData, RelativeFileHandle, SegmentFileHandle,
    StreamHandle,
};
use crate::read::{self, Crumb, Reader};
use crate::write::{self, Writer};

use super::{decode_key_groups_data, encode_key_groups_data};

/// Decodes one (possibly null) stream handle.
pub(crate) fn decode(r: &mut Reader<'_>) -> read::Result<Option<StreamHandle>> {
    r.nested(|r| {
        let at = r.pos();
        let tag = r.u8()?;
        let h = match tag {
            0 => return Ok(None),
            1 => {
                let name = r.scoped(Crumb::Field("name"), |r| r.utf())?;
                let data = r.scoped(Crumb::Field("data"), |r| r.bytes32())?;
                StreamHandle::ByteStream(ByteStreamHandle { name, data })
            }
            2 => {
                let state_size = r.i64()?;
                let path = r.scoped(Crumb::Field("path"), |r| r.utf())?;
                StreamHandle::File(FileHandle { state_size, path })
            }
            3 => StreamHandle::KeyGroups(Box::new(decode_key_groups_data(r)?)),
            6 => {
                let relative_path = r.scoped(Crumb::Field("relative_path"), |r| r.utf())?;
                let state_size = r.i64()?;
                StreamHandle::RelativeFile(RelativeFileHandle {
                    relative_path,
                    state_size,
                })
            }
            15 => {
                let start_pos = r.i64()?;
                let state_size = r.i64()?;
                let scope = r.i32()?;
                let physical_file_path =
                    r.scoped(Crumb::Field("physical_file_path"), |r| r.utf())?;
                let logical_file_id = r.scoped(Crumb::Field("logical_file_id"), |r| r.utf())?;
                StreamHandle::Segment(SegmentFileHandle {
                    start_pos,
                    state_size,
                    scope,
                    physical_file_path,
                    logical_file_id,
                })
            }
            16 => StreamHandle::EmptySegment,
            _ => {
                return Err(r.error_at(
                    DecodeErrorKind::UnknownHandleTag {
                        tag,
                        context: HandleContext::Stream,
                    },
                    at,
                ))
            }
        };
        Ok(Some(h))
    })
}

/// Encodes one (possibly null) stream handle.
pub(crate) fn encode(w: &mut Writer, h: Option<&StreamHandle>) -> write::Result<()> {
    let Some(h) = h else {
        w.u8(0);
        return Ok(());
    };
    w.u8(h.tag());
    match h {
        StreamHandle::ByteStream(b) => {
            w.utf_field("name", &b.name)?;
            w.scoped(Crumb::Field("data"), |w| w.bytes32(&b.data))
        }
        StreamHandle::File(f) => {
            w.i64(f.state_size);
            w.utf_field("path", &f.path)
        }
        StreamHandle::KeyGroups(k) => encode_key_groups_data(w, k as &KeyGroupsData),
        StreamHandle::RelativeFile(f) => {
            w.utf_field("relative_path", &f.relative_path)?;
            w.i64(f.state_size);
            Ok(())
        }
        StreamHandle::Segment(s) => {
            w.i64(s.start_pos);
            w.i64(s.state_size);
            w.i32(s.scope);
            w.utf_field("physical_file_path", &s.physical_file_path)?;
            w.utf_field("logical_file_id", &s.logical_file_id)
        }
        StreamHandle::EmptySegment => Ok(()),
    }
}
