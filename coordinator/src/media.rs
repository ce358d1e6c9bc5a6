//! A run's dataset images (VisionArena's, [`StoredPool`]) sent to each load-generating agent
//! before the run's preflight: `MediaPart` pieces of at most [`PIECE_BYTES`] down its control
//! stream, image after image, all agents at once; then each agent's `MediaReceived` (it checked
//! every image's size and SHA-256) is awaited. The shard specs name the images by digest only.

use crate::hub::{AgentEvent, Hub};
use fleetbench_model::spec::{RunPlan, ShardLoad};
use fleetbench_profile::StoredPool;
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The largest piece of an image one message carries (the downlink holds up to 1,024
/// messages, so at most 256 MiB wait per agent).
const PIECE_BYTES: usize = 256 << 10;

/// How long the images may take at least, and the slowest rate allowed beyond that.
const MIN_WAIT: Duration = Duration::from_secs(60);
const MIN_RATE_BYTES_PER_S: u64 = 4 << 20;

/// Sends `pool` to every member of `plan` that sends requests in some stage and waits until
/// each holds it; the error names each agent that does not, and why.
pub(crate) async fn distribute(
    hub: &Arc<Hub>,
    plan: &RunPlan,
    pool: &Arc<StoredPool>,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
) -> Result<(), String> {
    let loaders: BTreeSet<String> = (plan.members.iter().enumerate())
        .filter(|(i, _)| {
            (plan.stages.iter())
                .filter_map(|s| s.shards.get(*i))
                .any(|sh| sh.load != ShardLoad::Idle)
        })
        .map(|(_, m)| m.agent_id.clone())
        .collect();
    let total = pool.media.total_bytes();
    let limit = MIN_WAIT + Duration::from_secs(total / MIN_RATE_BYTES_PER_S);
    let deadline = tokio::time::Instant::now() + limit;
    tracing::info!(
        run = %plan.run_id,
        agents = loaders.len(),
        "sending {} dataset images ({:.1} MiB) to each agent",
        pool.bytes.len(),
        total as f64 / f64::from(1u32 << 20)
    );
    for agent in &loaders {
        let (hub, pool, agent, run_id) = (
            hub.clone(),
            pool.clone(),
            agent.clone(),
            plan.run_id.clone(),
        );
        tokio::spawn(async move {
            let sent = tokio::time::timeout_at(deadline, send_all(&hub, &agent, &run_id, &pool));
            if !matches!(sent.await, Ok(true)) {
                tracing::warn!(agent = %agent, "the dataset images could not all be sent");
            }
        });
    }
    let mut waiting = loaders;
    let mut failed = Vec::new();
    while !waiting.is_empty() {
        let ev = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => break,
        };
        let AgentEvent::MediaReceived { agent_id, received } = ev else {
            continue;
        };
        if received.run_id != plan.run_id || !waiting.remove(&agent_id) {
            continue;
        }
        if !received.ok {
            failed.push(format!("agent {agent_id}: {}", received.error));
        } else if received.images as usize != pool.bytes.len() {
            failed.push(format!(
                "agent {agent_id}: holds {} of {} images",
                received.images,
                pool.bytes.len()
            ));
        }
    }
    for agent in waiting {
        failed.push(format!(
            "agent {agent}: did not confirm the images within {} s (its link is slower than {} MiB/s, or it lost its stream)",
            limit.as_secs(),
            MIN_RATE_BYTES_PER_S >> 20
        ));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the run's dataset images did not reach every agent: {}",
            failed.join("; ")
        ))
    }
}

/// Every piece of every image to one agent, in order; false when its stream went away.
async fn send_all(hub: &Hub, agent: &str, run_id: &str, pool: &StoredPool) -> bool {
    let images = pool.bytes.len() as u32;
    for (i, (bytes, image)) in pool.bytes.iter().zip(&pool.media.images).enumerate() {
        for (k, piece) in bytes.chunks(PIECE_BYTES).enumerate() {
            let part = wire::MediaPart {
                run_id: run_id.to_string(),
                image: i as u32,
                images,
                digest: image.digest.clone(),
                mime: image.mime.clone(),
                size: bytes.len() as u64,
                offset: (k * PIECE_BYTES) as u64,
                data: piece.to_vec(),
            };
            if !hub.fleet.send(agent, Down::Media(part)).await {
                return false;
            }
        }
    }
    true
}
