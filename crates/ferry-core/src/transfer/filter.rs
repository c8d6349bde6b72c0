//! `--include` / `--exclude`: glob filters on paths relative to the copy's source root.
//!
//! A file is copied when it matches at least one include pattern (or none were given) and no
//! exclude pattern. `*` matches across `/` (so `*.sst` matches `a/b/c.sst`); `**` and character
//! classes work as in `globset`.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind, Result};

/// Include/exclude filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Filter {
    /// Builds a filter. Errors name the bad pattern.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        Ok(Filter {
            include: build(include)?,
            exclude: build(exclude)?,
        })
    }

    /// Whether the relative path `rel` passes.
    pub fn accepts(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(rel))
            && !self.exclude.as_ref().is_some_and(|set| set.is_match(rel))
    }
}

fn build(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bad_pattern_is_named() {
        let err = Filter::new(&["a[".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("a["), "{err}");
    }
}
