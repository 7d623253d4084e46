//! A one-pass reader of JSON objects for the 0.6 import's members ([`scan_object`]): fields borrowed from
//! the member, no allocation. It reads only what it can read exactly as serde_json does — strings without
//! escapes or control characters, numbers of JSON's grammar, `null`/`true`/`false`, objects and arrays up to
//! 32 deep — and says `None` for anything else, which the caller then gives to serde_json. The import's
//! tests hold the two to the same fields (`legacy::tests::the_scans_agree_with_serde_json`).

use std::borrow::Cow;

/// The fields of a document seen so far (bit `n`: the `n`-th), for serde_json's "duplicate field".
#[derive(Default)]
pub(crate) struct Seen(u32);

impl Seen {
    /// `None` when field `n` was seen before.
    pub(crate) fn first(&mut self, n: u32) -> Option<()> {
        let bit = 1 << n;
        if self.0 & bit != 0 {
            return None;
        }
        self.0 |= bit;
        Some(())
    }
}

/// Reads a member that is a JSON object, calling `field` with each key and value, in one pass and without
/// allocating; `None` (and the caller falls back to serde_json) for anything it does not read: a string with
/// an escape or a control character, nesting deeper than 32, bad JSON, or `field` saying `None`. Whatever it
/// reads, serde_json reads the same way.
pub(crate) fn scan_object<'a>(
    member: &'a [u8],
    mut field: impl FnMut(&'a [u8], Plain<'a>) -> Option<()>,
) -> Option<()> {
    let mut sc = Scanner { b: member, i: 0 };
    sc.ws();
    sc.eat(b'{')?;
    sc.ws();
    if sc.peek() == Some(b'}') {
        sc.i += 1;
    } else {
        loop {
            let key = sc.key()?;
            let value = sc.value(0)?;
            field(key, value)?;
            sc.ws();
            match sc.next()? {
                b',' => sc.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    sc.ws();
    (sc.i == member.len()).then_some(())
}

/// A JSON value as [`scan_object`] reads it.
#[derive(Clone, Copy)]
pub(crate) enum Plain<'a> {
    /// A string: its content, and its text with the quotes.
    Str(&'a str, &'a str),
    Number(&'a str),
    Null,
    /// `true`, `false`, an object or an array: its text.
    Other(&'a str),
}

impl<'a> Plain<'a> {
    /// The value's text, as an `Option<&RawValue>` holds it (`null` is `None`).
    pub(crate) fn raw(self) -> Option<&'a str> {
        match self {
            Plain::Str(_, t) | Plain::Number(t) | Plain::Other(t) => Some(t),
            Plain::Null => None,
        }
    }

    /// As an `Option<Cow<str>>`: `None` (not read) for anything but a string or `null`.
    pub(crate) fn text(self) -> Option<Option<Cow<'a, str>>> {
        match self {
            Plain::Str(s, _) => Some(Some(Cow::Borrowed(s))),
            Plain::Null => Some(None),
            _ => None,
        }
    }

    /// As an `Option<f64>`, with serde_json's own number parsing so that it is the same to the bit; `None`
    /// (not read) for anything but a number or `null`, or a number out of range.
    pub(crate) fn number(self) -> Option<Option<f64>> {
        match self {
            Plain::Number(n) => serde_json::from_str::<f64>(n).ok().map(Some),
            Plain::Null => Some(None),
            _ => None,
        }
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters (`None` otherwise): its content, and whether it is
    /// all ASCII.
    fn string_bytes(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut ascii = true;
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => return None,
                c if c < 0x20 => return None,
                c => ascii &= c < 0x80,
            }
        }
        Some((&self.b[start..self.i - 1], ascii))
    }

    /// An object's key and its colon.
    fn key(&mut self) -> Option<&'a [u8]> {
        let (key, ascii) = self.string_bytes()?;
        // serde_json checks that every key is UTF-8.
        if !ascii {
            std::str::from_utf8(key).ok()?;
        }
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(key)
    }

    /// A JSON value (`depth`: of the objects and arrays around it); `None` for what [`scan_object`] does
    /// not read.
    fn value(&mut self, depth: u32) -> Option<Plain<'a>> {
        let start = self.i;
        let word = |sc: &mut Self, w: &[u8]| {
            let end = sc.i + w.len();
            (sc.b.get(sc.i..end)? == w).then(|| sc.i = end)
        };
        match self.peek()? {
            b'"' => {
                let (_, ascii) = self.string_bytes()?;
                // Without escapes, the text is the content in its quotes: one check serves both.
                let quoted = utf8(&self.b[start..self.i], ascii)?;
                return Some(Plain::Str(&quoted[1..quoted.len() - 1], quoted));
            }
            b'n' => return word(self, b"null").map(|()| Plain::Null),
            b'-' | b'0'..=b'9' => {
                self.number()?;
                return utf8(&self.b[start..self.i], true).map(Plain::Number);
            }
            b't' => word(self, b"true")?,
            b'f' => word(self, b"false")?,
            b'{' | b'[' => self.nested(depth)?,
            _ => return None,
        }
        // The text is checked: a string in it may not be ASCII.
        std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .map(Plain::Other)
    }

    /// An object or an array, every value in it read as [`Scanner::value`] reads them.
    fn nested(&mut self, depth: u32) -> Option<()> {
        if depth >= 32 {
            return None;
        }
        let close = match self.next()? {
            b'{' => b'}',
            _ => b']',
        };
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Some(());
        }
        loop {
            if close == b'}' {
                self.key()?;
            }
            self.value(depth + 1)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// JSON's number grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let digits = |sc: &mut Self| {
            let start = sc.i;
            while matches!(sc.peek(), Some(b'0'..=b'9')) {
                sc.i += 1;
            }
            (sc.i > start).then_some(())
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            digits(self)?;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            digits(self)?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            digits(self)?;
        }
        Some(())
    }
}

/// `bytes` as text, checked unless the scan saw only ASCII in them (the checks were a tenth of a scan).
fn utf8(bytes: &[u8], ascii: bool) -> Option<&str> {
    if ascii {
        debug_assert!(bytes.is_ascii());
        // SAFETY: the caller saw every byte below 0x80, and ASCII is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}
