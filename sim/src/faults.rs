//! Fault injection: which faults exist, how they are written (`KIND[:PARAM]`, on the command
//! line or in the `x-fleetbench-fault` request header) and which requests get one (a seeded
//! fraction).

use std::time::Duration;

/// Request header that asks for a fault on this request.
pub(crate) const FAULT_HEADER: &str = "x-fleetbench-fault";

/// One injectable fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fault {
    /// Answer with this HTTP status (429, 500 or 503) and an OpenAI/vLLM JSON error body.
    Status(u16),
    /// Close the connection mid-stream after `after` tokens (None: half of the tokens).
    Reset { after: Option<u32> },
    /// Send nothing for this long mid-stream (after half of the tokens), then continue.
    Stall(Duration),
    /// One chunk of invalid JSON mid-stream (the other tokens are sent normally).
    Malformed,
    /// Hold the response headers for this long before anything is sent.
    SlowHeaders(Duration),
    /// A `data: {"error": {...}}` event mid-stream, then `data: [DONE]`.
    StreamError,
    /// The connection is closed (HTTP/2: the stream reset) before any response byte, after the
    /// request was read: a transport fault a client may retry.
    Drop,
    /// A tool call's arguments end in leaked parser markup instead of their closing, so they
    /// are not JSON (as vLLM's `qwen3_xml` parser has been seen to make them); a request that
    /// makes no tool call is unaffected.
    BadToolArgs,
}

/// A fault specification that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid fault `{spec}`: {why} (kinds: http_429, http_500, http_503, reset[:N], stall:SECS, malformed, slow_headers:SECS, stream_error, drop, bad_tool_args)")]
pub struct FaultParseError {
    spec: String,
    why: &'static str,
}

impl std::str::FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(spec: &str) -> Result<Fault, FaultParseError> {
        let err = |why| FaultParseError {
            spec: spec.to_string(),
            why,
        };
        let (kind, param) = match spec.trim().split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (spec.trim(), None),
        };
        let secs = |p: Option<&str>| -> Result<Duration, FaultParseError> {
            let p = p.ok_or_else(|| err("this kind needs :SECS"))?;
            let s: f64 = p.parse().map_err(|_| err("SECS must be a number"))?;
            if !(0.0..=3600.0).contains(&s) {
                return Err(err("SECS must be within 0..=3600"));
            }
            Ok(Duration::from_secs_f64(s))
        };
        let no_param = |f: Fault| -> Result<Fault, FaultParseError> {
            match param {
                None => Ok(f),
                Some(_) => Err(err("this kind takes no parameter")),
            }
        };
        match kind {
            "http_429" => no_param(Fault::Status(429)),
            "http_500" => no_param(Fault::Status(500)),
            "http_503" => no_param(Fault::Status(503)),
            "reset" => Ok(Fault::Reset {
                after: match param {
                    None => None,
                    Some(p) => Some(p.parse().map_err(|_| err("N must be a token count"))?),
                },
            }),
            "stall" => Ok(Fault::Stall(secs(param)?)),
            "malformed" => no_param(Fault::Malformed),
            "slow_headers" => Ok(Fault::SlowHeaders(secs(param)?)),
            "stream_error" => no_param(Fault::StreamError),
            "drop" => no_param(Fault::Drop),
            "bad_tool_args" => no_param(Fault::BadToolArgs),
            _ => Err(err("unknown kind")),
        }
    }
}

impl Fault {
    /// The token index before which a mid-stream fault fires, for a stream of `total` tokens.
    pub(crate) fn fire_at(&self, total: u32) -> u32 {
        match self {
            Fault::Reset { after: Some(n) } => (*n).min(total),
            _ => total / 2,
        }
    }
}

/// Chooses the faulted fraction of requests, reproducibly from a seed.
#[derive(Debug, Clone)]
pub(crate) struct FaultPlan {
    fault: Option<Fault>,
    rate: f64,
    seed: u64,
}

impl FaultPlan {
    pub(crate) fn new(fault: Option<Fault>, rate: f64, seed: u64) -> Self {
        FaultPlan {
            fault,
            rate: rate.clamp(0.0, 1.0),
            seed,
        }
    }

    /// The configured fault for request number `seq` (0, 1, 2, ... in arrival order), if this
    /// request is in the faulted fraction.
    pub(crate) fn for_request(&self, seq: u64) -> Option<Fault> {
        let f = self.fault?;
        let u = (splitmix64(self.seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 11) as f64
            / (1u64 << 53) as f64;
        (u < self.rate).then_some(f)
    }
}

/// SplitMix64 finalizer: a cheap, well-mixed hash of a 64-bit value.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!("http_429".parse::<Fault>().unwrap(), Fault::Status(429));
        assert_eq!("http_503".parse::<Fault>().unwrap(), Fault::Status(503));
        assert_eq!(
            "reset:3".parse::<Fault>().unwrap(),
            Fault::Reset { after: Some(3) }
        );
        assert_eq!(
            "stall:0.5".parse::<Fault>().unwrap(),
            Fault::Stall(Duration::from_millis(500))
        );
        assert_eq!("malformed".parse::<Fault>().unwrap(), Fault::Malformed);
        assert!(matches!(
            "slow_headers:1".parse::<Fault>().unwrap(),
            Fault::SlowHeaders(_)
        ));
        assert!("stall".parse::<Fault>().is_err());
        assert!("http_404".parse::<Fault>().is_err());
        assert!("malformed:3".parse::<Fault>().is_err());
    }

    #[test]
    fn rate_selects_about_that_fraction() {
        let p = FaultPlan::new(Some(Fault::Malformed), 0.25, 42);
        let n = (0..10_000).filter(|i| p.for_request(*i).is_some()).count();
        assert!((2_200..2_800).contains(&n), "{n}");
        let q = FaultPlan::new(Some(Fault::Malformed), 0.25, 42);
        assert_eq!(p.for_request(17), q.for_request(17));
    }
}
