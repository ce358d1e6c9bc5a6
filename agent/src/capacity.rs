//! What this agent can carry, checked when a shard is assigned: a closed-loop user holds one
//! connection (one file descriptor) for the whole stage, so a shard with more users than the
//! process may open files would fail most of its requests with `connect` errors. The shard is
//! refused at once instead, with the numbers and what to change.

use fleetbench_model::spec::{ShardLoad, ShardSpec};

/// Descriptors the agent keeps for itself (the coordinator link, telemetry, logs, the runtime).
const RESERVED_FDS: u64 = 64;

/// The soft limit of open files of this process (`Max open files` in `/proc/self/limits`);
/// `None` when unlimited or unknown (not Linux).
pub(crate) fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_limit(&text, "Max open files")
}

fn soft_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Why this agent cannot run `spec` with `open_files` descriptors, if it cannot.
pub(crate) fn refuse(spec: &ShardSpec, open_files: Option<u64>) -> Option<String> {
    let ShardLoad::Concurrent { users, .. } = spec.load else {
        return None;
    };
    let limit = open_files?;
    let usable = limit.saturating_sub(RESERVED_FDS);
    (u64::from(users) > usable).then(|| {
        format!(
            "the shard has {users} closed-loop users (one connection each), but this agent may open {limit} files (ulimit -n), {usable} of them for connections: raise the limit or add agents"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_spec::shard_spec;
    use fleetbench_model::data::{DataSource, LengthSpec};
    use fleetbench_model::settings::ApiType;
    use fleetbench_model::spec::ShardLoad;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n";

    #[test]
    fn the_soft_open_files_limit_is_read() {
        assert_eq!(soft_limit(LIMITS, "Max open files"), Some(1024));
        assert_eq!(soft_limit(LIMITS, "Max cpu time"), None);
        assert_eq!(soft_limit(LIMITS, "Max processes"), None);
    }

    #[test]
    fn a_shard_with_more_users_than_descriptors_is_refused() {
        // `load: {type: concurrent, stages: [{concurrency_level: 2000, num_requests: 4000}]}`
        let data = DataSource::Synthetic {
            input: LengthSpec::fixed(10),
            output: LengthSpec::fixed(4),
        };
        let load = ShardLoad::Concurrent {
            users: 2000,
            num_requests: Some(4000),
            duration_s: None,
            first_user: 0,
            total_users: 2000,
        };
        let spec = &shard_spec(ApiType::Completion, data, load);
        let why = refuse(spec, Some(1024)).expect("refused");
        assert!(
            why.contains("2000 closed-loop users") && why.contains("may open 1024 files"),
            "{why}"
        );
        assert_eq!(refuse(spec, Some(4096)), None);
        assert_eq!(refuse(spec, None), None);
    }
}
