//! What a snapshot references, as data: the [`InspectReport`] behind `ferry inspect` (human and
//! `--json` output are both rendered from it; its JSON form is the stable schema documented in
//! `docs/inspect-json.md`), and [`flink_view`], the line dump in the format of ferry's Flink
//! oracle (`ferry.Oracle`), used to check the decoder against Flink's own loader.
//!
//! Pure string work over a decoded [`Metadata`]: no storage access. Sizes are the ones the
//! handles record (Flink never re-checks them), so nothing here needs the referenced files.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::model::{
    ChannelHandle, KeyedHandle, Metadata, OperatorHandle, StreamHandle, SubtaskStates,
};
use crate::mutf8::JavaString;
use crate::paths::join_relative;
use crate::properties::{SavepointFormat, SnapshotKind};
use crate::versions::version_info;

/// The JSON schema version of [`InspectReport`]; bumped only on incompatible changes.
pub const INSPECT_SCHEMA_VERSION: u32 = 1;

/// One leaf of the handle tree, as [`walk_leaves`] reports it.
#[derive(Debug, Clone, Copy)]
enum Leaf<'a> {
    /// S-1: inline bytes.
    Inline { name: &'a JavaString, len: usize },
    /// S-2: absolute file.
    File { path: &'a JavaString, size: i64 },
    /// S-6: file relative to the exclusive directory.
    Relative { path: &'a JavaString, size: i64 },
    /// S-15: segment of a file-merging physical file.
    Segment {
        path: &'a JavaString,
        start: i64,
        size: i64,
    },
    /// S-16.
    EmptySegment,
    /// O-17 managed directory.
    Dir { path: &'a JavaString },
    /// A channel-state handle's own size (its delegate is reported as a leaf of its own).
    ChannelPortion { size: i64 },
}

struct Walker<'f, 'a> {
    op: usize,
    in_channel: bool,
    f: &'f mut dyn FnMut(usize, bool, Leaf<'a>),
}

impl<'a> Walker<'_, 'a> {
    fn emit(&mut self, leaf: Leaf<'a>) {
        (self.f)(self.op, self.in_channel, leaf);
    }

    fn stream(&mut self, h: Option<&'a StreamHandle>) {
        let Some(h) = h else { return };
        match h {
            StreamHandle::ByteStream(b) => self.emit(Leaf::Inline {
                name: &b.name,
                len: b.data.len(),
            }),
            StreamHandle::File(f) => self.emit(Leaf::File {
                path: &f.path,
                size: f.state_size,
            }),
            StreamHandle::KeyGroups(k) => self.stream(k.delegate.as_ref()),
            StreamHandle::RelativeFile(f) => self.emit(Leaf::Relative {
                path: &f.relative_path,
                size: f.state_size,
            }),
            StreamHandle::Segment(s) => self.emit(Leaf::Segment {
                path: &s.physical_file_path,
                start: s.start_pos,
                size: s.state_size,
            }),
            StreamHandle::EmptySegment => self.emit(Leaf::EmptySegment),
        }
    }

    fn keyed(&mut self, h: Option<&'a KeyedHandle>) {
        let Some(h) = h else { return };
        match h {
            KeyedHandle::KeyGroups(k) => self.stream(k.data.delegate.as_ref()),
            KeyedHandle::Incremental(k) => {
                self.stream(k.meta_state.as_ref());
                for e in k.shared_state.iter().chain(&k.private_state) {
                    self.stream(e.handle.as_ref());
                }
            }
            KeyedHandle::ChangelogBackend(c) => {
                for e in c.materialized.iter().chain(&c.non_materialized) {
                    self.keyed(e.as_ref());
                }
            }
            KeyedHandle::InMemoryChangelog(_) => {}
            KeyedHandle::ChangelogFiles(c) => {
                for e in &c.handles {
                    self.stream(e.handle.as_ref());
                }
            }
        }
    }

    fn operator(&mut self, h: Option<&'a OperatorHandle>) {
        let Some(h) = h else { return };
        if let OperatorHandle::FileMerging(m) = h {
            self.emit(Leaf::Dir {
                path: &m.task_owned_dir,
            });
            self.emit(Leaf::Dir {
                path: &m.shared_dir,
            });
        }
        self.stream(h.delegate());
    }

    fn channel(&mut self, h: &'a ChannelHandle) {
        self.emit(Leaf::ChannelPortion {
            size: h.state_size(),
        });
        self.in_channel = true;
        self.stream(h.delegate());
        self.in_channel = false;
    }
}

/// Calls `f(operator index, inside a channel handle, leaf)` for every leaf, in file order.
fn walk_leaves<'a>(md: &'a Metadata, f: &mut dyn FnMut(usize, bool, Leaf<'a>)) {
    let mut w = Walker {
        op: 0,
        in_channel: false,
        f,
    };
    for (i, op) in md.operators.iter().enumerate() {
        w.op = i;
        w.stream(op.coordinator_state.as_ref());
        let SubtaskStates::Entries(entries) = &op.subtasks else {
            continue;
        };
        for e in entries {
            let Some(s) = &e.state else { continue };
            if let Some(l) = &s.legacy {
                l.handles.iter().for_each(|h| w.stream(h.as_ref()));
            }
            for slot in [&s.managed_operator_state, &s.raw_operator_state] {
                slot.handles.iter().for_each(|h| w.operator(h.as_ref()));
            }
            w.keyed(s.managed_keyed_state.as_deref());
            w.keyed(s.raw_keyed_state.as_deref());
            for h in s
                .input_channel_state
                .iter()
                .chain(&s.result_subpartition_state)
            {
                w.channel(h);
            }
        }
    }
}

/// What Flink's loader sees in `md` when it is loaded with the external pointer
/// `exclusive_dir`, one line per fact, in the format of ferry's oracle (`ferry.Oracle`):
///
/// ```text
/// checkpoint ID
/// operator HEX parallelism=P max_parallelism=M [uid=U] [name=N]
/// HEX file PATH SIZE            S-2 and S-6 (resolved against exclusive_dir)
/// HEX segment PATH START SIZE   S-15
/// HEX empty-segment             S-16
/// HEX dir PATH                  O-17 managed directories
/// HEX inline NAME LENGTH        S-1
/// ```
///
/// Lines are in file order; compare with Flink's output as sorted multisets (Flink iterates
/// hash maps).
pub fn flink_view(md: &Metadata, exclusive_dir: &str) -> Vec<String> {
    let mut out = vec![format!("checkpoint {}", md.checkpoint_id)];
    let mut per_op: Vec<Vec<String>> = vec![Vec::new(); md.operators.len()];
    walk_leaves(md, &mut |op, _, leaf| {
        let line = match leaf {
            Leaf::Inline { name, len } => format!("inline {} {len}", name.to_string_lossy()),
            Leaf::File { path, size } => format!("file {} {size}", path.to_string_lossy()),
            Leaf::Relative { path, size } => format!(
                "file {} {size}",
                join_relative(exclusive_dir, &path.to_string_lossy())
            ),
            Leaf::Segment { path, start, size } => {
                format!("segment {} {start} {size}", path.to_string_lossy())
            }
            Leaf::EmptySegment => "empty-segment".to_string(),
            Leaf::Dir { path } => format!("dir {}", path.to_string_lossy()),
            Leaf::ChannelPortion { .. } => return,
        };
        per_op[op].push(line);
    });
    for (op, lines) in md.operators.iter().zip(per_op) {
        let id = op.id.to_hex();
        let mut line = format!(
            "operator {id} parallelism={} max_parallelism={}",
            op.parallelism, op.max_parallelism
        );
        if let Some(uid) = op.uid_str() {
            line.push_str(&format!(" uid={uid}"));
        }
        if let Some(name) = op.name_str() {
            line.push_str(&format!(" name={name}"));
        }
        out.push(line);
        out.extend(lines.into_iter().map(|l| format!("{id} {l}")));
    }
    out
}

/// Everything `ferry inspect` reports about one `_metadata` (see `docs/inspect-json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectReport {
    /// [`INSPECT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The `_metadata` location that was read.
    pub metadata: String,
    /// The snapshot (exclusive) directory relative handles resolve against.
    pub snapshot_dir: String,
    /// Size of the `_metadata` file in bytes.
    pub metadata_size: u64,
    /// The format version in the header.
    pub format_version: i32,
    /// Which Flink releases write and read that version.
    pub format: FormatReport,
    /// The checkpoint id.
    pub checkpoint_id: i64,
    /// `"checkpoint"` or `"savepoint"`, where the metadata says (V4+); else `null`.
    pub kind: Option<&'static str>,
    /// `"canonical"` or `"native"` for savepoints, where the metadata says (V4+); else `null`.
    pub savepoint_format: Option<&'static str>,
    /// The snapshot type's name (`"Checkpoint"`, `"Savepoint"`, …), where known.
    pub snapshot_type: Option<String>,
    /// Number of master (JobManager hook) states.
    pub master_states: usize,
    /// Operators in file order.
    pub operators: Vec<OperatorReport>,
    /// Non-null handles per kind label (e.g. `"S-6 relative file"`).
    pub handles: BTreeMap<&'static str, usize>,
    /// Distinct referenced files, in order of first reference.
    pub files: Vec<FileReport>,
    /// Distinct file-merging managed directories (O-17), absolute.
    pub directories: Vec<String>,
    /// Totals over `files`.
    pub totals: Totals,
    /// Where files outside the snapshot directory live, grouped by root directory.
    pub external_roots: Vec<ExternalRoot>,
    /// Whether the snapshot can be moved as a plain directory, and why.
    pub relocation: Relocation,
}

