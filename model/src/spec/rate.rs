//! A request rate as a profile and the wire write it: a number, or `inf`.

use serde::{Deserialize, Serialize};

/// A rate on the wire and in reports: a number, or the string `inf` (JSON has no infinity).
pub(crate) mod rate_or_inf {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(rate: &f64, s: S) -> Result<S::Ok, S::Error> {
        if rate.is_infinite() {
            s.serialize_str("inf")
        } else {
            s.serialize_f64(*rate)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        crate::spec::rate::Rate::deserialize(d).map(|r| r.0)
    }
}

/// A request rate: a positive number of requests/s, or `inf` (every request at once).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate(pub f64);

impl Rate {
    /// Whether the rate is `inf`.
    pub fn is_infinite(self) -> bool {
        self.0.is_infinite()
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Rate(n)),
            Raw::Text(t) if matches!(t.as_str(), "inf" | "infinity" | ".inf" | "Infinity") => {
                Ok(Rate(f64::INFINITY))
            }
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "rate {t:?}: expected a number of requests/s or `inf`"
            ))),
        }
    }
}
