//! The path API used by relocation: enumerate every path-bearing field ([`PathRef`]), resolve
//! each to a location string given the directory holding `_metadata`, and rewrite them through a
//! caller-supplied function or a longest-prefix-first [`PrefixMaps`] table (doc §6).
//!
//! Path-bearing fields: S-2 `path` (absolute), S-6 `relative_path` (relative to the exclusive
//! directory), S-15 `physical_file_path` (absolute), O-17 `task_owned_dir` / `shared_dir`
//! (absolute directories) and S-1 `name` (inline handle name; path-like but never opened).
//! All of this is pure string work: no storage access.

use std::borrow::Cow;

use serde::Serialize;

use crate::error::RewriteError;
use crate::model::{
    ChannelHandle, KeyedHandle, Metadata, OperatorHandle, StreamHandle, SubtaskStates,
};
use crate::mutf8::{self, JavaString, Mutf8Error};

/// Which field of which handle a [`PathRef`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PathField {
    /// S-2 `FileStateHandle.path`.
    FilePath,
    /// S-6 `RelativeFileStateHandle.relativePath`.
    RelativeFilePath,
    /// S-15 `SegmentFileStateHandle.physicalFilePath`.
    SegmentFilePath,
    /// O-17 task-owned managed directory.
    TaskOwnedDir,
    /// O-17 shared managed directory.
    SharedDir,
    /// S-1 `ByteStreamStateHandle` name (inline data; not a file).
    InlineHandleName,
}

/// How a path string is to be interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PathKind {
    /// An absolute file URI/path, used as written (S-2, S-15).
    Absolute,
    /// A file name relative to the exclusive (metadata) directory (S-6).
    Relative,
    /// An absolute directory (O-17).
    Directory,
    /// The name of inline (S-1) data: path-like, never opened by Flink.
    InlineHandleName,
}

impl PathField {
    /// The interpretation of this field.
    pub fn kind(self) -> PathKind {
        match self {
            PathField::FilePath | PathField::SegmentFilePath => PathKind::Absolute,
            PathField::RelativeFilePath => PathKind::Relative,
            PathField::TaskOwnedDir | PathField::SharedDir => PathKind::Directory,
            PathField::InlineHandleName => PathKind::InlineHandleName,
        }
    }
}

/// One path-bearing field of a [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRef {
    /// Where the field is, e.g. `operator[3].subtask[1].managed_keyed_state.shared[2]`
    /// (list positions, not subtask indexes).
    pub breadcrumb: String,
    /// Which field.
    pub field: PathField,
    /// The raw string as stored.
    pub value: JavaString,
    /// Size recorded by the handle, if known (S-2/S-6 file size, S-15 segment size;
    /// `-1` = unknown becomes `None`; O-17 and S-1 have none).
    pub size: Option<u64>,
}

impl PathRef {
    /// Interpretation of the value.
    pub fn kind(&self) -> PathKind {
        self.field.kind()
    }

    /// The value as Rust text (lossy for strings Rust cannot represent).
    pub fn value_str(&self) -> Cow<'_, str> {
        self.value.to_string_lossy()
    }

    /// Resolves the field to a location string, given the exclusive directory (the directory
    /// that holds `_metadata`, e.g. `s3://bucket/job/chk-7`). Relative names are joined onto it
    /// as Flink does (`<dir>/<relative>`); absolute files and directories are returned as
    /// written. Inline handle names are not locations: `None`.
    pub fn resolve(&self, exclusive_dir: &str) -> Option<String> {
        match self.kind() {
            PathKind::Absolute | PathKind::Directory => Some(self.value_str().into_owned()),
            PathKind::Relative => Some(join_relative(exclusive_dir, &self.value_str())),
            PathKind::InlineHandleName => None,
        }
    }
}

/// Joins a relative name onto a directory with exactly one `/` between them.
pub fn join_relative(dir: &str, relative: &str) -> String {
    let dir = dir.trim_end_matches('/');
    let relative = relative.trim_start_matches('/');
    format!("{dir}/{relative}")
}

/// The exclusive directory for a restore pointer: the pointer itself if it is a directory, or
/// its parent if it names the `_metadata` file (trailing slashes removed).
pub fn exclusive_dir_of(pointer: &str) -> &str {
    let p = pointer.trim_end_matches('/');
    match p.strip_suffix("/_metadata") {
        Some(parent) => parent,
        None if p == "_metadata" => ".",
        None => p,
    }
}

/// Counts from [`Metadata::rewrite_paths`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RewriteStats {
    /// Path fields offered to the function.
    pub visited: usize,
    /// Fields whose stored bytes changed.
    pub changed: usize,
}

