//! What a streamed chunk says (does it carry text, its `usage`, is it an error), read in one
//! pass over its JSON without building it: the per-event path of `read_stream`.
//!
//! The pass takes only plain chunks: valid UTF-8, an object at the top, strings without
//! escapes or control bytes, no known key twice, counts that are plain unsigned integers,
//! nesting at most [`MAX_DEPTH`](super::cursor::MAX_DEPTH) deep. Anything else returns `None`
//! and the caller takes the full parse ([`Chunk::parse`]), so the answer on every input is the
//! full parse's (the unit tests compare both on generated and mutated chunks).
//!
//! The chunks of one stream repeat their start: vLLM, SGLang and OpenAI write `id`, `object`,
//! `created` and `model` (constant within a request) before `choices`. [`Resume`] keeps the
//! previous chunk's bytes up to the value of `choices` and the reader's state there; a chunk that
//! starts with the same bytes is read from that point on. The reader is deterministic, so its
//! state after equal bytes is equal, and the answer is the one a read from the start gives.

use super::chunk::{Chunk, Usage};
use super::cursor::Cursor;

/// What the agent needs from one streamed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The chunk carries generated tokens ([`Chunk::carries_text`]).
    pub text: bool,
    /// The chunk's `usage`, when it has one.
    pub usage: Option<Usage>,
    /// The chunk is an error event.
    pub error: bool,
}

impl Facts {
    /// The one-pass read when the chunk is plain, else the full parse.
    pub fn of(bytes: &[u8]) -> Result<Facts, serde_json::Error> {
        scan(bytes).map_or_else(|| Facts::parsed(bytes), Ok)
    }

    /// The full serde parse, for what the one-pass read leaves.
    fn parsed(bytes: &[u8]) -> Result<Facts, serde_json::Error> {
        Chunk::parse(bytes).map(|c| Facts {
            text: c.carries_text(),
            usage: c.usage,
            error: c.is_error(),
        })
    }
}

/// The one-pass read; `None` when the chunk is not plain (see the module docs).
pub(crate) fn scan(bytes: &[u8]) -> Option<Facts> {
    read(bytes, None)
}

/// The longest start of a chunk that [`Resume`] keeps: chunks with a longer one are read from
/// their start every time (memory per stream stays bounded whatever the server sends).
pub(crate) const MAX_RESUME_PREFIX: usize = 1024;

/// The start of a stream's previous chunk, up to the value of its top-level `choices`, and what
/// the reader knew there; see the module docs. One per stream: [`Resume::facts`] reads each of
/// its chunks.
#[derive(Debug, Default)]
pub struct Resume {
    prefix: Vec<u8>,
    at: Option<Top>,
}

impl Resume {
    fn keep(&mut self, prefix: &[u8], top: Top) {
        self.at = None;
        if prefix.len() <= MAX_RESUME_PREFIX {
            self.prefix.clear();
            self.prefix.extend_from_slice(prefix);
            self.at = Some(top);
        }
    }

    /// [`Facts::of`] for the next chunk of this stream, resuming after the start its chunks
    /// share; the answer is the one [`Facts::of`] gives.
    pub fn facts(&mut self, bytes: &[u8]) -> Result<Facts, serde_json::Error> {
        scan_resuming(bytes, self).map_or_else(|| Facts::parsed(bytes), Ok)
    }
}

/// [`scan`], from where `resume` says when the chunk starts as the previous one did; updates
/// `resume` otherwise.
pub(crate) fn scan_resuming(bytes: &[u8], resume: &mut Resume) -> Option<Facts> {
    read(bytes, Some(resume))
}

fn read(bytes: &[u8], resume: Option<&mut Resume>) -> Option<Facts> {
    let mut c = Cursor::new(bytes);
    let top = match resume {
        Some(Resume {
            prefix,
            at: Some(at),
        }) if bytes.starts_with(prefix) => {
            c.i = prefix.len();
            let mut top = *at;
            top.member(&mut c, b"choices")?;
            if !after_member(&mut c)? {
                members(&mut c, &mut top, None)?;
            }
            top
        }
        resume => {
            let mut top = Top::default();
            c.eat(b'{')?;
            if c.eat(b'}').is_none() {
                members(&mut c, &mut top, resume)?;
            }
            top
        }
    };
    c.ws();
    (c.i == bytes.len()).then_some(top.facts)
}

