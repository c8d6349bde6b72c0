//! Keyed-state handles (context K): K-0 null, K-3/K-7/K-12 key groups, K-5/K-11 incremental
//! RocksDB/ForSt, K-8/K-14 changelog backend, K-9 in-memory changelog, K-10/K-13 changelog
//! files — including the Flink 1.14 vs 1.15+ layouts of K-8/K-9/K-10.

use crate::error::{DecodeErrorKind, HandleContext};
use crate::model::{
    ChangelogBackendHandle, ChangelogBackendKind, ChangelogFilesHandle, ChangelogFilesKind,
    ChangelogLayout, InMemoryChangelogHandle, IncrementalHandle, IncrementalKind, KeyGroupsHandle,
    KeyGroupsKind, KeyedHandle, NamedStreamHandle, OffsetStreamHandle, StateChange,
};
use crate::read::{self, Crumb, Reader};
use crate::write::{self, Writer};

use super::{
    decode_key_groups_data, decode_range, encode_key_groups_data, encode_range, expect, stream,
};

/// Decodes one (possibly null) keyed handle.
pub(crate) fn decode(
    r: &mut Reader<'_>,
    layout: ChangelogLayout,
) -> read::Result<Option<KeyedHandle>> {
    r.nested(|r| {
        let at = r.pos();
        let tag = r.u8()?;
        let modern = layout == ChangelogLayout::Flink1_15Plus;
        let h = match tag {
            0 => return Ok(None),
            3 | 7 | 12 => {
                let kind = match tag {
                    3 => KeyGroupsKind::V1,
                    7 => KeyGroupsKind::Savepoint,
                    _ => KeyGroupsKind::V2,
                };
                let data = decode_key_groups_data(r)?;
                let state_handle_id = if kind == KeyGroupsKind::V2 {
                    Some(r.scoped(Crumb::Field("state_handle_id"), |r| r.utf())?)
                } else {
                    None
                };
                KeyedHandle::KeyGroups(KeyGroupsHandle {
                    kind,
                    data,
                    state_handle_id,
                })
            }
            5 | 11 => {
                let kind = if tag == 5 {
                    IncrementalKind::V1
                } else {
                    IncrementalKind::V2
                };
                let v2 = kind == IncrementalKind::V2;
                let checkpoint_id = r.i64()?;
                let backend_identifier =
                    r.scoped(Crumb::Field("backend_identifier"), |r| r.utf())?;
                let range = decode_range(r)?;
                let checkpointed_size = if v2 { Some(r.i64()?) } else { None };
                let meta_state = r.scoped(Crumb::Field("meta"), stream::decode)?;
                let shared_state = decode_named_list(r, "shared")?;
                let private_state = decode_named_list(r, "private")?;
                let state_handle_id = if v2 {
                    Some(r.scoped(Crumb::Field("state_handle_id"), |r| r.utf())?)
                } else {
                    None
                };
                KeyedHandle::Incremental(IncrementalHandle {
                    kind,
                    checkpoint_id,
                    backend_identifier,
                    range,
                    checkpointed_size,
                    meta_state,
                    shared_state,
                    private_state,
                    state_handle_id,
                })
            }
            8 | 14 => {
                let kind = if tag == 8 {
                    ChangelogBackendKind::V1
                } else {
                    ChangelogBackendKind::V2
                };
                let v2 = kind == ChangelogBackendKind::V2;
                let has_ids = v2 || modern;
                let range = decode_range(r)?;
                let checkpointed_size = if has_ids { Some(r.i64()?) } else { None };
                let materialized = decode_keyed_list(r, "materialized", layout)?;
                let non_materialized = decode_keyed_list(r, "non_materialized", layout)?;
                let materialization_id = if has_ids { Some(r.i64()?) } else { None };
                let checkpoint_id = if v2 { Some(r.i64()?) } else { None };
                let state_handle_id = if has_ids {
                    Some(r.scoped(Crumb::Field("state_handle_id"), |r| r.utf())?)
                } else {
                    None
                };
                KeyedHandle::ChangelogBackend(ChangelogBackendHandle {
                    kind,
                    range,
                    checkpointed_size,
                    materialized,
                    non_materialized,
                    materialization_id,
                    checkpoint_id,
                    state_handle_id,
                })
            }
            9 => {
                let range = decode_range(r)?;
                let from = r.i64()?;
                let to = r.i64()?;
                let n = r.count(8)?;
                let mut changes = r.vec_for(n);
                for i in 0..n {
                    changes.push(r.scoped(Crumb::Index("changes", i), |r| {
                        let key_group = r.i32()?;
                        let data = r.bytes32()?;
                        Ok(StateChange { key_group, data })
                    })?);
                }
                let state_handle_id = if modern {
                    Some(r.scoped(Crumb::Field("state_handle_id"), |r| r.utf())?)
                } else {
                    None
                };
                KeyedHandle::InMemoryChangelog(InMemoryChangelogHandle {
                    range,
                    from,
                    to,
                    changes,
                    state_handle_id,
                })
            }
            10 | 13 => {
                let kind = if tag == 10 {
                    ChangelogFilesKind::V1
                } else {
                    ChangelogFilesKind::V2
                };
                let v2 = kind == ChangelogFilesKind::V2;
                let has_ids = v2 || modern;
                let range = decode_range(r)?;
                let n = r.count(9)?;
                let mut handles = r.vec_for(n);
                for i in 0..n {
                    handles.push(r.scoped(Crumb::Index("handles", i), |r| {
                        let offset = r.i64()?;
                        let handle = stream::decode(r)?;
                        Ok(OffsetStreamHandle { offset, handle })
                    })?);
                }
                let state_size = r.i64()?;
                let checkpointed_size = if has_ids { Some(r.i64()?) } else { None };
                let state_handle_id = if has_ids {
                    Some(r.scoped(Crumb::Field("state_handle_id"), |r| r.utf())?)
                } else {
                    None
                };
                let storage_identifier = if v2 {
                    Some(r.scoped(Crumb::Field("storage_identifier"), |r| r.utf())?)
                } else {
                    None
                };
                KeyedHandle::ChangelogFiles(ChangelogFilesHandle {
                    kind,
                    range,
                    handles,
                    state_size,
                    checkpointed_size,
                    state_handle_id,
                    storage_identifier,
                })
            }
            _ => {
                return Err(r.error_at(
                    DecodeErrorKind::UnknownHandleTag {
                        tag,
                        context: HandleContext::Keyed,
                    },
                    at,
                ))
            }
        };
        Ok(Some(h))
    })
}