/// Walks every path field mutably. The callback gets the descriptive [`PathRef`] and the
/// stored string to replace.
type Visitor<'f> = dyn FnMut(&PathRef, &mut JavaString) -> Result<(), RewriteError> + 'f;

struct Walk<'f, 'g> {
    crumb: String,
    /// Build breadcrumbs and full [`PathRef`]s. Without it the visitor gets a placeholder
    /// `PathRef` (empty breadcrumb and value, right field) and nothing is allocated per field.
    describe: bool,
    f: &'f mut Visitor<'g>,
}

impl Walk<'_, '_> {
    fn enter(&mut self, seg: &str, idx: Option<usize>) -> usize {
        let old = self.crumb.len();
        if !self.describe {
            return old;
        }
        if !self.crumb.is_empty() {
            self.crumb.push('.');
        }
        self.crumb.push_str(seg);
        if let Some(i) = idx {
            use std::fmt::Write as _;
            let _ = write!(self.crumb, "[{i}]");
        }
        old
    }

    fn leave(&mut self, old: usize) {
        self.crumb.truncate(old);
    }

    fn visit(
        &mut self,
        field: PathField,
        size: Option<i64>,
        suffix: Option<&str>,
        s: &mut JavaString,
    ) -> Result<(), RewriteError> {
        let old = match suffix {
            Some(seg) => self.enter(seg, None),
            None => self.crumb.len(),
        };
        let r = if self.describe {
            PathRef {
                breadcrumb: self.crumb.clone(),
                field,
                value: s.clone(),
                size: size.and_then(|v| u64::try_from(v).ok()),
            }
        } else {
            PathRef {
                breadcrumb: String::new(),
                field,
                value: JavaString::default(),
                size: None,
            }
        };
        let res = (self.f)(&r, s);
        self.leave(old);
        res
    }

    fn scoped(
        &mut self,
        seg: &str,
        idx: Option<usize>,
        f: impl FnOnce(&mut Self) -> Result<(), RewriteError>,
    ) -> Result<(), RewriteError> {
        let old = self.enter(seg, idx);
        let r = f(self);
        self.leave(old);
        r
    }

