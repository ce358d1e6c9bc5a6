//! What a streamed chunk says (does it carry text, its `usage`, is it an error), read in one
//! pass over its JSON without building it: the per-event path of `read_stream`.
//!
//! The pass takes only plain chunks: valid UTF-8, an object at the top, strings without
//! escapes or control bytes, no known key twice, counts that are plain unsigned integers,
//! nesting at most [`MAX_DEPTH`] deep. Anything else returns `None` and the caller takes the
//! full parse ([`Chunk::parse`]), so the answer on every input is the full parse's (the unit
//! tests compare both on generated and mutated chunks).

use super::chunk::{Chunk, Usage};

/// Deeper nesting goes to the full parse (serde_json's own limit is 128).
pub(crate) const MAX_DEPTH: usize = 32;

/// What the agent needs from one streamed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// `choices[].text`, `delta.content` or `delta.reasoning_content` non-empty.
    pub text: bool,
    /// The chunk's `usage`, when it has one.
    pub usage: Option<Usage>,
    /// The chunk is an error event.
    pub error: bool,
}

impl Facts {
    /// The one-pass read when the chunk is plain, else the full parse.
    pub fn of(bytes: &[u8]) -> Result<Facts, serde_json::Error> {
        match scan(bytes) {
            Some(f) => Ok(f),
            None => Chunk::parse(bytes).map(|c| Facts {
                text: c.carries_text(),
                usage: c.usage,
                error: c.is_error(),
            }),
        }
    }
}

/// The one-pass read; `None` when the chunk is not plain (see the module docs).
pub(crate) fn scan(bytes: &[u8]) -> Option<Facts> {
    std::str::from_utf8(bytes).ok()?;
    let mut c = Cursor { b: bytes, i: 0 };
    let mut facts = Facts {
        text: false,
        usage: None,
        error: false,
    };
    let mut seen = [false; 3];
    c.object(0, |c, key| match key {
        b"choices" => {
            once(&mut seen[0])?;
            c.array(1, |c| {
                if choice(c)? {
                    facts.text = true;
                }
                Some(())
            })
        }
        b"usage" => {
            once(&mut seen[1])?;
            facts.usage = if c.null() { None } else { Some(usage(c)?) };
            Some(())
        }
        b"error" => {
            once(&mut seen[2])?;
            // `Option<IgnoredAny>`: null is no error.
            if !c.null() {
                c.skip(1)?;
                facts.error = true;
            }
            Some(())
        }
        _ => c.skip(1),
    })?;
    c.ws();
    (c.i == bytes.len()).then_some(facts)
}

/// A known key seen a second time: serde refuses the chunk, so the full parse decides.
fn once(seen: &mut bool) -> Option<()> {
    if *seen {
        return None;
    }
    *seen = true;
    Some(())
}

/// One element of `choices`: whether it carries text.
fn choice(c: &mut Cursor) -> Option<bool> {
    let mut text = false;
    let mut seen = [false; 3];
    c.object(2, |c, key| match key {
        b"text" => {
            once(&mut seen[0])?;
            text |= c.opt_text()?;
            Some(())
        }
        b"delta" => {
            once(&mut seen[1])?;
            if !c.null() {
                text |= delta(c)?;
            }
            Some(())
        }
        b"message" => {
            once(&mut seen[2])?;
            if !c.null() {
                delta(c)?;
            }
            Some(())
        }
        _ => c.skip(3),
    })?;
    Some(text)
}

/// A `delta` (or `message`) object: whether its content or reasoning content is non-empty.
fn delta(c: &mut Cursor) -> Option<bool> {
    let mut text = false;
    let mut seen = [false; 2];
    c.object(3, |c, key| match key {
        b"content" => {
            once(&mut seen[0])?;
            text |= c.opt_text()?;
            Some(())
        }
        b"reasoning_content" => {
            once(&mut seen[1])?;
            text |= c.opt_text()?;
            Some(())
        }
        _ => c.skip(4),
    })?;
    Some(text)
}

