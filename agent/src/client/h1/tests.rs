use super::*;
use tokio::io::duplex;

fn post(body: &'static str) -> Request<Bytes> {
    Request::post("/v1/completions")
        .header("host", "example:80")
        .header("x-request-id", "r-1")
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap()
}

/// The server side's read of one whole request (head and `len` body bytes).
async fn read_request(server: &mut tokio::io::DuplexStream, len: usize) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n")
        || got.len() - (got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4) < len
    {
        let n = server.read(&mut byte).await.unwrap();
        assert!(
            n > 0,
            "request cut short: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&byte[..n]);
    }
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn a_request_goes_out_whole_and_its_chunked_answer_comes_back() {
    let (client, mut server) = duplex(1 << 16);
    let mut conn = H1Conn::new(client);
    let answer = tokio::spawn(async move {
        let req = read_request(&mut server, 2).await;
        server
            .write_all(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                  6\r\ndata: \r\n3\r\n1\n\n\r\n0\r\n\r\n",
            )
            .await
            .unwrap();
        (req, server)
    });
    let head = conn.send(&post("{}")).await.unwrap();
    let (req, _server) = answer.await.unwrap();
    assert_eq!(
        req,
        "POST /v1/completions HTTP/1.1\r\nhost: example:80\r\nx-request-id: r-1\r\n\
         content-length: 2\r\n\r\n{}"
    );
    assert_eq!(head.status, 200);
    let mut d = Decoder::new(head.framing);
    let mut body = Vec::new();
    while !d.is_done() {
        let drained = d
            .drain(conn.buffered(), |b| {
                body.extend_from_slice(b);
                true
            })
            .unwrap();
        if drained == Drained::NeedMore {
            assert!(conn.fill().await.unwrap() > 0);
        }
    }
    assert_eq!(body, b"data: 1\n\n");
    assert!(!conn.is_closed(), "an idle open connection can be reused");
}

#[tokio::test]
async fn a_close_before_or_inside_the_head_is_told_apart_and_retryable() {
    let (client, server) = duplex(1024);
    let mut conn = H1Conn::new(client);
    drop(server);
    let e = conn.send(&post("{}")).await.unwrap_err();
    assert!(e.retryable(), "{e}");

    let (client, mut server) = duplex(1024);
    let mut conn = H1Conn::new(client);
    tokio::spawn(async move {
        read_request(&mut server, 2).await;
        server
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-le")
            .await
            .unwrap();
    });
    let e = conn.send(&post("{}")).await.unwrap_err();
    assert!(matches!(e, SendError::Incomplete), "{e}");

    let (client, mut server) = duplex(1024);
    let mut conn = H1Conn::new(client);
    tokio::spawn(async move {
        read_request(&mut server, 2).await;
        server
            .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            .await
            .unwrap();
        server
    });
    let e = conn.send(&post("{}")).await.unwrap_err();
    assert!(matches!(e, SendError::Parse(_)) && !e.retryable(), "{e}");
}

#[tokio::test]
async fn a_closed_or_chattering_idle_connection_is_seen() {
    let (client, server) = duplex(1024);
    let mut conn = H1Conn::new(client);
    assert!(!conn.is_closed());
    drop(server);
    assert!(
        conn.is_closed(),
        "the server's close is seen without waiting"
    );

    let (client, mut server) = duplex(1024);
    let mut conn = H1Conn::new(client);
    server
        .write_all(b"HTTP/1.1 408 Timeout\r\n\r\n")
        .await
        .unwrap();
    assert!(conn.is_closed(), "bytes nobody asked for make it unusable");
}

#[tokio::test]
async fn an_endless_head_is_refused_at_its_limit() {
    let (client, mut server) = duplex(1 << 16);
    let mut conn = H1Conn::new(client);
    tokio::spawn(async move {
        read_request(&mut server, 2).await;
        let _ = server.write_all(b"HTTP/1.1 200 OK\r\n").await;
        let line = vec![b'x'; 1024];
        while server.write_all(&line).await.is_ok() {}
    });
    let e = conn.send(&post("{}")).await.unwrap_err();
    assert!(matches!(e, SendError::Parse(_)), "{e}");
    // Bounded: the head's limit and one read, grown by doubling.
    let cap = conn.buf.capacity();
    assert!(cap <= 2 * (MAX_HEAD + MAX_READ), "{cap}");
}

/// Over TCP, an event that waited in the socket while the request's task was busy is timed at
/// its arrival, and no read is timed before the request went out.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_event_that_waited_in_the_socket_is_timed_at_its_arrival() {
    use std::time::Duration;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let mut conn = H1Conn::new(StampedTcp::new(client.unwrap()));
    let (mut server, _) = server.unwrap();
    let answer = tokio::spawn(async move {
        let mut req = [0u8; 4096];
        let _ = server.read(&mut req).await.unwrap();
        server
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let second = Instant::now();
        server.write_all(b"9\r\ndata: 2\n\n\r\n").await.unwrap();
        (second, server)
    });
    let sent = Instant::now();
    let head = conn.send(&post("{}")).await.unwrap();
    assert_eq!(head.status, 200);
    assert!(conn.read_at() >= sent);
    let (second, _server) = answer.await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before_read = Instant::now();
    assert!(conn.fill().await.unwrap() > 0);
    let at = conn.read_at();
    assert!(
        at < before_read - Duration::from_millis(100) && at + Duration::from_millis(5) >= second,
        "event timed {:?} after it was written, {:?} before the read began",
        at.saturating_duration_since(second),
        before_read.saturating_duration_since(at)
    );
}
