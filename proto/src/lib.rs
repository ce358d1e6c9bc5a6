//! The wire format of fleetbench's control plane, and nothing else.
//!
//! `proto/fleetbench/v1/control.proto` defines the `Control` gRPC service: one long-lived
//! bidirectional `Join` stream per agent, plus `Submit` / `Watch` / `GetReport` for clients of a
//! long-running coordinator. Domain types live in `fleetbench-model`, next to their conversions
//! to and from these messages (`Role::to_wire`, `Measurements::to_wire` and `add_snapshot`); the
//! shard spec travels as JSON inside `Assign`.

/// Version 1 of the control protocol (`package fleetbench.v1`).
pub mod v1 {
    tonic::include_proto!("fleetbench.v1");
}
