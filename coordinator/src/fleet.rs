//! The agents that joined: who they are, how to reach them, when they were last heard from and
//! how far their clocks are from ours.

use fleetbench_model::clock::{unix_ns, OffsetEstimate, ProbeSample};
use fleetbench_model::hosts::{AgentInfo, DeviceInfo};
use fleetbench_model::role::Role;
use fleetbench_model::spec::Member;
use fleetbench_proto::v1 as wire;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tonic::Status;

pub(crate) type Downlink = mpsc::Sender<Result<wire::CoordinatorMessage, Status>>;

#[derive(Debug)]
pub(crate) struct AgentEntry {
    pub info: AgentInfo,
    pub(crate) downlink: Downlink,
    /// Bumped on every (re)join, so a replaced stream's handler cannot mark the new one gone.
    pub generation: u64,
    pub connected: bool,
    pub(crate) last_seen: Instant,
    pub clock: OffsetEstimate,
}

#[derive(Debug, Default)]
pub(crate) struct Fleet {
    agents: Mutex<BTreeMap<String, AgentEntry>>,
    next_generation: Mutex<u64>,
    /// Woken on every clock reply, for [`crate::probe::probe_and_wait`].
    clock_replies: tokio::sync::Notify,
}

impl Fleet {
    /// Registers a (re)joined agent; returns its generation. While another stream of the same
    /// name is open and that agent was heard from within `silence`, the join is refused (the
    /// name is the agent's identity: nobody takes over a connected agent's shard); a stream that
    /// is closed or silent that long is replaced, as after a network break.
    pub(crate) fn join(
        &self,
        hello: &wire::Hello,
        downlink: Downlink,
        silence: Duration,
    ) -> Result<u64, String> {
        let generation = {
            let mut g = self
                .next_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *g += 1;
            *g
        };
        let role = Role::from_wire(hello.role()).unwrap_or(Role::Other);
        let info = AgentInfo {
            agent_id: hello.agent_id.clone(),
            role,
            host_name: hello.host_name.clone(),
            devices: hello
                .accelerators
                .iter()
                .map(|a| DeviceInfo {
                    model: a.model.clone(),
                    memory_bytes: a.memory_bytes,
                })
                .collect(),
        };
        let mut agents = self.lock();
        if let Some(old) = agents.get(&hello.agent_id) {
            if old.connected && !old.downlink.is_closed() && old.last_seen.elapsed() <= silence {
                return Err(format!(
                    "an agent named {} is connected; a second one may not join under its name",
                    hello.agent_id
                ));
            }
        }
        let clock = agents
            .remove(&hello.agent_id)
            .map(|old| old.clock)
            .unwrap_or_default();
        agents.insert(
            hello.agent_id.clone(),
            AgentEntry {
                info,
                downlink,
                generation,
                connected: true,
                last_seen: Instant::now(),
                clock,
            },
        );
        Ok(generation)
    }

    pub(crate) fn left(&self, agent_id: &str, generation: u64) {
        if let Some(a) = self.lock().get_mut(agent_id) {
            if a.generation == generation {
                a.connected = false;
            }
        }
    }

    pub(crate) fn heard_from(&self, agent_id: &str) {
        if let Some(a) = self.lock().get_mut(agent_id) {
            a.last_seen = Instant::now();
        }
    }

    pub(crate) fn clock_reply(&self, agent_id: &str, r: &wire::ClockProbeReply) {
        let t3 = unix_ns();
        if let Some(a) = self.lock().get_mut(agent_id) {
            a.clock.add(ProbeSample {
                t0: r.coordinator_unix_ns,
                t_agent: r.agent_unix_ns,
                t3,
            });
            a.last_seen = Instant::now();
        }
        self.clock_replies.notify_waiters();
    }

