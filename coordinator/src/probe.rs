//! Clock probing, the fleet's side of time: bursts of `ClockProbe`s down an agent's link (at
//! join, every `--clock-reprobe`, before each stage start and for a fleet check), and waiting for
//! their replies, which [`Fleet::clock_reply`] folds into the agent's offset estimate.

use crate::fleet::{Downlink, Fleet};
use fleetbench_model::clock::unix_ns;
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use std::collections::BTreeMap;
use std::time::Duration;

/// Probes sent to a newly joined agent; the one with the smallest round trip is kept.
pub(crate) const JOIN_PROBES: u64 = 8;

/// Probes in each periodic burst.
const REPROBES: u64 = 3;

/// Time between two probes of a burst.
const PROBE_GAP: Duration = Duration::from_millis(10);

/// Sends `n` clock probes, [`PROBE_GAP`] apart; the replies update the fleet's offset estimate.
pub(crate) async fn send_probes(tx: Downlink, n: u64) {
    for probe_id in 0..n {
        let probe = Down::Clock(wire::ClockProbe {
            probe_id,
            coordinator_unix_ns: unix_ns(),
        });
        if tx
            .send(Ok(wire::CoordinatorMessage { body: Some(probe) }))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(PROBE_GAP).await;
    }
}

/// Probes the agent's clock again every `every` (a burst of [`REPROBES`]) while its link is
/// open, so that the offsets used for stage starts and reported times follow a drifting clock.
pub(crate) async fn reprobe(tx: Downlink, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if tx.is_closed() {
            return;
        }
        send_probes(tx.clone(), REPROBES).await;
    }
}

/// Sends `n` probes to each of `ids` and waits until each of them has answered `n` more probes
/// than before, or until `wait` has passed (an agent that answers late or not at all keeps its
/// previous estimate).
/// Returns the agents that did not answer every probe in time.
pub(crate) async fn probe_and_wait(
    fleet: &Fleet,
    ids: &[String],
    n: u64,
    wait: Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut want: BTreeMap<&str, u32> = BTreeMap::new();
    for id in ids {
        if let Some(tx) = fleet.downlink(id) {
            want.insert(id, fleet.clock_probes(id).saturating_add(n as u32));
            tokio::spawn(send_probes(tx, n));
        }
    }
    loop {
        let replied = fleet.clock_replied();
        tokio::pin!(replied);
        // Registered before the counts are read, so no reply slips between read and wait.
        replied.as_mut().enable();
        want.retain(|id, target| fleet.clock_probes(id) < *target);
        if want.is_empty() {
            return Vec::new();
        }
        if tokio::time::timeout_at(deadline, replied).await.is_err() {
            let late: Vec<String> = want.keys().map(|id| id.to_string()).collect();
            tracing::debug!(?late, "clock probes not all answered within {wait:?}");
            return late;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn join(
        fleet: &Fleet,
        name: &str,
    ) -> mpsc::Receiver<Result<wire::CoordinatorMessage, tonic::Status>> {
        let (tx, rx) = mpsc::channel(64);
        let hello = wire::Hello {
            agent_id: name.into(),
            ..Default::default()
        };
        fleet.join(&hello, tx, Duration::from_secs(5)).unwrap();
        rx
    }

    #[tokio::test]
    async fn waits_for_the_replies_of_an_answering_agent() {
        let fleet = std::sync::Arc::new(Fleet::default());
        let mut rx = join(&fleet, "a");
        let f = fleet.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.recv().await {
                if let Some(Down::Clock(p)) = m.body {
                    let reply = wire::ClockProbeReply {
                        probe_id: p.probe_id,
                        coordinator_unix_ns: p.coordinator_unix_ns,
                        agent_unix_ns: unix_ns(),
                    };
                    f.clock_reply("a", &reply);
                }
            }
        });
        // Returns at the third reply; the limit is only a bound.
        let late = probe_and_wait(&fleet, &["a".to_string()], 3, Duration::from_secs(60)).await;
        assert!(late.is_empty(), "{late:?}");
        assert_eq!(fleet.clock_probes("a"), 3);
        assert!(fleet.offset_ns("a").is_some());
    }

    #[tokio::test]
    async fn names_an_agent_that_does_not_answer() {
        let fleet = Fleet::default();
        let _rx = join(&fleet, "silent");
        let ids = ["silent".to_string(), "never-joined".to_string()];
        let late = probe_and_wait(&fleet, &ids, 2, Duration::from_millis(50)).await;
        // An agent that is not joined gets no probes and is not waited for.
        assert_eq!(late, vec!["silent".to_string()]);
        assert_eq!(fleet.clock_probes("silent"), 0);
    }
}
