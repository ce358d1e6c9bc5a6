//! Request data sources: what request j of a stage sends. A [`DataSpec`] travels to the agents in
//! every shard spec; [`DataSpec::request`] derives request j's prompt and lengths from the stage
//! seed and j alone, so every agent would build the same request j and the union of the shards is
//! the single-agent workload.
//!
//! - `synthetic` (inference-perf's `random`/`synthetic`): lengths from [`LengthSpec`]
//!   distributions, prompts synthesized word by word;
//! - `shared_prefix`: request j belongs to group j % num_groups, whose requests all start with the
//!   same system-prompt words, then a question of their own (inference-perf's keys);
//! - `prompts`: ShareGPT conversations sampled with a fixed seed (prompt = first human turn,
//!   output length = the answer's word count), read by the coordinator and carried in the spec;
//! - `trace`: Mooncake-style records (or inference-perf's Azure trace CSV, without blocks); each hash id is a block of `TRACE_BLOCK_WORDS` (16) words shared
//!   by every record that names it.
//!
//! Tokens are the word tokenizer's (`crate::tokenize`): one token per whitespace-separated word.

mod chat_wrap;
mod conversation;
mod corpus;
mod length;
mod media;
mod replay;
mod replay_tools;
mod replay_wire;
mod stored_media;

pub use chat_wrap::ChatWrap;
pub use conversation::{Conversation, ConversationRequest, Conversations, Turn, ROUND_BITS};
pub use corpus::corpus_run;
pub use length::{LengthDist, LengthSpec};
pub use media::{
    ImageEncoding, Insertion, MediaItem, MediaKind, MediaMix, ModalityMix, Resolution,
    VideoEncoding, VideoShape, Weighted, MAX_AUDIO_SECONDS, MAX_MEDIA_PARTS, MAX_MEDIA_SIDE,
    MAX_VIDEO_FRAMES, MEDIA_VARIANTS,
};
pub use replay::{
    message_text, message_words, messages, CallMessages, LiveCall, Message, ReplayEvent,
    ReplayGraph, ReplaySessions, ReplaySlot, Segment, SegmentKind, ASYNC_REPORT_CLOSE,
    ASYNC_REPORT_OPEN, MAX_REPLAY_EVENTS,
};
pub use stored_media::{
    image_digest, StoredImage, StoredMedia, MAX_STORED_IMAGE_BYTES, MAX_STORED_MEDIA_BYTES,
};

use crate::tokenize::{count_words, splitmix64, synthesize_prompt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Words per trace hash id: the prefix-cache block a Mooncake hash id stands for.
pub(crate) const TRACE_BLOCK_WORDS: u32 = 16;

/// Most dataset entries carried in one shard spec (requests beyond cycle through them).
pub const MAX_CARRIED_ENTRIES: usize = 2048;

/// Most trace records carried in one shard spec (a trace replay replays at most these).
pub const MAX_TRACE_RECORDS: usize = 20_000;

/// Most bytes of dataset prompts carried in one shard spec (gRPC messages stay small).
pub const MAX_CARRIED_BYTES: usize = 2 << 20;

/// One prompt of a dataset with the output length it asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptEntry {
    /// The prompt text.
    pub prompt: String,
    /// The output length it asks for.
    pub output_tokens: u32,
    /// The prompt's tokens for the profile's tokenizer (absent: its word count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    /// The chat turns `(role, content)` the chat API sends instead of `prompt` as one user turn
    /// (a dataset row of recorded turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<(String, String)>>,
    /// The dataset images it sends with the prompt, by index in the spec's
    /// [`DataSpec::stored_media`] (a VisionArena row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<u32>,
}

/// A prompt of exactly `tokens` words from `vocab`, chosen by `seed` (the word tokenizer's
/// [`synthesize_prompt`] when `vocab` is empty).
pub fn synthesize_from(vocab: &[String], tokens: u32, seed: u64) -> String {
    if vocab.is_empty() {
        return synthesize_prompt(tokens, seed);
    }
    let mut out = String::with_capacity(tokens as usize * 8);
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    for i in 0..tokens {
        state = splitmix64(state);
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&vocab[(state % vocab.len() as u64) as usize]);
    }
    out
}

