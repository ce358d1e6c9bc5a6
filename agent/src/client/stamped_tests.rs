use super::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A stamped client connection and the server's end of it, on loopback.
#[cfg(target_os = "linux")]
async fn pair() -> (StampedTcp, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (StampedTcp::new(client.unwrap()), server.unwrap().0)
}

/// Bytes that sat in the socket while the reader slept carry the instant they arrived, not the
/// read's: the point of the stamps.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_read_carries_the_instant_the_bytes_arrived_not_the_instant_it_ran() {
    let (mut client, mut server) = pair().await;
    assert_eq!(client.received_at(), None, "no read yet");

    let written = Instant::now();
    server.write_all(b"data: 1\n\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut buf = [0u8; 64];
    let n = client.read(&mut buf).await.unwrap();
    let read = Instant::now();
    assert_eq!(&buf[..n], b"data: 1\n\n");
    let at = client
        .received_at()
        .expect("the kernel stamps loopback segments");
    assert!(
        at + Duration::from_millis(100) < read,
        "stamped {:?} before the read: the read's instant, not the arrival's",
        read - at
    );
    assert!(
        at + Duration::from_millis(5) >= written,
        "stamped {:?} before the write",
        written - at
    );

    // A second read stamps its own bytes.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = Instant::now();
    server.write_all(b"data: 2\n\n").await.unwrap();
    let n = client.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"data: 2\n\n");
    let again = client.received_at().unwrap();
    assert!(again + Duration::from_millis(5) >= second && again > at);

    // The end of the stream reads as 0 bytes and no stamp.
    drop(server);
    assert_eq!(client.read(&mut buf).await.unwrap(), 0);
    assert_eq!(client.received_at(), None);
}

/// Writes go through untouched, and a wall-clock stamp a step away from now is no instant.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn writes_pass_through_and_a_stepped_clock_gives_no_instant() {
    let (mut client, mut server) = pair().await;
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    client.flush().await.unwrap();
    let mut got = [0u8; 18];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");

    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let ts = |d: Duration| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    let recent = linux::instant_of(ts(wall - Duration::from_millis(30))).unwrap();
    let ago = Instant::now() - recent;
    assert!(ago >= Duration::from_millis(30) && ago < Duration::from_millis(500));
    assert_eq!(linux::instant_of(ts(wall + Duration::from_secs(5))), None);
    assert_eq!(linux::instant_of(ts(wall - Duration::from_secs(5))), None);
}
