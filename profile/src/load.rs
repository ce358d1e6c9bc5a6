//! Loading a profile: [`load_profile_with`] reads, fills `REPLACE_ENV_*` placeholders, applies `-o`
//! overrides, parses strictly, validates (errors carry the key's line and column) and reads the
//! dataset file a `shareGPT` or `mooncake_trace` profile names; everything downstream may assume
//! a valid [`Profile`].

use crate::data::files::Dataset;
use crate::error::ProfileError;
use crate::locate::locate;
use crate::model::Profile;
use crate::overrides::apply_overrides;
use crate::secrets::{self, EnvSource, Secrets};
use crate::validate;
use std::path::Path;
use std::sync::Arc;

/// A parsed and validated profile with the name it goes by.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    /// The name the profile goes by: its `name`, else its file stem.
    pub name: String,
    /// The validated profile.
    pub profile: Profile,
    /// The records of `data.path` (ShareGPT, Mooncake trace), read once by the coordinator.
    pub(crate) dataset: Option<Arc<Dataset>>,
    /// Single-token words of `tokenizer.pretrained_model_name_or_path`, for exact-length prompts.
    pub(crate) vocab: Option<Arc<Vec<String>>>,
    /// `data.corpus_file_path`'s single-token words, for synthetic prompts.
    pub(crate) corpus: Option<Arc<Vec<String>>>,
    /// `data.use_chat_template`: the tokenizer's chat template cut around the user's text.
    pub(crate) chat_wrap: Option<fleetbench_model::data::ChatWrap>,
    /// `data.visionarena`'s images, read once by the coordinator and sent to every agent.
    pub stored_media: Option<Arc<crate::data::visionarena::StoredPool>>,
    /// The sessions of `data.otel_trace_replay`'s traces, read once by the coordinator.
    pub(crate) replay: Option<Arc<fleetbench_model::data::ReplaySessions>>,
    /// What must never be written in clear: `server.api_key`, credential headers, values from
    /// the environment.
    pub secrets: Secrets,
}

/// Reads, parses and validates a profile file, with `-o` overrides (`load.stages.0.rate=4`, `min=20,total_count=200`).
pub fn load_profile_with(path: &Path, overrides: &[String]) -> Result<LoadedProfile, ProfileError> {
    let (text, stem) = read_file(path, "profile")?;
    parse_profile_with(&text, path, &stem, overrides)
}

/// A profile or matrix file's text and its file stem (`default` when it has none), the name it
/// goes by unless it names itself.
pub(crate) fn read_file(path: &Path, default: &str) -> Result<(String, String), ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    Ok((text, profile_stem(path, default)))
}

/// The name a profile file goes by: its file name without the extension, and without `.in`
/// first for a template (`x.yaml.in` is `x`, as llm-d-benchmark names its workload templates);
/// `default` when the path has no file name.
pub fn profile_stem(path: &Path, default: &str) -> String {
    let without_in = match path.extension() {
        Some(ext) if ext == "in" => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    without_in
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| default.to_string())
}

/// Parses and validates profile text; `origin` names it in errors, `default_name` is used when
/// the profile has no `name`.
pub fn parse_profile(
    text: &str,
    origin: &Path,
    default_name: &str,
) -> Result<LoadedProfile, ProfileError> {
    parse_profile_with(text, origin, default_name, &[])
}

/// [`parse_profile`] with `-o` overrides applied before the strict parse.
pub fn parse_profile_with(
    text: &str,
    origin: &Path,
    default_name: &str,
    overrides: &[String],
) -> Result<LoadedProfile, ProfileError> {
    parse_profile_env(text, origin, default_name, overrides, EnvSource::Process)
}

/// [`parse_profile_with`] with `REPLACE_ENV_` filled from `env`: a submitted profile is filled
/// from the values its submitter sent, never from this process's environment.
pub fn parse_profile_env(
    text: &str,
    origin: &Path,
    default_name: &str,
    overrides: &[String],
    env: EnvSource<'_>,
) -> Result<LoadedProfile, ProfileError> {
    check_nesting(text, origin)?;
    let (filled, from_env) = secrets::fill_env(text, origin, env)?;
    let effective = apply_overrides(&filled, origin, overrides)?;
    let profile: Profile = serde_norway::from_str(&effective).map_err(|e| ProfileError::Parse {
        file: origin.to_path_buf(),
        message: if overrides.is_empty() {
            describe_parse_error(&e)
        } else {
            // Positions refer to the text the overrides produced, not to the file.
            format!("with the -o overrides applied: {e}")
        },
    })?;
    let located = |e: ProfileError| position(e, &filled, &effective);
    let mut loaded = finish(profile, origin, default_name, &located)?;
    for v in &from_env {
        loaded.secrets.add_env(v);
    }
    Ok(loaded)
}