    /// Completes at the next clock reply from any agent.
    pub(crate) fn clock_replied(&self) -> tokio::sync::futures::Notified<'_> {
        self.clock_replies.notified()
    }

    /// Connected agents, prefill first, then decode, client, other; by name within a role.
    pub(crate) fn members(&self) -> Vec<Member> {
        let agents = self.lock();
        let mut m: Vec<Member> = agents
            .values()
            .filter(|a| a.connected)
            .map(|a| Member {
                agent_id: a.info.agent_id.clone(),
                role: a.info.role,
                host_name: a.info.host_name.clone(),
            })
            .collect();
        let order = |r: Role| Role::ALL.iter().position(|&x| x == r).unwrap_or(usize::MAX);
        m.sort_by(|a, b| {
            order(a.role)
                .cmp(&order(b.role))
                .then(a.agent_id.cmp(&b.agent_id))
        });
        m
    }

    /// The connected agents as a fleet check shows them (role as joined, clock estimate), by
    /// name.
    pub(crate) fn statuses(&self) -> Vec<wire::AgentStatus> {
        self.lock()
            .values()
            .filter(|a| a.connected)
            .map(|a| wire::AgentStatus {
                agent_id: a.info.agent_id.clone(),
                role: a.info.role.as_str().to_string(),
                host_name: a.info.host_name.clone(),
                clock_offset_ns: a.clock.offset_ns().unwrap_or(0),
                clock_round_trip_ns: a.clock.round_trip_ns().unwrap_or(0),
                clock_probes: if a.clock.offset_ns().is_some() {
                    a.clock.samples()
                } else {
                    0
                },
                silent_ms: a.last_seen.elapsed().as_millis() as u64,
            })
            .collect()
    }

    pub(crate) fn connected_count(&self) -> usize {
        self.lock().values().filter(|a| a.connected).count()
    }

    pub(crate) fn info(&self, agent_id: &str) -> Option<AgentInfo> {
        self.lock().get(agent_id).map(|a| a.info.clone())
    }

    pub(crate) fn downlink(&self, agent_id: &str) -> Option<Downlink> {
        self.lock().get(agent_id).map(|a| a.downlink.clone())
    }

    /// Agent clock minus ours, if measured.
    pub(crate) fn offset_ns(&self, agent_id: &str) -> Option<i64> {
        self.lock().get(agent_id).and_then(|a| a.clock.offset_ns())
    }

    /// Clock probes the agent has answered since it joined.
    pub(crate) fn clock_probes(&self, agent_id: &str) -> u32 {
        self.lock().get(agent_id).map_or(0, |a| a.clock.samples())
    }

    /// Round trip of the probe behind the offset estimate.
    pub(crate) fn round_trip_ns(&self, agent_id: &str) -> Option<i64> {
        self.lock()
            .get(agent_id)
            .and_then(|a| a.clock.round_trip_ns())
    }

    /// Whether `agent_id`'s stream is open, and how long since it was last heard from.
    pub(crate) fn link(&self, agent_id: &str) -> Option<(bool, Duration)> {
        self.lock()
            .get(agent_id)
            .map(|a| (a.connected, a.last_seen.elapsed()))
    }

    /// Agents of `ids` not heard from within `timeout`.
    pub(crate) fn silent(&self, ids: &[String], timeout: Duration) -> Vec<String> {
        let agents = self.lock();
        ids.iter()
            .filter(|id| {
                agents
                    .get(*id)
                    .is_none_or(|a| a.last_seen.elapsed() > timeout)
            })
            .cloned()
            .collect()
    }

    /// Sends to one agent; false when its stream is gone.
    pub(crate) async fn send(&self, agent_id: &str, body: wire::coordinator_message::Body) -> bool {
        match self.downlink(agent_id) {
            Some(d) => d
                .send(Ok(wire::CoordinatorMessage { body: Some(body) }))
                .await
                .is_ok(),
            None => false,
        }
    }

    /// Sends to one agent without waiting (a frozen agent's full downlink must not hold up the
    /// run); false when its stream is gone or full.
    pub(crate) fn try_send(&self, agent_id: &str, body: wire::coordinator_message::Body) -> bool {
        self.downlink(agent_id).is_some_and(|d| {
            d.try_send(Ok(wire::CoordinatorMessage { body: Some(body) }))
                .is_ok()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AgentEntry>> {
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }
}