/// The top-level object's members from a key on, to the object's end; keeps the start of the
/// chunk and the state at the value of `choices` in `resume`.
fn members(c: &mut Cursor, top: &mut Top, mut resume: Option<&mut Resume>) -> Option<()> {
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        if key == b"choices" {
            if let Some(r) = resume.take() {
                r.keep(&c.b[..c.i], *top);
            }
        }
        top.member(c, key)?;
        if after_member(c)? {
            return Some(());
        }
    }
}

/// After a member's value: `,` (false: a member follows) or `}` (true: the object ended).
fn after_member(c: &mut Cursor) -> Option<bool> {
    match c.peek()? {
        b',' => {
            c.i += 1;
            Some(false)
        }
        b'}' => {
            c.i += 1;
            Some(true)
        }
        _ => None,
    }
}

/// What the reader knows at the top level of a chunk.
#[derive(Debug, Clone, Copy)]
struct Top {
    facts: Facts,
    /// `choices`, `usage`, `error` seen.
    seen: [bool; 3],
}

impl Default for Top {
    fn default() -> Top {
        Top {
            facts: Facts {
                text: false,
                usage: None,
                error: false,
            },
            seen: [false; 3],
        }
    }
}

impl Top {
    /// One top-level member's value.
    fn member(&mut self, c: &mut Cursor, key: &[u8]) -> Option<()> {
        match key {
            b"choices" => {
                once(&mut self.seen[0])?;
                let facts = &mut self.facts;
                c.array(1, |c| {
                    if choice(c)? {
                        facts.text = true;
                    }
                    Some(())
                })
            }
            b"usage" => {
                once(&mut self.seen[1])?;
                self.facts.usage = if c.null() { None } else { Some(usage(c)?) };
                Some(())
            }
            b"error" => {
                once(&mut self.seen[2])?;
                // `Option<IgnoredAny>`: null is no error.
                if !c.null() {
                    c.skip(1)?;
                    self.facts.error = true;
                }
                Some(())
            }
            _ => c.skip(1),
        }
    }
}

/// A known key seen a second time: serde refuses the chunk, so the full parse decides.
fn once(seen: &mut bool) -> Option<()> {
    if *seen {
        return None;
    }
    *seen = true;
    Some(())
}

/// A key whose value is text (or null), seen once: whether the text is non-empty goes into
/// `text`.
#[inline]
fn text_key(c: &mut Cursor<'_>, seen: &mut bool, text: &mut bool) -> Option<()> {
    once(seen)?;
    *text |= c.opt_text()?;
    Some(())
}

