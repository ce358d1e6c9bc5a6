//! A cursor over JSON text for the chunk reader (`scan.rs`): strict JSON grammar, no values
//! built, strings read only when plain (no escapes, no control bytes); every method returns
//! `None` where the text is not plain JSON, and the caller then leaves the chunk to serde.

/// Deeper nesting goes to the full parse (serde_json's own limit is 128).
pub(crate) const MAX_DEPTH: usize = 32;

/// A position in one chunk's bytes.
pub(crate) struct Cursor<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

/// `u64` with every byte `x`.
const fn bytes(x: u8) -> u64 {
    0x0101_0101_0101_0101 * x as u64
}

/// The offset in `b` of the first byte at or after `i` that ends the plain run of a string:
/// `"`, `\`, a control byte or a non-ASCII byte; `b.len()` when there is none. Eight bytes at a
/// time: a chunk's strings are short, where `memchr`'s set-up costs more than the search.
#[inline]
pub(crate) fn plain_end(b: &[u8], mut i: usize) -> usize {
    const HIGH: u64 = bytes(0x80);
    while let Some(word) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let quote = w ^ bytes(b'"');
        let backslash = w ^ bytes(b'\\');
        // Each term's lowest set high bit marks its first match exactly (borrows only run
        // upward), so the lowest set bit of the union is the first stop byte.
        let stops = (w.wrapping_sub(bytes(0x20)) & !w)
            | (quote.wrapping_sub(bytes(1)) & !quote)
            | (backslash.wrapping_sub(bytes(1)) & !backslash)
            | w;
        let stops = stops & HIGH;
        if stops != 0 {
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c) {
            return i;
        }
        i += 1;
    }
    i
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { b, i: 0 }
    }

    #[inline]
    pub(crate) fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' || !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return;
            }
            self.i += 1;
        }
    }

    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    pub(crate) fn eat(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.i += 1)
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        self.ws();
        self.b[self.i..]
            .starts_with(lit)
            .then(|| self.i += lit.len())
    }

    /// Consumes a `null` if one is next.
    #[inline]
    pub(crate) fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null").is_some()
    }

    /// A string without escapes or control bytes: its contents. The chunk's UTF-8 is checked
    /// here, string by string: everything outside strings that the reader accepts is ASCII.
    // Always inlined: called for every key and string value, where a call's set-up cost as
    // much as a short string's scan.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let mut end = plain_end(self.b, start);
        if *self.b.get(end)? >= 0x80 {
            end = self.non_ascii_end(end)?;
        }
        if *self.b.get(end)? != b'"' {
            return None;
        }
        self.i = end + 1;
        Some(&self.b[start..end])
    }

    /// The rest of a string from its first non-ASCII byte at `from`: the offset of the byte
    /// that ends it (`"`, `\` or a control byte), when the string is valid UTF-8 up to there.
    #[cold]
    fn non_ascii_end(&self, from: usize) -> Option<usize> {
        let mut end = from;
        while let Some(&c) = self.b.get(end) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            end += 1;
        }
        std::str::from_utf8(&self.b[from..end]).ok()?;
        Some(end)
    }

    /// `null` or a string: whether it is non-empty.
    #[inline]
    pub(crate) fn opt_text(&mut self) -> Option<bool> {
        if self.null() {
            return Some(false);
        }
        Some(!self.string()?.is_empty())
    }

    /// `null` or a plain unsigned integer that fits in u64.
    pub(crate) fn opt_count(&mut self) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        let digits = self.number()?;
        if digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // At most 19 digits: no overflow.
        let n = digits
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        Some(Some(n))
    }

    /// A number by JSON's grammar: its text.
    pub(crate) fn number(&mut self) -> Option<&'a [u8]> {
        self.ws();
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match *self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i).copied() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i).copied() {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Some(&self.b[start..self.i])
    }

    #[inline]
    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// Any value (at nesting `depth`).
    pub(crate) fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(depth, |c, _| c.skip(depth + 1)),
            b'[' => self.array(depth, |c| c.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    /// An object, each member's value read by `member(cursor, key)`.
    #[inline]
    pub(crate) fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>,
    ) -> Option<()> {
        self.sequence(depth, b'{', b'}', |c| {
            let key = c.string()?;
            c.eat(b':')?;
            member(c, key)
        })
    }

    /// An array, each element read by `element(cursor)`.
    #[inline]
    pub(crate) fn array(
        &mut self,
        depth: usize,
        element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.sequence(depth, b'[', b']', element)
    }

    /// `open`, items read by `item(cursor)` and separated by commas, then `close`; `None` past
    /// [`MAX_DEPTH`] nesting levels.
    #[inline]
    fn sequence(
        &mut self,
        depth: usize,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}
