use super::{run, stamp_of, Io, Probe, ProbeError};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Serves `conns` keep-alive connections, each response three token events and `[DONE]`, every
/// event its own chunk and write, 2 ms apart.
fn server(conns: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for _ in 0..conns {
            let (s, _) = l.accept().unwrap();
            std::thread::spawn(move || serve(s));
        }
    });
    addr
}

fn serve(mut s: TcpStream) {
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    loop {
        // One request: its head, then Content-Length bytes of body.
        let body_at = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..body_at]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        while buf.len() < body_at + len {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..body_at + len);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for event in ["{\"k\":0}", "{\"k\":1}", "{\"k\":2}", "[DONE]"] {
            std::thread::sleep(Duration::from_millis(2));
            let data = format!("data: {event}\n\n");
            let _ = s.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes());
        }
        let _ = s.write_all(b"0\r\n\r\n");
    }
}

fn probe(addr: String) -> Probe {
    Probe {
        addr,
        streams: 2,
        tokens: 3,
        limit: Duration::from_secs(20),
        requests: Some(6),
        coalesce: Duration::from_micros(100),
    }
}

#[test]
fn both_models_count_every_response_and_event_and_take_the_kernels_stamps() {
    for io in [Io::Epoll, Io::Uring] {
        let tally = match run(&probe(server(2)), io) {
            Err(ProbeError::Unavailable(why)) => {
                eprintln!("skipped {io:?}: {why}");
                continue;
            }
            r => r.unwrap(),
        };
        assert_eq!(tally.requests, 6, "{io:?}: {tally:?}");
        assert_eq!(tally.events, 6 * 4, "{io:?}: {tally:?}");
        assert!(tally.reads >= 6, "{io:?}: {tally:?}");
        assert!(
            tally.unstamped < tally.reads,
            "{io:?}: no stamps: {tally:?}"
        );
    }
}

#[test]
fn a_closed_connection_ends_the_run_with_an_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for _ in 0..4 {
            // Accepted, then closed at once.
            drop(l.accept());
        }
    });
    for io in [Io::Epoll, Io::Uring] {
        match run(&probe(addr.clone()), io) {
            // The end of the stream, or a reset when the request crossed the close.
            Err(ProbeError::Closed | ProbeError::Sys { .. }) => {}
            Err(ProbeError::Unavailable(why)) => eprintln!("skipped {io:?}: {why}"),
            other => panic!("{io:?}: {other:?}"),
        }
    }
}

/// A control buffer as the kernel writes it: messages of `cmsghdr` and data, each aligned.
fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
    let len = std::mem::size_of::<libc::cmsghdr>() + data.len();
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_ne_bytes());
    v.extend_from_slice(&level.to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(len.div_ceil(8) * 8, 0);
    v
}

#[test]
fn the_stamp_is_read_from_its_control_message_and_nothing_else() {
    let ts = [5i64.to_ne_bytes(), 7i64.to_ne_bytes()].concat();
    let mut both = cmsg(libc::SOL_SOCKET, libc::SO_MARK, &1u32.to_ne_bytes());
    both.extend(cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts));
    assert_eq!(stamp_of(&both), Some(5_000_000_007));
    assert_eq!(stamp_of(&cmsg(libc::SOL_SOCKET, libc::SO_MARK, &ts)), None);
    let whole = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts);
    assert_eq!(stamp_of(&whole[..whole.len() - 1]), None, "cut short");
    assert_eq!(stamp_of(&[]), None);
}
