//! A reader of the classic pcap file format (what `tcpdump -w` writes): a 24-byte file header,
//! then per packet a 16-byte record header and the captured bytes. Microsecond and nanosecond
//! files in either byte order; Ethernet, Linux cooked (v1 and v2) and raw-IP link layers;
//! IPv4 TCP segments only (everything else is counted and skipped). Read as a stream: memory
//! stays at one packet whatever the file's size.

use std::io::Read;

/// The largest packet record accepted (tcpdump's default snap length is 262,144).
const MAX_RECORD: u32 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PcapError {
    #[error("{file}: {what}")]
    Format { file: String, what: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

/// One IPv4 TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Kernel timestamp, Unix ns (CLOCK_REALTIME).
    pub(crate) ts_ns: i64,
    pub(crate) src: ([u8; 4], u16),
    pub(crate) dst: ([u8; 4], u16),
    pub(crate) seq: u32,
    pub(crate) syn: bool,
    pub(crate) fin: bool,
    pub(crate) rst: bool,
    pub(crate) payload: Vec<u8>,
    /// The capture cut the packet short (snap length): its payload is incomplete.
    pub(crate) truncated: bool,
}

/// Streams the TCP segments of a pcap file.
pub(crate) struct PcapReader<R> {
    input: R,
    file: String,
    swapped: bool,
    nanos: bool,
    link: u32,
    /// Packets that were not IPv4 TCP (ARP, IPv6, ...).
    pub(crate) skipped: u64,
    pub(crate) packets: u64,
}

fn u32_at(b: &[u8], at: usize, swapped: bool) -> u32 {
    let v = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads the file header; `file` names the input in errors.
    pub(crate) fn new(mut input: R, file: &str) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        read_exact(&mut input, &mut h, file)?
            .then_some(())
            .ok_or_else(|| format_err(file, "shorter than the 24-byte pcap header".to_string()))?;
        let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            m => {
                return Err(format_err(
                    file,
                    format!("magic {m:#010x} is not pcap's (pcapng is not read: use tcpdump -w)"),
                ))
            }
        };
        let link = u32_at(&h, 20, swapped) & 0x0fff_ffff;
        if ![1, 101, 113, 276].contains(&link) {
            return Err(format_err(
                file,
                format!(
                    "link type {link} is not Ethernet (1), raw IP (101) or Linux cooked (113, 276)"
                ),
            ));
        }
        Ok(PcapReader {
            input,
            file: file.to_string(),
            swapped,
            nanos,
            link,
            skipped: 0,
            packets: 0,
        })
    }

    /// The next TCP segment; `None` at the end of the file (a last record cut short, as a
    /// killed capture leaves it, also ends the file).
    pub(crate) fn next_segment(&mut self) -> Result<Option<Segment>, PcapError> {
        loop {
            let mut h = [0u8; 16];
            if !read_exact(&mut self.input, &mut h, &self.file)? {
                return Ok(None);
            }
            let (sec, frac) = (u32_at(&h, 0, self.swapped), u32_at(&h, 4, self.swapped));
            let (incl, orig) = (u32_at(&h, 8, self.swapped), u32_at(&h, 12, self.swapped));
            if incl > MAX_RECORD {
                return Err(format_err(
                    &self.file,
                    format!(
                        "packet {} claims {incl} captured bytes, more than the limit {MAX_RECORD}",
                        self.packets + 1
                    ),
                ));
            }
            let mut data = vec![0u8; incl as usize];
            if !read_exact(&mut self.input, &mut data, &self.file)? {
                return Ok(None);
            }
            self.packets += 1;
            let ts_ns = i64::from(sec) * 1_000_000_000
                + i64::from(frac) * if self.nanos { 1 } else { 1000 };
            match self.tcp(&data, ts_ns, incl < orig) {
                Some(s) => return Ok(Some(s)),
                None => self.skipped += 1,
            }
        }
    }

    /// The IPv4 TCP segment in one captured packet, if it is one.
    fn tcp(&self, data: &[u8], ts_ns: i64, truncated: bool) -> Option<Segment> {
        let (ether_type, ip_at) = match self.link {
            1 => (u16::from_be_bytes([*data.get(12)?, *data.get(13)?]), 14),
            113 => (u16::from_be_bytes([*data.get(14)?, *data.get(15)?]), 16),
            276 => (u16::from_be_bytes([*data.first()?, *data.get(1)?]), 20),
            _ => (0x0800, 0),
        };
        if ether_type != 0x0800 {
            return None;
        }
        let ip = data.get(ip_at..)?;
        let ihl = usize::from(*ip.first()? & 0x0f) * 4;
        if *ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != 6 {
            return None;
        }
        // The IP total length cuts off Ethernet padding; a truncated capture has less.
        let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
        let ip = &ip[..total.min(ip.len())];
        let addr = |at: usize| -> Option<[u8; 4]> { ip.get(at..at + 4)?.try_into().ok() };
        let (src_ip, dst_ip) = (addr(12)?, addr(16)?);
        let tcp = ip.get(ihl..)?;
        let port = |at: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*tcp.get(at)?, *tcp.get(at + 1)?]))
        };
        let off = usize::from(*tcp.get(12)? >> 4) * 4;
        let flags = *tcp.get(13)?;
        let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
        Some(Segment {
            ts_ns,
            src: (src_ip, port(0)?),
            dst: (dst_ip, port(2)?),
            seq,
            syn: flags & 0x02 != 0,
            fin: flags & 0x01 != 0,
            rst: flags & 0x04 != 0,
            payload: tcp.get(off..).unwrap_or_default().to_vec(),
            truncated,
        })
    }
}