    fn metadata(&mut self, m: &mut Metadata) -> Result<(), RewriteError> {
        let indexed = m.version == 1;
        for (i, op) in m.operators.iter_mut().enumerate() {
            self.scoped("operator", Some(i), |w| {
                w.scoped("coordinator_state", None, |w| {
                    w.stream(op.coordinator_state.as_mut())
                })?;
                if let SubtaskStates::Entries(entries) = &mut op.subtasks {
                    for (j, e) in entries.iter_mut().enumerate() {
                        let Some(s) = e.state.as_mut() else { continue };
                        w.scoped("subtask", Some(j), |w| {
                            if let Some(l) = s.legacy.as_mut() {
                                for (k, h) in l.handles.iter_mut().enumerate() {
                                    w.scoped("legacy", Some(k), |w| w.stream(h.as_mut()))?;
                                }
                            }
                            for (name, slot) in [
                                ("managed_operator_state", &mut s.managed_operator_state),
                                ("raw_operator_state", &mut s.raw_operator_state),
                            ] {
                                for (k, h) in slot.handles.iter_mut().enumerate() {
                                    let idx = if indexed { Some(k) } else { None };
                                    w.scoped(name, idx, |w| w.operator(h.as_mut()))?;
                                }
                            }
                            w.scoped("managed_keyed_state", None, |w| {
                                w.keyed(s.managed_keyed_state.as_deref_mut())
                            })?;
                            w.scoped("raw_keyed_state", None, |w| {
                                w.keyed(s.raw_keyed_state.as_deref_mut())
                            })?;
                            for (k, h) in s.input_channel_state.iter_mut().enumerate() {
                                w.scoped("input_channel", Some(k), |w| w.channel(h))?;
                            }
                            for (k, h) in s.result_subpartition_state.iter_mut().enumerate() {
                                w.scoped("result_subpartition", Some(k), |w| w.channel(h))?;
                            }
                            Ok(())
                        })?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn stream(&mut self, h: Option<&mut StreamHandle>) -> Result<(), RewriteError> {
        let Some(h) = h else { return Ok(()) };
        match h {
            StreamHandle::ByteStream(b) => {
                self.visit(PathField::InlineHandleName, None, None, &mut b.name)
            }
            StreamHandle::File(f) => {
                self.visit(PathField::FilePath, Some(f.state_size), None, &mut f.path)
            }
            StreamHandle::KeyGroups(k) => {
                self.scoped("delegate", None, |w| w.stream(k.delegate.as_mut()))
            }
            StreamHandle::RelativeFile(f) => self.visit(
                PathField::RelativeFilePath,
                Some(f.state_size),
                None,
                &mut f.relative_path,
            ),
            StreamHandle::Segment(s) => self.visit(
                PathField::SegmentFilePath,
                Some(s.state_size),
                None,
                &mut s.physical_file_path,
            ),
            StreamHandle::EmptySegment => Ok(()),
        }
    }

    fn keyed(&mut self, h: Option<&mut KeyedHandle>) -> Result<(), RewriteError> {
        let Some(h) = h else { return Ok(()) };
        match h {
            KeyedHandle::KeyGroups(k) => {
                self.scoped("delegate", None, |w| w.stream(k.data.delegate.as_mut()))
            }
            KeyedHandle::Incremental(k) => {
                self.scoped("meta", None, |w| w.stream(k.meta_state.as_mut()))?;
                for (i, e) in k.shared_state.iter_mut().enumerate() {
                    self.scoped("shared", Some(i), |w| w.stream(e.handle.as_mut()))?;
                }
                for (i, e) in k.private_state.iter_mut().enumerate() {
                    self.scoped("private", Some(i), |w| w.stream(e.handle.as_mut()))?;
                }
                Ok(())
            }
            KeyedHandle::ChangelogBackend(c) => {
                for (i, e) in c.materialized.iter_mut().enumerate() {
                    self.scoped("materialized", Some(i), |w| w.keyed(e.as_mut()))?;
                }
                for (i, e) in c.non_materialized.iter_mut().enumerate() {
                    self.scoped("non_materialized", Some(i), |w| w.keyed(e.as_mut()))?;
                }
                Ok(())
            }
            KeyedHandle::InMemoryChangelog(_) => Ok(()),
            KeyedHandle::ChangelogFiles(c) => {
                for (i, e) in c.handles.iter_mut().enumerate() {
                    self.scoped("handles", Some(i), |w| w.stream(e.handle.as_mut()))?;
                }
                Ok(())
            }
        }
    }

    fn operator(&mut self, h: Option<&mut OperatorHandle>) -> Result<(), RewriteError> {
        let Some(h) = h else { return Ok(()) };
        match h {
            OperatorHandle::Stream(s) => {
                self.scoped("delegate", None, |w| w.stream(s.delegate.as_mut()))
            }
            OperatorHandle::FileMerging(s) => {
                self.visit(
                    PathField::TaskOwnedDir,
                    None,
                    Some("task_owned_dir"),
                    &mut s.task_owned_dir,
                )?;
                self.visit(
                    PathField::SharedDir,
                    None,
                    Some("shared_dir"),
                    &mut s.shared_dir,
                )?;
                self.scoped("delegate", None, |w| w.stream(s.delegate.as_mut()))
            }
        }
    }

    fn channel(&mut self, h: &mut ChannelHandle) -> Result<(), RewriteError> {
        let d = match h {
            ChannelHandle::Single(s) => s.delegate.as_mut(),
            ChannelHandle::Merged(m) => m.delegate.as_mut(),
        };
        self.scoped("delegate", None, |w| w.stream(d))
    }
}

fn walk_mut(
    m: &mut Metadata,
    describe: bool,
    f: &mut dyn FnMut(&PathRef, &mut JavaString) -> Result<(), RewriteError>,
) -> Result<(), RewriteError> {
    Walk {
        crumb: String::new(),
        describe,
        f,
    }
    .metadata(m)
}

impl Metadata {
    /// Every path-bearing field, in file order.
    pub fn paths(&self) -> Vec<PathRef> {
        let mut copy = self.clone();
        let mut out = Vec::new();
        // The visitor never fails, so the walk cannot fail either.
        let _ = walk_mut(&mut copy, true, &mut |p, _| {
            out.push(p.clone());
            Ok(())
        });
        out
    }

    /// Replaces path strings: `f` is called for every path-bearing field (see
    /// [`Metadata::paths`]) and returns `Some(new)` to replace the value or `None` to keep it.
    /// All-or-nothing: if any replacement exceeds Java's 65 535-byte modified-UTF-8 limit,
    /// nothing is changed and the error names that field's breadcrumb.
    pub fn rewrite_paths(
        &mut self,
        mut f: impl FnMut(&PathRef) -> Option<String>,
    ) -> Result<RewriteStats, RewriteError> {
        self.rewrite_with(true, |p, _| f(p).map(Replacement::Whole))
    }

    /// [`Metadata::rewrite_paths`], optionally without building a full [`PathRef`] per field
    /// (`describe = false`: `f` gets a `PathRef` with only `field` set, and the stored value).
    fn rewrite_with<'a>(
        &mut self,
        describe: bool,
        mut f: impl FnMut(&PathRef, &JavaString) -> Option<Replacement<'a>>,
    ) -> Result<RewriteStats, RewriteError> {
        // Pass 1 decides every replacement without changing anything (all-or-nothing);
        // pass 2 stores them, walking without building breadcrumbs.
        let mut stats = RewriteStats::default();
        let mut plan: Vec<(usize, Planned<'a>)> = Vec::new();
        let mut too_long: Option<(usize, usize)> = None;
        let first = walk_mut(self, describe, &mut |p, slot| {
            let index = stats.visited;
            stats.visited += 1;
            let planned = match f(p, slot) {
                None => return Ok(()),
                Some(Replacement::Whole(new)) => JavaString::from_string(new)
                    .map(Planned::Whole)
                    .map_err(|err| match err {
                        Mutf8Error::TooLong { len } => len,
                        _ => 0,
                    }),
                Some(Replacement::Prefix { cut, with }) => {
                    let len = slot.as_bytes().len() - cut + with.len();
                    if len > mutf8::MAX_ENCODED_LEN {
                        Err(len)
                    } else {
                        Ok(Planned::Prefix { cut, with })
                    }
                }
            };
            match planned {
                Ok(Planned::Whole(js)) if js == *slot => {}
                Ok(Planned::Prefix { cut, with }) if &slot.as_bytes()[..cut] == with => {}
                Ok(planned) => plan.push((index, planned)),
                Err(len) => {
                    too_long = Some((index, len));
                    return Err(RewriteError::StringTooLong {
                        breadcrumb: p.breadcrumb.clone(),
                        len,
                    });
                }
            }
            Ok(())
        });
        if let Err(err) = first {
            let Some((at, len)) = too_long.filter(|_| !describe) else {
                return Err(err);
            };
            // Name the field: walk again with breadcrumbs, up to the failing one.
            let mut breadcrumb = String::new();
            let mut index = 0usize;
            let _ = walk_mut(self, true, &mut |p, _| {
                if index == at {
                    breadcrumb = p.breadcrumb.clone();
                }
                index += 1;
                Ok(())
            });
            return Err(RewriteError::StringTooLong { breadcrumb, len });
        }
        stats.changed = plan.len();
        if plan.is_empty() {
            return Ok(stats);
        }
        let mut plan = plan.into_iter().peekable();
        let mut index = 0usize;
        walk_mut(self, false, &mut |_, slot| {
            if plan.peek().is_some_and(|(i, _)| *i == index) {
                match plan.next() {
                    Some((_, Planned::Whole(js))) => *slot = js,
                    Some((_, Planned::Prefix { cut, with })) => slot.replace_prefix(cut, with),
                    None => {}
                }
            }
            index += 1;
            Ok(())
        })?;
        Ok(stats)
    }

    /// Applies a prefix-mapping table (longest prefix first) to absolute paths and directories,
    /// and optionally to inline handle names; relative paths are never touched. Returns the
    /// rewrite counts and, per map (in the order given to [`PrefixMaps::new`]), how many fields
    /// it matched.
    pub fn apply_prefix_maps(
        &mut self,
        maps: &PrefixMaps,
        options: PrefixRewriteOptions,
    ) -> Result<PrefixRewriteReport, RewriteError> {
        let mut hits = vec![0usize; maps.maps.len()];
        let stats = self.rewrite_with(false, |p, value| {
            let eligible = match p.kind() {
                PathKind::Absolute | PathKind::Directory => true,
                PathKind::InlineHandleName => options.include_inline_names,
                PathKind::Relative => false,
            };
            if !eligible {
                return None;
            }
            let (idx, replacement) = maps.replacement(value)?;
            hits[idx] += 1;
            Some(replacement)
        })?;
        Ok(PrefixRewriteReport { stats, hits })
    }
}

/// Options for [`Metadata::apply_prefix_maps`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixRewriteOptions {
    /// Also rewrite S-1 inline handle names (cosmetic; Flink never opens them, but uses them as
    /// shared-state keys, so rewrite consistently across all snapshots or not at all).
    pub include_inline_names: bool,
}

/// Result of [`Metadata::apply_prefix_maps`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixRewriteReport {
    /// Overall counts.
    pub stats: RewriteStats,
    /// Fields matched per map, parallel to [`PrefixMaps::maps`].
    pub hits: Vec<usize>,
}

/// One prefix mapping `from` → `to` (e.g. `hdfs://nn:8020/flink` → `s3a://bucket/flink`).
///
/// Matching works on whole path components: `from` matches a value equal to it or continuing
/// with `/` after it (`s3://b/x` matches `s3://b/x/y` but not `s3://b/xy`). Trailing slashes of
/// `from` and `to` are ignored, so `hdfs://nn:8020/` → `s3a://bucket/` maps
/// `hdfs://nn:8020/a` to `s3a://bucket/a`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixMap {
    /// Old prefix.
    pub from: String,
    /// New prefix.
    pub to: String,
}

/// Error parsing a `OLD=NEW` mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix mapping {spec:?}: expected OLD=NEW with a non-empty OLD")]
pub struct PrefixMapParseError {
    /// The rejected text.
    pub spec: String,
}

impl PrefixMap {
    /// A mapping.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        PrefixMap {
            from: from.into(),
            to: to.into(),
        }
    }

    /// Parses `OLD=NEW` (split at the first `=`; `OLD` must not be empty).
    pub fn parse(spec: &str) -> Result<Self, PrefixMapParseError> {
        match spec.split_once('=') {
            Some((from, to)) if !from.is_empty() => Ok(PrefixMap::new(from, to)),
            _ => Err(PrefixMapParseError {
                spec: spec.to_string(),
            }),
        }
    }

    fn trimmed_from(&self) -> &str {
        self.from.trim_end_matches('/')
    }

    /// Applies this mapping to `value` if it matches.
    pub fn apply(&self, value: &str) -> Option<String> {
        let from = self.trimmed_from();
        let rest = value.strip_prefix(from)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let to = self.to.trim_end_matches('/');
        let mut out = String::with_capacity(to.len() + rest.len());
        out.push_str(to);
        out.push_str(rest);
        Some(out)
    }
}

/// A set of [`PrefixMap`]s applied longest-prefix-first (ties: earlier map first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixMaps {
    maps: Vec<PrefixMap>,
    order: Vec<usize>,
}

