//! Decoding and encoding of state handles, one module per context (doc §4): stream (S),
//! keyed (K), operator (O) and channel (C) handles, plus the key-group block they share.

pub(crate) mod channel;
pub(crate) mod keyed;
pub(crate) mod operator;
pub(crate) mod stream;

use crate::error::EncodeError;
use crate::model::{KeyGroupRange, KeyGroupsData};
use crate::read::{self, Crumb, Reader};
use crate::write::{self, Writer};

/// Reads `start:i32, count:i32, offsets:i64×count, delegate:S` (S-3 / K-3 / K-7 / K-12 body).
pub(crate) fn decode_key_groups_data(r: &mut Reader<'_>) -> read::Result<KeyGroupsData> {
    let start = r.i32()?;
    let at = r.pos();
    let raw_count = r.i32()?;
    let n = r.check_count(raw_count, 8, at)?;
    let offsets = r.i64s(n)?;
    let delegate = r.scoped(Crumb::Field("delegate"), stream::decode)?;
    Ok(KeyGroupsData {
        range: KeyGroupRange {
            start,
            count: raw_count,
        },
        offsets,
        delegate,
    })
}

/// Writes the key-group block.
pub(crate) fn encode_key_groups_data(w: &mut Writer, d: &KeyGroupsData) -> write::Result<()> {
    if usize::try_from(d.range.count).ok() != Some(d.offsets.len()) {
        return Err(w.inconsistent("key-group offsets count differs from the range's count"));
    }
    encode_range(w, d.range);
    for &o in &d.offsets {
        w.i64(o);
    }
    w.scoped(Crumb::Field("delegate"), |w| {
        stream::encode(w, d.delegate.as_ref())
    })
}

pub(crate) fn decode_range(r: &mut Reader<'_>) -> read::Result<KeyGroupRange> {
    Ok(KeyGroupRange {
        start: r.i32()?,
        count: r.i32()?,
    })
}

pub(crate) fn encode_range(w: &mut Writer, range: KeyGroupRange) {
    w.i32(range.start);
    w.i32(range.count);
}

/// Checks that an optional field is present exactly when the tag/layout writes it.
pub(crate) fn expect<'a, T>(
    w: &Writer,
    value: &'a Option<T>,
    written: bool,
    reason: &'static str,
) -> Result<Option<&'a T>, EncodeError> {
    match (value, written) {
        (Some(v), true) => Ok(Some(v)),
        (None, false) => Ok(None),
        _ => Err(w.inconsistent(reason)),
    }
}
