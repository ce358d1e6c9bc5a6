//! The fleet as the reports see it: each joined agent with its devices, and the host groups
//! (`scenario.host` entries) made from their roles.

use crate::role::Role;

/// An accelerator an agent found on its host.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// The device's model name.
    pub model: String,
    /// Its memory, bytes.
    pub memory_bytes: u64,
}

/// A joined agent with what it told about its host.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInfo {
    /// The agent's name.
    pub agent_id: String,
    /// Its host's role.
    pub role: Role,
    /// Its host's name.
    pub host_name: String,
    /// The accelerators it found.
    pub devices: Vec<DeviceInfo>,
}

/// One `scenario.host` entry: a pool of hosts of one type.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGroup {
    /// `prefill`, `decode` or `replica`.
    pub kind: &'static str,
    /// The group's agents, in join order.
    pub agents: Vec<AgentInfo>,
}

/// Host groups from the agents' roles: a P/D fleet gives one `prefill` and one `decode` group
/// (client agents generate load and describe no serving host); any other fleet is one `replica`
/// group of all agents.
pub fn host_groups(agents: &[AgentInfo]) -> Vec<HostGroup> {
    let of = |role: Role| -> Vec<AgentInfo> {
        agents.iter().filter(|a| a.role == role).cloned().collect()
    };
    let (prefill, decode) = (of(Role::Prefill), of(Role::Decode));
    if prefill.is_empty() && decode.is_empty() {
        return vec![HostGroup {
            kind: "replica",
            agents: agents.to_vec(),
        }];
    }
    let mut groups = Vec::new();
    if !prefill.is_empty() {
        groups.push(HostGroup {
            kind: "prefill",
            agents: prefill,
        });
    }
    if !decode.is_empty() {
        groups.push(HostGroup {
            kind: "decode",
            agents: decode,
        });
    }
    groups
}
