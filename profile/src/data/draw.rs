//! Values drawn from a profile's distributions with inference-perf's rules, shared by the plan
//! (which draws a conversation replay's conversations) and validation (which checks what the
//! draw gives, not the distribution's worst case).

use crate::model::{ConversationReplayConfig, Distribution, DEFAULT_TURNS};
use fleetbench_model::data::{LengthDist, LengthSpec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A value of a validated distribution (`default` without one): `fixed` is `int(mean)`, the
/// others are clamped to `[min, max]` as given, 0 included.
pub(crate) fn draw_value(d: Option<&Distribution>, default: u32, rng: &mut ChaCha8Rng) -> u32 {
    match d {
        None => default,
        Some(d) if d.shape() == LengthDist::Fixed => d.center().max(0.0) as u32,
        Some(d) => {
            let mut spec = LengthSpec::from(d);
            spec.min = d.lo().min(spec.max);
            spec.draw(rng)
        }
    }
}

/// The conversation replay's random stream, seeded by its `seed`.
pub(crate) fn conversation_rng(c: &ConversationReplayConfig) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(c.seed)
}

/// The turns of each conversation: the first draws of [`conversation_rng`] (at least 1 each).
pub(crate) fn turn_counts(c: &ConversationReplayConfig, rng: &mut ChaCha8Rng) -> Vec<u32> {
    (0..c.num_conversations)
        .map(|_| draw_value(c.turns_per_conversation.as_ref(), DEFAULT_TURNS, rng).max(1))
        .collect()
}