/// Facts about the format version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatReport {
    /// Flink releases that write it.
    pub written_by: &'static str,
    /// Flink releases that read it.
    pub readable_by: &'static str,
    /// Whether a Flink release writes it.
    pub released: bool,
}

/// One operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorReport {
    /// 32 hex chars, as Flink prints the operator id.
    pub id: String,
    /// The uid, where stored (V5+) and set.
    pub uid: Option<String>,
    /// The name, where stored (V5+) and set.
    pub name: Option<String>,
    /// Parallelism.
    pub parallelism: i32,
    /// Max parallelism.
    pub max_parallelism: i32,
    /// Subtask entries with state.
    pub subtasks: usize,
    /// Subtasks marked finished.
    pub finished_subtasks: usize,
    /// The whole operator is marked finished.
    pub fully_finished: bool,
    /// Sum of the recorded sizes of its state (files, segments, inline bytes; channel state by
    /// its own size), in bytes.
    pub state_size: u64,
    /// Handles (file, segment and inline) it references.
    pub handles: usize,
}

/// One distinct referenced file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The resolved location (a Flink URI: `file:/…`, `hdfs://…`, `s3://…`).
    pub path: String,
    /// The file size recorded in the handles, or `null` if unknown (`-1`), or for file-merging
    /// physical files, whose handles only record their segments.
    pub size: Option<u64>,
    /// Every reference is relative to the snapshot directory (S-6), so it follows a move.
    pub relative: bool,
    /// The file lies inside the snapshot directory.
    pub inside: bool,
    /// `"file"` (S-2/S-6) or `"segment-file"` (S-15 physical file).
    pub kind: &'static str,
    /// How many handles reference it.
    pub references: usize,
}