/// One record of a Mooncake-style trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// When the request arrives, milliseconds from the trace's start.
    pub timestamp_ms: f64,
    /// Prompt tokens.
    pub input_length: u32,
    /// Output tokens.
    pub output_length: u32,
    /// The prefix-cache blocks the prompt is made of, in order.
    pub hash_ids: Vec<u64>,
}

/// The data of a stage's requests: where prompts and lengths come from, and which model or LoRA
/// adapter each request names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Where prompts and lengths come from.
    #[serde(flatten)]
    pub source: DataSource,
    /// Adapter names with their weights (`data.lora_mix`); empty: the endpoint's model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lora_mix: Vec<LoraShare>,
    /// Words that are one token each for the profile's tokenizer; synthesized prompts use them
    /// (empty: the word tokenizer's vocabulary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vocab: Vec<String>,
    /// Each request's own synthetic media (`data.multimodal`), drawn from its seed and placed
    /// in its prompt (in a shared-prefix request: in its question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaMix>,
    /// A shared prefix's media (`data.shared_prefix.multimodal`), drawn from its group's seed and
    /// placed in the system prompt, so every request of a group sends the same media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_media: Option<MediaMix>,
    /// `data.use_chat_template`: synthetic and trace prompts wrapped in the model's chat
    /// template (sent with `add_special_tokens: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_wrap: Option<ChatWrap>,
    /// `data.corpus_file_path`'s words, one token each: synthetic prompts are runs of them
    /// (empty: words drawn from `vocab`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corpus: Vec<String>,
    /// The images the entries of a `Prompts` source send (`data.visionarena`), named by digest;
    /// their bytes reach the agents over the control stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_media: Option<StoredMedia>,
}

/// One adapter of a LoRA mix and its share of the requests (weights need not sum to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraShare {
    /// The adapter's name.
    pub name: String,
    /// Its weight in the mix.
    pub weight: f64,
}

impl From<DataSource> for DataSpec {
    fn from(source: DataSource) -> Self {
        DataSpec {
            source,
            lora_mix: Vec::new(),
            vocab: Vec::new(),
            media: None,
            prefix_media: None,
            chat_wrap: None,
            corpus: Vec::new(),
            stored_media: None,
        }
    }
}

impl DataSpec {
    /// Request `index` of the stage whose seed is `stage_seed`.
    pub fn request(&self, stage_seed: u64, index: u64) -> RequestContent {
        let mut c = self.source.request_with(stage_seed, index, &self.vocab);
        let req_seed = request_seed(stage_seed, index);
        if let Some(adapter) = pick_adapter(&self.lora_mix, req_seed) {
            c.model = Some(adapter);
        }
        c.media = self.media_of(req_seed, index, c.input_tokens);
        if let (Some(stored), DataSource::Prompts { prompts }) = (&self.stored_media, &self.source)
        {
            if let Some(e) = prompts.get(index as usize % prompts.len().max(1)) {
                let chars = c.prompt.chars().count().min(u32::MAX as usize) as u32;
                c.media.extend(stored.items(&e.images, req_seed, chars));
            }
        }
        if !self.corpus.is_empty() && matches!(self.source, DataSource::Synthetic { .. }) {
            c.prompt = corpus_run(&self.corpus, c.input_tokens, req_seed);
        }
        if let Some(w) = &self.chat_wrap {
            if matches!(
                self.source,
                DataSource::Synthetic { .. } | DataSource::Trace { .. }
            ) {
                c.prompt = w.apply(&c.prompt, c.input_tokens);
            }
        }
        c
    }

    /// The media items of a request of `words` prompt words: a shared prefix's in its system
    /// prompt (the same for the whole group), then the request's own in the rest.
    fn media_of(&self, req_seed: u64, index: u64, words: u32) -> Vec<MediaItem> {
        if self.media.is_none() && self.prefix_media.is_none() {
            return Vec::new();
        }
        let (group_seed, prefix) = self.source.shared_prefix_of(index).unwrap_or((0, 0));
        let mut items = match &self.prefix_media {
            Some(m) => m.draw(splitmix64(group_seed ^ 0x4D_4544), prefix, 0),
            None => Vec::new(),
        };
        if let Some(m) = &self.media {
            let own = words.saturating_sub(prefix);
            items.extend(m.draw(splitmix64(req_seed ^ 0x4D_4544), own, prefix));
        }
        items
    }