/// Validates a parsed profile and reads what it names (tokenizer, dataset file); `located` adds
/// the position of an error's key.
pub(crate) fn finish(
    profile: Profile,
    origin: &Path,
    default_name: &str,
    located: &dyn Fn(ProfileError) -> ProfileError,
) -> Result<LoadedProfile, ProfileError> {
    validate::validate(&profile, origin).map_err(located)?;
    let tokenizer = validate::load_tokenizer(&profile, origin).map_err(located)?;
    let vocab = match &tokenizer {
        Some(t) => Some(t.single_token_words().map_err(|message| {
            located(ProfileError::Invalid {
                file: origin.to_path_buf(),
                key: "tokenizer.pretrained_model_name_or_path".into(),
                message,
            })
        })?),
        None => None,
    };
    let mut dataset =
        validate::read_dataset(&profile, origin, tokenizer.as_ref()).map_err(located)?;
    let visionarena =
        validate::read_visionarena(&profile, origin, tokenizer.as_ref()).map_err(located)?;
    let stored_media = visionarena.map(|(entries, pool)| {
        dataset = Some(Dataset::Prompts(entries));
        Arc::new(pool)
    });
    let corpus =
        crate::data::corpus::read_corpus(&profile, origin, tokenizer.as_ref()).map_err(located)?;
    let chat_wrap = match (&tokenizer, &vocab) {
        (Some(t), Some(words)) if crate::data::chat_template::asked(&profile) => {
            let name = (profile.tokenizer.as_ref())
                .and_then(|t| t.pretrained_model_name_or_path.as_deref())
                .unwrap_or_default();
            let min = crate::data::chat_template::min_input(&profile, dataset.as_ref());
            let hub = crate::data::hub::HubEnv::from_env();
            let wrap = crate::data::chat_template::wrap_of(t, name, words, min, &hub);
            Some(wrap.map_err(|message| {
                located(ProfileError::Invalid {
                    file: origin.to_path_buf(),
                    key: "data.use_chat_template".into(),
                    message,
                })
            })?)
        }
        _ => None,
    };
    let replay = read_replay(&profile, origin, tokenizer.as_ref()).map_err(located)?;
    let name = profile
        .name
        .clone()
        .unwrap_or_else(|| default_name.to_string());
    Ok(LoadedProfile {
        name,
        secrets: Secrets::of_profile(&profile),
        profile,
        dataset: dataset.map(Arc::new),
        vocab: vocab.map(Arc::new),
        chat_wrap,
        corpus: corpus.map(Arc::new),
        replay: replay.map(Arc::new),
        stored_media,
    })
}

/// OTel and Weka trace replay and synthetic agentic sessions: the traces read into sessions (a
/// Weka trace's prompts rebuilt with the tokenizer) or the sessions generated, then the session
/// stages checked against their number.
fn read_replay(
    profile: &Profile,
    origin: &Path,
    tokenizer: Option<&crate::data::tokenizer::ModelTokenizer>,
) -> Result<Option<fleetbench_model::data::ReplaySessions>, ProfileError> {
    use crate::model::DataType;
    let d = &profile.data;
    let seed = profile.load.base_seed;
    let read = match (
        d.kind,
        &d.otel_trace_replay,
        &d.weka_trace_replay,
        tokenizer,
    ) {
        (DataType::OtelTraceReplay, Some(c), _, _) => {
            crate::data::otel::read_sessions(c, origin, seed)
        }
        (DataType::WekaTraceReplay, _, Some(c), Some(t)) => {
            let corpus = d.corpus_file_path.as_deref();
            crate::data::weka::read_sessions(c, origin, seed, t, corpus)
        }
        (DataType::SyntheticAgentic, _, _, Some(t)) => match &d.synthetic_agentic {
            Some(c) => crate::data::agentic::read_sessions(c, seed, t),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let sessions = read.map_err(|e| ProfileError::Invalid {
        file: origin.to_path_buf(),
        key: e.key.to_string(),
        message: e.message,
    })?;
    crate::plan::stages::stage_defs(profile, origin, Some(sessions.slots.len() as u64))?;
    Ok(Some(sessions))
}

/// Adds the key's line and column (in the file's text, else in the overridden text) to an error
/// found after parsing.
fn position(e: ProfileError, file_text: &str, effective: &str) -> ProfileError {
    position_with(e, &|key: &str| {
        locate(file_text, key).or_else(|| locate(effective, key))
    })
}

/// Adds the line and column that `find` gives for an error's key.
pub(crate) fn position_with(
    e: ProfileError,
    find: &dyn Fn(&str) -> Option<(usize, usize)>,
) -> ProfileError {
    match e {
        ProfileError::Invalid { file, key, message } => match find(&key) {
            Some((line, column)) => ProfileError::InvalidAt {
                file,
                line,
                column,
                key,
                message,
            },
            None => ProfileError::Invalid { file, key, message },
        },
        ProfileError::NotSupported {
            file,
            key,
            reason,
            line,
        } => ProfileError::NotSupported {
            line: line.or_else(|| find(&key)),
            file,
            key,
            reason,
        },
        other => other,
    }
}

/// serde's message plus the parser's position, in the `line L column C` form editors jump to.
pub(crate) fn describe_parse_error(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(loc) if !text.contains("line ") => {
            format!("line {} column {}: {text}", loc.line(), loc.column())
        }
        _ => text,
    }
}

/// Deepest `[` / `{` nesting a profile may have; no profile needs more than a handful, and the
/// YAML parser's memory grows with the depth (a 4 MiB `[[[[...` took hundreds of MB).
const MAX_FLOW_DEPTH: usize = 64;

/// Refuses text whose flow collections (`[`, `{`, outside quotes and comments) nest deeper than
/// [`MAX_FLOW_DEPTH`], before the YAML parser sees it.
pub(crate) fn check_nesting(text: &str, origin: &Path) -> Result<(), ProfileError> {
    let (mut depth, mut quote, mut comment) = (0usize, None::<char>, false);
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
            (None, '#') if prev.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    let line = text[..i].matches('\n').count() + 1;
                    return Err(ProfileError::Parse {
                        file: origin.to_path_buf(),
                        message: format!(
                            "line {line}: [ and {{ nest deeper than {MAX_FLOW_DEPTH} levels"
                        ),
                    });
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    Ok(())
}

/// Replaces every `REPLACE_ENV_<NAME>` with the variable's value from this process's environment.
pub(crate) fn replace_env(text: &str, origin: &Path) -> Result<String, ProfileError> {
    secrets::fill_env(text, origin, EnvSource::Process).map(|(t, _)| t)
}
