//! inference-perf's per-request SLO headers: `api.slo_unit` (s, ms or us; default ms) and the
//! header names `api.slo_ttft_header` / `api.slo_tpot_header` (default `x-slo-ttft-<unit>`,
//! `x-slo-tpot-<unit>`). The headers themselves are request headers the profile sends
//! (`api.headers`, matched without regard to case); their values, in the unit, are the TTFT and
//! TPOT objectives of every streamed request that carries them, which inference-perf's goodput
//! takes before `report.goodput.constraints`. A value `default` sets no objective, as in
//! inference-perf; on a non-streamed API inference-perf reads no header SLO, nor does
//! fleetbench.

use std::collections::BTreeMap;

/// The `api` keys the SLO headers are read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SloKeys<'a> {
    pub(crate) unit: Option<&'a str>,
    pub(crate) ttft_header: Option<&'a str>,
    pub(crate) tpot_header: Option<&'a str>,
    pub(crate) streaming: bool,
    pub(crate) headers: &'a BTreeMap<String, String>,
}

/// The TTFT and TPOT objectives (seconds) the profile's SLO headers carry.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeaderSlos {
    /// The TTFT objective, seconds.
    pub ttft_s: Option<f64>,
    /// The TPOT objective, seconds.
    pub tpot_s: Option<f64>,
}

/// The longest objective a header may give, seconds (the histograms' range, as for
/// `report.goodput`).
const MAX_SLO_S: f64 = 3600.0;

/// The SLO headers of `api`; the error names the key and says what is allowed.
pub(crate) fn header_slos(api: SloKeys<'_>) -> Result<HeaderSlos, (String, String)> {
    let unit = api.unit.unwrap_or("ms");
    let factor = match unit {
        "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        other => {
            return Err((
                "api.slo_unit".into(),
                format!("{other:?}: the unit of the SLO header values, s, ms or us"),
            ))
        }
    };
    if !api.streaming {
        return Ok(HeaderSlos::default());
    }
    let value = |name: &str| -> Result<Option<f64>, (String, String)> {
        let Some((key, v)) = (api.headers.iter()).find(|(k, _)| k.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        if v.trim() == "default" {
            return Ok(None);
        }
        let s = v.trim().parse::<f64>().ok().map(|x| x * factor);
        match s {
            Some(s) if s.is_finite() && s > 0.0 && s <= MAX_SLO_S => Ok(Some(s)),
            _ => Err((
                format!("api.headers.{key}"),
                format!("{v:?}: an SLO in {unit} (> 0, at most {MAX_SLO_S} s), or default"),
            )),
        }
    };
    let ttft =
        (api.ttft_header.map(str::to_string)).unwrap_or_else(|| format!("x-slo-ttft-{unit}"));
    let tpot =
        (api.tpot_header.map(str::to_string)).unwrap_or_else(|| format!("x-slo-tpot-{unit}"));
    Ok(HeaderSlos {
        ttft_s: value(&ttft)?,
        tpot_s: value(&tpot)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SLO headers of an `api` section written as YAML.
    fn slos(yaml: &str) -> Result<HeaderSlos, (String, String)> {
        #[derive(serde::Deserialize)]
        struct Api {
            #[serde(default)]
            streaming: bool,
            #[serde(default)]
            slo_unit: Option<String>,
            #[serde(default)]
            slo_ttft_header: Option<String>,
            #[serde(default)]
            slo_tpot_header: Option<String>,
            #[serde(default)]
            headers: BTreeMap<String, String>,
        }
        let a: Api = serde_norway::from_str(yaml).unwrap();
        header_slos(SloKeys {
            unit: a.slo_unit.as_deref(),
            ttft_header: a.slo_ttft_header.as_deref(),
            tpot_header: a.slo_tpot_header.as_deref(),
            streaming: a.streaming,
            headers: &a.headers,
        })
    }

    #[test]
    fn header_values_are_read_in_the_unit_from_the_named_headers() {
        let got =
            slos("{streaming: true, headers: {X-SLO-TTFT-MS: '250', x-slo-tpot-ms: default}}");
        assert_eq!(
            got,
            Ok(HeaderSlos {
                ttft_s: Some(0.25),
                tpot_s: None
            })
        );
        let got = slos("{streaming: true, slo_unit: s, slo_tpot_header: x-tpot, headers: {x-tpot: '0.05', x-slo-ttft-s: '2'}}");
        assert_eq!(
            got,
            Ok(HeaderSlos {
                ttft_s: Some(2.0),
                tpot_s: Some(0.05)
            })
        );
        // Not streamed: inference-perf reads no header SLO.
        let got = slos("{streaming: false, headers: {x-slo-ttft-ms: '250'}}");
        assert_eq!(got, Ok(HeaderSlos::default()));
    }

    #[test]
    fn a_bad_unit_or_value_names_the_key() {
        assert_eq!(
            slos("{streaming: true, slo_unit: sec}").unwrap_err().0,
            "api.slo_unit"
        );
        let (key, msg) = slos("{streaming: true, headers: {x-slo-ttft-ms: soon}}").unwrap_err();
        assert_eq!(key, "api.headers.x-slo-ttft-ms");
        assert!(msg.contains("\"soon\"") && msg.contains("ms"), "{msg}");
        let bad = slos("{streaming: true, slo_unit: us, headers: {x-slo-tpot-us: '-3'}}");
        assert_eq!(bad.unwrap_err().0, "api.headers.x-slo-tpot-us");
    }
}