    /// A one-line description for `coordinator validate`.
    pub fn describe(&self) -> String {
        let mut d = self.source.describe();
        if !self.lora_mix.is_empty() {
            let parts: Vec<String> = self
                .lora_mix
                .iter()
                .map(|l| format!("{} {}", l.name, l.weight))
                .collect();
            d.push_str(&format!("; LoRA mix: {}", parts.join(", ")));
        }
        if !self.vocab.is_empty() {
            d.push_str(&format!(
                "; prompts from {} single-token words of the profile's tokenizer",
                self.vocab.len()
            ));
        }
        if !self.corpus.is_empty() {
            d.push_str(&format!(
                "; prompts cut from {} words of data.corpus_file_path",
                self.corpus.len()
            ));
        }
        if let Some(w) = &self.chat_wrap {
            d.push_str(&format!(
                "; each prompt one user turn of the tokenizer's chat template ({} tokens of it)",
                w.tokens
            ));
        }
        if let Some(m) = &self.prefix_media {
            d.push_str(&format!("; shared prefix media: {}", m.describe()));
        }
        if let Some(m) = &self.media {
            d.push_str(&format!("; media: {}", m.describe()));
        }
        if let Some(m) = &self.stored_media {
            d.push_str(&format!("; {}", m.describe()));
        }
        d
    }
}

/// The adapter of a request: a weighted draw from its own seed, so request j names the same
/// adapter on every agent and the shares converge to the weights.
pub fn pick_adapter(mix: &[LoraShare], req_seed: u64) -> Option<String> {
    let total: f64 = mix.iter().map(|l| l.weight.max(0.0)).sum();
    if mix.is_empty() || total <= 0.0 {
        return None;
    }
    let u = (splitmix64(req_seed ^ 0x10_4A) >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut acc = 0.0;
    for l in mix {
        acc += l.weight.max(0.0);
        if u < acc {
            return Some(l.name.clone());
        }
    }
    mix.last().map(|l| l.name.clone())
}

/// Where a stage's prompts and lengths come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSource {
    /// Synthesized prompts of drawn lengths.
    Synthetic {
        /// Prompt lengths.
        input: LengthSpec,
        /// Output lengths.
        output: LengthSpec,
    },
    /// Groups of requests that share a system prompt (inference-perf's `shared_prefix`).
    SharedPrefix {
        /// Seed of the groups' system prompts and questions (the run's, so every stage sees the
        /// same prompts, as inference-perf's fixed dataset).
        seed: u64,
        /// Groups; request j belongs to group j mod num_groups.
        num_groups: u32,
        /// Distinct questions per group.
        prompts_per_group: u32,
        /// Tokens of each group's system prompt.
        system_prompt_len: u32,
        /// A system prompt length drawn once per group (over `system_prompt_len`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system_prompt: Option<LengthSpec>,
        /// Question lengths.
        question: LengthSpec,
        /// Output lengths.
        output: LengthSpec,
    },
    /// inference-perf's mock data: request j's prompt is `1 2 3 <j+1>` (completion) or
    /// `mock prompt <j+1>` (chat), with its default of 30 output tokens.
    Mock {
        /// Chat API (`mock prompt <j+1>`) rather than completions.
        chat: bool,
    },
    /// Dataset prompts (ShareGPT), request j takes entry j mod their number.
    Prompts {
        /// The carried entries.
        prompts: Vec<PromptEntry>,
    },
    /// Trace records (Mooncake, Azure): request j replays record j.
    Trace {
        /// The carried records.
        records: Vec<TraceRecord>,
    },
    /// Chat sessions: request j is round (j / users) mod rounds of user j mod users; its prompt is
    /// the user's system prompt, then (with `carry_history`) the questions and synthesized answers
    /// of the earlier rounds, then this round's question.
    MultiTurn {
        /// Seed of the prompts (the run's, so every stage sees the same ones).
        seed: u64,
        /// Session users; request j belongs to user j mod users.
        users: u32,
        /// Rounds per session.
        rounds: u32,
        /// Tokens of each group's system prompt.
        system_prompt_len: u32,
        /// Question lengths.
        question: LengthSpec,
        /// Answer lengths (the output asked for, and synthesized history).
        answer: LengthSpec,
        /// Send the earlier rounds with each round.
        carry_history: bool,
    },
    /// inference-perf's conversation replay: session s replays conversation s % n, turn after
    /// turn (see [`Conversations`]).
    Conversations(Conversations),
    /// inference-perf's OTel trace replay: session s replays graph `slots[s]`, its calls as a
    /// DAG (see [`ReplaySessions`]).
    Replay(ReplaySessions),
}

