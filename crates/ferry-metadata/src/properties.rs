//! Best-effort inspection of the V4+ `CheckpointProperties` trailer (a Java object-serialization
//! stream, doc §5). The trailer is always kept and re-written verbatim; this module only *reads*
//! a few facts out of it (checkpoint vs savepoint, canonical vs native, the boolean flags) and
//! never fails: whatever it cannot recognise is reported as `None`.

use serde::Serialize;

use crate::body::JAVA_SERIALIZATION_MAGIC;

const PROPERTIES_CLASS: &str = "org.apache.flink.runtime.checkpoint.CheckpointProperties";
const SAVEPOINT_TYPE_CLASS: &str = "org.apache.flink.runtime.checkpoint.SavepointType";
const CHECKPOINT_TYPE_CLASS: &str = "org.apache.flink.runtime.checkpoint.CheckpointType";

const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ENDBLOCKDATA: u8 = 0x78;

/// Checkpoint or savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SnapshotKind {
    /// `CheckpointType` (regular or full checkpoint).
    Checkpoint,
    /// `SavepointType`.
    Savepoint,
}

/// Savepoint format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SavepointFormat {
    /// `SavepointFormatType.CANONICAL`.
    Canonical,
    /// `SavepointFormatType.NATIVE`.
    Native,
}

/// What could be recognised in a V4+ properties trailer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointPropertiesInfo {
    /// The trailer holds a Java `null` (State Processor API output).
    pub is_null: bool,
    /// Checkpoint or savepoint, if recognised.
    pub kind: Option<SnapshotKind>,
    /// Canonical or native (savepoints only), if recognised.
    pub savepoint_format: Option<SavepointFormat>,
    /// The snapshot type's display name (e.g. `"Checkpoint"`, `"Savepoint"`), if recognised.
    pub type_name: Option<String>,
    /// Checkpoints: the `SharingFilesStrategy` constant, if recognised.
    pub sharing_files_strategy: Option<String>,
    /// Savepoints: the `PostCheckpointAction` constant, if recognised.
    pub post_checkpoint_action: Option<String>,
    /// The boolean fields of `CheckpointProperties` in descriptor order (e.g. `forced`,
    /// `discardSubsumed`, `unclaimed`), if the class descriptor could be walked.
    pub flags: Vec<(String, bool)>,
}

impl CheckpointPropertiesInfo {
    /// Value of a boolean flag by its Java field name.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.flags.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
}

/// Inspects a V4+ trailer. Returns `None` if it does not start with the Java serialization magic.
pub fn inspect_properties(trailer: &[u8]) -> Option<CheckpointPropertiesInfo> {
    if !trailer.starts_with(&JAVA_SERIALIZATION_MAGIC) {
        return None;
    }
    let mut info = CheckpointPropertiesInfo::default();
    if trailer.get(4) == Some(&TC_NULL) {
        info.is_null = true;
        return Some(info);
    }
    info.flags = walk_descriptor(trailer).unwrap_or_default();
    if contains_utf(trailer, SAVEPOINT_TYPE_CLASS) {
        info.kind = Some(SnapshotKind::Savepoint);
        if contains_string_object(trailer, "CANONICAL") {
            info.savepoint_format = Some(SavepointFormat::Canonical);
        } else if contains_string_object(trailer, "NATIVE") {
            info.savepoint_format = Some(SavepointFormat::Native);
        }
        info.post_checkpoint_action =
            first_string_object(trailer, &["NONE", "SUSPEND", "TERMINATE"]);
        info.type_name = first_string_object(
            trailer,
            &["Savepoint", "Suspend Savepoint", "Terminate Savepoint"],
        );
    } else if contains_utf(trailer, CHECKPOINT_TYPE_CLASS) {
        info.kind = Some(SnapshotKind::Checkpoint);
        info.sharing_files_strategy =
            first_string_object(trailer, &["FORWARD_BACKWARD", "FORWARD", "NO_SHARING"]);
        info.type_name = first_string_object(trailer, &["Checkpoint", "Full Checkpoint"]);
    }
    Some(info)
}

/// Length-prefixed (2-byte) UTF occurrence, as class names appear in class descriptors.
fn contains_utf(hay: &[u8], s: &str) -> bool {
    let mut pat = Vec::with_capacity(s.len() + 2);
    pat.extend_from_slice(&(s.len() as u16).to_be_bytes());
    pat.extend_from_slice(s.as_bytes());
    find(hay, &pat).is_some()
}

/// `TC_STRING` + UTF occurrence, as string objects and enum constant names appear.
fn contains_string_object(hay: &[u8], s: &str) -> bool {
    let mut pat = Vec::with_capacity(s.len() + 3);
    pat.push(TC_STRING);
    pat.extend_from_slice(&(s.len() as u16).to_be_bytes());
    pat.extend_from_slice(s.as_bytes());
    find(hay, &pat).is_some()
}

fn first_string_object(hay: &[u8], candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|c| contains_string_object(hay, c))
        .map(|c| (*c).to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Walks `TC_OBJECT TC_CLASSDESC CheckpointProperties …` and returns its boolean field values.
fn walk_descriptor(b: &[u8]) -> Option<Vec<(String, bool)>> {
    let mut p = Parser { b, pos: 4 };
    if p.u8()? != TC_OBJECT || p.u8()? != TC_CLASSDESC {
        return None;
    }
    if p.utf()? != PROPERTIES_CLASS {
        return None;
    }
    p.take(8)?; // serialVersionUID
    p.u8()?; // flags
    let n = usize::from(p.u16()?);
    let mut fields = Vec::new();
    for _ in 0..n {
        let code = p.u8()?;
        let name = p.utf()?;
        if code == b'L' || code == b'[' {
            match p.u8()? {
                TC_STRING => {
                    p.utf()?;
                }
                TC_REFERENCE => {
                    p.take(4)?;
                }
                _ => return None,
            }
        }
        fields.push((code, name));
    }
    if p.u8()? != TC_ENDBLOCKDATA || p.u8()? != TC_NULL {
        return None;
    }
    let mut out = Vec::new();
    for (code, name) in fields {
        let size = match code {
            b'Z' | b'B' => 1,
            b'C' | b'S' => 2,
            b'I' | b'F' => 4,
            b'J' | b'D' => 8,
            _ => continue, // object fields follow all primitives
        };
        let v = p.take(size)?;
        if code == b'Z' {
            out.push((name, v[0] != 0));
        }
    }
    Some(out)
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }

    fn utf(&mut self) -> Option<String> {
        let n = usize::from(self.u16()?);
        let s = self.take(n)?;
        crate::mutf8::decode(s).ok()
    }
}
