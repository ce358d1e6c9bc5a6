//! fleetbench's reports as data: each stage's report (BenchmarkRun 0.1 and llm-d's report
//! 0.2.1, built from the same merged data) with its statistics, telemetry, per-pool breakdown
//! and P/D path check, the format checks, each stage's verdict, and the summary and vLLM
//! tables. [`render::write_outputs`] writes a run directory's outputs (summaries, plots, HTML,
//! llm-d reports) from its stored files; the coordinator's store writes the files those are
//! built from (profile, plan, stage reports, snapshot logs), which [`read_snapshots`] reads back.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod benchmark_run;
mod build;
mod build_v0_2_1;
mod check;
mod payload;
mod pd_path;
mod pools;
mod pools_summary;
pub mod render;
mod snapshot_log;
mod statistics;
mod summary;
mod telemetry;
mod v0_2_1;
mod verdict;
mod vllm;

pub use benchmark_run::*;
pub use build::{build_stage_report, EndpointFacts, StageInput};
pub use build_v0_2_1::{build_v021, RequestInterval, ResourceInterval, V021Input};
pub use check::{check_v0_1, check_v0_2_1};
pub use pd_path::{attach as attach_pd_path, declares_pd, PdPath, PdStatus};
pub use pools::{pool_rows, Pool, PoolBreakdown, PoolTime, TtftSplit, POOL_COLUMNS};
pub use pools_summary::{pools_markdown, stage_pd_lines};
pub use snapshot_log::{read_snapshots, SnapshotLogError};
pub use summary::{summary_markdown, summary_rows, Cell, COLUMNS};
pub use telemetry::{service, AgentTelemetry};
pub use v0_2_1::*;
pub use verdict::{
    assess, judge, printable, verdict_lines, verdicts_markdown, with_verdicts, worst, FailureClass,
    ShardTally, StageVerdict, Verdict, VerdictInputs, DEFAULT_MAX_FAILURE_RATE,
};
pub use vllm::{vllm_results, vllm_table, VllmResult, VllmTable};
