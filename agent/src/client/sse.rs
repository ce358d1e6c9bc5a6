//! An incremental Server-Sent Events parser for the hot path: bytes in, the `data` of each
//! complete event out, through a callback, with no allocation per event once its buffers have
//! grown. Follows the SSE rules that matter for OpenAI streams: lines end in LF, CRLF or CR (also
//! when the CR and LF arrive in different reads), `:` starts a comment, several `data` lines of
//! one event are joined with `\n`, a blank line ends the event, other fields are ignored.

#[derive(Debug, Default)]
pub struct SseParser {
    /// A line not yet ended by the bytes fed so far.
    partial: Vec<u8>,
    /// The `data` of the event being read.
    data: Vec<u8>,
    has_data: bool,
    /// The previous read ended in CR: an LF at the start of the next read belongs to it.
    skip_lf: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they arrive; calls `on_event` with the data of every event they complete.
    pub fn feed(&mut self, mut input: &[u8], mut on_event: impl FnMut(&[u8])) {
        while !input.is_empty() {
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
                    self.partial.extend_from_slice(input);
                    break;
                }
            }
        }
    }

    /// The stream ended. An event whose closing blank line never came is still delivered if its
    /// last line was complete (servers that end with `data: [DONE]\n` are common).
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if self.partial.is_empty() && self.has_data {
            on_event(&self.data);
        }
        self.partial.clear();
        self.data.clear();
        self.has_data = false;
    }

    /// Whether bytes of an unfinished line or event are pending.
    pub fn has_pending(&self) -> bool {
        !self.partial.is_empty() || self.has_data
    }

    fn end_line(&mut self, tail: &[u8], on_event: &mut impl FnMut(&[u8])) {
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
            p.feed(r, |e| out.push(String::from_utf8_lossy(e).into_owned()));
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
}
