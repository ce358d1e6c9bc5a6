//! inference-perf's `circuit_breakers` section as data: each breaker watches the requests that
//! its `metrics.matches` select, counts the ones its `rules` call hits, and trips on its
//! `triggers` (consecutive hits, or a hit rate over a window).

use crate::breaker_expr::Expr;
use serde::{Deserialize, Serialize};

/// One named breaker; `load.circuit_breakers` enables it by name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// The name `load.circuit_breakers` enables it by.
    pub name: String,
    /// The requests it watches and which are hits.
    pub metrics: BreakerMetrics,
    /// When it trips (any one).
    pub triggers: Vec<Trigger>,
}

/// Which requests a breaker watches (`matches`, any one) and which of those are hits (`rules`,
/// any one; none: every watched request is a hit). Both are inference-perf's JMESPath
/// expressions over a request's record.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerMetrics {
    /// Which requests are watched (any one expression).
    pub matches: Vec<String>,
    /// Which watched requests are hits (any one; none: all).
    #[serde(default)]
    pub rules: Vec<String>,
}

/// When a breaker trips.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// `threshold` hits in a row.
    Consecutive {
        /// Hits in a row that trip the breaker.
        threshold: u32,
    },
    /// A hit rate of at least `threshold` (0..=1) among the watched requests of the last
    /// `window_sec` seconds, once there are `min_samples` of them.
    RateOverWindow {
        /// The window, seconds.
        window_sec: f64,
        /// The hit rate that trips it, 0 to 1.
        threshold: f64,
        /// Watched requests needed in the window before it can trip.
        #[serde(default)]
        min_samples: u32,
    },
}

impl BreakerMetrics {
    /// `matches` and `rules` parsed; the error names the entry (`matches.0`) and what is wrong.
    pub fn parse(&self) -> Result<(Vec<Expr>, Vec<Expr>), (String, String)> {
        let all = |list: &[String], key: &str| {
            list.iter()
                .enumerate()
                .map(|(i, text)| {
                    Expr::parse(text).map_err(|e| (format!("{key}.{i}"), format!("{text:?}: {e}")))
                })
                .collect::<Result<Vec<Expr>, _>>()
        };
        Ok((all(&self.matches, "matches")?, all(&self.rules, "rules")?))
    }
}
