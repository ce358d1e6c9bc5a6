//! Media bytes: solid-colour PNG and JPEG images (inference-perf's synthetic images are solid
//! colours too) and silent 16 kHz 16-bit mono WAV clips. Images are streamed row by row, so a
//! 8192 × 8192 image never sits in memory as pixels. [`data_url`] is the form every media part is
//! sent in.

use fleetbench_model::data::{ImageEncoding, Resolution};
use fleetbench_model::tokenize::splitmix64;

/// Audio sample rate of the WAV clips (inference-perf's).
pub(crate) const SAMPLE_RATE: u32 = 16_000;

/// JPEG quality (inference-perf's default).
const JPEG_QUALITY: u8 = 75;

/// `bytes` as a `data:` URL of type `mime`, base64 (the form every media part is sent in).
pub(crate) fn data_url(mime: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{b64}")
}

/// The colour of variant `v`.
pub(crate) fn colour(variant: u32) -> [u8; 3] {
    let h = splitmix64(0xC0_10_52 ^ u64::from(variant)).to_le_bytes();
    [h[0], h[1], h[2]]
}

/// An image of one colour in `encoding`.
pub(crate) fn image(r: Resolution, encoding: ImageEncoding, rgb: [u8; 3]) -> Vec<u8> {
    match encoding {
        ImageEncoding::Png => png_bytes(r, rgb),
        ImageEncoding::Jpeg => jpeg_bytes(r, rgb),
    }
}

fn png_bytes(r: Resolution, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, r.width, r.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let row: Vec<u8> = rgb
        .iter()
        .copied()
        .cycle()
        .take(r.width as usize * 3)
        .collect();
    // Writing into a Vec fails only on a wrong row count, which the loop cannot produce.
    let written = enc.write_header().and_then(|mut w| {
        let mut s = w.stream_writer()?;
        for _ in 0..r.height {
            std::io::Write::write_all(&mut s, &row)?;
        }
        s.finish()
    });
    debug_assert!(written.is_ok(), "{written:?}");
    out
}

/// A solid colour as jpeg-encoder's input, one row at a time.
struct Solid {
    r: Resolution,
    ycbcr: (u8, u8, u8),
}

impl jpeg_encoder::ImageBuffer for Solid {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.r.width as u16
    }

    fn height(&self) -> u16 {
        self.r.height as u16
    }

    fn fill_buffers(&self, _y: u16, buffers: &mut [Vec<u8>; 4]) {
        let n = self.r.width as usize;
        let (y, cb, cr) = self.ycbcr;
        buffers[0].extend(std::iter::repeat_n(y, n));
        buffers[1].extend(std::iter::repeat_n(cb, n));
        buffers[2].extend(std::iter::repeat_n(cr, n));
    }
}

fn jpeg_bytes(r: Resolution, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let solid = Solid {
        r,
        ycbcr: jpeg_encoder::rgb_to_ycbcr(rgb[0], rgb[1], rgb[2]),
    };
    // Sizes are at most 8192 (the profile's limit), within JPEG's 65535.
    let encoded = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY).encode_image(solid);
    debug_assert!(encoded.is_ok(), "{encoded:?}");
    out
}

/// A silent WAV of `millis` milliseconds.
pub(crate) fn wav(millis: u32) -> Vec<u8> {
    let samples = (u64::from(SAMPLE_RATE) * u64::from(millis) / 1000).max(1) as u32;
    let data = samples * 2;
    let mut b = Vec::with_capacity(44 + data as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    b.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    b.resize(44 + data as usize, 0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_decodes_to_its_size_and_colour() {
        let r = Resolution {
            width: 37,
            height: 5,
        };
        let bytes = image(r, ImageEncoding::Png, [1, 2, 3]);
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (37, 5));
        assert_eq!(&buf[..6], &[1, 2, 3, 1, 2, 3]);
        assert_eq!(&buf[buf.len() - 3..], &[1, 2, 3]);
    }

    #[test]
    fn jpeg_has_its_size_in_the_start_of_frame() {
        let r = Resolution {
            width: 1280,
            height: 720,
        };
        let b = image(r, ImageEncoding::Jpeg, [200, 10, 10]);
        assert_eq!(&b[..2], &[0xFF, 0xD8]);
        assert_eq!(&b[b.len() - 2..], &[0xFF, 0xD9]);
        let sof = b.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        assert_eq!((be(sof + 7), be(sof + 5)), (1280, 720));
    }

    #[test]
    fn wav_is_as_long_as_asked() {
        let w = wav(250);
        assert_eq!(w.len(), 44 + 8000);
        assert_eq!(&w[36..40], b"data");
        assert_eq!(u32::from_le_bytes([w[40], w[41], w[42], w[43]]), 8000);
        assert_ne!(colour(1), colour(2));
    }
}