impl PrefixMaps {
    /// Builds the table.
    pub fn new(maps: Vec<PrefixMap>) -> Self {
        let mut order: Vec<usize> = (0..maps.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(maps[i].trimmed_from().len()));
        PrefixMaps { maps, order }
    }

    /// The maps in the order given.
    pub fn maps(&self) -> &[PrefixMap] {
        &self.maps
    }

    /// The first (longest) matching map's index and the mapped value.
    pub fn map(&self, value: &str) -> Option<(usize, String)> {
        self.order
            .iter()
            .find_map(|&i| self.maps[i].apply(value).map(|v| (i, v)))
    }

    /// [`PrefixMaps::map`] of a stored value. A plain-ASCII value (virtually every path) is
    /// matched on its bytes, which are then its text, and a plain-ASCII target becomes an
    /// in-place prefix swap; anything else takes the text route.
    fn replacement<'a>(&'a self, value: &JavaString) -> Option<(usize, Replacement<'a>)> {
        let bytes = value.as_bytes();
        if !mutf8::is_plain_ascii(bytes) {
            return self
                .map(&value.to_string_lossy())
                .map(|(i, v)| (i, Replacement::Whole(v)));
        }
        self.order.iter().find_map(|&i| {
            let map = &self.maps[i];
            let from = map.trimmed_from().as_bytes();
            let rest = bytes.strip_prefix(from)?;
            if !(rest.is_empty() || rest[0] == b'/') {
                return None;
            }
            let to = map.to.trim_end_matches('/').as_bytes();
            let replacement = if mutf8::is_plain_ascii(to) {
                Replacement::Prefix {
                    cut: from.len(),
                    with: to,
                }
            } else {
                // An ASCII value matched, so the whole value is valid UTF-8 text.
                Replacement::Whole(map.apply(std::str::from_utf8(bytes).ok()?)?)
            };
            Some((i, replacement))
        })
    }
}

/// What a rewrite callback asks for one field.
enum Replacement<'a> {
    /// A new value.
    Whole(String),
    /// Keep the stored bytes after `cut`, put `with` (plain ASCII, hence already modified
    /// UTF-8) before them: a prefix swap done in place.
    Prefix { cut: usize, with: &'a [u8] },
}

/// A replacement checked by pass 1 of [`Metadata::rewrite_with`], stored by pass 2.
enum Planned<'a> {
    /// The encoded new value.
    Whole(JavaString),
    /// See [`Replacement::Prefix`].
    Prefix { cut: usize, with: &'a [u8] },
}
