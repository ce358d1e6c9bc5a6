//! inference-perf's conversation replay as a data source: conversations drawn once by the
//! coordinator from `data.conversation_replay` (deterministic by its seed) and carried in the
//! shard spec as lengths; each conversation is a session whose turn k carries the system prompt
//! and the earlier turns (user message and answer), then its own user message.
//!
//! Request indices of a conversation source encode the session and the turn,
//! `session << ROUND_BITS | turn`; session s replays conversation `s % conversations` (a slot
//! that finished its conversation starts it again, as inference-perf recycles). The system
//! prompt is the stage's shared part (synthesized from the stage seed, so each stage has its
//! own, as inference-perf derives one per stage) then the conversation's own part. Earlier
//! answers are synthesized with the lengths the turns asked for (what an `ignore_eos` server
//! returns), not copied from the live answers.

use crate::tokenize::splitmix64;
use serde::{Deserialize, Serialize};

/// Bits of a request index that hold the turn (turns per conversation are at most 10 000).
pub const ROUND_BITS: u32 = 16;

/// inference-perf keeps this many tokens of a model's context free besides the answer.
const CONTEXT_MARGIN: u32 = 200;

/// The conversations of a `conversation_replay` source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversations {
    /// The profile's `seed`: the prompts' words.
    pub seed: u64,
    /// Tokens of the system prompt every conversation starts with.
    pub shared_system_prompt_len: u32,
    /// The model's context: older turns leave a request that would not fit.
    pub max_model_len: u32,
    /// The conversations; session s replays conversation s mod their number.
    pub conversations: Vec<Conversation>,
}

/// One conversation: its own system prompt's tokens and its turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Tokens of this conversation's own system prompt, after the shared one.
    pub dynamic_system_prompt_len: u32,
    /// Its turns, in order.
    pub turns: Vec<Turn>,
}

/// What one turn of a conversation sends: its chat turns `(role, content)`, their tokens, and
/// the answer's `max_tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRequest {
    /// The chat messages `(role, content)`, system prompt first.
    pub turns: Vec<(String, String)>,
    /// Tokens of all the messages.
    pub input_tokens: u32,
    /// The answer's `max_tokens`.
    pub max_tokens: u32,
}

/// One turn: the user message's tokens, the answer's `max_tokens`, and the seconds the
/// conversation waits after the answer (the tool call) before its next turn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Tokens of the user message.
    #[serde(rename = "i")]
    pub input: u32,
    /// The answer's `max_tokens`.
    #[serde(rename = "o")]
    pub output: u32,
    /// Seconds the conversation waits after the answer.
    #[serde(rename = "w", default, skip_serializing_if = "is_zero")]
    pub tool_wait_s: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Conversations {
    /// The conversation session `session` replays.
    pub fn of_session(&self, session: u64) -> Option<&Conversation> {
        let n = self.conversations.len() as u64;
        (n > 0).then(|| &self.conversations[(session % n) as usize])
    }

    /// Turns of session `session`.
    pub fn rounds_of(&self, session: u64) -> u32 {
        self.of_session(session)
            .map_or(1, |c| c.turns.len().max(1) as u32)
    }

    /// The most turns of any conversation.
    pub fn most_rounds(&self) -> u32 {
        let most = self.conversations.iter().map(|c| c.turns.len()).max();
        most.unwrap_or(1).max(1) as u32
    }

    /// Seconds session `session` waits after turn `round`'s answer.
    pub fn tool_wait_s(&self, session: u64, round: u32) -> u32 {
        self.of_session(session)
            .and_then(|c| c.turns.get(round as usize))
            .map_or(0, |t| t.tool_wait_s)
    }

    /// Request `index` (session `index >> ROUND_BITS`, turn `index & mask`) with prompts from
    /// `synth(tokens, seed)`: the system prompt (shared part from `stage_seed`, then the
    /// conversation's own), the earlier turns that fit the context (oldest dropped first, then
    /// the system prompt cut, as inference-perf does), then this turn's user message.
    pub fn request(
        &self,
        stage_seed: u64,
        index: u64,
        synth: impl Fn(u32, u64) -> String,
    ) -> Option<ConversationRequest> {
        let session = index >> ROUND_BITS;
        let conv = self.of_session(session)?;
        let round =
            ((index & ((1 << ROUND_BITS) - 1)) as usize).min(conv.turns.len().checked_sub(1)?);
        let conv_seed =
            splitmix64(self.seed ^ 0xC0_0000_0000 ^ (session % self.conversations.len() as u64));
        let turn_seed = |k: usize| splitmix64(conv_seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9));
        let this = conv.turns[round];
        // What fits: inference-perf's target is max_model_len − max_tokens − 200.
        let budget = self
            .max_model_len
            .saturating_sub(this.output)
            .saturating_sub(CONTEXT_MARGIN);
        // In u64: a long conversation's history may pass u32::MAX tokens before it is cut.
        let turn_tokens = |t: &Turn| u64::from(t.input) + u64::from(t.output);
        let mut system = self
            .shared_system_prompt_len
            .saturating_add(conv.dynamic_system_prompt_len);
        let mut first_kept = 0;
        let mut history: u64 = conv.turns[..round].iter().map(turn_tokens).sum();
        let budget64 = u64::from(budget);
        while first_kept < round && u64::from(system) + history + u64::from(this.input) > budget64 {
            history -= turn_tokens(&conv.turns[first_kept]);
            first_kept += 1;
        }
        let mut input = this.input;
        if u64::from(system) + u64::from(input) > budget64 {
            system = budget.saturating_sub(input);
            input = input.min(budget.max(1));
        }
        let history = u32::try_from(history).unwrap_or(u32::MAX);
        let shared = self.shared_system_prompt_len.min(system);
        let mut system_text = synth(shared, splitmix64(stage_seed ^ 0x5A5A));
        if system > shared {
            if !system_text.is_empty() {
                system_text.push(' ');
            }
            system_text.push_str(&synth(system - shared, conv_seed));
        }
        let mut turns: Vec<(String, String)> = vec![("system".into(), system_text)];
        for (k, t) in conv.turns.iter().enumerate().take(round).skip(first_kept) {
            turns.push(("user".into(), synth(t.input, turn_seed(k))));
            turns.push(("assistant".into(), synth(t.output, turn_seed(k) ^ 0xA5)));
        }
        turns.push(("user".into(), synth(input, turn_seed(round))));
        turns.retain(|(_, c)| !c.is_empty());
        Some(ConversationRequest {
            turns,
            input_tokens: system.saturating_add(history).saturating_add(input),
            max_tokens: this.output,
        })
    }

    /// A one-line description for `coordinator validate`.
    pub fn describe(&self) -> String {
        let n = self.conversations.len().max(1) as f64;
        let turns: usize = self.conversations.iter().map(|c| c.turns.len()).sum();
        let sum = |f: fn(&Turn) -> u32| -> f64 {
            let all = self.conversations.iter().flat_map(|c| c.turns.iter());
            all.map(|t| f64::from(f(t))).sum::<f64>() / turns.max(1) as f64
        };
        format!(
            "conversation_replay: {} conversations, {:.1} turns each on average, system prompt {} shared + {:.1} own tokens, per turn mean input {:.1}, output {:.1} tokens, tool wait {:.1} s; max_model_len {}",
            self.conversations.len(),
            turns as f64 / n,
            self.shared_system_prompt_len,
            self.conversations.iter().map(|c| f64::from(c.dynamic_system_prompt_len)).sum::<f64>() / n,
            sum(|t| t.input),
            sum(|t| t.output),
            sum(|t| t.tool_wait_s),
            self.max_model_len
        )
    }
}
