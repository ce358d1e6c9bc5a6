//! A solid-colour video as an MP4 file with an H.264 stream (inference-perf's `representation:
//! mp4`, which it encodes with libx264), written without a video encoder: every frame is an IDR
//! picture of the Baseline profile (CAVLC) whose first macroblock is `I_PCM` (the colour's raw
//! samples) and whose other macroblocks are `I_16x16` with DC prediction and no residual, so
//! they copy their neighbours' colour. A frame costs about one byte per macroblock (a 720p
//! frame about 3.6 kB), and any H.264 decoder reads it. Frames differ by a small offset of the
//! colour, as inference-perf's do. The container is ISO BMFF: `ftyp`, `moov` (one `avc1` track
//! with its `avcC`, `stts`, `stsc`, `stsz`, `stco`), `mdat`.

use fleetbench_model::data::VideoShape;

/// Frames per second of the track (inference-perf's synthetic videos').
pub(crate) const FPS: u32 = 10;

/// Track timescale: ticks per second.
const TIMESCALE: u32 = 90_000;

/// Baseline profile, constraint_set0 and 1 (constrained baseline), level 5.1 (up to 4K).
const PROFILE_IDC: u8 = 66;
const CONSTRAINTS: u8 = 0xC0;
const LEVEL_IDC: u8 = 51;

/// `mb_type` of an I slice: `I_16x16_2_0_0` (DC prediction, no coded blocks) and `I_PCM`.
const MB_I16X16_DC: u32 = 3;
const MB_I_PCM: u32 = 25;

/// MSB-first bit writer of an RBSP.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u8,
    n: u8,
}

impl Bits {
    fn bit(&mut self, b: bool) {
        self.acc = (self.acc << 1) | u8::from(b);
        self.n += 1;
        if self.n == 8 {
            self.out.push(self.acc);
            (self.acc, self.n) = (0, 0);
        }
    }

    fn u(&mut self, bits: u32, v: u32) {
        for i in (0..bits).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    /// Exp-Golomb `ue(v)`.
    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.u(len - 1, 0);
        for i in (0..len).rev() {
            self.bit((x >> i) & 1 == 1);
        }
    }

    fn aligned(&self) -> bool {
        self.n == 0
    }

    /// `rbsp_trailing_bits`: a one, then zeros to the byte boundary.
    fn trailing(mut self) -> Vec<u8> {
        self.bit(true);
        while !self.aligned() {
            self.bit(false);
        }
        self.out
    }
}