/// Totals over the referenced files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Distinct files.
    pub files: usize,
    /// Sum of known sizes of distinct files (segment files count their referenced segments).
    pub file_bytes: u64,
    /// Files inside the snapshot directory.
    pub files_inside: usize,
    /// Their bytes.
    pub bytes_inside: u64,
    /// Files outside it.
    pub files_outside: usize,
    /// Their bytes.
    pub bytes_outside: u64,
    /// References stored as absolute paths (S-2, S-15).
    pub absolute_references: usize,
    /// References stored relative to the snapshot directory (S-6).
    pub relative_references: usize,
    /// Bytes of state inlined into `_metadata` (S-1).
    pub inline_bytes: u64,
}

/// Files outside the snapshot directory under one root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalRoot {
    /// The root directory, with a trailing `/` (e.g. `hdfs://nn/flink/<job>/shared/`).
    pub root: String,
    /// Distinct files under it.
    pub files: usize,
    /// Their known bytes.
    pub bytes: u64,
}

/// The relocatability verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relocation {
    /// `"movable"`: copy or move the snapshot directory as it is; `"needs-migrate"`: absolute
    /// references must be rewritten (`ferry migrate`).
    pub verdict: &'static str,
    /// Why, one sentence each.
    pub reasons: Vec<String>,
}

/// Normalises a location for prefix comparison: `file:///x` and `file:/x` are the same.
fn norm(s: &str) -> String {
    let s = s.trim_end_matches('/');
    match s.strip_prefix("file://") {
        Some(rest) if rest.starts_with('/') => format!("file:{rest}"),
        _ => s.to_string(),
    }
}

fn is_under(path: &str, dir: &str) -> bool {
    let (p, d) = (norm(path), norm(dir));
    p.len() > d.len() && p.starts_with(&d) && p.as_bytes()[d.len()] == b'/'
}

