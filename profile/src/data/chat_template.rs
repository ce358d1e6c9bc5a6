//! inference-perf's `data.use_chat_template`: random prompts sent on the completions API as one
//! user turn of the tokenizer's chat template, the configured input length counting the whole
//! templated prompt, and `add_special_tokens: false` so the server adds no second BOS.
//!
//! The coordinator finds the template where transformers does (`chat_template.jinja` beside the
//! tokenizer, else `tokenizer_config.json`'s `chat_template`, fetched from the Hub with the
//! tokenizer when it is a model id), renders it once for a user message that is a marker, and
//! cuts it there: a [`ChatWrap`] of the text before and after, and the tokens they add,
//! measured on two probe prompts that must agree (otherwise the template's text merges with the
//! prompt's words and no fixed wrapping gives exact lengths). Agents wrap each prompt's words
//! in it and need no template engine.

use super::files::read_bounded;
use super::hub::{is_model_id, HubEnv};
use super::tokenizer::ModelTokenizer;
use crate::error::ProfileError;
use crate::model::{DataType, Profile};
use fleetbench_model::data::{synthesize_from, ChatWrap};
use fleetbench_model::settings::ApiType;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// The user message the template is rendered with, found again in its output.
const MARKER: &str = "FLEETBENCHUSERTEXTMARKER";

/// Most bytes of a chat template or `tokenizer_config.json` read.
const MAX_TEMPLATE_FILE: u64 = 8 << 20;

/// `data.use_chat_template` as inference-perf's pydantic reads a bool (lax mode): YAML booleans,
/// 0 and 1, and the strings it takes for them; `None` for anything else.
pub(crate) fn wanted(v: &serde_norway::Value) -> Option<bool> {
    use serde_norway::Value;
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the profile asks for the chat template (validated by [`check`]).
pub(crate) fn asked(p: &Profile) -> bool {
    p.data.use_chat_template.as_ref().and_then(wanted) == Some(true)
}

/// The key's value and where it may be used: data type random (as inference-perf requires),
/// the completions API (the chat API has the server apply its own template), and a tokenizer
/// to take the template from.
pub(crate) fn check(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: "data.use_chat_template".into(),
        message,
    };
    let Some(v) = &p.data.use_chat_template else {
        return Ok(());
    };
    let Some(on) = wanted(v) else {
        return Err(invalid(format!("must be true or false, got {v:?}")));
    };
    if !on {
        return Ok(());
    }
    if p.data.kind != DataType::Random {
        return Err(invalid(format!(
            "is only supported by the 'random' data generator and would be ignored by type '{}'; unset it or set data.type to random",
            p.data.kind.name()
        )));
    }
    if p.api.kind == ApiType::Chat {
        return Err(invalid(
            "wraps prompts for the completions API (api.type completion); with api.type chat the server applies its own chat template".into(),
        ));
    }
    let has_tokenizer = (p.tokenizer.as_ref())
        .and_then(|t| t.pretrained_model_name_or_path.as_deref())
        .is_some_and(|n| !n.is_empty());
    if !has_tokenizer {
        return Err(invalid(
            "needs tokenizer.pretrained_model_name_or_path: the chat template is the tokenizer's"
                .into(),
        ));
    }
    Ok(())
}

/// The wrapping of `tok`'s chat template (see the module's text); `name_or_path` is the
/// tokenizer as the profile names it, `vocab` its single-token words, `min_input` the shortest
/// prompt the profile asks for.
pub(crate) fn wrap_of(
    tok: &ModelTokenizer,
    name_or_path: &str,
    vocab: &[String],
    min_input: u32,
    hub: &HubEnv,
) -> Result<ChatWrap, String> {
    let (template, context, source) = find(tok, name_or_path, hub)?;
    let mut ctx = context;
    ctx["messages"] = serde_json::json!([{"role": "user", "content": MARKER}]);
    ctx["add_generation_prompt"] = Json::Bool(true);
    let rendered = super::hf::render_template(&template, &ctx)
        .map_err(|why| format!("the chat template of {}: {why}", source.display()))?;
    let mut parts = rendered.split(MARKER);
    let (Some(prefix), Some(suffix), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "the chat template of {} does not put a user message's text into the prompt exactly once",
            source.display()
        ));
    };
    let overhead = |words: u32, seed: u64| {
        let body = synthesize_from(vocab, words, seed);
        i64::from(tok.count(&format!("{prefix}{body}{suffix}"))) - i64::from(words)
    };
    let (a, b) = (overhead(16, 0xC4A7), overhead(200, 0xC4A8));
    if a != b || a < 0 {
        return Err(format!(
            "the chat template of {} adds {a} tokens to a prompt of 16 words and {b} to one of 200: \
             its text merges with the prompt's words, so wrapped prompts cannot have exact lengths",
            source.display()
        ));
    }
    let tokens = a as u32;
    if min_input <= tokens {
        return Err(format!(
            "the shortest input length ({min_input}) must exceed the chat template's overhead \
             ({tokens} tokens, {}) when use_chat_template is set: input lengths count the whole \
             templated prompt",
            source.display()
        ));
    }
    Ok(ChatWrap {
        prefix: prefix.to_string(),
        suffix: suffix.to_string(),
        tokens,
    })
}