fn decode_named_list(
    r: &mut Reader<'_>,
    name: &'static str,
) -> read::Result<Vec<NamedStreamHandle>> {
    let n = r.count(3)?;
    let mut out = r.vec_for(n);
    for i in 0..n {
        out.push(r.scoped(Crumb::Index(name, i), |r| {
            let local_name = r.scoped(Crumb::Field("local_name"), |r| r.utf())?;
            let handle = stream::decode(r)?;
            Ok(NamedStreamHandle { local_name, handle })
        })?);
    }
    Ok(out)
}

fn decode_keyed_list(
    r: &mut Reader<'_>,
    name: &'static str,
    layout: ChangelogLayout,
) -> read::Result<Vec<Option<KeyedHandle>>> {
    let n = r.count(1)?;
    let mut out = r.vec_for(n);
    for i in 0..n {
        out.push(r.scoped(Crumb::Index(name, i), |r| decode(r, layout))?);
    }
    Ok(out)
}

/// Encodes one (possibly null) keyed handle.
pub(crate) fn encode(
    w: &mut Writer,
    h: Option<&KeyedHandle>,
    layout: ChangelogLayout,
) -> write::Result<()> {
    let Some(h) = h else {
        w.u8(0);
        return Ok(());
    };
    let modern = layout == ChangelogLayout::Flink1_15Plus;
    w.u8(h.tag());
    match h {
        KeyedHandle::KeyGroups(k) => {
            let id = expect(
                w,
                &k.state_handle_id,
                k.kind == KeyGroupsKind::V2,
                "state_handle_id must be set exactly for tag K-12",
            )?;
            encode_key_groups_data(w, &k.data)?;
            if let Some(id) = id {
                w.utf_field("state_handle_id", id)?;
            }
            Ok(())
        }
        KeyedHandle::Incremental(k) => {
            let v2 = k.kind == IncrementalKind::V2;
            let size = expect(
                w,
                &k.checkpointed_size,
                v2,
                "checkpointed_size must be set exactly for tag K-11",
            )?;
            let id = expect(
                w,
                &k.state_handle_id,
                v2,
                "state_handle_id must be set exactly for tag K-11",
            )?;
            w.i64(k.checkpoint_id);
            w.utf_field("backend_identifier", &k.backend_identifier)?;
            encode_range(w, k.range);
            if let Some(&s) = size {
                w.i64(s);
            }
            w.scoped(Crumb::Field("meta"), |w| {
                stream::encode(w, k.meta_state.as_ref())
            })?;
            encode_named_list(w, "shared", &k.shared_state)?;
            encode_named_list(w, "private", &k.private_state)?;
            if let Some(id) = id {
                w.utf_field("state_handle_id", id)?;
            }
            Ok(())
        }
        KeyedHandle::ChangelogBackend(c) => {
            let v2 = c.kind == ChangelogBackendKind::V2;
            let has_ids = v2 || modern;
            const R1: &str = "checkpointed_size/materialization_id/state_handle_id must be set \
                              exactly for K-14 and for K-8 in the 1.15+ layout";
            let size = expect(w, &c.checkpointed_size, has_ids, R1)?;
            let mat = expect(w, &c.materialization_id, has_ids, R1)?;
            let id = expect(w, &c.state_handle_id, has_ids, R1)?;
            let cp = expect(
                w,
                &c.checkpoint_id,
                v2,
                "checkpoint_id must be set exactly for K-14",
            )?;
            encode_range(w, c.range);
            if let Some(&s) = size {
                w.i64(s);
            }
            encode_keyed_list(w, "materialized", &c.materialized, layout)?;
            encode_keyed_list(w, "non_materialized", &c.non_materialized, layout)?;
            if let Some(&m) = mat {
                w.i64(m);
            }
            if let Some(&cp) = cp {
                w.i64(cp);
            }
            if let Some(id) = id {
                w.utf_field("state_handle_id", id)?;
            }
            Ok(())
        }
        KeyedHandle::InMemoryChangelog(c) => {
            let id = expect(
                w,
                &c.state_handle_id,
                modern,
                "state_handle_id of K-9 must be set exactly in the 1.15+ layout",
            )?;
            encode_range(w, c.range);
            w.i64(c.from);
            w.i64(c.to);
            w.count(c.changes.len())?;
            for (i, ch) in c.changes.iter().enumerate() {
                w.scoped(Crumb::Index("changes", i), |w| {
                    w.i32(ch.key_group);
                    w.bytes32(&ch.data)
                })?;
            }
            if let Some(id) = id {
                w.utf_field("state_handle_id", id)?;
            }
            Ok(())
        }
        KeyedHandle::ChangelogFiles(c) => {
            let v2 = c.kind == ChangelogFilesKind::V2;
            let has_ids = v2 || modern;
            const R1: &str = "checkpointed_size/state_handle_id must be set exactly for K-13 and \
                              for K-10 in the 1.15+ layout";
            let size = expect(w, &c.checkpointed_size, has_ids, R1)?;
            let id = expect(w, &c.state_handle_id, has_ids, R1)?;
            let storage = expect(
                w,
                &c.storage_identifier,
                v2,
                "storage_identifier must be set exactly for K-13",
            )?;
            encode_range(w, c.range);
            w.count(c.handles.len())?;
            for (i, e) in c.handles.iter().enumerate() {
                w.scoped(Crumb::Index("handles", i), |w| {
                    w.i64(e.offset);
                    stream::encode(w, e.handle.as_ref())
                })?;
            }
            w.i64(c.state_size);
            if let Some(&s) = size {
                w.i64(s);
            }
            if let Some(id) = id {
                w.utf_field("state_handle_id", id)?;
            }
            if let Some(s) = storage {
                w.utf_field("storage_identifier", s)?;
            }
            Ok(())
        }
    }
}

fn encode_named_list(
    w: &mut Writer,
    name: &'static str,
    list: &[NamedStreamHandle],
) -> write::Result<()> {
    w.count(list.len())?;
    for (i, e) in list.iter().enumerate() {
        w.scoped(Crumb::Index(name, i), |w| {
            w.utf_field("local_name", &e.local_name)?;
            stream::encode(w, e.handle.as_ref())
        })?;
    }
    Ok(())
}

fn encode_keyed_list(
    w: &mut Writer,
    name: &'static str,
    list: &[Option<KeyedHandle>],
    layout: ChangelogLayout,
) -> write::Result<()> {
    w.count(list.len())?;
    for (i, e) in list.iter().enumerate() {
        w.scoped(Crumb::Index(name, i), |w| encode(w, e.as_ref(), layout))?;
    }
    Ok(())
}
