//! From a loaded profile's `data` section to the [`DataSpec`] that every shard carries.

use super::draw::{conversation_rng, draw_value, turn_counts};
use super::files::{sample, Dataset};
use crate::load::LoadedProfile;
use crate::model::DataType;
use fleetbench_model::data::{
    Conversation, Conversations, DataSource, DataSpec, LengthDist, LengthSpec, LoraShare, Turn,
    MAX_CARRIED_BYTES, MAX_CARRIED_ENTRIES, MAX_TRACE_RECORDS,
};

/// The stage data of a validated profile; `seed` is the run's (dataset sampling and shared
/// prefixes use it, so every stage of a run sees the same prompts).
pub(crate) fn plan_data(loaded: &LoadedProfile, seed: u64) -> DataSpec {
    let d = &loaded.profile.data;
    DataSpec {
        source: plan_source(loaded, seed),
        lora_mix: lora_mix(loaded),
        vocab: loaded.vocab.as_deref().cloned().unwrap_or_default(),
        media: d.multimodal.as_ref().map(crate::multimodal_check::mix_of),
        prefix_media: (d.shared_prefix.as_ref())
            .and_then(|s| s.multimodal.as_ref())
            .map(crate::multimodal_check::mix_of),
        chat_wrap: loaded.chat_wrap.clone(),
        corpus: loaded.corpus.as_deref().cloned().unwrap_or_default(),
        stored_media: loaded.stored_media.as_ref().map(|s| s.media.clone()),
    }
}

/// The LoRA mix of `data.lora_mix` or of inference-perf's `load.lora_traffic_split` (validation
/// allows one of them): both become the same weighted draw per request.
fn lora_mix(loaded: &LoadedProfile) -> Vec<LoraShare> {
    let p = &loaded.profile;
    if let Some(split) = &p.load.lora_traffic_split {
        return split
            .iter()
            .map(|s| LoraShare {
                name: s.name.clone(),
                weight: s.split,
            })
            .collect();
    }
    p.data
        .lora_mix
        .iter()
        .flatten()
        .map(|(name, &weight)| LoraShare {
            name: name.clone(),
            weight,
        })
        .collect()
}

fn plan_source(loaded: &LoadedProfile, seed: u64) -> DataSource {
    let d = &loaded.profile.data;
    let default_len = LengthSpec::fixed(crate::model::DEFAULT_LENGTH);
    let len = |x: Option<&crate::model::Distribution>| x.map(LengthSpec::from);
    match (&d.kind, loaded.dataset.as_deref()) {
        (DataType::SharedPrefix, _) => match &d.shared_prefix {
            Some(sp) => shared_prefix_source(sp, seed),
            None => DataSource::Synthetic {
                input: default_len,
                output: default_len,
            },
        },
        (DataType::ConversationReplay, _) => match &d.conversation_replay {
            Some(c) => DataSource::Conversations(conversations_from(c)),
            None => DataSource::Synthetic {
                input: default_len,
                output: default_len,
            },
        },
        (DataType::OtelTraceReplay | DataType::WekaTraceReplay | DataType::SyntheticAgentic, _) => {
            match &loaded.replay {
                Some(r) => DataSource::Replay(fleetbench_model::data::ReplaySessions {
                    seed,
                    ..r.as_ref().clone()
                }),
                None => DataSource::Synthetic {
                    input: default_len,
                    output: default_len,
                },
            }
        }
        (DataType::Mock, _) => DataSource::Mock {
            chat: loaded.profile.api.kind == fleetbench_model::settings::ApiType::Chat,
        },
        (DataType::MultiTurn, _) => {
            let mt = d.multi_turn.unwrap_or_default();
            DataSource::MultiTurn {
                seed,
                users: mt.users,
                rounds: mt.rounds,
                system_prompt_len: mt.system_prompt_len,
                question: LengthSpec::fixed(mt.question_len.unwrap_or(64)),
                answer: LengthSpec::fixed(mt.answer_len.unwrap_or(128)),
                carry_history: mt.history != crate::model::History::None,
            }
        }
        // inference-perf cycles through the pool in the dataset's order (no sampling); the
        // reader kept it within what a spec carries.
        (DataType::Visionarena, Some(Dataset::Prompts(p))) => {
            DataSource::Prompts { prompts: p.clone() }
        }
        (_, Some(Dataset::Prompts(p))) => {
            // At most MAX_CARRIED_ENTRIES and MAX_CARRIED_BYTES of prompt text: the shard spec
            // travels in one gRPC message.
            let mut prompts = sample(p, p.len().min(MAX_CARRIED_ENTRIES), seed);
            let mut bytes = 0usize;
            let keep = prompts
                .iter()
                .take_while(|e| {
                    bytes += e.prompt.len()
                        + (e.messages.iter().flatten())
                            .map(|(role, text)| role.len() + text.len())
                            .sum::<usize>();
                    bytes <= MAX_CARRIED_BYTES
                })
                .count()
                .max(1);
            prompts.truncate(keep);
            DataSource::Prompts { prompts }
        }
        (_, Some(Dataset::Trace(t))) => DataSource::Trace {
            records: t[..t.len().min(MAX_TRACE_RECORDS)].to_vec(),
        },
        _ => DataSource::Synthetic {
            input: len(d.input_distribution.as_ref()).unwrap_or(default_len),
            output: len(d.output_distribution.as_ref()).unwrap_or(default_len),
        },
    }
}

