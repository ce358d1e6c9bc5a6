//! End-to-end tests of the `sim` binary: each test starts real `sim` processes on loopback
//! ports and talks HTTP to them.

mod cli;
mod deterministic;
mod engine;
mod faults;
mod metrics;
mod pd;
mod support;