/// The external root of a file: the path up to and including its last `shared`, `taskowned`
/// or `dstl` directory, else its parent directory; with a trailing `/`.
fn external_root(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let cut = trimmed.rfind('/').unwrap_or(0);
    let parent = &trimmed[..cut];
    let mut best = None;
    for marker in ["/shared", "/taskowned", "/dstl"] {
        let mut from = 0;
        while let Some(i) = parent[from..].find(marker) {
            let end = from + i + marker.len();
            if end == parent.len() || parent.as_bytes()[end] == b'/' {
                best = best.max(Some(end));
            }
            from = end;
        }
    }
    format!("{}/", &parent[..best.unwrap_or(parent.len())])
}

struct FileAcc {
    size: Option<u64>,
    segment_bytes: u64,
    relative: bool,
    kind: &'static str,
    references: usize,
}

impl InspectReport {
    /// Builds the report for `md`, read from `metadata` (its location, for display) whose
    /// snapshot directory is `snapshot_dir` (a Flink URI such as `file:/data/chk-7` or
    /// `s3://bucket/job/chk-7`), and whose file is `metadata_size` bytes long.
    pub fn new(md: &Metadata, metadata: &str, snapshot_dir: &str, metadata_size: u64) -> Self {
        let info = version_info(md.version);
        let props = md.properties();
        let summary = md.summary();
        let mut ops: Vec<OperatorReport> = md
            .operators
            .iter()
            .map(|op| {
                let (mut subtasks, mut finished) = (0, 0);
                if let SubtaskStates::Entries(entries) = &op.subtasks {
                    for e in entries {
                        if e.state.is_some() {
                            subtasks += 1;
                        } else {
                            finished += 1;
                        }
                    }
                }
                OperatorReport {
                    id: op.id.to_hex(),
                    uid: op.uid_str(),
                    name: op.name_str(),
                    parallelism: op.parallelism,
                    max_parallelism: op.max_parallelism,
                    subtasks,
                    finished_subtasks: finished,
                    fully_finished: op.is_fully_finished(),
                    state_size: 0,
                    handles: 0,
                }
            })
            .collect();

        let mut order: Vec<String> = Vec::new();
        let mut files: HashMap<String, FileAcc> = HashMap::new();
        let mut dirs: Vec<String> = Vec::new();
        let mut totals = Totals::default();
        let pos = |v: i64| u64::try_from(v).ok();
        walk_leaves(md, &mut |op, in_channel, leaf| {
            let o = &mut ops[op];
            let add = |o: &mut OperatorReport, v: Option<u64>, counted: bool| {
                o.handles += 1;
                if counted {
                    o.state_size = o.state_size.saturating_add(v.unwrap_or(0));
                }
            };
            let (path, size, relative, kind) = match leaf {
                Leaf::Inline { len, .. } => {
                    add(o, Some(len as u64), !in_channel);
                    totals.inline_bytes = totals.inline_bytes.saturating_add(len as u64);
                    return;
                }
                Leaf::ChannelPortion { size } => {
                    o.state_size = o.state_size.saturating_add(pos(size).unwrap_or(0));
                    return;
                }
                Leaf::EmptySegment => return,
                Leaf::Dir { path } => {
                    let p = path.to_string_lossy().into_owned();
                    if !dirs.contains(&p) {
                        dirs.push(p);
                    }
                    return;
                }
                Leaf::File { path, size } => {
                    totals.absolute_references += 1;
                    (path.to_string_lossy().into_owned(), size, false, "file")
                }
                Leaf::Relative { path, size } => {
                    totals.relative_references += 1;
                    (
                        join_relative(snapshot_dir, &path.to_string_lossy()),
                        size,
                        true,
                        "file",
                    )
                }
                Leaf::Segment { path, size, .. } => {
                    totals.absolute_references += 1;
                    (
                        path.to_string_lossy().into_owned(),
                        size,
                        false,
                        "segment-file",
                    )
                }
            };
            add(o, pos(size), !in_channel);
            let acc = files.entry(path.clone()).or_insert_with(|| {
                order.push(path);
                FileAcc {
                    size: None,
                    segment_bytes: 0,
                    relative: true,
                    kind,
                    references: 0,
                }
            });
            acc.references += 1;
            acc.relative &= relative;
            if kind == "segment-file" {
                acc.kind = kind;
                acc.segment_bytes = acc.segment_bytes.saturating_add(pos(size).unwrap_or(0));
            } else if let Some(s) = pos(size) {
                acc.size = Some(acc.size.map_or(s, |old| old.max(s)));
            }
        });

        let mut file_reports = Vec::with_capacity(order.len());
        let mut roots: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        for path in order {
            let acc = &files[&path];
            let size = if acc.kind == "segment-file" {
                None
            } else {
                acc.size
            };
            let bytes = size.unwrap_or(acc.segment_bytes);
            let inside = is_under(&path, snapshot_dir);
            totals.files += 1;
            totals.file_bytes = totals.file_bytes.saturating_add(bytes);
            if inside {
                totals.files_inside += 1;
                totals.bytes_inside = totals.bytes_inside.saturating_add(bytes);
            } else {
                totals.files_outside += 1;
                totals.bytes_outside = totals.bytes_outside.saturating_add(bytes);
                let r = roots.entry(external_root(&path)).or_default();
                r.0 += 1;
                r.1 = r.1.saturating_add(bytes);
            }
            file_reports.push(FileReport {
                path,
                size,
                relative: acc.relative,
                inside,
                kind: acc.kind,
                references: acc.references,
            });
        }
        let external_roots: Vec<ExternalRoot> = roots
            .into_iter()
            .map(|(root, (files, bytes))| ExternalRoot { root, files, bytes })
            .collect();
        let relocation = verdict(&totals, &external_roots, &file_reports, &dirs);

        InspectReport {
            schema_version: INSPECT_SCHEMA_VERSION,
            metadata: metadata.to_string(),
            snapshot_dir: snapshot_dir.to_string(),
            metadata_size,
            format_version: md.version,
            format: FormatReport {
                written_by: info.map_or("unknown", |i| i.written_by),
                readable_by: info.map_or("unknown", |i| i.readable_by),
                released: info.is_some_and(|i| i.released),
            },
            checkpoint_id: md.checkpoint_id,
            kind: props.as_ref().and_then(|p| p.kind).map(|k| match k {
                SnapshotKind::Checkpoint => "checkpoint",
                SnapshotKind::Savepoint => "savepoint",
            }),
            savepoint_format: props
                .as_ref()
                .and_then(|p| p.savepoint_format)
                .map(|f| match f {
                    SavepointFormat::Canonical => "canonical",
                    SavepointFormat::Native => "native",
                }),
            snapshot_type: props.and_then(|p| p.type_name),
            master_states: md.master_states.len(),
            operators: ops,
            handles: summary.handles,
            files: file_reports,
            directories: dirs,
            totals,
            external_roots,
            relocation,
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verdict(
    totals: &Totals,
    roots: &[ExternalRoot],
    files: &[FileReport],
    dirs: &[String],
) -> Relocation {
    let mut reasons = Vec::new();
    if totals.absolute_references > 0 {
        reasons.push(format!(
            "{} stored as absolute paths; they keep pointing at the old location after a move",
            plural(
                totals.absolute_references,
                "file reference is",
                "file references are"
            )
        ));
        let inside_abs = files.iter().filter(|f| f.inside && !f.relative).count();
        if inside_abs > 0 {
            reasons.push(format!(
                "{} inside the snapshot directory {} referenced by absolute path",
                plural(inside_abs, "file", "files"),
                if inside_abs == 1 { "is" } else { "are" }
            ));
        }
    }
    if totals.files_outside > 0 {
        reasons.push(format!(
            "{} outside the snapshot directory, under {}",
            plural(totals.files_outside, "file lies", "files lie"),
            plural(roots.len(), "external root", "external roots")
        ));
    }
    if !dirs.is_empty() {
        reasons.push(format!(
            "{} stored as absolute paths",
            plural(
                dirs.len(),
                "file-merging managed directory is",
                "file-merging managed directories are"
            )
        ));
    }
    if reasons.is_empty() {
        reasons.push(if totals.files == 0 {
            "all state is inline in _metadata: no files are referenced".to_string()
        } else {
            format!(
                "all {} relative to the snapshot directory: move or copy it as a directory",
                plural(totals.files, "file is", "files are")
            )
        });
        Relocation {
            verdict: "movable",
            reasons,
        }
    } else {
        Relocation {
            verdict: "needs-migrate",
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_prefixes() {
        assert_eq!(
            external_root("file:/t/ck/job/shared/abc"),
            "file:/t/ck/job/shared/"
        );
        assert_eq!(
            external_root("s3://b/ck/job/shared/job_x_op_y_0_2/seg"),
            "s3://b/ck/job/shared/"
        );
        assert_eq!(external_root("hdfs://nn/x/y/file"), "hdfs://nn/x/y/");
        assert_eq!(external_root("s3://b/sharedness/f"), "s3://b/sharedness/");
        assert!(is_under("file:///a/b/c", "file:/a/b"));
        assert!(is_under("file:/a/b/c", "file:/a/b/"));
        assert!(!is_under("file:/a/bc", "file:/a/b"));
        assert!(!is_under("file:/a/b", "file:/a/b"));
    }
}
