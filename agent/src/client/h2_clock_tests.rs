use super::*;
use crate::client::stamped::StampedTcp;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[test]
fn the_clock_holds_the_latest_read_and_never_a_later_instant_than_asked() {
    let clock = ReadClock::new();
    let now = Instant::now();
    assert_eq!(clock.instant(now), now, "no read yet: the instant asked");
    let first = Instant::now();
    clock.note(first);
    let later = first + Duration::from_millis(5);
    assert_eq!(clock.instant(later), first);
    clock.note(first + Duration::from_millis(2));
    clock.note(first + Duration::from_millis(1));
    assert_eq!(
        clock.instant(later),
        first + Duration::from_millis(2),
        "an earlier read does not move it back"
    );
    assert_eq!(
        clock.instant(first + Duration::from_millis(1)),
        first + Duration::from_millis(1),
        "never after the instant asked"
    );
    let shared = clock.clone();
    shared.note(first + Duration::from_millis(3));
    assert_eq!(clock.instant(later), first + Duration::from_millis(3));
}

/// Bytes that waited in the socket before the connection task read them carry their arrival
/// on the clock the request tasks read, not the read's instant.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_read_through_the_clocked_stream_notes_when_its_bytes_arrived() {
    StampedTcp::keep_stamping_on();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (mut server, clock) = (server.unwrap().0, ReadClock::new());
    let mut io = Clocked::new(StampedTcp::new(client.unwrap()), clock.clone());

    let written = Instant::now();
    server.write_all(b"frame").await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut buf = [0u8; 16];
    let n = io.read(&mut buf).await.unwrap();
    let read = Instant::now();
    assert_eq!(&buf[..n], b"frame");
    let at = clock.instant(read);
    assert!(
        at + Duration::from_millis(100) < read,
        "timed {:?} before the read: the read's instant, not the arrival's",
        read - at
    );
    assert!(
        at + Duration::from_millis(5) >= written,
        "timed {:?} before the write",
        written - at
    );

    // Writes pass through.
    io.write_all(b"ack").await.unwrap();
    let mut back = [0u8; 3];
    server.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ack");
}
