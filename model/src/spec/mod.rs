//! The shard specs: what the coordinator's plan of a run hands each agent per stage (the
//! [`ShardSpec`] that travels as JSON inside `Assign`), the intended send times of a shard
//! (`schedule.rs`), how many requests a shard sends (`count.rs`) and the stripe of a weighted
//! split (`split.rs`).

mod count;
mod rate;
mod run;
mod schedule;
mod shard;
mod split;
mod window;

pub use count::{stripe_share, PlannedCount};
pub use rate::Rate;
pub use run::{Member, RunPlan, StageLoad, StagePlan};
pub use schedule::{constant_arrivals, trace_times, Arrival, Ramp};
pub use shard::{EndpointSpec, PromQuery, ShardLoad, ShardSpec};
pub use split::{largest_remainder, stripe_cycle};
pub use window::Window;
