//! Which files of a tree a copy takes: rclone's filters on paths relative to the copy's source
//! root (`--include`, `--exclude`, `--include-from`, `--exclude-from`, `--files-from`), sizes
//! (`--min-size`, `--max-size`) and ages (`--min-age`, `--max-age`).
//!
//! Patterns follow rclone's rules (built on `globset`):
//! * `*` matches within one path element (never `/`), `?` one character other than `/`,
//!   `**` anything including `/`; `[…]`, `{a,b}` and `\` escapes as in globset.
//! * A pattern starting with `/` is anchored at the source root; any other pattern matches the
//!   end of the path at an element boundary (`file.jpg` matches `file.jpg` and `dir/file.jpg`,
//!   not `afile.jpg`).
//! * A pattern ending with `/` names a directory: it matches every file below a directory of
//!   that name (`--exclude tmp/` leaves out every `tmp` directory's contents).
//!
//! A file is taken when it is in the `--files-from` list (if one was given), matches at least
//! one include pattern (or none were given), matches no exclude pattern, and its size and age
//! are within the bounds. Sizes are inclusive, as rclone's. An age is judged by the file's
//! modification time; a file whose store reports none passes the age bounds.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::storage::Entry;

/// The filters of a copy. `Default` takes every file.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    files_from: Option<Arc<HashSet<String>>>,
    min_size: Option<u64>,
    max_size: Option<u64>,
    /// `--max-age`: files modified before this are left out.
    modified_after: Option<SystemTime>,
    /// `--min-age`: files modified after this are left out.
    modified_before: Option<SystemTime>,
}

impl Filter {
    /// A filter of include and exclude patterns (rclone syntax). Errors name the bad pattern.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        Ok(Filter {
            include: build(include)?,
            exclude: build(exclude)?,
            ..Filter::default()
        })
    }

    /// Takes only these paths (relative to the source root; a leading `/` or `./` is ignored).
    pub fn with_files_from(mut self, paths: impl IntoIterator<Item = String>) -> Filter {
        let set = paths
            .into_iter()
            .map(|p| normalise(&p).to_string())
            .collect();
        self.files_from = Some(Arc::new(set));
        self
    }

    /// Takes only files of at least `min` and at most `max` bytes.
    pub fn with_size(mut self, min: Option<u64>, max: Option<u64>) -> Filter {
        self.min_size = min;
        self.max_size = max;
        self
    }

    /// Takes only files modified after `after` (`--max-age`) and before `before`
    /// (`--min-age`).
    pub fn with_modified(
        mut self,
        after: Option<SystemTime>,
        before: Option<SystemTime>,
    ) -> Filter {
        self.modified_after = after;
        self.modified_before = before;
        self
    }

    /// Whether the relative path `rel` passes the path rules (patterns and `--files-from`).
    pub fn accepts(&self, rel: &str) -> bool {
        self.files_from
            .as_ref()
            .is_none_or(|set| set.contains(normalise(rel)))
            && self.include.as_ref().is_none_or(|set| set.is_match(rel))
            && !self.exclude.as_ref().is_some_and(|set| set.is_match(rel))
    }

    /// Whether a listed file at the relative path `rel` passes every rule.
    pub fn accepts_entry(&self, rel: &str, entry: &Entry) -> bool {
        let size_ok = self.min_size.is_none_or(|min| entry.size >= min)
            && self.max_size.is_none_or(|max| entry.size <= max);
        let age_ok = entry.modified.is_none_or(|modified| {
            self.modified_after.is_none_or(|after| modified >= after)
                && self.modified_before.is_none_or(|before| modified <= before)
        });
        size_ok && age_ok && self.accepts(rel)
    }
}

/// A `--files-from` line or a listed path in one form: no leading `/` or `./`.
fn normalise(path: &str) -> &str {
    let mut path = path.trim_start_matches('/');
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.trim_start_matches('/');
    }
    path
}

/// An rclone pattern as a globset glob (see the module documentation).
pub fn rclone_glob(pattern: &str) -> String {
    let (body, directory) = match pattern.strip_suffix('/') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    let mut glob = match body.strip_prefix('/') {
        Some(anchored) => anchored.to_string(),
        None if body.starts_with("**") => body.to_string(),
        None => format!("**/{body}"),
    };
    if directory {
        glob.push_str("/**");
    }
    glob
}

fn build(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(&rclone_glob(pattern))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("bad glob pattern {pattern:?}: {e}"),
                )
            })?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("bad glob patterns: {e}")))
}

/// The patterns of an `--include-from`/`--exclude-from` file: one a line; blank lines and lines
/// starting with `#` or `;` are skipped (rclone's rules).
pub fn patterns_from(text: &str) -> Vec<String> {
    lines_of(text)
}

/// The paths of a `--files-from` file: one a line, surrounding spaces trimmed; blank lines and
/// comments (`#`, `;`) skipped.
pub fn paths_from(text: &str) -> Vec<String> {
    lines_of(text)
}

fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with(';'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::location::Location;

    fn f(include: &[&str], exclude: &[&str]) -> Filter {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Filter::new(&s(include), &s(exclude)).unwrap()
    }

    #[test]
    fn include_and_exclude() {
        let filter = f(&["*.sst", "_metadata"], &["tmp/**"]);
        assert!(filter.accepts("shared/a/1.sst"));
        assert!(filter.accepts("_metadata"));
        assert!(!filter.accepts("tmp/1.sst"));
        assert!(!filter.accepts("chk-1/x.bin"));
        let all = Filter::default();
        assert!(all.accepts("anything/at/all"));
    }

    /// The pattern examples of rclone's filtering documentation ("Pattern syntax"), as
    /// (pattern, path, matches).
    #[test]
    fn patterns_match_as_rclone_documents() {
        let cases: &[(&str, &str, bool)] = &[
            // Unanchored: matched at the end of the path, on a whole element.
            ("file.jpg", "file.jpg", true),
            ("file.jpg", "directory/file.jpg", true),
            ("file.jpg", "afile.jpg", false),
            ("file.jpg", "directory/afile.jpg", false),
            // Anchored at the root.
            ("/file.jpg", "file.jpg", true),
            ("/file.jpg", "afile.jpg", false),
            ("/file.jpg", "directory/file.jpg", false),
            // `*` stays within one element; `**` crosses `/`.
            ("*.jpg", "file.jpg", true),
            ("*.jpg", "directory/file.jpg", true),
            ("*.jpg", "file.jpg/anotherfile.png", false),
            ("dir/**", "dir/file.jpg", true),
            ("dir/**", "dir/dir1/dir2/file.jpg", true),
            ("dir/**", "directory/file.jpg", false),
            ("dir/**", "adir/file.jpg", false),
            ("/dir/*", "dir/file.jpg", true),
            ("/dir/*", "dir/sub/file.jpg", false),
            ("/*", "file.jpg", true),
            ("/*", "dir/file.jpg", false),
            // `?`, classes, alternatives, escapes.
            ("l?ss", "less", true),
            ("l?ss", "lass", true),
            ("l?ss", "floss", false),
            ("l?ss", "l/ss", false),
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hullo", false),
            ("{one,two}_potato", "one_potato", true),
            ("{one,two}_potato", "two_potato", true),
            ("{one,two}_potato", "three_potato", false),
            ("{one,two}_potato", "_potato", false),
            ("\\*.jpg", "*.jpg", true),
            ("\\*.jpg", "file.jpg", false),
            ("\\[one\\].jpg", "[one].jpg", true),
            ("\\[one\\].jpg", "o.jpg", false),
            // A trailing `/` names a directory: every file below it.
            ("tmp/", "tmp/x", true),
            ("tmp/", "a/tmp/b/x", true),
            ("tmp/", "tmp", false),
            ("tmp/", "atmp/x", false),
            ("/tmp/", "a/tmp/x", false),
            ("/tmp/", "tmp/x/y", true),
        ];
        for &(pattern, path, want) in cases {
            let filter = f(&[pattern], &[]);
            assert_eq!(
                filter.accepts(path),
                want,
                "{pattern:?} on {path:?} (glob {})",
                rclone_glob(pattern)
            );
        }
    }

    #[test]
    fn files_from_takes_only_the_listed_paths() {
        let text = "# a comment\n; another\n\n  a/b.txt \n/c.txt\n./d/e.txt\n";
        let filter = Filter::default().with_files_from(paths_from(text));
        assert!(filter.accepts("a/b.txt"));
        assert!(filter.accepts("c.txt"));
        assert!(filter.accepts("d/e.txt"));
        assert!(!filter.accepts("a/c.txt"));
        assert!(!filter.accepts("b.txt"));
    }

    #[test]
    fn pattern_files_skip_comments_and_blank_lines() {
        assert_eq!(
            patterns_from("*.sst\n# not this\n;nor this\n\n/_metadata\n"),
            ["*.sst", "/_metadata"]
        );
    }

    #[test]
    fn sizes_are_inclusive_bounds() {
        let filter = Filter::default().with_size(Some(10), Some(20));
        let entry = |size| Entry::file(Location::parse("file:///x").unwrap(), size);
        assert!(!filter.accepts_entry("x", &entry(9)));
        assert!(filter.accepts_entry("x", &entry(10)));
        assert!(filter.accepts_entry("x", &entry(20)));
        assert!(!filter.accepts_entry("x", &entry(21)));
    }

    #[test]
    fn ages_compare_modification_times() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let filter = Filter::default().with_modified(Some(at(100)), Some(at(200)));
        let entry = |modified| Entry {
            modified,
            ..Entry::file(Location::parse("file:///x").unwrap(), 1)
        };
        assert!(!filter.accepts_entry("x", &entry(Some(at(99)))));
        assert!(filter.accepts_entry("x", &entry(Some(at(150)))));
        assert!(!filter.accepts_entry("x", &entry(Some(at(201)))));
        assert!(filter.accepts_entry("x", &entry(None)), "no time: passes");
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = Filter::new(&["a[".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("a["), "{err}");
    }
}
