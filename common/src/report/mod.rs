//! The run's outputs as data: the BenchmarkRun 0.1 report of each stage and the summary table.
//! Writing them to disk is the coordinator's job.

mod benchmark_run;
mod build;
mod statistics;
mod summary;
mod telemetry;
mod verdict;

pub use benchmark_run::*;
pub use build::{
    build_stage_report, gpu_label, host_groups, AgentInfo, DeviceInfo, EndpointFacts, HostGroup,
    StageInput, GENERATOR,
};
pub use summary::{summary_json, summary_markdown, summary_rows, Cell, COLUMNS};
pub use telemetry::{accelerator_metrics, group_metadata, service, AgentTelemetry};
pub use verdict::{
    assess, judge, printable, verdict_lines, verdicts_markdown, with_verdicts, worst, FailureClass,
    ShardTally, StageVerdict, Verdict, VerdictInputs, DEFAULT_MAX_FAILURE_RATE,
};