/// A NAL unit: its header byte and the RBSP with emulation prevention bytes inserted.
fn nal(ref_idc: u8, kind: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    out.push((ref_idc << 5) | kind);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// Macroblocks across and down, and the frame cropping (in 2-pixel units) to `w` × `h`.
fn geometry(w: u32, h: u32) -> (u32, u32, u32, u32) {
    let (mbw, mbh) = (w.div_ceil(16), h.div_ceil(16));
    (mbw, mbh, (mbw * 16 - w) / 2, (mbh * 16 - h) / 2)
}

fn sps(w: u32, h: u32) -> Vec<u8> {
    let (mbw, mbh, crop_r, crop_b) = geometry(w, h);
    let mut b = Bits::default();
    b.u(8, u32::from(PROFILE_IDC));
    b.u(8, u32::from(CONSTRAINTS));
    b.u(8, u32::from(LEVEL_IDC));
    b.ue(0); // seq_parameter_set_id
    b.ue(0); // log2_max_frame_num_minus4
    b.ue(2); // pic_order_cnt_type: output order is decoding order
    b.ue(1); // max_num_ref_frames
    b.bit(false); // gaps_in_frame_num_value_allowed_flag
    b.ue(mbw - 1);
    b.ue(mbh - 1);
    b.bit(true); // frame_mbs_only_flag
    b.bit(true); // direct_8x8_inference_flag
    let crop = crop_r > 0 || crop_b > 0;
    b.bit(crop);
    if crop {
        for v in [0, crop_r, 0, crop_b] {
            b.ue(v);
        }
    }
    b.bit(false); // vui_parameters_present_flag
    nal(3, 7, &b.trailing())
}

fn pps() -> Vec<u8> {
    let mut b = Bits::default();
    b.ue(0); // pic_parameter_set_id
    b.ue(0); // seq_parameter_set_id
    b.bit(false); // entropy_coding_mode_flag: CAVLC
    b.bit(false); // bottom_field_pic_order_in_frame_present_flag
    b.ue(0); // num_slice_groups_minus1
    b.ue(0); // num_ref_idx_l0_default_active_minus1
    b.ue(0); // num_ref_idx_l1_default_active_minus1
    b.bit(false); // weighted_pred_flag
    b.u(2, 0); // weighted_bipred_idc
    b.ue(0); // pic_init_qp_minus26 (se 0)
    b.ue(0); // pic_init_qs_minus26 (se 0)
    b.ue(0); // chroma_qp_index_offset (se 0)
    b.bit(true); // deblocking_filter_control_present_flag
    b.bit(false); // constrained_intra_pred_flag
    b.bit(false); // redundant_pic_cnt_present_flag
    nal(3, 8, &b.trailing())
}

/// BT.601 limited-range Y, Cb, Cr of an RGB colour, each kept from 1 to 254 (an `I_PCM`
/// sample of 0 is forbidden in some decoders' reading of the standard).
fn ycbcr([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    [y, cb, cr].map(|v| v.round().clamp(1.0, 254.0) as u8)
}

/// One IDR picture of one colour: an `I_PCM` macroblock, then `I_16x16` DC macroblocks that
/// repeat it.
fn idr_slice(mbw: u32, mbh: u32, idr_pic_id: u32, yuv: [u8; 3]) -> Vec<u8> {
    let mut b = Bits::default();
    b.ue(0); // first_mb_in_slice
    b.ue(7); // slice_type: I (all slices of the picture)
    b.ue(0); // pic_parameter_set_id
    b.u(4, 0); // frame_num
    b.ue(idr_pic_id);
    b.bit(false); // no_output_of_prior_pics_flag
    b.bit(false); // long_term_reference_flag
    b.ue(0); // slice_qp_delta (se 0)
    b.ue(1); // disable_deblocking_filter_idc
    for i in 0..mbw * mbh {
        let (row, col) = (i / mbw, i % mbw);
        if i == 0 {
            b.ue(MB_I_PCM);
            while !b.aligned() {
                b.bit(false); // pcm_alignment_zero_bit
            }
            for (v, n) in [(yuv[0], 256), (yuv[1], 64), (yuv[2], 64)] {
                for _ in 0..n {
                    b.u(8, u32::from(v));
                }
            }
            continue;
        }
        b.ue(MB_I16X16_DC);
        b.ue(0); // intra_chroma_pred_mode: DC
        b.ue(0); // mb_qp_delta (se 0)
                 // Intra16x16DCLevel with no coefficient: coeff_token for TotalCoeff 0 by nC, which is
                 // 16 next to the I_PCM macroblock (the only available neighbour of macroblocks (0, 1)
                 // and (1, 0)) and 0 elsewhere (neighbours without coefficients).
        let next_to_pcm = (row == 0 && col == 1) || (row == 1 && col == 0);
        if next_to_pcm {
            b.u(6, 0b000011);
        } else {
            b.bit(true);
        }
    }
    nal(3, 5, &b.trailing())
}

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A full box: version 0 and `flags`.
fn full(kind: &[u8; 4], flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = flags.to_be_bytes().to_vec();
    b.extend_from_slice(body);
    boxed(kind, &b)
}

fn be32(vals: &[u32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_be_bytes()).collect()
}

const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

fn avc1(w: u32, h: u32, sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut avcc = vec![1, PROFILE_IDC, CONSTRAINTS, LEVEL_IDC, 0xFF, 0xE1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    let mut e = vec![0u8; 6];
    e.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    e.extend_from_slice(&[0u8; 16]); // pre_defined, reserved
    e.extend_from_slice(&(w as u16).to_be_bytes());
    e.extend_from_slice(&(h as u16).to_be_bytes());
    e.extend_from_slice(&be32(&[0x0048_0000, 0x0048_0000, 0]));
    e.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    e.extend_from_slice(&[0u8; 32]); // compressorname
    e.extend_from_slice(&[0x00, 0x18, 0xFF, 0xFF]); // depth, pre_defined -1
    e.extend_from_slice(&boxed(b"avcC", &avcc));
    boxed(b"avc1", &e)
}

/// The sample table of `sizes.len()` frames in one chunk at file offset `chunk`.
fn stbl(stsd_entry: &[u8], sizes: &[u32], chunk: u32) -> Vec<u8> {
    let n = sizes.len() as u32;
    let mut stsd = be32(&[1]);
    stsd.extend_from_slice(stsd_entry);
    let mut stsz = be32(&[0, n]);
    stsz.extend_from_slice(&be32(sizes));
    let parts = [
        full(b"stsd", 0, &stsd),
        full(b"stts", 0, &be32(&[1, n, TIMESCALE / FPS])),
        full(b"stsc", 0, &be32(&[1, 1, n, 1])),
        full(b"stsz", 0, &stsz),
        full(b"stco", 0, &be32(&[1, chunk])),
    ];
    boxed(b"stbl", &parts.concat())
}

fn moov(w: u32, h: u32, stbl: Vec<u8>, frames: u32) -> Vec<u8> {
    let ms = frames * 1000 / FPS;
    let mut mvhd = be32(&[0, 0, 1000, ms, 0x10000]);
    mvhd.extend_from_slice(&[0x01, 0x00, 0, 0]);
    mvhd.extend_from_slice(&be32(&[0, 0]));
    mvhd.extend_from_slice(&be32(&MATRIX));
    mvhd.extend_from_slice(&be32(&[0, 0, 0, 0, 0, 0, 2]));
    let mut tkhd = be32(&[0, 0, 1, 0, ms, 0, 0, 0, 0]);
    tkhd.extend_from_slice(&be32(&MATRIX));
    tkhd.extend_from_slice(&be32(&[w << 16, h << 16]));
    let mdhd = be32(&[0, 0, TIMESCALE, frames * (TIMESCALE / FPS), 0x55C4_0000]);
    let mut hdlr = be32(&[0]);
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0u8; 12]);
    hdlr.extend_from_slice(b"VideoHandler\0");
    let dref = full(b"dref", 0, &[be32(&[1]), full(b"url ", 1, &[])].concat());
    let minf = [full(b"vmhd", 1, &[0u8; 8]), boxed(b"dinf", &dref), stbl];
    let mdia = [
        full(b"mdhd", 0, &mdhd),
        full(b"hdlr", 0, &hdlr),
        boxed(b"minf", &minf.concat()),
    ];
    let trak = [full(b"tkhd", 3, &tkhd), boxed(b"mdia", &mdia.concat())];
    let moov = [full(b"mvhd", 0, &mvhd), boxed(b"trak", &trak.concat())];
    boxed(b"moov", &moov.concat())
}

/// An MP4 of `shape` (odd sides rounded down to even, at least 2, as inference-perf does) whose
/// frames are `rgb` with a per-frame offset.
pub(crate) fn mp4(shape: VideoShape, rgb: [u8; 3]) -> Vec<u8> {
    let even = |n: u32| (n - n % 2).max(2);
    let (w, h) = (even(shape.resolution.width), even(shape.resolution.height));
    let (mbw, mbh, _, _) = geometry(w, h);
    let (sps, pps) = (sps(w, h), pps());
    let samples: Vec<Vec<u8>> = (0..shape.frames.max(1))
        .map(|i| {
            let off = ((i * 7) % 32) as u8;
            let yuv = ycbcr(rgb.map(|c| c.saturating_add(off)));
            let slice = idr_slice(mbw, mbh, i % 2, yuv);
            [(slice.len() as u32).to_be_bytes().to_vec(), slice].concat()
        })
        .collect();
    let sizes: Vec<u32> = samples.iter().map(|s| s.len() as u32).collect();
    let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let entry = avc1(w, h, &sps, &pps);
    // The moov's size does not depend on the chunk offset's value.
    let probe = moov(w, h, stbl(&entry, &sizes, 0), sizes.len() as u32);
    let chunk = (ftyp.len() + probe.len() + 8) as u32;
    let moov = moov(w, h, stbl(&entry, &sizes, chunk), sizes.len() as u32);
    let mdat = boxed(b"mdat", &samples.concat());
    [ftyp, moov, mdat].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_model::data::Resolution;

    /// The boxes at the top of `buf`: (type, body).
    fn boxes(buf: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= buf.len() {
            let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
            out.push((kind, &buf[at + 8..at + size]));
            at += size;
        }
        assert_eq!(at, buf.len(), "boxes fill the buffer exactly");
        out
    }

    fn find<'a>(buf: &'a [u8], path: &[&[u8; 4]]) -> &'a [u8] {
        let (head, rest) = path.split_first().unwrap();
        let body = boxes(buf)
            .into_iter()
            .find(|(k, _)| k == *head)
            .unwrap_or_else(|| panic!("no {:?}", std::str::from_utf8(*head)))
            .1;
        if rest.is_empty() {
            body
        } else {
            find(body, rest)
        }
    }

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        let mut b = Bits::default();
        for v in [0, 1, 2, 3, 7] {
            b.ue(v);
        }
        // 1 010 011 00100 0001000, then the trailing one and zeros.
        assert_eq!(b.trailing(), vec![0b1010_0110, 0b0100_0001, 0b0001_0000]);
        assert_eq!(
            nal(3, 5, &[0, 0, 1, 0, 0, 0]),
            vec![0x65, 0, 0, 3, 1, 0, 0, 3, 0]
        );
    }

    fn shape(width: u32, height: u32, frames: u32) -> VideoShape {
        VideoShape {
            resolution: Resolution { width, height },
            frames,
        }
    }

    /// The track header's width and height (16.16 fixed point).
    fn track_size(file: &[u8]) -> (u32, u32) {
        let tkhd = find(file, &[b"moov", b"trak", b"tkhd"]);
        let wh = &tkhd[tkhd.len() - 8..];
        let side = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap()) >> 16;
        (side(&wh[..4]), side(&wh[4..]))
    }

    #[test]
    fn an_mp4_has_one_avc_track_with_a_sample_per_frame_and_offsets_into_mdat() {
        let file = mp4(shape(1920, 1080, 5), [200, 30, 40]);
        let top: Vec<[u8; 4]> = boxes(&file).iter().map(|(k, _)| *k).collect();
        assert_eq!(top, [*b"ftyp", *b"moov", *b"mdat"]);
        let stbl_path = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];
        let stsz = find(&file, &[&stbl_path[..], &[b"stsz"]].concat());
        assert_eq!(u32::from_be_bytes(stsz[8..12].try_into().unwrap()), 5);
        assert_eq!(track_size(&file), (1920, 1080));
        // The chunk offset points at the first sample: a 4-byte length, then an IDR NAL.
        let stco = find(&file, &[&stbl_path[..], &[b"stco"]].concat());
        let off = u32::from_be_bytes(stco[8..12].try_into().unwrap()) as usize;
        let len = u32::from_be_bytes(file[off..off + 4].try_into().unwrap()) as usize;
        assert_eq!(file[off + 4], 0x65, "an IDR slice");
        let first = u32::from_be_bytes(stsz[12..16].try_into().unwrap()) as usize;
        assert_eq!(first, len + 4);
        // 1080 is 68 macroblocks down, cropped by 8 rows; a frame is about a byte per
        // macroblock plus the I_PCM one.
        assert_eq!(geometry(1920, 1080), (120, 68, 0, 4));
        assert!(len < 120 * 68 + 600, "{len}");
        let avcc = find(&file, &[&stbl_path[..], &[b"stsd"]].concat());
        assert!(avcc.windows(4).any(|w| w == b"avcC"));
    }

    #[test]
    fn odd_sides_are_rounded_to_even_and_frames_differ() {
        let file = mp4(shape(33, 1, 2), [1, 2, 3]);
        assert_eq!(track_size(&file), (32, 2));
        let mdat = find(&file, &[b"mdat"]);
        let n = u32::from_be_bytes(mdat[..4].try_into().unwrap()) as usize;
        assert_ne!(&mdat[4..4 + n], &mdat[8 + n..], "each frame its own colour");
    }
}