/// What request j sends.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestContent {
    /// The prompt (for chat: the user turn).
    pub prompt: String,
    /// The prompt's tokens.
    pub input_tokens: u32,
    /// The output tokens asked for.
    pub max_tokens: u32,
    /// The model or adapter to name instead of the endpoint's (a LoRA mix).
    pub model: Option<String>,
    /// The chat turns `(role, content)` where the source has them (multi-turn sessions); the
    /// chat API sends them as messages, the completion API sends `prompt` (the turns joined).
    pub messages: Option<Vec<(String, String)>>,
    /// Synthetic media items to weave into the prompt (chat only), in prompt order.
    pub media: Vec<MediaItem>,
}

/// The per-request seed of request `index` of a stage with seed `stage_seed`.
pub(crate) fn request_seed(stage_seed: u64, index: u64) -> u64 {
    splitmix64(stage_seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F))
}

impl DataSource {
    /// Rounds per session when this source is made of multi-turn sessions: the load then starts
    /// sessions, and each round waits for the previous answer.
    pub fn session_rounds(&self) -> Option<u32> {
        match self {
            DataSource::MultiTurn { rounds, .. } => Some((*rounds).max(1)),
            DataSource::Conversations(c) => Some(c.most_rounds()),
            DataSource::Replay(r) => Some(r.most_rounds()),
            _ => None,
        }
    }

    /// Rounds of session `session` (1 for sources without sessions).
    pub fn rounds_of(&self, session: u64) -> u32 {
        match self {
            DataSource::Conversations(c) => c.rounds_of(session),
            DataSource::Replay(r) => r.rounds_of(session),
            _ => self.session_rounds().unwrap_or(1),
        }
    }

    /// Whether every session has the same number of rounds ([`DataSource::session_rounds`]);
    /// conversations drawn with a turn distribution do not.
    pub fn fixed_rounds(&self) -> bool {
        match self {
            DataSource::Conversations(c) => {
                let most = c.most_rounds();
                (c.conversations.iter()).all(|x| x.turns.len().max(1) as u32 == most)
            }
            DataSource::Replay(r) => {
                let most = r.most_rounds();
                (r.graphs.iter()).all(|g| g.events.len().max(1) as u32 == most)
            }
            _ => true,
        }
    }

    /// What session `session` waits after the answer of round `round` before its next round,
    /// besides the load's think time: a conversation's tool call.
    pub fn wait_after_ms(&self, session: u64, round: u32) -> u64 {
        match self {
            DataSource::Conversations(c) => u64::from(c.tool_wait_s(session, round)) * 1000,
            _ => 0,
        }
    }

    /// The request index of round `round` of session `session`: the index whose request is
    /// that round of user `session % users` (see [`DataSource::MultiTurn`]), unique per
    /// (session, round). Other sources: the session index itself.
    pub fn session_round_index(&self, session: u64, round: u32) -> u64 {
        match self {
            DataSource::MultiTurn { users, rounds, .. } => {
                let (users, rounds) = (u64::from((*users).max(1)), u64::from((*rounds).max(1)));
                ((session / users) * rounds + u64::from(round)) * users + session % users
            }
            DataSource::Conversations(_) | DataSource::Replay(_) => {
                session << ROUND_BITS | u64::from(round)
            }
            _ => session,
        }
    }

    /// The session that request `index` belongs to, for sources made of sessions: the inverse
    /// of [`DataSource::session_round_index`] (`None`: requests stand alone).
    pub fn session_of(&self, index: u64) -> Option<u64> {
        match self {
            DataSource::MultiTurn { users, rounds, .. } => {
                let (users, rounds) = (u64::from((*users).max(1)), u64::from((*rounds).max(1)));
                Some(index / users / rounds * users + index % users)
            }
            DataSource::Conversations(_) | DataSource::Replay(_) => Some(index >> ROUND_BITS),
            _ => None,
        }
    }

