//! Limits on `Submit`, so that one hostile or careless client cannot stall the coordinator: a
//! profile is at most [`MAX_PROFILE_BYTES`], parsed and planned off the async runtime (on a
//! blocking thread) within [`PARSE_TIME_LIMIT`], and a client (its certificate name, else its
//! address) has at most [`MAX_PER_CLIENT`] submits being parsed at once. A parse that runs past
//! the time limit is answered with an error at once; its slot is freed only when its thread ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest profile text accepted by `Submit`: 4 MiB.
pub(crate) const MAX_PROFILE_BYTES: usize = 4 << 20;

/// How long parsing and validating a submitted profile may take.
pub(crate) const PARSE_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Submits of one client being parsed at once.
pub(crate) const MAX_PER_CLIENT: usize = 2;

/// Counts the submits in progress per client.
#[derive(Debug, Default, Clone)]
pub(crate) struct SubmitGate {
    busy: Arc<Mutex<HashMap<String, usize>>>,
}

/// A client's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct SubmitSlot {
    busy: Arc<Mutex<HashMap<String, usize>>>,
    client: String,
}

impl SubmitGate {
    /// A slot for `client`, or `None` when it has [`MAX_PER_CLIENT`] submits in progress.
    pub(crate) fn enter(&self, client: &str) -> Option<SubmitSlot> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let n = busy.entry(client.to_string()).or_insert(0);
        if *n >= MAX_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(SubmitSlot {
            busy: self.busy.clone(),
            client: client.to_string(),
        })
    }
}

impl Drop for SubmitSlot {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = busy.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_has_at_most_max_slots_and_gets_them_back() {
        let gate = SubmitGate::default();
        let slots: Vec<_> = (0..MAX_PER_CLIENT)
            .map(|_| gate.enter("a").expect("slot"))
            .collect();
        assert!(gate.enter("a").is_none());
        assert!(gate.enter("b").is_some(), "another client is not limited");
        drop(slots);
        assert!(gate.enter("a").is_some());
    }
}