/// A length of `data.shared_prefix`: its number of tokens, the legacy distribution that wins
/// over a number, or its inline distribution.
fn length_of(
    len: &crate::model::LenOrDist,
    legacy: Option<&crate::model::Distribution>,
) -> LengthSpec {
    use crate::model::LenOrDist;
    match (len, legacy) {
        (LenOrDist::Dist(d), _) | (LenOrDist::Tokens(_), Some(d)) => LengthSpec::from(d),
        (LenOrDist::Tokens(n), None) => LengthSpec::fixed(*n),
    }
}

/// inference-perf's shared prefix: groups of prompts with a common system prompt (its own
/// `seed`, else the run's), or with `enable_multi_turn_chat` one chat session per group whose
/// rounds are the group's prompts (each round carries the earlier ones).
fn shared_prefix_source(sp: &crate::model::SharedPrefixConfig, run_seed: u64) -> DataSource {
    let seed = sp.seed.unwrap_or(run_seed);
    let question = length_of(&sp.question_len, sp.question_distribution.as_ref());
    let output = length_of(&sp.output_len, sp.output_distribution.as_ref());
    let (system_prompt_len, system_prompt) = match sp.system_prompt_len {
        crate::model::LenOrDist::Tokens(n) => (n, None),
        crate::model::LenOrDist::Dist(d) => (0, Some(LengthSpec::from(&d))),
    };
    if sp.enable_multi_turn_chat {
        return DataSource::MultiTurn {
            seed,
            users: sp.num_groups,
            rounds: sp.num_prompts_per_group,
            system_prompt_len,
            question,
            answer: output,
            carry_history: true,
        };
    }
    DataSource::SharedPrefix {
        seed,
        num_groups: sp.num_groups,
        prompts_per_group: sp.num_prompts_per_group,
        system_prompt_len,
        system_prompt,
        question,
        output,
    }
}

impl From<&crate::model::Distribution> for LengthSpec {
    /// A validated profile distribution with inference-perf's defaults for omitted keys and its
    /// meaning of each type: fixed is `int(mean)` whatever min and max say; the others are
    /// clamped to `[min, max]` (at least 1 token).
    fn from(d: &crate::model::Distribution) -> Self {
        let dist = d.shape();
        if dist == LengthDist::Fixed {
            return LengthSpec::fixed(d.center().max(0.0).min(u32::MAX as f64) as u32);
        }
        let min = d.lo().max(1);
        let max = d.hi().max(min);
        let mean = match dist {
            LengthDist::Uniform => (min as f64 + max as f64) / 2.0,
            _ => d.center(),
        };
        LengthSpec {
            dist,
            mean,
            std_dev: d.spread(),
            min,
            max,
            skew: d.skew.unwrap_or(0.0),
        }
    }
}

/// inference-perf's conversation replay drawn from its `seed`: per conversation its turn count
/// and own system prompt length, then per turn its input and output tokens and tool-call wait
/// (whole seconds, as inference-perf samples them); omitted distributions take its defaults.
pub(crate) fn conversations_from(c: &crate::model::ConversationReplayConfig) -> Conversations {
    use crate::model::{DEFAULT_MAX_MODEL_LEN, DEFAULT_TURN_INPUT, DEFAULT_TURN_OUTPUT};
    let mut rng = conversation_rng(c);
    let n = c.num_conversations as usize;
    let turn_counts = turn_counts(c, &mut rng);
    let dynamic: Vec<u32> = (0..n)
        .map(|_| draw_value(c.dynamic_system_prompt_len.as_ref(), 0, &mut rng))
        .collect();
    let turn = |rng: &mut rand_chacha::ChaCha8Rng| Turn {
        input: draw_value(c.input_tokens_per_turn.as_ref(), DEFAULT_TURN_INPUT, rng),
        output: draw_value(c.output_tokens_per_turn.as_ref(), DEFAULT_TURN_OUTPUT, rng).max(1),
        tool_wait_s: draw_value(c.tool_call_latency_sec.as_ref(), 0, rng),
    };
    let conversations = turn_counts
        .iter()
        .zip(dynamic)
        .map(|(&turns, dynamic_system_prompt_len)| Conversation {
            dynamic_system_prompt_len,
            turns: (0..turns).map(|_| turn(&mut rng)).collect(),
        })
        .collect();
    Conversations {
        seed: c.seed,
        shared_system_prompt_len: c.shared_system_prompt_len,
        max_model_len: c.max_model_len.unwrap_or(DEFAULT_MAX_MODEL_LEN),
        conversations,
    }
}
