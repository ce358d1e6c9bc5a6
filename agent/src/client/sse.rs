//! An incremental Server-Sent Events parser for the hot path: bytes in, the `data` of each
//! complete event out, through a callback, with no allocation per event once its buffers have
//! grown. Follows the SSE rules that matter for OpenAI streams: lines end in LF, CRLF or CR (also
//! when the CR and LF arrive in different reads), `:` starts a comment, several `data` lines of
//! one event are joined with `\n`, a blank line ends the event, other fields are ignored.
//!
//! Memory is bounded: a line longer than [`MAX_LINE`] or an event whose data grows past
//! [`MAX_EVENT`] makes [`SseParser::feed`] return [`Oversized`] (failure class
//! `oversized_event`); nothing more is buffered after that.

/// The longest line the parser buffers.
pub(crate) const MAX_LINE: usize = 1 << 20;
/// The most `data` one event may carry.
pub(crate) const MAX_EVENT: usize = 1 << 20;

/// A line or an event beyond the caps: the stream is not a sane SSE stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SSE line or event over {} bytes", MAX_LINE.max(MAX_EVENT))]
pub struct Oversized;

/// Splits a byte stream into server-sent events' `data`, across reads, with bounded buffers.
#[derive(Debug, Default)]
pub struct SseParser {
    /// A line not yet ended by the bytes fed so far.
    partial: Vec<u8>,
    /// The `data` of the event being read.
    data: Vec<u8>,
    has_data: bool,
    /// The previous read ended in CR: an LF at the start of the next read belongs to it.
    skip_lf: bool,
    /// A cap was exceeded; the parser ignores all further input.
    oversized: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they arrive; calls `on_event` with the data of every event they complete.
    /// Fails (and stays failed) once a line or an event exceeds its cap.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        mut on_event: impl FnMut(&[u8]),
    ) -> Result<(), Oversized> {
        while !input.is_empty() && !self.oversized {
            if self.skip_lf {
                self.skip_lf = false;
                if input[0] == b'\n' {
                    input = &input[1..];
                    continue;
                }
            }
            // memchr's vectorized search (a byte-at-a-time scan was a quarter of the agent's
            // instructions per chunk; BENCHMARKS.md, "Where the agent's CPU goes").
            match memchr::memchr2(b'\n', b'\r', input) {
                Some(end) => {
                    if input[end] == b'\r' {
                        if input.get(end + 1) == Some(&b'\n') {
                            self.end_line(&input[..end], &mut on_event);
                            input = &input[end + 2..];
                            continue;
                        }
                        self.skip_lf = end + 1 == input.len();
                    }
                    self.end_line(&input[..end], &mut on_event);
                    input = &input[end + 1..];
                }
                None => {
                    if self.partial.len() + input.len() > MAX_LINE {
                        self.overflow();
                    } else {
                        self.partial.extend_from_slice(input);
                    }
                    break;
                }
            }
        }
        if self.oversized {
            Err(Oversized)
        } else {
            Ok(())
        }
    }

    /// Drops what is buffered (and its memory) and refuses further input.
    fn overflow(&mut self) {
        self.oversized = true;
        self.partial = Vec::new();
        self.data = Vec::new();
        self.has_data = false;
    }

    /// The stream ended. An event whose closing blank line never came is still delivered if its
    /// last line was complete (servers that end with `data: [DONE]\n` are common).
    pub(crate) fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if self.partial.is_empty() && self.has_data && !self.oversized {
            on_event(&self.data);
        }
        self.partial.clear();
        self.data.clear();
        self.has_data = false;
    }

    fn end_line(&mut self, tail: &[u8], on_event: &mut impl FnMut(&[u8])) {
        if self.partial.len() + tail.len() > MAX_LINE {
            self.overflow();
            return;
        }
        if self.partial.is_empty() {
            self.line(tail, on_event);
        } else {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(tail);
            self.line(&line, on_event);
            line.clear();
            self.partial = line;
        }
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        if line.is_empty() {
            if self.has_data {
                on_event(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.data.len() + value.len() + 1 > MAX_EVENT {
                self.overflow();
                return;
            }
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(reads: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for r in reads {
            p.feed(r, |e| out.push(String::from_utf8_lossy(e).into_owned()))
                .unwrap();
        }
        p.finish(|e| out.push(String::from_utf8_lossy(e).into_owned()));
        out
    }

    #[test]
    fn one_event_per_blank_line() {
        assert_eq!(
            events(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]),
            vec!["{\"a\":1}", "[DONE]"]
        );
    }

    #[test]
    fn chunk_split_across_reads_at_every_byte() {
        let whole = b"data: {\"text\":\"hi\"}\n\ndata: [DONE]\n\n";
        for cut in 0..whole.len() {
            assert_eq!(
                events(&[&whole[..cut], &whole[cut..]]),
                vec!["{\"text\":\"hi\"}", "[DONE]"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn crlf_and_cr_line_endings_even_split_between_reads() {
        assert_eq!(events(&[b"data: a\r\n\r\ndata: b\r\r"]), vec!["a", "b"]);
        assert_eq!(
            events(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]),
            vec!["a", "b"]
        );
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        assert_eq!(
            events(&[b": keep-alive\n\nevent: message\nid: 7\ndata: x\nretry: 10\n\n"]),
            vec!["x"]
        );
    }

    #[test]
    fn multi_line_data_is_joined_and_space_is_optional() {
        assert_eq!(events(&[b"data:a\ndata: b\n\n"]), vec!["a\nb"]);
    }

    #[test]
    fn usage_only_final_chunk_then_done() {
        let body = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let ev = events(&[body]);
        assert_eq!(ev.len(), 2);
        assert!(ev[0].contains("usage"));
        assert_eq!(ev[1], "[DONE]");
    }

    #[test]
    fn unterminated_last_event_is_delivered_only_when_its_line_ended() {
        assert_eq!(events(&[b"data: a\n\ndata: [DONE]\n"]), vec!["a", "[DONE]"]);
        assert_eq!(events(&[b"data: a\n\ndata: [DO"]), vec!["a"]);
    }

    #[test]
    fn an_endless_line_fails_at_the_cap_and_keeps_no_more() {
        let mut p = SseParser::new();
        let block = vec![b'x'; 64 * 1024];
        let mut fed = 0;
        let mut result = p.feed(b"data: ", |_| {});
        while result.is_ok() {
            result = p.feed(&block, |_| panic!("no event"));
            fed += block.len();
            assert!(fed <= MAX_LINE + block.len(), "the cap was not enforced");
        }
        assert_eq!(result, Err(Oversized));
        assert!(p.partial.capacity() <= MAX_LINE && p.data.capacity() <= MAX_EVENT);
        // Stays failed, even when a newline comes later.
        assert_eq!(
            p.feed(b"\n\ndata: x\n\n", |_| panic!("no event")),
            Err(Oversized)
        );
    }

    #[test]
    fn endless_data_lines_without_a_blank_line_fail_at_the_event_cap() {
        let mut p = SseParser::new();
        let line = [b"data: ".as_slice(), &[b'y'; 1000], b"\n"].concat();
        let mut n = 0;
        let result = loop {
            if let Err(e) = p.feed(&line, |_| panic!("no event")) {
                break Err(e);
            }
            n += 1;
            if n > 2 * MAX_EVENT / 1000 {
                break Ok(());
            }
        };
        assert_eq!(result, Err(Oversized));
        assert!(n * 1001 >= MAX_EVENT - 1001, "failed early: {n} lines");
    }

    #[test]
    fn events_just_under_the_caps_pass() {
        let big = vec![b'z'; MAX_EVENT - 16];
        let body = [b"data: ".as_slice(), &big, b"\n\n"].concat();
        let mut p = SseParser::new();
        let mut sizes = Vec::new();
        p.feed(&body, |e| sizes.push(e.len())).unwrap();
        assert_eq!(sizes, vec![big.len()]);
    }

    mod property {
        use super::super::*;
        use proptest::prelude::*;

        fn encode(events: &[String], crlf: bool) -> Vec<u8> {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut out = String::new();
            for e in events {
                out.push_str(": comment");
                out.push_str(nl);
                for line in e.split('\n') {
                    out.push_str("data: ");
                    out.push_str(line);
                    out.push_str(nl);
                }
                out.push_str(nl);
            }
            out.into_bytes()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            /// Any events, cut into any reads, come out whole and in order.
            #[test]
            fn events_survive_any_split(
                events in proptest::collection::vec("[a-z{}\":, \n]{0,40}", 0..8),
                crlf in any::<bool>(),
                cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            ) {
                let body = encode(&events, crlf);
                let mut points: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
                points.push(0);
                points.push(body.len());
                points.sort_unstable();
                let mut p = SseParser::new();
                let mut out = Vec::new();
                for w in points.windows(2) {
                    p.feed(&body[w[0]..w[1]], |e| out.push(String::from_utf8_lossy(e).into_owned()))
                        .unwrap();
                }
                p.finish(|e| out.push(String::from_utf8_lossy(e).into_owned()));
                prop_assert_eq!(out, events);
            }

            /// Arbitrary bytes never panic and never make the parser hold more than its caps.
            #[test]
            fn arbitrary_input_stays_bounded(
                reads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..4096), 0..16),
            ) {
                let mut p = SseParser::new();
                for r in &reads {
                    let _ = p.feed(r, |e| assert!(e.len() <= MAX_EVENT));
                    prop_assert!(p.partial.len() <= MAX_LINE);
                    prop_assert!(p.data.len() <= MAX_EVENT);
                }
                p.finish(|e| assert!(e.len() <= MAX_EVENT));
            }
        }
    }
}
