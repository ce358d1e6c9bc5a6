//! The wire format of fleetbench's control plane, and nothing else.
//!
//! `proto/fleetbench/v1/control.proto` defines the `Control` gRPC service: one long-lived
//! bidirectional `Join` stream per agent, plus `Submit` / `Watch` / `GetReport` for clients of a
//! long-running coordinator. Domain types live in `fleetbench-model`, next to their conversions
//! to and from these messages (`Role::to_wire`, `Measurements::to_wire` and `add_snapshot`); the
//! shard spec travels as JSON inside `Assign`.

/// Version 1 of the control protocol (`package fleetbench.v1`): the code tonic-prost-build
/// generates from `proto/fleetbench/v1/control.proto`, committed in `src/generated/` so that a
/// build needs no protobuf compiler; `tests/generated.rs` fails when it is not current
/// (`FLEETBENCH_REGENERATE=1 cargo test -p fleetbench-proto` rewrites it).
pub mod v1 {
    include!("generated/fleetbench.v1.rs");
}
