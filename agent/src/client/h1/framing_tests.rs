use super::*;

/// Decodes `wire` fed in pieces of `step` bytes: the data, and how the last drain ended.
fn decode(framing: Framing, wire: &[u8], step: usize) -> (Vec<u8>, Result<Drained, FramingError>) {
    let mut d = Decoder::new(framing);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut last = Ok(Drained::NeedMore);
    for piece in wire.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        last = d.drain(&mut buf, |b| {
            assert!(!b.is_empty());
            out.extend_from_slice(b);
            true
        });
        if last != Ok(Drained::NeedMore) {
            break;
        }
    }
    (out, last)
}

#[test]
fn chunked_bodies_decode_alike_however_the_reads_split_them() {
    let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
    for step in [1, 2, 3, 7, 64] {
        let (out, end) = decode(Framing::Chunked, wire, step);
        assert_eq!(out, b"hello, world", "step {step}");
        assert_eq!(end, Ok(Drained::Done), "step {step}");
    }
}

#[test]
fn what_follows_the_body_stays_in_the_buffer() {
    let mut d = Decoder::new(Framing::Chunked);
    let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1"[..]);
    assert_eq!(d.drain(&mut buf, |_| true), Ok(Drained::Done));
    assert_eq!(&buf[..], b"HTTP/1.1");
    assert!(d.is_done());

    let mut d = Decoder::new(Framing::Length(3));
    let mut buf = BytesMut::from(&b"abcdef"[..]);
    let mut out = Vec::new();
    let end = d.drain(&mut buf, |b| {
        out.extend_from_slice(b);
        true
    });
    assert_eq!(
        (end, &out[..], &buf[..]),
        (Ok(Drained::Done), &b"abc"[..], &b"def"[..])
    );
}

#[test]
fn a_length_a_close_and_an_empty_body() {
    assert_eq!(
        decode(Framing::Length(4), b"abcd", 1),
        (b"abcd".to_vec(), Ok(Drained::Done))
    );
    assert!(Decoder::new(Framing::Length(0)).is_done());
    let (out, end) = decode(Framing::Close, b"until the end", 4);
    assert_eq!(
        (out, end),
        (b"until the end".to_vec(), Ok(Drained::NeedMore))
    );
    let mut d = Decoder::new(Framing::Close);
    assert!(d.end_of_file() && d.is_done());
    let mut d = Decoder::new(Framing::Chunked);
    assert!(
        !d.end_of_file(),
        "a chunked body cut by the close is not whole"
    );
}

#[test]
fn the_sink_can_stop_the_decoding() {
    let mut d = Decoder::new(Framing::Chunked);
    let mut buf = BytesMut::from(&b"1\r\na\r\n1\r\nb\r\n"[..]);
    let mut seen = 0;
    let end = d.drain(&mut buf, |_| {
        seen += 1;
        false
    });
    assert_eq!((end, seen), (Ok(Drained::Stopped), 1));
}

#[test]
fn broken_framing_is_an_error_and_bounded() {
    assert_eq!(
        decode(Framing::Chunked, b"zz\r\n", 64).1,
        Err(FramingError::BadChunkSize)
    );
    assert_eq!(
        decode(Framing::Chunked, b"\r\n", 64).1,
        Err(FramingError::BadChunkSize)
    );
    assert_eq!(
        decode(Framing::Chunked, b"1000000000000000\r\n", 64).1,
        Err(FramingError::BadChunkSize),
        "16 hex digits overflow what is accepted"
    );
    assert_eq!(
        decode(Framing::Chunked, b"2\r\nabX", 64).1,
        Err(FramingError::MissingChunkEnd)
    );
    let endless = vec![b'1'; MAX_SIZE_LINE + 10];
    assert_eq!(
        decode(Framing::Chunked, &endless, 100).1,
        Err(FramingError::LongSizeLine)
    );
    let mut trailers = b"0\r\n".to_vec();
    trailers.extend(std::iter::repeat_n(b"x: y\r\n".as_slice(), 20_000).flatten());
    assert_eq!(
        decode(Framing::Chunked, &trailers, 4096).1,
        Err(FramingError::LongTrailers)
    );
}
