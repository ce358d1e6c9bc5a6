//! Decodes a V2-serialized HDR histogram into (value, count) pairs to add to a live one, without
//! building a histogram of its own. The V2 payload is a run-length list of counters (zig-zag LEB128; a negative number is a
//! run of empty counters), so the cost is proportional to the encoded bytes, not to the 22,528
//! counters of a 1 µs – 1 h histogram. Used by the coordinator for every snapshot it merges.
//!
//! Only payloads whose layout matches the target's (lowest discernible value 1, the same
//! significant digits, no normalizing offset, integer ratio 1) are taken; anything else returns
//! `None` and the caller falls back to the general deserializer.

use hdrhistogram::Histogram;

const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const HEADER_LEN: usize = 40;

/// Checks a V2 header from the network before anything is decoded or allocated: the plain V2
/// cookie (no DEFLATE: a compressed payload could expand without bound), a payload that fits in
/// `bytes`, and a layout no larger than the target's (lowest value at least 1, highest at most
/// `highest`, at most `sigfig` significant digits), so that even the general deserializer
/// allocates no more than one target histogram.
pub(crate) fn check_header(bytes: &[u8], highest: u64, sigfig: u8) -> Result<(), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes: shorter than the {HEADER_LEN}-byte V2 header",
            bytes.len()
        ));
    }
    let u32_at = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
    let (cookie, payload_len, digits) = (u32_at(0), u32_at(4) as usize, u32_at(12));
    let (low, high, ratio) = (u64_at(16), u64_at(24), f64::from_bits(u64_at(32)));
    if cookie != V2_COOKIE {
        return Err(format!(
            "cookie {cookie:#x} is not an uncompressed V2 histogram ({V2_COOKIE:#x})"
        ));
    }
    if payload_len > bytes.len() - HEADER_LEN {
        return Err(format!(
            "the header declares {payload_len} payload bytes, {} follow",
            bytes.len() - HEADER_LEN
        ));
    }
    if digits == 0 || digits > u32::from(sigfig) {
        return Err(format!(
            "{digits} significant digits (1 to {sigfig} accepted)"
        ));
    }
    if low < 1 || high > highest || high < low.saturating_mul(2) {
        return Err(format!(
            "value range {low}..{high} (within 1..{highest} accepted)"
        ));
    }
    if !ratio.is_finite() || ratio <= 0.0 {
        return Err(format!("integer-to-double ratio {ratio}"));
    }
    Ok(())
}

/// The (value, count) pairs of the histogram encoded in `bytes`, for a target with lowest value
/// 1 and `sigfig` digits. `None` when the encoding is not one this fast path takes; `Some(Err)`
/// when it is malformed.
pub(crate) fn decode_v2(bytes: &[u8], sigfig: u8) -> Option<Result<Vec<(u64, u64)>, String>> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
    let (cookie, payload_len, offset, digits) =
        (u32_at(0), u32_at(4) as usize, u32_at(8), u32_at(12));
    let (low, ratio) = (u64_at(16), f64::from_bits(u64_at(32)));
    if cookie != V2_COOKIE || offset != 0 || low != 1 || ratio != 1.0 || digits != u32::from(sigfig)
    {
        return None;
    }
    let payload = bytes.get(HEADER_LEN..HEADER_LEN + payload_len)?;
    // sub_bucket_count = 2^ceil(log2(2·10^digits)); half of it per bucket after the first.
    let largest = 2 * 10u64.pow(digits);
    let half_magnitude = (64 - (largest - 1).leading_zeros()) - 1;
    let half = 1u64 << half_magnitude;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let (mut pos, mut index) = (0usize, 0u64);
    while pos < payload.len() {
        let mut zz = 0u64;
        let mut shift = 0;
        loop {
            let Some(&b) = payload.get(pos) else {
                return Some(Err("truncated counter".into()));
            };
            pos += 1;
            if shift == 56 {
                zz |= u64::from(b) << 56;
                break;
            }
            zz |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            index = index.saturating_add(n.unsigned_abs());
        } else {
            if n > 0 {
                runs.push((index, n as u64));
            }
            index += 1;
        }
    }
    let mut values = Vec::with_capacity(runs.len());
    for (index, count) in runs {
        let bucket = (index >> half_magnitude) as i64 - 1;
        let mut sub = (index & (half - 1)) + half;
        let bucket = if bucket < 0 {
            sub -= half;
            0
        } else {
            bucket as u32
        };
        match sub
            .checked_shl(bucket)
            .filter(|v| v.leading_zeros() >= bucket)
        {
            Some(value) => values.push((value, count)),
            None => return Some(Err(format!("counter index {index} out of range"))),
        }
    }
    Some(Ok(values))
}

/// Adds decoded (value, count) pairs; values beyond the target's range saturate to its top.
pub(crate) fn add_values(target: &mut Histogram<u64>, values: &[(u64, u64)]) {
    for &(value, count) in values {
        target.saturating_record_n(value.min(target.high()), count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::new_histogram;
    use hdrhistogram::serialization::{Serializer, V2Serializer};

    #[test]
    fn fast_add_equals_deserialize_and_add() {
        let mut src = new_histogram();
        let mut x = 7u64;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            src.record((x >> 33) % 3_000_000_000 + (x % 3)).unwrap();
        }
        src.record(0).unwrap();
        src.record_n(1, 17).unwrap();
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(&src, &mut bytes).unwrap();
        let mut fast = new_histogram();
        fast.record(12345).unwrap();
        let mut slow = fast.clone();
        add_values(&mut fast, &decode_v2(&bytes, 3).unwrap().unwrap());
        slow.add(&src).unwrap();
        assert_eq!(fast, slow);
        for q in [0.0, 0.001, 0.5, 0.99, 1.0] {
            assert_eq!(fast.value_at_quantile(q), slow.value_at_quantile(q));
        }
        assert!(decode_v2(&bytes[..10], 3).is_none());
        assert!(
            decode_v2(&bytes, 2).is_none(),
            "other precision: general path"
        );
        let mut broken = bytes.clone();
        let last = broken.len() - 1;
        broken[last] |= 0x80; // a varint that never ends
        assert!(decode_v2(&broken, 3).unwrap().is_err());
    }
}