fn format_err(file: &str, what: String) -> PcapError {
    PcapError::Format {
        file: file.to_string(),
        what,
    }
}

/// Fills `buf`; false at a clean or partial end of the input.
fn read_exact<R: Read>(input: &mut R, buf: &mut [u8], file: &str) -> Result<bool, PcapError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(PcapError::Io {
                    file: file.to_string(),
                    source,
                })
            }
        }
    }
    Ok(true)
}

/// A pcap file of Ethernet frames, as tcpdump writes it (for tests).
#[cfg(test)]
pub(crate) mod write {
    use super::Segment;

    pub(crate) fn header(nanos: bool) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = magic.to_le_bytes().to_vec();
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h
    }

    /// One record of `s` (timestamps in ns; a µs file keeps whole microseconds).
    pub(crate) fn record(s: &Segment, nanos: bool) -> Vec<u8> {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = (20 + 20 + s.payload.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        ip.extend_from_slice(&s.src.0);
        ip.extend_from_slice(&s.dst.0);
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&s.src.1.to_be_bytes());
        frame.extend_from_slice(&s.dst.1.to_be_bytes());
        frame.extend_from_slice(&s.seq.to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        let flags = u8::from(s.fin) | (u8::from(s.syn) << 1) | (u8::from(s.rst) << 2) | 0x10;
        frame.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        frame.extend_from_slice(&s.payload);
        let sec = (s.ts_ns / 1_000_000_000) as u32;
        let sub = s.ts_ns % 1_000_000_000;
        let frac = if nanos { sub } else { sub / 1000 } as u32;
        let mut r = Vec::new();
        for v in [sec, frac, frame.len() as u32, frame.len() as u32] {
            r.extend_from_slice(&v.to_le_bytes());
        }
        r.extend_from_slice(&frame);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(ts_ns: i64, payload: &[u8]) -> Segment {
        Segment {
            ts_ns,
            src: ([127, 0, 0, 1], 40000),
            dst: ([127, 0, 0, 1], 8000),
            seq: 7,
            syn: false,
            fin: false,
            rst: false,
            payload: payload.to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn segments_come_back_with_their_timestamps_in_both_precisions() {
        for nanos in [true, false] {
            let a = seg(1_700_000_000_123_456_789, b"POST / HTTP/1.1\r\n");
            let b = Segment {
                syn: true,
                ..seg(1_700_000_001_000_001_000, b"")
            };
            let mut file = write::header(nanos);
            file.extend(write::record(&a, nanos));
            file.extend(write::record(&b, nanos));
            let mut r = PcapReader::new(&file[..], "t.pcap").unwrap();
            let got_a = r.next_segment().unwrap().unwrap();
            let want_ts = if nanos {
                a.ts_ns
            } else {
                a.ts_ns / 1000 * 1000
            };
            assert_eq!(
                got_a,
                Segment {
                    ts_ns: want_ts,
                    ..a
                }
            );
            assert_eq!(r.next_segment().unwrap().unwrap(), b);
            assert_eq!(r.next_segment().unwrap(), None);
            assert_eq!(r.packets, 2);
        }
    }

    #[test]
    fn a_file_cut_mid_record_ends_cleanly_and_bad_headers_are_named() {
        let mut file = write::header(true);
        file.extend(write::record(&seg(5, b"abc"), true));
        file.truncate(file.len() - 2);
        let mut r = PcapReader::new(&file[..], "cut.pcap").unwrap();
        assert_eq!(r.next_segment().unwrap(), None);

        let e = PcapReader::new(&b"\x0a\x0d\x0d\x0a"[..], "x.pcapng")
            .err()
            .unwrap();
        assert!(e.to_string().contains("x.pcapng"), "{e}");
        let mut bad = write::header(true);
        bad[..4].copy_from_slice(b"\x0a\x0d\x0d\x0a");
        bad.extend([0u8; 16]);
        let e = PcapReader::new(&bad[..], "x.pcapng").err().unwrap();
        assert!(e.to_string().contains("is not pcap's"), "{e}");

        let mut huge = write::header(true);
        huge.extend([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let e = PcapReader::new(&huge[..], "h.pcap").unwrap().next_segment();
        assert!(e.unwrap_err().to_string().contains("more than the limit"));
    }

    #[test]
    fn non_tcp_packets_are_skipped() {
        let mut file = write::header(true);
        let mut rec = write::record(&seg(1, b"x"), true);
        rec[16 + 12] = 0x86; // EtherType 0x86dd: IPv6
        rec[16 + 13] = 0xdd;
        file.extend(rec);
        file.extend(write::record(&seg(2, b"y"), true));
        let mut r = PcapReader::new(&file[..], "t.pcap").unwrap();
        assert_eq!(r.next_segment().unwrap().unwrap().payload, b"y");
        assert_eq!(r.skipped, 1);
    }
}