fn usage(c: &mut Cursor) -> Option<Usage> {
    let mut u = Usage {
        prompt_tokens: None,
        completion_tokens: None,
        cached_tokens: None,
    };
    let mut seen = [false; 3];
    c.object(2, |c, key| match key {
        b"prompt_tokens" => {
            once(&mut seen[0])?;
            u.prompt_tokens = c.opt_count()?;
            Some(())
        }
        b"completion_tokens" => {
            once(&mut seen[1])?;
            u.completion_tokens = c.opt_count()?;
            Some(())
        }
        b"prompt_tokens_details" => {
            once(&mut seen[2])?;
            if !c.null() {
                let mut cached_seen = false;
                c.object(3, |c, key| match key {
                    b"cached_tokens" => {
                        once(&mut cached_seen)?;
                        u.cached_tokens = c.opt_count()?;
                        Some(())
                    }
                    _ => c.skip(4),
                })?;
            }
            Some(())
        }
        _ => c.skip(3),
    })?;
    Some(u)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i).copied() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.i += 1)
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        self.ws();
        self.b[self.i..]
            .starts_with(lit)
            .then(|| self.i += lit.len())
    }

    /// Consumes a `null` if one is next.
    fn null(&mut self) -> bool {
        self.literal(b"null").is_some()
    }

    /// A string without escapes or control bytes: its contents.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' || rest[..end].iter().any(|&b| b < 0x20) {
            return None;
        }
        self.i += end + 1;
        Some(&rest[..end])
    }

    /// `null` or a string: whether it is non-empty.
    fn opt_text(&mut self) -> Option<bool> {
        if self.null() {
            return Some(false);
        }
        Some(!self.string()?.is_empty())
    }

    /// `null` or a plain unsigned integer that fits in u64.
    fn opt_count(&mut self) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        let digits = self.number()?;
        if digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok().map(Some)
    }

    /// A number by JSON's grammar: its text.
    fn number(&mut self) -> Option<&'a [u8]> {
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
    fn skip(&mut self, depth: usize) -> Option<()> {
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
    fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array, each element read by `element(cursor)`.
    fn array(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(bytes: &[u8]) -> Option<Facts> {
        let c = Chunk::parse(bytes).ok()?;
        Some(Facts {
            text: c.carries_text(),
            usage: c.usage,
            error: c.is_error(),
        })
    }

    /// The one-pass read agrees with the full parse whenever it answers.
    fn agrees(bytes: &[u8]) -> bool {
        match scan(bytes) {
            Some(f) => full(bytes) == Some(f),
            None => true,
        }
    }

    #[test]
    fn plain_chunks_take_the_one_pass_read() {
        let cases: &[(&str, bool)] = &[
            (
                r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" tok","logprobs":null,"finish_reason":null}]}"#,
                true,
            ),
            (
                r#"{"id":"c","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}"#,
                true,
            ),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                false,
            ),
            (
                r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
                true,
            ),
            (
                r#"{"choices":[{"text":""},{"text":"b"}],"usage":null}"#,
                true,
            ),
            (r#"{"choices":[{"delta":null,"text":null}]}"#, false),
            (
                r#" { "choices" : [ ] , "x" : [1, -2.5e+3, true, false, null, {"a": {}}] } "#,
                false,
            ),
        ];
        for &(chunk, text) in cases {
            let chunk = chunk.as_bytes();
            let f = scan(chunk).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(chunk)));
            assert_eq!(f.text, text, "{}", String::from_utf8_lossy(chunk));
            assert_eq!(Some(f), full(chunk));
        }
        let u = scan(br#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":8}}}"#).unwrap();
        assert_eq!(
            u.usage,
            Some(Usage {
                prompt_tokens: Some(10),
                completion_tokens: Some(2),
                cached_tokens: Some(8)
            })
        );
        assert!(
            scan(br#"{"error":{"message":"boom","code":500}}"#)
                .unwrap()
                .error
        );
        assert!(!scan(br#"{"error":null,"choices":[]}"#).unwrap().error);
    }

    #[test]
    fn what_is_not_plain_goes_to_the_full_parse_with_its_answer() {
        let cases: &[&[u8]] = &[
            br#"{"choices":[{"text":"a\"b"}]}"#,
            br#"{"choices":[{"te\u0078t":"a"}]}"#,
            br#"{"choices":null}"#,
            br#"{"choices":[{"text":1}]}"#,
            br#"{"choices":[],"choices":[]}"#,
            br#"{"usage":{"completion_tokens":1.0}}"#,
            br#"{"usage":{"completion_tokens":-1}}"#,
            br#"{"usage":{"completion_tokens":01}}"#,
            br#"{"usage":{"completion_tokens":99999999999999999999}}"#,
            br#"{"usage":[1,2]}"#,
            br#"[{"choices":[]}]"#,
            b"{\"choices\":[{\"text\":\"\xff\"}]}",
            b"{\"id\":\"\xff\",\"choices\":[{\"text\":\"\xc3\xa9\"}]}",
            b"{\"choices\":[{\"text\":\"a\nb\"}]}",
            br#"{"choices":[]} x"#,
            br#"{"choices":[],}"#,
            b"{not json",
        ];
        for &chunk in cases {
            assert_eq!(scan(chunk), None, "{}", String::from_utf8_lossy(chunk));
            assert_eq!(
                Facts::of(chunk).ok(),
                full(chunk),
                "{}",
                String::from_utf8_lossy(chunk)
            );
        }
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(scan(deep.as_bytes()), None);
        assert!(Facts::of(deep.as_bytes()).is_ok());
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        const KEYS: &[&str] = &[
            "choices",
            "text",
            "delta",
            "message",
            "content",
            "reasoning_content",
            "usage",
            "prompt_tokens",
            "completion_tokens",
            "prompt_tokens_details",
            "cached_tokens",
            "error",
            "id",
            "index",
        ];

        /// JSON text built from the keys the reader knows, with values of every kind.
        fn json() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                Just("null".to_string()),
                Just("true".to_string()),
                Just("\"\"".to_string()),
                "\"[a-z é\\\\\"]{0,6}\"",
                (0u64..1_000_000).prop_map(|n| n.to_string()),
                Just("18446744073709551616".to_string()),
                Just("-3.5e2".to_string()),
                Just("1.0".to_string()),
            ];
            leaf.prop_recursive(5, 48, 5, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..5)
                        .prop_map(|v| {
                            let members: Vec<String> =
                                v.iter().map(|(k, x)| format!("\"{k}\": {x}")).collect();
                            format!("{{{}}}", members.join(","))
                        }),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            /// On generated chunks, and on the same with one byte cut out or put in, the
            /// one-pass read answers as the full parse does, or leaves it to the full parse.
            #[test]
            fn the_one_pass_read_agrees_with_the_full_parse(
                body in json(),
                at in any::<prop::sample::Index>(),
                byte in proptest::sample::select(&b"{}[],:\" \\0n-x\x01\xff"[..]),
                edit in 0u8..3,
            ) {
                let mut b = body.into_bytes();
                let i = at.index(b.len() + 1);
                match edit {
                    0 => {}
                    1 => b.insert(i, byte),
                    _ => { if i < b.len() { b.remove(i); } }
                }
                prop_assert!(agrees(&b), "{}", String::from_utf8_lossy(&b));
                prop_assert_eq!(Facts::of(&b).ok(), full(&b));
            }

            /// Chunks of the shapes servers send, with generated texts and counts: the
            /// one-pass read answers, and as the full parse does.
            #[test]
            fn server_shaped_chunks_take_the_one_pass_read(
                text in "[a-zé ]{0,8}",
                n in 0u64..100_000,
                chat in any::<bool>(),
            ) {
                let token = if chat {
                    format!(r#"{{"id":"c","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"{text}"}},"finish_reason":null}}]}}"#)
                } else {
                    format!(r#"{{"id":"c","object":"text_completion","choices":[{{"index":0,"text":"{text}","logprobs":null,"finish_reason":null}}]}}"#)
                };
                let usage = format!(r#"{{"id":"c","choices":[],"usage":{{"prompt_tokens":{n},"completion_tokens":{n},"total_tokens":{}}}}}"#, 2 * n);
                for chunk in [token, usage] {
                    let f = scan(chunk.as_bytes());
                    prop_assert!(f.is_some(), "{}", chunk);
                    prop_assert_eq!(f, full(chunk.as_bytes()));
                }
            }
        }
    }
}
