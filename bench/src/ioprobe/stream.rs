//! One connection's response in progress, fed one read at a time, and the receive timestamp
//! of a read's control messages.

use super::outcome::Tally;

/// `data: ` in the low 48 bits of a rolling window of the last 8 bytes.
const DATA: u64 = pack(b"data: ");
/// The chunked body's end, `\r\n0\r\n\r\n`, in the low 56 bits.
const END: u64 = pack(b"\r\n0\r\n\r\n");

const fn pack(s: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < s.len() {
        v = (v << 8) | s[i] as u64;
        i += 1;
    }
    v
}

/// A connection's response so far.
#[derive(Default)]
pub(crate) struct Stream {
    /// The last 8 bytes seen, the newest in the low byte (patterns may span reads).
    window: u64,
    /// The previous read's timestamp, ns since the epoch.
    last_stamp: Option<u64>,
}

impl Stream {
    /// Takes one read's bytes and its receive timestamp; true when they ended the response.
    pub(crate) fn feed(&mut self, bytes: &[u8], stamp: Option<u64>, tally: &mut Tally) -> bool {
        tally.reads += 1;
        match (stamp, self.last_stamp) {
            (Some(now), Some(before)) => tally.gap_ns += now.saturating_sub(before),
            (None, _) => tally.unstamped += 1,
            _ => {}
        }
        self.last_stamp = stamp.or(self.last_stamp);
        let mut w = self.window;
        let mut ended = false;
        for &b in bytes {
            w = (w << 8) | b as u64;
            if w & 0xffff_ffff_ffff == DATA {
                tally.events += 1;
            }
            if w & 0x00ff_ffff_ffff_ffff == END {
                ended = true;
            }
        }
        self.window = w;
        if ended {
            tally.requests += 1;
            *self = Stream::default();
        }
        ended
    }
}

/// The `SCM_TIMESTAMPNS` receive timestamp (ns since the epoch) among a read's control
/// messages, if there is one.
pub fn stamp_of(control: &[u8]) -> Option<u64> {
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the data, each
    // message aligned to size_t.
    const HDR: usize = std::mem::size_of::<libc::cmsghdr>();
    const ALIGN: usize = std::mem::size_of::<usize>();
    let mut at = 0;
    while at + HDR <= control.len() {
        let word = |i: usize, n: usize| &control[at + i..at + i + n];
        let len = usize::from_ne_bytes(word(0, ALIGN).try_into().ok()?);
        let level = i32::from_ne_bytes(word(ALIGN, 4).try_into().ok()?);
        let kind = i32::from_ne_bytes(word(ALIGN + 4, 4).try_into().ok()?);
        if len < HDR || at + len > control.len() {
            return None;
        }
        if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS && len >= HDR + 16 {
            let sec = i64::from_ne_bytes(word(HDR, 8).try_into().ok()?);
            let nsec = i64::from_ne_bytes(word(HDR + 8, 8).try_into().ok()?);
            return u64::try_from(sec)
                .ok()?
                .checked_mul(1_000_000_000)?
                .checked_add(u64::try_from(nsec).ok()?);
        }
        at += len.div_ceil(ALIGN) * ALIGN;
    }
    None
}
