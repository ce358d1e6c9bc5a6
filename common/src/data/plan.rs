//! From a loaded profile's `data` section to the [`DataSpec`] that every shard carries.

use super::{
    sample, DataSource, DataSpec, Dataset, LengthSpec, LoraShare, MAX_CARRIED_BYTES,
    MAX_CARRIED_ENTRIES, MAX_TRACE_RECORDS,
};
use crate::profile::{DataType, LoadedProfile};

/// The stage data of a validated profile; `seed` is the run's (dataset sampling and shared
/// prefixes use it, so every stage of a run sees the same prompts).
pub fn plan_data(loaded: &LoadedProfile, seed: u64) -> DataSpec {
    DataSpec {
        source: plan_source(loaded, seed),
        lora_mix: lora_mix(loaded),
        vocab: loaded.vocab.as_deref().cloned().unwrap_or_default(),
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
    let default_len = LengthSpec::fixed(128);
    let len = |x: Option<&crate::profile::Distribution>| x.map(LengthSpec::from);
    match (&d.kind, loaded.dataset.as_deref()) {
        (DataType::SharedPrefix, _) => {
            let sp = d
                .shared_prefix
                .unwrap_or(crate::profile::SharedPrefixConfig {
                    num_groups: 1,
                    num_prompts_per_group: 1,
                    system_prompt_len: 0,
                    question_len: None,
                    output_len: None,
                    question_distribution: None,
                    output_distribution: None,
                });
            DataSource::SharedPrefix {
                seed,
                num_groups: sp.num_groups,
                prompts_per_group: sp.num_prompts_per_group,
                system_prompt_len: sp.system_prompt_len,
                question: len(sp.question_distribution.as_ref())
                    .unwrap_or_else(|| LengthSpec::fixed(sp.question_len.unwrap_or(128))),
                output: len(sp.output_distribution.as_ref())
                    .unwrap_or_else(|| LengthSpec::fixed(sp.output_len.unwrap_or(128))),
            }
        }
        (DataType::MultiTurn, _) => {
            let mt = d.multi_turn.unwrap_or_default();
            DataSource::MultiTurn {
                seed,
                users: mt.users,
                rounds: mt.rounds,
                system_prompt_len: mt.system_prompt_len,
                question: LengthSpec::fixed(mt.question_len.unwrap_or(64)),
                answer: LengthSpec::fixed(mt.answer_len.unwrap_or(128)),
                carry_history: mt.history != crate::profile::History::None,
            }
        }
        (_, Some(Dataset::Prompts(p))) => {
            // At most MAX_CARRIED_ENTRIES and MAX_CARRIED_BYTES of prompt text: the shard spec
            // travels in one gRPC message.
            let mut prompts = sample(p, p.len().min(MAX_CARRIED_ENTRIES), seed);
            let mut bytes = 0usize;
            let keep = prompts
                .iter()
                .take_while(|e| {
                    bytes += e.prompt.len();
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
