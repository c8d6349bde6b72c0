//! The encoding cursor, mirror of [`crate::read`]: big-endian primitives into a `Vec<u8>`, with a
//! breadcrumb stack so that errors (string too long, inconsistent model) name the field.

use crate::error::{EncodeError, EncodeErrorKind};
use crate::mutf8::{JavaString, MAX_ENCODED_LEN};
use crate::read::{render, Crumb};

pub(crate) type Result<T> = std::result::Result<T, EncodeError>;

/// Encoding cursor.
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
    crumbs: Vec<Crumb>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer {
            buf: Vec::new(),
            crumbs: Vec::new(),
        }
    }

    pub(crate) fn error(&self, kind: EncodeErrorKind) -> EncodeError {
        EncodeError {
            kind,
            path: render(&self.crumbs),
        }
    }

    pub(crate) fn inconsistent(&self, reason: &'static str) -> EncodeError {
        self.error(EncodeErrorKind::Inconsistent { reason })
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

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Writes a collection size as `i32`.
    pub(crate) fn count(&mut self, n: usize) -> Result<()> {
        let v = i32::try_from(n)
            .map_err(|_| self.error(EncodeErrorKind::TooManyElements { len: n }))?;
        self.i32(v);
        Ok(())
    }

    /// `i32` length + bytes.
    pub(crate) fn bytes32(&mut self, b: &[u8]) -> Result<()> {
        self.count(b.len())?;
        self.raw(b);
        Ok(())
    }

    /// `writeUTF`: 2-byte length + raw modified-UTF-8 bytes, enforcing the 65 535-byte limit.
    pub(crate) fn utf(&mut self, s: &JavaString) -> Result<()> {
        let len = s.len();
        if len > MAX_ENCODED_LEN {
            return Err(self.error(EncodeErrorKind::StringTooLong { len }));
        }
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        self.raw(s.as_bytes());
        Ok(())
    }

    /// [`Writer::utf`] for a field, with the field name appended to the breadcrumb on error.
    pub(crate) fn utf_field(&mut self, name: &'static str, s: &JavaString) -> Result<()> {
        self.scoped(Crumb::Field(name), |w| w.utf(s))
    }

    /// `i32 count` + `i64 × count`.
    pub(crate) fn i64_array(&mut self, v: &[i64]) -> Result<()> {
        self.count(v.len())?;
        for &x in v {
            self.i64(x);
        }
        Ok(())
    }
}