/// The chat template, the rendering context its tokenizer's config gives (`bos_token`,
/// `eos_token`, ...), and the file it came from.
fn find(
    tok: &ModelTokenizer,
    name_or_path: &str,
    hub: &HubEnv,
) -> Result<(String, Json, PathBuf), String> {
    let dir = tok.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let jinja = dir.join("chat_template.jinja");
    let config = dir.join("tokenizer_config.json");
    let mut looked = vec![jinja.clone(), config.clone()];
    let config_json = match config.is_file() {
        true => Some(read_config(&config)?),
        false => None,
    };
    let context = config_json.as_ref().map(special_tokens).unwrap_or_default();
    if jinja.is_file() {
        return Ok((read_bounded(&jinja, MAX_TEMPLATE_FILE)?, context, jinja));
    }
    if let Some(t) = config_json.as_ref().and_then(template_in) {
        return Ok((t, context, config));
    }
    // A Hub model whose tokenizer came alone: its config (then its template file) from the Hub.
    if config_json.is_none() && is_model_id(name_or_path) {
        if let Ok(fetched) = hub.fetch(name_or_path, "tokenizer_config.json") {
            let json = read_config(&fetched)?;
            let context = special_tokens(&json);
            if let Some(t) = template_in(&json) {
                return Ok((t, context, fetched));
            }
            if let Ok(j) = hub.fetch(name_or_path, "chat_template.jinja") {
                return Ok((read_bounded(&j, MAX_TEMPLATE_FILE)?, context, j));
            }
            looked.push(fetched);
        }
    }
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "data.use_chat_template is set but the tokenizer {name_or_path:?} has no chat template \
         (looked at {}); point tokenizer.pretrained_model_name_or_path at a chat or instruct \
         model, or unset use_chat_template",
        looked.join(", ")
    ))
}

fn read_config(path: &Path) -> Result<Json, String> {
    serde_json::from_str(&read_bounded(path, MAX_TEMPLATE_FILE)?)
        .map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

/// `chat_template` of a tokenizer config: a string, or a list of named templates whose
/// `default` transformers uses.
fn template_in(config: &Json) -> Option<String> {
    match config.get("chat_template")? {
        Json::String(s) => Some(s.clone()),
        Json::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
            .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
        _ => None,
    }
}

/// The special tokens a template may name, as transformers passes them: each `*_token` of the
/// config, given as a string or as an added token's `content`.
fn special_tokens(config: &Json) -> Json {
    let mut out = serde_json::Map::new();
    for key in [
        "bos_token",
        "eos_token",
        "unk_token",
        "pad_token",
        "sep_token",
        "cls_token",
        "mask_token",
    ] {
        let value = match config.get(key) {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Object(o)) => o.get("content").and_then(Json::as_str).map(str::to_string),
            _ => None,
        };
        if let Some(v) = value {
            out.insert(key.to_string(), Json::String(v));
        }
    }
    Json::Object(out)
}

/// The shortest prompt a random profile sends: its trace's shortest input, else the lower end
/// of its input distribution (inference-perf's default length when it has none).
pub(crate) fn min_input(p: &Profile, dataset: Option<&super::files::Dataset>) -> u32 {
    use fleetbench_model::data::LengthSpec;
    match dataset {
        Some(super::files::Dataset::Trace(t)) => {
            t.iter().map(|r| r.input_length).min().unwrap_or(0)
        }
        _ => (p.data.input_distribution.as_ref())
            .map(|d| LengthSpec::from(d).min)
            .unwrap_or(crate::model::DEFAULT_LENGTH),
    }
}