/// One element of `choices`: whether it carries text.
fn choice(c: &mut Cursor<'_>) -> Option<bool> {
    let mut text = false;
    let mut seen = [false; 3];
    c.object(2, |c, key| match key {
        b"text" => text_key(c, &mut seen[0], &mut text),
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

/// A `delta` (or `message`) object: whether it carries generated tokens (content, reasoning,
/// or a tool call's name or arguments).
fn delta(c: &mut Cursor) -> Option<bool> {
    let mut text = false;
    let mut seen = [false; 4];
    c.object(3, |c, key| match key {
        b"content" => text_key(c, &mut seen[0], &mut text),
        b"reasoning_content" => text_key(c, &mut seen[1], &mut text),
        b"reasoning" => text_key(c, &mut seen[2], &mut text),
        b"tool_calls" => {
            once(&mut seen[3])?;
            if !c.null() {
                c.array(4, |c| {
                    text |= tool_call(c)?;
                    Some(())
                })?;
            }
            Some(())
        }
        _ => c.skip(4),
    })?;
    Some(text)
}

/// One element of `tool_calls`: whether its function's name or arguments are non-empty.
fn tool_call(c: &mut Cursor) -> Option<bool> {
    let mut text = false;
    let mut seen = false;
    c.object(5, |c, key| match key {
        b"function" => {
            once(&mut seen)?;
            if !c.null() {
                let mut seen = [false; 2];
                c.object(6, |c, key| match key {
                    b"name" => text_key(c, &mut seen[0], &mut text),
                    b"arguments" => text_key(c, &mut seen[1], &mut text),
                    _ => c.skip(7),
                })?;
            }
            Some(())
        }
        _ => c.skip(6),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The full parse's answer, the oracle of every test here.
    fn full(bytes: &[u8]) -> Option<Facts> {
        Facts::parsed(bytes).ok()
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
            (r#"{"choices":[{"delta":{"reasoning":"hm"}}]}"#, true),
            (
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call-1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
                true,
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
                true,
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"","arguments":""}}]}}]}"#,
                false,
            ),
            (r#"{"choices":[{"delta":{"tool_calls":null}}]}"#, false),
            (r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#, false),
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
        // A tool call's arguments are JSON in a string, escaped: the full parse reads them.
        let args = br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q"}}]}}]}"#;
        assert_eq!(scan(args), None);
        assert!(Facts::of(args).unwrap().text);
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(scan(deep.as_bytes()), None);
        assert!(Facts::of(deep.as_bytes()).is_ok());
    }

    /// A stream's chunks as the sim (and vLLM) writes them: same start, then the text.
    fn stream(chat: bool) -> Vec<String> {
        let head = if chat {
            r#"{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1760000000,"model":"m","choices":"#
        } else {
            r#"{"id":"cmpl-7","object":"text_completion","created":1760000000,"model":"m","choices":"#
        };
        let token = |t: &str, finish: &str| {
            if chat {
                format!(
                    r#"{head}[{{"index":0,"delta":{{"content":"{t}"}},"logprobs":null,"finish_reason":{finish}}}]}}"#
                )
            } else {
                format!(
                    r#"{head}[{{"index":0,"text":"{t}","logprobs":null,"finish_reason":{finish},"stop_reason":null}}]}}"#
                )
            }
        };
        let mut out = Vec::new();
        if chat {
            out.push(format!(
                r#"{head}[{{"index":0,"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null}}]}}"#
            ));
        }
        for t in [" tok", "é", "", "日本", "x y"] {
            out.push(token(t, "null"));
        }
        out.push(token(" end", r#""length""#));
        out.push(format!(
            r#"{head}[],"usage":{{"prompt_tokens":16,"completion_tokens":6,"total_tokens":22,"prompt_tokens_details":{{"cached_tokens":4}}}}}}"#
        ));
        out.push(format!(r#"{head}[{{"index":0,"text":"a\"b"}}]}}"#));
        out.push(format!(r#"{head}[{{"index":0,"text":"\u00e9"}}]}}"#));
        out.push(format!(r#"{head}[{{"index":0,"text":"choices\":[]"}}]}}"#));
        out.push(format!(
            r#"{head}[],"error":{{"message":"usage \"text\"","code":500}}}}"#
        ));
        out.push(format!(
            r#"{head}[],"error":{{"message":"overloaded","code":503}}}}"#
        ));
        out.push(format!(
            r#"{head}[{{"index":0,"text":"usage","logprobs":{{"content":[{{"token":"text","top":[{{"choices":1}}]}}]}}}}],"usage":null}}"#
        ));
        out.push(format!(r#"{head}[{{"text":"a"}}],"choices":[]}}"#));
        out.push(format!(r#"{head}[{{"text":"a"}}]"#));
        out.push(format!(r#"{head}[{{"text":"a"}}]}} trailing"#));
        out.push(format!(r#"{head}null}}"#));
        out
    }

    #[test]
    fn a_stream_resumes_after_its_shared_start_with_the_full_parse_answer() {
        for chat in [false, true] {
            let mut resume = Resume::default();
            for (k, chunk) in stream(chat).iter().enumerate() {
                let bytes = chunk.as_bytes();
                let resumed = scan_resuming(bytes, &mut resume);
                if k == 0 {
                    assert!(resume.at.is_some(), "the first chunk leaves its start");
                    assert!(resume.prefix.ends_with(br#""choices":"#));
                } else {
                    assert!(bytes.starts_with(&resume.prefix), "{chunk}");
                }
                if let Some(f) = resumed {
                    assert_eq!(Some(f), full(bytes), "{chunk}");
                }
                assert_eq!(
                    resumed,
                    scan(bytes),
                    "resumed and whole reads agree: {chunk}"
                );
                assert_eq!(resume.facts(bytes).ok(), full(bytes), "{chunk}");
            }
        }
        // The shapes servers send take the one-pass read; the escaped ones leave it to serde.
        let chunks = stream(false);
        let mut resume = Resume::default();
        let answers: Vec<Option<Facts>> = (chunks.iter())
            .map(|c| scan_resuming(c.as_bytes(), &mut resume))
            .collect();
        assert!(answers[..7].iter().all(Option::is_some));
        assert!(answers[0].unwrap().text);
        assert!(!answers[2].unwrap().text, "an empty text");
        assert_eq!(
            answers[6].unwrap().usage.unwrap().completion_tokens,
            Some(6)
        );
        assert_eq!(answers[6].unwrap().usage.unwrap().cached_tokens, Some(4));
        assert_eq!(answers[7], None, "an escape");
        assert_eq!(answers[8], None, "an escape");
        assert!(answers[11].unwrap().error);
        let nested = answers[12].unwrap();
        assert!(nested.text && nested.usage.is_none() && !nested.error);
        assert_eq!(answers[13..], [None, None, None, None]);
    }

    #[test]
    fn another_start_is_read_whole_and_kept() {
        let mut resume = Resume::default();
        let first = br#"{"id":"a","choices":[{"text":"x"}]}"#;
        let second = br#"{"id":"b","choices":[{"text":""}]}"#;
        assert!(scan_resuming(first, &mut resume).unwrap().text);
        assert!(!scan_resuming(second, &mut resume).unwrap().text);
        assert_eq!(resume.prefix, br#"{"id":"b","choices":"#);
        // Keys before `choices` are part of the state that is kept.
        let mut resume = Resume::default();
        let first = br#"{"usage":{"completion_tokens":3},"choices":[]}"#;
        let dup = br#"{"usage":{"completion_tokens":3},"choices":[],"usage":null}"#;
        assert_eq!(
            scan_resuming(first, &mut resume)
                .unwrap()
                .usage
                .unwrap()
                .completion_tokens,
            Some(3)
        );
        assert_eq!(scan_resuming(dup, &mut resume), None, "usage twice");
        assert!(Facts::of(dup).is_err());
        // A start longer than the cap is not kept.
        let long = format!(
            r#"{{"id":"{}","choices":[]}}"#,
            "x".repeat(MAX_RESUME_PREFIX)
        );
        let mut resume = Resume::default();
        assert!(scan_resuming(long.as_bytes(), &mut resume).is_some());
        assert!(resume.at.is_none() && resume.prefix.len() <= MAX_RESUME_PREFIX);
    }

    #[test]
    fn utf8_is_checked_in_strings_and_nothing_else_may_be_non_ascii() {
        assert!(
            scan("{\"choices\":[{\"text\":\"h\u{e9}llo \u{1F600}\"}]}".as_bytes())
                .unwrap()
                .text
        );
        assert!(scan(
            "{\"model\":\"\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\",\"choices\":[]}"
                .as_bytes()
        )
        .is_some());
        let cases: &[&[u8]] = &[
            b"{\"choices\":[{\"text\":\"\xc3\"}]}",
            b"{\"choices\":[{\"text\":\"abcdefghij\xe6\x97\"}]}",
            b"{\"choices\":[{\"text\":\"\xed\xa0\x80\"}]}",
            b"{\"choices\":[]}\xc2\xa0",
            b"{\"choices\":[{\"text\":\"\xc3\xa9\x01\"}]}",
            b"{\"choices\":[{\"text\":\"\xc3\xa9",
        ];
        for &chunk in cases {
            assert_eq!(scan(chunk), None, "{}", String::from_utf8_lossy(chunk));
            assert_eq!(Facts::of(chunk).ok(), full(chunk));
        }
    }

    #[test]
    fn the_eight_byte_search_finds_the_first_stop_byte() {
        for len in 0..24 {
            for at in 0..=len {
                for stop in [b'"', b'\\', 0x00, 0x1f, 0x80, 0xff] {
                    let mut b = vec![b'a'; len];
                    if at < len {
                        b[at] = stop;
                        // Bytes after the first stop must not move the answer.
                        for later in b.iter_mut().skip(at + 1).step_by(3) {
                            *later = 0x01;
                        }
                    }
                    assert_eq!(super::super::cursor::plain_end(&b, 0), at.min(len));
                }
                let plain: Vec<u8> = (0x20u8..0x7f)
                    .filter(|&c| c != b'"' && c != b'\\')
                    .cycle()
                    .take(len)
                    .collect();
                assert_eq!(super::super::cursor::plain_end(&plain, 0), len);
            }
        }
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
            "reasoning",
            "tool_calls",
            "function",
            "name",
            "arguments",
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
                let mut b = body.clone().into_bytes();
                let i = at.index(b.len() + 1);
                match edit {
                    0 => {}
                    1 => b.insert(i, byte),
                    _ => { if i < b.len() { b.remove(i); } }
                }
                prop_assert!(agrees(&b), "{}", String::from_utf8_lossy(&b));
                prop_assert_eq!(Facts::of(&b).ok(), full(&b));
                // Resumed after the generated chunk, the edited one (same start up to the
                // edit) reads as it does whole.
                let mut resume = Resume::default();
                let _ = scan_resuming(body.as_bytes(), &mut resume);
                prop_assert_eq!(scan_resuming(&b, &mut resume), scan(&b));
                prop_assert_eq!(resume.facts(&b).ok(), full(&b));
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
                let mut resume = Resume::default();
                for chunk in [&token, &usage, &token] {
                    let f = scan(chunk.as_bytes());
                    prop_assert!(f.is_some(), "{}", chunk);
                    prop_assert_eq!(f, full(chunk.as_bytes()));
                    prop_assert_eq!(scan_resuming(chunk.as_bytes(), &mut resume), f);
                }
            }

            /// A stream's chunk after its first, edited anywhere (one byte replaced, put in or
            /// cut out): the resumed read answers as the full parse does, or leaves it to it.
            #[test]
            fn edited_chunks_of_a_stream_resume_correctly(
                text in "[a-zé ]{0,8}",
                chat in any::<bool>(),
                at in any::<prop::sample::Index>(),
                byte in proptest::sample::select(&b"{}[],:\" \\0n-x\x01\xffe1t"[..]),
                edit in 0u8..3,
            ) {
                let chunks = stream(chat);
                let first = chunks[0].as_bytes();
                let mut b = chunks[1].replace(" tok", &text).into_bytes();
                let i = at.index(b.len() + 1);
                match edit {
                    0 => { if i < b.len() { b[i] = byte; } }
                    1 => b.insert(i, byte),
                    _ => { if i < b.len() { b.remove(i); } }
                }
                let mut resume = Resume::default();
                let _ = scan_resuming(first, &mut resume);
                let resumed = scan_resuming(&b, &mut resume);
                prop_assert_eq!(resumed, scan(&b), "{}", String::from_utf8_lossy(&b));
                if resumed.is_some() {
                    prop_assert_eq!(resumed, full(&b));
                }
                prop_assert_eq!(resume.facts(&b).ok(), full(&b));
            }
        }
    }
}
