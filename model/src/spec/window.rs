//! A stage's measured window.

use serde::{Deserialize, Serialize};

/// The measured part of a stage, in seconds from its start: requests intended in it are
/// measured, the others (warm-up, cool-down) are sent but not measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Seconds from the stage start at which measuring begins (after the warm-up).
    pub start_s: f64,
    /// `None`: until the stage ends (closed loop by count, rate `inf`).
    pub end_s: Option<f64>,
}

impl Window {
    /// Whether a request intended `t_s` seconds into the stage is measured.
    pub fn contains(&self, t_s: f64) -> bool {
        t_s >= self.start_s && self.end_s.is_none_or(|e| t_s < e)
    }
}