    /// Request `index` of the stage whose seed is `stage_seed` (no adapter, the word
    /// tokenizer's vocabulary).
    pub fn request(&self, stage_seed: u64, index: u64) -> RequestContent {
        self.request_with(stage_seed, index, &[])
    }

    /// [`DataSource::request`] with prompts synthesized from `vocab` (single-token words of the
    /// model's tokenizer; empty: the word tokenizer's).
    pub(crate) fn request_with(
        &self,
        stage_seed: u64,
        index: u64,
        vocab: &[String],
    ) -> RequestContent {
        let req_seed = request_seed(stage_seed, index);
        let synthesize_prompt = |n: u32, seed: u64| synthesize_from(vocab, n, seed);
        // An empty dataset (validation rejects one; a hand-made spec may carry it): one word.
        let one_word = || RequestContent {
            prompt: synthesize_prompt(1, req_seed),
            input_tokens: 1,
            max_tokens: 1,
            model: None,
            messages: None,
            media: Vec::new(),
        };
        match self {
            DataSource::Synthetic { input, output } => {
                let mut rng = ChaCha8Rng::seed_from_u64(req_seed);
                let input_tokens = input.draw(&mut rng);
                let max_tokens = output.draw(&mut rng).max(1);
                RequestContent {
                    prompt: synthesize_prompt(input_tokens, req_seed),
                    input_tokens,
                    max_tokens,
                    model: None,
                    messages: None,
                    media: Vec::new(),
                }
            }
            DataSource::SharedPrefix { .. } => self.shared_prefix_request(index, vocab),
            DataSource::Mock { chat } => {
                let prompt = if *chat {
                    format!("mock prompt {}", index + 1)
                } else {
                    format!("1 2 3 {}", index + 1)
                };
                RequestContent {
                    input_tokens: count_words(&prompt) as u32,
                    prompt,
                    max_tokens: 30,
                    model: None,
                    messages: None,
                    media: Vec::new(),
                }
            }
            DataSource::MultiTurn { .. } => self.multi_turn_request(index, vocab),
            DataSource::Conversations(c) => {
                match c.request(stage_seed, index, |n, seed| synthesize_from(vocab, n, seed)) {
                    Some(r) => RequestContent {
                        prompt: r
                            .turns
                            .iter()
                            .map(|(_, c)| c.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        input_tokens: r.input_tokens,
                        max_tokens: r.max_tokens,
                        model: None,
                        messages: Some(r.turns),
                        media: Vec::new(),
                    },
                    None => one_word(),
                }
            }
            DataSource::Replay(r) => match r.event(index) {
                Some(e) => {
                    let messages = (r.messages(index, &|_| None))
                        .map(|c| c.messages)
                        .unwrap_or_default();
                    let turns: Vec<(String, String)> = (messages.iter())
                        .map(|m| {
                            let role = m.get("role").and_then(|r| r.as_str()).unwrap_or("user");
                            (role.to_string(), message_text(m))
                        })
                        .collect();
                    RequestContent {
                        prompt: (turns.iter().map(|(_, c)| c.as_str()))
                            .collect::<Vec<_>>()
                            .join(" "),
                        input_tokens: message_words(&messages),
                        max_tokens: e.max_tokens.max(1),
                        model: e.model.clone(),
                        messages: Some(turns),
                        media: Vec::new(),
                    }
                }
                None => one_word(),
            },
            DataSource::Prompts { prompts } => {
                match prompts.get(index as usize % prompts.len().max(1)) {
                    Some(e) => RequestContent {
                        input_tokens: e
                            .input_tokens
                            .unwrap_or_else(|| count_words(&e.prompt) as u32),
                        prompt: e.prompt.clone(),
                        max_tokens: e.output_tokens.max(1),
                        model: None,
                        messages: e.messages.clone(),
                        media: Vec::new(),
                    },
                    None => one_word(),
                }
            }
            DataSource::Trace { records } => {
                match records.get(index as usize % records.len().max(1)) {
                    Some(r) => RequestContent {
                        prompt: trace_prompt(r, req_seed, vocab),
                        input_tokens: r.input_length,
                        max_tokens: r.output_length.max(1),
                        model: None,
                        messages: None,
                        media: Vec::new(),
                    },
                    None => one_word(),
                }
            }
        }
    }

    /// Request `index` of a shared-prefix source: group `index % num_groups`, its system prompt, then
    /// a question of its own.
    fn shared_prefix_request(&self, index: u64, vocab: &[String]) -> RequestContent {
        let synthesize_prompt = |n: u32, seed: u64| synthesize_from(vocab, n, seed);
        let DataSource::SharedPrefix {
            num_groups,
            prompts_per_group,
            question,
            output,
            ..
        } = self
        else {
            unreachable!("shared_prefix_request of another source")
        };
        let groups = (*num_groups).max(1) as u64;
        let q = (index / groups) % (*prompts_per_group).max(1) as u64;
        let (group_seed, system_prompt_len) = self.shared_prefix_of(index).unwrap_or((0, 0));
        // The question (and its lengths) repeat once every group has used all of its
        // prompts: the dataset has num_groups × prompts_per_group prompts.
        let q_seed = splitmix64(group_seed ^ (q + 1).wrapping_mul(0x9E37_79B9));
        let mut rng = ChaCha8Rng::seed_from_u64(q_seed);
        let q_len = question.draw(&mut rng);
        let max_tokens = output.draw(&mut rng).max(1);
        let mut prompt = synthesize_prompt(system_prompt_len, group_seed);
        if q_len > 0 {
            if !prompt.is_empty() {
                prompt.push(' ');
            }
            prompt.push_str(&synthesize_prompt(q_len, q_seed));
        }
        RequestContent {
            input_tokens: system_prompt_len + q_len,
            prompt,
            max_tokens,
            model: None,
            messages: None,
            media: Vec::new(),
        }
    }

    /// The seed of request `index`'s group and the length of its system prompt, for a
    /// shared-prefix source.
    fn shared_prefix_of(&self, index: u64) -> Option<(u64, u32)> {
        let DataSource::SharedPrefix {
            seed,
            num_groups,
            system_prompt_len,
            system_prompt,
            ..
        } = self
        else {
            return None;
        };
        let group = index % (*num_groups).max(1) as u64;
        let group_seed = splitmix64(seed ^ 0x6_0000_0000 ^ group);
        let len = match system_prompt {
            Some(l) => l.draw(&mut ChaCha8Rng::seed_from_u64(group_seed ^ 0x515)),
            None => *system_prompt_len,
        };
        Some((group_seed, len))
    }

    /// Request `index` of a multi-turn source: a round of a user's session, with the earlier rounds
    /// when the history is carried.
    fn multi_turn_request(&self, index: u64, vocab: &[String]) -> RequestContent {
        let synthesize_prompt = |n: u32, seed: u64| synthesize_from(vocab, n, seed);
        let DataSource::MultiTurn {
            seed,
            users,
            rounds,
            system_prompt_len,
            question,
            answer,
            carry_history,
        } = self
        else {
            unreachable!("multi_turn_request of another source")
        };
        let users = (*users).max(1) as u64;
        let user = index % users;
        let round = (index / users) % (*rounds).max(1) as u64;
        let user_seed = splitmix64(seed ^ 0x3_0000_0000 ^ user);
        let turn = |k: u64| {
            let s = splitmix64(user_seed ^ (k + 1).wrapping_mul(0x9E37_79B9));
            let mut rng = ChaCha8Rng::seed_from_u64(s);
            (s, question.draw(&mut rng), answer.draw(&mut rng).max(1))
        };
        let mut turns: Vec<(String, String)> = vec![(
            "system".into(),
            synthesize_prompt(*system_prompt_len, user_seed),
        )];
        let mut tokens = *system_prompt_len;
        if *carry_history {
            for k in 0..round {
                let (s, q, a) = turn(k);
                turns.push(("user".into(), synthesize_prompt(q, s)));
                turns.push(("assistant".into(), synthesize_prompt(a, s ^ 0xA5)));
                tokens += q + a;
            }
        }
        let (s, q, a) = turn(round);
        turns.push(("user".into(), synthesize_prompt(q, s)));
        tokens += q;
        turns.retain(|(_, c)| !c.is_empty());
        let prompt = turns
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        RequestContent {
            prompt,
            input_tokens: tokens,
            max_tokens: a,
            model: None,
            messages: Some(turns),
            media: Vec::new(),
        }
    }

    /// A one-line description for `coordinator validate`.
    pub fn describe(&self) -> String {
        let len = |l: &LengthSpec| match l.dist {
            LengthDist::Fixed => format!("{}", l.mean),
            LengthDist::Uniform => format!("uniform[{}, {}]", l.min, l.max),
            d => format!(
                "{d:?}(mean {}, std {}) in [{}, {}]",
                l.mean,
                l.std_dev,
                l.min,
                if l.max == u32::MAX {
                    "∞".to_string()
                } else {
                    l.max.to_string()
                }
            )
            .to_lowercase(),
        };
        match self {
            DataSource::Conversations(c) => c.describe(),
            DataSource::Replay(r) => r.describe(),
            DataSource::Synthetic { input, output } => {
                format!("synthetic: input {} tokens, output {}", len(input), len(output))
            }
            DataSource::SharedPrefix {
                num_groups,
                prompts_per_group,
                system_prompt_len,
                system_prompt,
                question,
                output,
                ..
            } => format!(
                "shared_prefix: {num_groups} groups × {prompts_per_group} prompts, system prompt {} + question {} tokens, output {}",
                system_prompt
                    .as_ref()
                    .map_or(system_prompt_len.to_string(), &len),
                len(question),
                len(output)
            ),
            DataSource::Mock { chat } => format!(
                "mock: prompts `{}`, 30 output tokens (inference-perf's mock data)",
                if *chat { "mock prompt <i>" } else { "1 2 3 <i>" }
            ),
            DataSource::Prompts { prompts } => {
                let n = prompts.len().max(1) as f64;
                let i: usize = prompts.iter().map(|p| count_words(&p.prompt)).sum();
                let o: u64 = prompts.iter().map(|p| p.output_tokens as u64).sum();
                format!(
                    "prompts: {} sampled entries, mean input {:.1}, mean output {:.1} tokens",
                    prompts.len(),
                    i as f64 / n,
                    o as f64 / n
                )
            }
            DataSource::MultiTurn {
                users,
                rounds,
                system_prompt_len,
                question,
                answer,
                carry_history,
                ..
            } => format!(
                "multi_turn: {users} users × {rounds} rounds, system prompt {system_prompt_len}, question {} tokens, answer {}, history {}",
                len(question),
                len(answer),
                if *carry_history { "carried" } else { "not carried" }
            ),
            DataSource::Trace { records } => {
                let n = records.len().max(1) as f64;
                let i: u64 = records.iter().map(|r| r.input_length as u64).sum();
                let o: u64 = records.iter().map(|r| r.output_length as u64).sum();
                format!(
                    "trace: {} records, mean input {:.1}, mean output {:.1} tokens",
                    records.len(),
                    i as f64 / n,
                    o as f64 / n
                )
            }
        }
    }
}

/// A trace record's prompt: one block of `TRACE_BLOCK_WORDS` words per hash id (the same words
/// wherever the id appears), then words of its own, cut to `input_length` words.
pub fn trace_prompt(r: &TraceRecord, req_seed: u64, vocab: &[String]) -> String {
    let synthesize_prompt = |n: u32, seed: u64| synthesize_from(vocab, n, seed);
    let mut words: Vec<String> = Vec::with_capacity(r.input_length as usize);
    for &h in &r.hash_ids {
        if words.len() >= r.input_length as usize {
            break;
        }
        let block = synthesize_prompt(TRACE_BLOCK_WORDS, splitmix64(h ^ 0x4A54_1D00));
        words.extend(block.split(' ').map(str::to_string));
    }
    words.truncate(r.input_length as usize);
    let rest = r.input_length as usize - words.len();
    if rest > 0 {
        words.extend(
            synthesize_prompt(rest as u32, req_seed)
                .split(' ')
                .map(str::to_string),
        );
    }
    words.join(" ")
}
