//! The body framing of an HTTP/1.1 response (RFC 9112 §6.3, §7.1): a length, the chunked
//! transfer coding, or the bytes until the server closes. Decoded in place from the
//! connection's read buffer: every data byte is handed on as a slice of that buffer, and every
//! chunk one read brought is handled before the next read.

use bytes::{Buf, BytesMut};

/// The longest chunk-size line (size, extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;

/// The most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 64 * 1024;

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length` bytes (no body: 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// Where the decoder is in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { left: u64 },
    Close,
    ChunkSize,
    ChunkData { left: u64 },
    ChunkDataEnd,
    Trailers { seen: usize },
    Done,
}

/// What [`Decoder::drain`] did with the buffered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// The body ended; what follows it is still in the buffer.
    Done,
    /// Everything buffered was decoded; the body goes on.
    NeedMore,
    /// The sink asked to stop.
    Stopped,
}

/// The body's framing is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FramingError {
    #[error("chunk size line is not a hexadecimal size")]
    BadChunkSize,
    #[error("chunk size line longer than {MAX_SIZE_LINE} bytes")]
    LongSizeLine,
    #[error("chunk data not followed by CRLF")]
    MissingChunkEnd,
    #[error("trailers longer than {MAX_TRAILERS} bytes")]
    LongTrailers,
}

/// Decodes one response body, read by read.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
}

impl Decoder {
    pub(crate) fn new(framing: Framing) -> Decoder {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(left) => State::Length { left },
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        Decoder { state }
    }

    /// Whether the body ended.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The connection reached its end of file: whether that ends the body whole (a body read
    /// until the close), or cuts it short.
    pub(crate) fn end_of_file(&mut self) -> bool {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                true
            }
            _ => false,
        }
    }

    /// Decodes what `buf` holds: hands every data byte to `sink` (in order, never an empty
    /// slice) and removes what it decoded from `buf`. `sink` returns false to stop.
    pub(crate) fn drain(
        &mut self,
        buf: &mut BytesMut,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<Drained, FramingError> {
        let mut pos = 0;
        let result = loop {
            let rest = &buf[pos..];
            match &mut self.state {
                State::Done => break Ok(Drained::Done),
                State::Length { left } | State::ChunkData { left } => {
                    if rest.is_empty() {
                        break Ok(Drained::NeedMore);
                    }
                    let n = rest.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= n as u64;
                    pos += n;
                    let go = sink(&rest[..n]);
                    if *left == 0 {
                        self.state = match self.state {
                            State::ChunkData { .. } => State::ChunkDataEnd,
                            _ => State::Done,
                        };
                    }
                    if !go {
                        break Ok(Drained::Stopped);
                    }
                }
                State::Close => {
                    if rest.is_empty() {
                        break Ok(Drained::NeedMore);
                    }
                    pos += rest.len();
                    if !sink(rest) {
                        break Ok(Drained::Stopped);
                    }
                }
                State::ChunkSize => {
                    let Some(end) = memchr::memchr(b'\n', rest) else {
                        if rest.len() > MAX_SIZE_LINE {
                            break Err(FramingError::LongSizeLine);
                        }
                        break Ok(Drained::NeedMore);
                    };
                    if end > MAX_SIZE_LINE {
                        break Err(FramingError::LongSizeLine);
                    }
                    let size = match chunk_size(&rest[..end]) {
                        Ok(size) => size,
                        Err(e) => break Err(e),
                    };
                    pos += end + 1;
                    self.state = match size {
                        0 => State::Trailers { seen: 0 },
                        left => State::ChunkData { left },
                    };
                }
                State::ChunkDataEnd => match rest {
                    [] | [b'\r'] => break Ok(Drained::NeedMore),
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [b'\n', ..] => {
                        pos += 1;
                        self.state = State::ChunkSize;
                    }
                    _ => break Err(FramingError::MissingChunkEnd),
                },
                State::Trailers { seen } => {
                    let Some(end) = memchr::memchr(b'\n', rest) else {
                        if *seen + rest.len() > MAX_TRAILERS {
                            break Err(FramingError::LongTrailers);
                        }
                        break Ok(Drained::NeedMore);
                    };
                    pos += end + 1;
                    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
                    if line.is_empty() {
                        self.state = State::Done;
                    } else {
                        *seen += end + 1;
                        if *seen > MAX_TRAILERS {
                            break Err(FramingError::LongTrailers);
                        }
                    }
                }
            }
        };
        buf.advance(pos);
        result
    }
}

/// The size of a chunk-size line (without its LF): hexadecimal digits, then optional
/// whitespace and `;` extensions, which are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 || digits > 15 {
        return Err(FramingError::BadChunkSize);
    }
    let after = &line[digits..];
    let after = after.trim_ascii_start();
    if !(after.is_empty() || after[0] == b';') {
        return Err(FramingError::BadChunkSize);
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| FramingError::BadChunkSize)?;
    u64::from_str_radix(text, 16).map_err(|_| FramingError::BadChunkSize)
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
