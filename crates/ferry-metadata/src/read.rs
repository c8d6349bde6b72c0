//! The decoding cursor: big-endian primitives over a byte slice with the current offset, a
//! breadcrumb stack for error messages, a nesting-depth limit and length checks that keep every
//! allocation proportional to the bytes actually present.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::mutf8::{self, JavaString, Mutf8Error};

/// Maximum nesting depth of handles (real files nest at most ~5 levels).
pub(crate) const MAX_DEPTH: usize = 64;

/// One breadcrumb segment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Crumb {
    /// `.name`
    Field(&'static str),
    /// `.name[i]`
    Index(&'static str, usize),
}

/// Renders a breadcrumb stack as `operator[3].subtask[1].managed_keyed_state`.
pub(crate) fn render(crumbs: &[Crumb]) -> String {
    let mut s = String::new();
    for c in crumbs {
        let (name, idx) = match *c {
            Crumb::Field(n) => (n, None),
            Crumb::Index(n, i) => (n, Some(i)),
        };
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(name);
        if let Some(i) = idx {
            s.push('[');
            s.push_str(&i.to_string());
            s.push(']');
        }
    }
    s
}

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

/// Decoding cursor.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    crumbs: Vec<Crumb>,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            crumbs: Vec::new(),
            depth: 0,
        }
    }

    pub(crate) fn with_offset(data: &'a [u8], pos: usize) -> Self {
        Reader {
            data,
            pos: pos.min(data.len()),
            crumbs: Vec::new(),
            depth: 0,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub(crate) fn error_at(&self, kind: DecodeErrorKind, offset: usize) -> DecodeError {
        DecodeError {
            kind,
            offset,
            path: render(&self.crumbs),
        }
    }

    /// Runs `f` with `crumb` pushed onto the breadcrumb stack.
    pub(crate) fn scoped<T>(
        &mut self,
        crumb: Crumb,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.crumbs.push(crumb);
        let r = f(self);
        self.crumbs.pop();
        r
    }

    /// Runs `f` one nesting level deeper, failing beyond [`MAX_DEPTH`].
    pub(crate) fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_at(
                DecodeErrorKind::DepthLimitExceeded { limit: MAX_DEPTH },
                self.pos,
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error_at(
                DecodeErrorKind::UnexpectedEof {
                    needed: n,
                    remaining: self.remaining(),
                },
                self.pos,
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn i8(&mut self) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(crate) fn id16(&mut self) -> Result<[u8; 16]> {
        self.array()
    }

    /// Reads a non-negative `i32` count of elements each at least `min_elem_size` bytes long,
    /// failing with `InvalidLength` if the remaining input cannot hold that many.
    pub(crate) fn count(&mut self, min_elem_size: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.i32()?;
        self.check_count(n, min_elem_size, at)
    }

    /// Validates an already-read count (see [`Reader::count`]).
    pub(crate) fn check_count(&self, n: i32, min_elem_size: usize, at: usize) -> Result<usize> {
        let remaining = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_elem_size.max(1)) <= remaining => Ok(n),
            _ => Err(self.error_at(
                DecodeErrorKind::InvalidLength {
                    len: i64::from(n),
                    remaining,
                },
                at,
            )),
        }
    }

    /// An empty `Vec` for `n` elements that [`Reader::count`] already checked: exact capacity,
    /// so one-element lists don't get Rust's default of four slots, but never more slots than
    /// the remaining input has bytes (a hostile count cannot make decoding allocate more than
    /// the file is large; a longer list grows as it is read).
    pub(crate) fn vec_for<T>(&self, n: usize) -> Vec<T> {
        let most = (self.remaining() / std::mem::size_of::<T>().max(1)).max(16);
        Vec::with_capacity(n.min(most))
    }

    /// `i32` length + raw bytes.
    pub(crate) fn bytes32(&mut self) -> Result<Vec<u8>> {
        let n = self.count(1)?;
        Ok(self.take(n)?.to_vec())
    }

    /// `writeUTF` string: 2-byte length + modified UTF-8, validated like Java's `readUTF`.
    pub(crate) fn utf(&mut self) -> Result<JavaString> {
        let at = self.pos;
        let len = usize::from(u16::from_be_bytes(self.array()?));
        let bytes = self.take(len)?;
        match mutf8::validate(bytes) {
            Ok(()) => Ok(JavaString::from_raw(bytes.to_vec())),
            Err(Mutf8Error::Malformed { offset }) => Err(self.error_at(
                DecodeErrorKind::InvalidModifiedUtf8 {
                    offset_in_string: offset,
                },
                at + 2 + offset,
            )),
            Err(_) => Err(self.error_at(
                DecodeErrorKind::InvalidModifiedUtf8 {
                    offset_in_string: 0,
                },
                at + 2,
            )),
        }
    }

    /// `i32 count` + `i64 × count`.
    pub(crate) fn i64_array(&mut self) -> Result<Vec<i64>> {
        let n = self.count(8)?;
        self.i64s(n)
    }

    /// `n` big-endian `i64`s (n already checked against the remaining input).
    pub(crate) fn i64s(&mut self, n: usize) -> Result<Vec<i64>> {
        let mut v = Vec::with_capacity(n.min(self.remaining() / 8));
        for _ in 0..n {
            v.push(self.i64()?);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_big_endian() {
        let data = [
            0x00, 0x00, 0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        ];
        let mut r = Reader::new(&data);
        assert_eq!(r.i32().unwrap(), 0x0102);
        assert_eq!(r.i64().unwrap(), -2);
        assert_eq!(r.remaining(), 0);
        let e = r.u8().unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::UnexpectedEof {
                needed: 1,
                remaining: 0
            }
        );
        assert_eq!(e.offset, 12);
    }

    #[test]
    fn huge_count_is_invalid_length_without_allocating() {
        let mut data = vec![0x7F, 0xFF, 0xFF, 0xFF];
        data.extend_from_slice(&[0u8; 10]);
        let mut r = Reader::new(&data);
        let e = r.i64_array().unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::InvalidLength {
                len: i64::from(i32::MAX),
                remaining: 10
            }
        );
        assert_eq!(e.offset, 0);
        let mut r = Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(
            r.bytes32().unwrap_err().kind,
            DecodeErrorKind::InvalidLength { len: -1, .. }
        ));
    }

    #[test]
    fn utf_reads_and_validates() {
        let mut r = Reader::new(&[0x00, 0x02, b'h', b'i', 0x00, 0x01, 0x80]);
        assert_eq!(r.utf().unwrap().as_bytes(), b"hi");
        let e = r.utf().unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::InvalidModifiedUtf8 {
                offset_in_string: 0
            }
        );
        assert_eq!(e.offset, 6);
    }

    #[test]
    fn breadcrumbs_render() {
        let crumbs = [
            Crumb::Index("operator", 3),
            Crumb::Index("subtask", 1),
            Crumb::Field("x"),
        ];
        assert_eq!(render(&crumbs), "operator[3].subtask[1].x");
        let mut r = Reader::new(&[]);
        let e = r
            .scoped(Crumb::Index("operator", 2), |r| {
                r.scoped(Crumb::Field("f"), |r| r.u8())
            })
            .unwrap_err();
        assert_eq!(e.path, "operator[2].f");
    }
}
