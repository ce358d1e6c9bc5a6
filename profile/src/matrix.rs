//! vLLM-style sweep matrices: a YAML file whose `standalone_runs` entries each name a model
//! (`args: --model ... --num-prompts ...`), a list of `tensor_parallel_sizes` and a list of
//! `length_configs` ({input_len, output_len, prefix_len}), as the vLLM automated benchmarking
//! suites write them. [`load_matrix`] expands such a file into one profile per
//! (entry × tensor parallel size × length config), named `<entry>-tp<T>-in<I>-out<O>`: random
//! data of fixed lengths (a shared prefix of `prefix_len` tokens when it is > 0), the load that
//! `mode` and `args` imply (or the matrix's own `load` section), and the tensor parallelism in
//! `fleet.hosts` (so the report's `scenario.host` carries it).
//!
//! fleetbench does not start servers, so the matrix also names the endpoint: a matrix file takes
//! the profile sections `server` (required), `api`, `load`, `tokenizer`, `metrics`, `report`,
//! `storage`, `fleet` and `slo` at its top level, shared by every run. Unknown keys and
//! unknown `args` flags are errors that name them.

use crate::error::ProfileError;
use crate::load::{
    describe_parse_error, finish, position_with, read_file, replace_env, LoadedProfile,
};
use crate::locate::locate;
use crate::model::{
    ApiConfig, FleetConfig, LoadConfig, MetricsConfig, Profile, ReportConfig, ServerConfig,
    StorageConfig, TokenizerConfig,
};
use crate::overrides::apply_overrides;
use crate::vllm_args::{parse_args, Args, ClientArgs};
use serde::Deserialize;
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level key that makes a YAML file a sweep matrix.
pub(crate) const MATRIX_KEY: &str = "standalone_runs";

/// A matrix file as written: strict (unknown keys are errors naming the allowed ones). The
/// profile sections are parsed here only to check them where they are written; the runs copy
/// them as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MatrixFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    standalone_runs: Vec<RunEntry>,
    // fleetbench's additions: the profile sections every expanded run shares.
    server: ServerConfig,
    #[serde(default)]
    api: Option<ApiConfig>,
    #[serde(default)]
    load: Option<LoadConfig>,
    #[serde(default)]
    tokenizer: Option<TokenizerConfig>,
    #[serde(default)]
    metrics: Option<MetricsConfig>,
    #[serde(default)]
    report: Option<ReportConfig>,
    #[serde(default)]
    storage: Option<StorageConfig>,
    #[serde(default)]
    fleet: Option<FleetConfig>,
    #[serde(default)]
    slo: Option<BTreeMap<String, BTreeMap<String, f64>>>,
}

/// One `standalone_runs` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunEntry {
    name: String,
    /// `vllm_throughput` (every prompt at once, as vLLM's throughput benchmark) or `vllm_serve`
    /// (`vllm bench serve`'s `--request-rate`, `--burstiness`, `--max-concurrency`).
    #[serde(default)]
    mode: Option<String>,
    tensor_parallel_sizes: Vec<u32>,
    /// vLLM command-line flags: client flags are applied, engine flags recorded in the report.
    #[serde(default)]
    args: Option<String>,
    length_configs: Vec<LengthConfig>,
    /// fleetbench's addition: this entry's load (a profile `load` section).
    #[serde(default)]
    load: Option<LoadConfig>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct LengthConfig {
    input_len: u32,
    output_len: u32,
    #[serde(default)]
    prefix_len: u32,
}

const MODES: [&str; 2] = ["vllm_throughput", "vllm_serve"];

/// vLLM's default `--num-prompts`.
const DEFAULT_NUM_PROMPTS: u64 = 1000;

/// One expanded run: a complete profile.
#[derive(Debug, Clone)]
pub struct ExpandedRun {
    /// `<entry>-tp<T>-in<I>-out<O>` (with `-prefix<P>` when prefix_len > 0).
    pub name: String,
    /// The `standalone_runs` entry it comes from.
    pub entry: String,
    /// The entry's `mode`.
    pub mode: String,
    /// Tensor-parallel size.
    pub tp: u32,
    /// Prompt tokens of the length config.
    pub input_len: u32,
    /// Output tokens of the length config.
    pub output_len: u32,
    /// Shared prefix tokens of the length config (0: none).
    pub prefix_len: u32,
    /// The profile as YAML (what `coordinator expand` writes and a run directory keeps).
    pub profile_text: String,
    /// The profile parsed and validated.
    pub loaded: LoadedProfile,
}

/// A matrix file expanded into its runs, in file order (entry, then tp, then length config).
#[derive(Debug, Clone)]
pub struct Matrix {
    /// The name the matrix goes by (its file stem).
    pub name: String,
    /// The matrix file.
    pub file: PathBuf,
    /// Its runs, in file order.
    pub runs: Vec<ExpandedRun>,
}

/// A selection that matches no run of a matrix.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// No run or entry has the name asked for.
    #[error("{file}: no run or standalone_runs entry is named `{name}`; runs: {known}")]
    UnknownEntry {
        /// The matrix file.
        file: PathBuf,
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// No selected run has the tensor parallel size asked for.
    #[error("{file}: no selected run has tensor parallel size {tp}; selected runs have: {tps}")]
    NoRunForTp {
        /// The matrix file.
        file: PathBuf,
        /// The size asked for.
        tp: u32,
        /// The sizes the selected runs have.
        tps: String,
    },
}

impl Matrix {
    /// The runs whose tensor parallel size is `tp` (if given) and whose name or entry name is one
    /// of `entries` (if any).
    pub fn select(
        &self,
        tp: Option<u32>,
        entries: &[String],
    ) -> Result<Vec<&ExpandedRun>, SelectError> {
        for e in entries {
            if !self.runs.iter().any(|r| &r.name == e || &r.entry == e) {
                return Err(SelectError::UnknownEntry {
                    file: self.file.clone(),
                    name: e.clone(),
                    known: self
                        .runs
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let by_entry: Vec<&ExpandedRun> = self
            .runs
            .iter()
            .filter(|r| entries.is_empty() || entries.iter().any(|e| e == &r.name || e == &r.entry))
            .collect();
        let Some(tp) = tp else {
            return Ok(by_entry);
        };
        let chosen: Vec<&ExpandedRun> = by_entry.iter().copied().filter(|r| r.tp == tp).collect();
        if chosen.is_empty() {
            return Err(SelectError::NoRunForTp {
                file: self.file.clone(),
                tp,
                tps: tensor_parallel_sizes(&by_entry),
            });
        }
        Ok(chosen)
    }
}

/// The distinct tensor parallel sizes of `runs`, ascending, as `1, 2, 4`.
pub fn tensor_parallel_sizes(runs: &[&ExpandedRun]) -> String {
    let mut tps: Vec<u32> = runs.iter().map(|r| r.tp).collect();
    tps.sort_unstable();
    tps.dedup();
    tps.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `text` is a sweep matrix: a YAML mapping with a top-level `standalone_runs` key.
pub(crate) fn is_matrix(text: &str) -> bool {
    matches!(
        serde_norway::from_str::<Value>(text),
        Ok(Value::Mapping(m)) if m.contains_key(MATRIX_KEY)
    )
}

/// Whether the file at `path` is a sweep matrix (see [`is_matrix`]).
pub fn is_matrix_file(path: &Path) -> Result<bool, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    Ok(is_matrix(&text))
}

/// Reads a matrix file, applies `-o` overrides (to the matrix text) and expands it.
pub fn load_matrix(path: &Path, overrides: &[String]) -> Result<Matrix, ProfileError> {
    let (text, stem) = read_file(path, "matrix")?;
    parse_matrix(&text, path, &stem, overrides)
}

/// Parses, checks and expands matrix text; `origin` names it in errors, `default_name` is the
/// matrix's name when it has no `name`.
pub(crate) fn parse_matrix(
    text: &str,
    origin: &Path,
    default_name: &str,
    overrides: &[String],
) -> Result<Matrix, ProfileError> {
    let filled = replace_env(text, origin)?;
    let effective = apply_overrides(&filled, origin, overrides)?;
    let parse_error = |e: serde_norway::Error| ProfileError::Parse {
        file: origin.to_path_buf(),
        message: if overrides.is_empty() {
            describe_parse_error(&e)
        } else {
            format!("with the -o overrides applied: {e}")
        },
    };
    let file: MatrixFile = serde_norway::from_str(&effective).map_err(parse_error)?;
    let raw: Value = serde_norway::from_str(&effective).map_err(parse_error)?;
    let find = |key: &str| locate(&filled, key).or_else(|| locate(&effective, key));
    let at = |key: String, message: String| {
        position_with(
            ProfileError::Invalid {
                file: origin.to_path_buf(),
                key,
                message,
            },
            &find,
        )
    };
    if file.standalone_runs.is_empty() {
        return Err(at(
            MATRIX_KEY.into(),
            "give at least one entry: {name, mode, tensor_parallel_sizes, args, length_configs}"
                .into(),
        ));
    }
    if file.fleet.as_ref().is_some_and(|f| f.hosts.is_some()) {
        return Err(at(
            "fleet.hosts".into(),
            "is written by the matrix (parallelism from tensor_parallel_sizes, engine arguments from args); remove it".into(),
        ));
    }
    let name = file
        .name
        .clone()
        .unwrap_or_else(|| default_name.to_string());
    let mut runs: Vec<ExpandedRun> = Vec::new();
    for (i, entry) in file.standalone_runs.iter().enumerate() {
        let raw_entry = raw
            .get(MATRIX_KEY)
            .and_then(|r| r.get(i))
            .cloned()
            .unwrap_or(Value::Null);
        let plan = plan_entry(i, entry, &file, &raw, &raw_entry).map_err(|(key, m)| at(key, m))?;
        for &tp in &entry.tensor_parallel_sizes {
            for (j, lc) in entry.length_configs.iter().enumerate() {
                let run_name = run_name(&entry.name, tp, lc);
                if let Some(other) = runs.iter().find(|r| r.name == run_name) {
                    return Err(at(
                        format!("{MATRIX_KEY}.{i}.name"),
                        format!(
                            "run `{run_name}` comes out twice (also from entry `{}`): give the entries different names",
                            other.entry
                        ),
                    ));
                }
                let run = MatrixRun {
                    entry,
                    plan: &plan,
                    run_name: &run_name,
                    tp,
                    lc,
                };
                let doc = expanded_profile(&name, &file, &raw, &run);
                let text = format!(
                    "# Expanded from {} (standalone_runs entry `{}`, tp {tp}, length config {j}).\n{}",
                    origin.display(),
                    entry.name,
                    serde_norway::to_string(&doc).map_err(|e| at(
                        format!("{MATRIX_KEY}.{i}"),
                        format!("cannot write the expanded profile: {e}")
                    ))?
                );
                let run_origin = PathBuf::from(format!("{} (run {run_name})", origin.display()));
                let profile: Profile =
                    serde_norway::from_str(&text).map_err(|e| ProfileError::Parse {
                        file: run_origin.clone(),
                        message: e.to_string(),
                    })?;
                let in_matrix = |key: &str| find(&matrix_key(key, i, j, &plan));
                let located = |e: ProfileError| position_with(e, &in_matrix);
                let loaded = finish(profile, &run_origin, &run_name, &located)?;
                runs.push(ExpandedRun {
                    name: run_name,
                    entry: entry.name.clone(),
                    mode: plan.mode.clone(),
                    tp,
                    input_len: lc.input_len,
                    output_len: lc.output_len,
                    prefix_len: lc.prefix_len,
                    profile_text: text,
                    loaded,
                });
            }
        }
    }
    Ok(Matrix {
        name,
        file: origin.to_path_buf(),
        runs,
    })
}

/// `<entry>-tp<T>-in<I>-out<O>[-prefix<P>]`, the entry's name reduced to `[A-Za-z0-9._-]`.
fn run_name(entry: &str, tp: u32, lc: &LengthConfig) -> String {
    let mut base: String = entry
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let base = base.trim_matches('-');
    let mut name = format!("{base}-tp{tp}-in{}-out{}", lc.input_len, lc.output_len);
    if lc.prefix_len > 0 {
        name.push_str(&format!("-prefix{}", lc.prefix_len));
    }
    name
}

/// What an entry contributes to each of its runs, checked once.
struct EntryPlan {
    mode: String,
    args: Args,
    /// The `load` section: the entry's, else the matrix's, else one built from mode and args.
    load: Value,
    load_from: LoadFrom,
    num_prompts: Option<u64>,
}

#[derive(Clone, Copy, PartialEq)]
enum LoadFrom {
    Entry,
    Matrix,
    Args,
}

/// Checks an entry and works out its load; errors are (matrix key, message).
fn plan_entry(
    i: usize,
    entry: &RunEntry,
    file: &MatrixFile,
    raw: &Value,
    raw_entry: &Value,
) -> Result<EntryPlan, (String, String)> {
    let key = |k: &str| format!("{MATRIX_KEY}.{i}.{k}");
    if entry.name.trim().is_empty() {
        return Err((key("name"), "a run needs a name".into()));
    }
    let mode = entry.mode.clone().unwrap_or_else(|| MODES[0].to_string());
    if !MODES.contains(&mode.as_str()) {
        return Err((
            key("mode"),
            format!("unknown mode {mode:?}; allowed: {}", MODES.join(", ")),
        ));
    }
    if entry.tensor_parallel_sizes.is_empty() {
        return Err((
            key("tensor_parallel_sizes"),
            "give at least one tensor parallel size, e.g. [1, 2, 4]".into(),
        ));
    }
    for (k, &tp) in entry.tensor_parallel_sizes.iter().enumerate() {
        if tp == 0 {
            return Err((
                key(&format!("tensor_parallel_sizes.{k}")),
                "a tensor parallel size is ≥ 1".into(),
            ));
        }
        if entry.tensor_parallel_sizes[..k].contains(&tp) {
            return Err((
                key(&format!("tensor_parallel_sizes.{k}")),
                format!("tensor parallel size {tp} is listed twice"),
            ));
        }
    }
    if entry.length_configs.is_empty() {
        return Err((
            key("length_configs"),
            "give at least one {input_len, output_len, prefix_len}".into(),
        ));
    }
    for (k, lc) in entry.length_configs.iter().enumerate() {
        for (field, v) in [("input_len", lc.input_len), ("output_len", lc.output_len)] {
            if v == 0 {
                return Err((
                    key(&format!("length_configs.{k}.{field}")),
                    "a length is ≥ 1 token".into(),
                ));
            }
        }
        if entry.length_configs[..k].contains(lc) {
            return Err((
                key(&format!("length_configs.{k}")),
                "this length config is listed twice".into(),
            ));
        }
    }
    let args = parse_args(entry.args.as_deref().unwrap_or("")).map_err(|m| (key("args"), m))?;
    let c = &args.client;
    let (load, load_from) = match (entry.load.is_some(), file.load.is_some()) {
        (true, _) => (raw_entry.get("load").cloned(), LoadFrom::Entry),
        (false, true) => (raw.get("load").cloned(), LoadFrom::Matrix),
        (false, false) => (None, LoadFrom::Args),
    };
    let load = match load {
        Some(mut load) => {
            let from = if load_from == LoadFrom::Entry {
                key("load")
            } else {
                "load".to_string()
            };
            for (flag, set) in [
                ("--num-prompts", c.num_prompts.is_some()),
                ("--request-rate", c.request_rate.is_some()),
                ("--burstiness", c.burstiness.is_some()),
                ("--max-concurrency", c.max_concurrency.is_some()),
            ] {
                if set {
                    return Err((
                        key("args"),
                        format!("{flag} and `{from}` both give the load: keep one"),
                    ));
                }
            }
            if let (Some(seed), Value::Mapping(m)) = (c.seed, &mut load) {
                if m.contains_key("base_seed") {
                    return Err((
                        key("args"),
                        format!("--seed and `{from}.base_seed` both give the seed: keep one"),
                    ));
                }
                m.insert("base_seed".into(), seed.into());
            }
            load
        }
        None => args_load(&mode, c).map_err(|m| (key("args"), m))?,
    };
    let num_prompts = match load_from {
        LoadFrom::Args => Some(c.num_prompts.unwrap_or(DEFAULT_NUM_PROMPTS)),
        _ => None,
    };
    Ok(EntryPlan {
        mode,
        args,
        load,
        load_from,
        num_prompts,
    })
}

/// The `load` section that `mode` and the client flags mean.
fn args_load(mode: &str, c: &ClientArgs) -> Result<Value, String> {
    let n = c.num_prompts.unwrap_or(DEFAULT_NUM_PROMPTS);
    let mut load = Mapping::new();
    let mut stage = Mapping::new();
    let inf = || Value::String("inf".into());
    if mode == "vllm_throughput" {
        for (flag, set) in [
            ("--request-rate", c.request_rate.is_some()),
            ("--burstiness", c.burstiness.is_some()),
            ("--max-concurrency", c.max_concurrency.is_some()),
        ] {
            if set {
                return Err(format!(
                    "{flag} is a `vllm bench serve` flag; mode vllm_throughput sends every prompt at once (set mode: vllm_serve)"
                ));
            }
        }
        load.insert("type".into(), "constant".into());
        stage.insert("rate".into(), inf());
        stage.insert("num_requests".into(), n.into());
    } else {
        let rate = c.request_rate.unwrap_or(f64::INFINITY);
        match (rate.is_finite(), c.max_concurrency) {
            (false, Some(users)) => {
                load.insert("type".into(), "concurrent".into());
                stage.insert("concurrency_level".into(), users.into());
                stage.insert("num_requests".into(), n.into());
            }
            (false, None) => {
                load.insert("type".into(), "constant".into());
                stage.insert("rate".into(), inf());
                stage.insert("num_requests".into(), n.into());
            }
            (true, Some(_)) => {
                return Err(
                    "--request-rate with --max-concurrency is not supported (fleetbench's rate stages have no in-flight cap): give one of them".into(),
                )
            }
            (true, None) => {
                let b = c.burstiness.unwrap_or(1.0);
                if b == 1.0 {
                    load.insert("type".into(), "poisson".into());
                } else {
                    load.insert("type".into(), "gamma".into());
                    load.insert("burstiness".into(), b.into());
                }
                // vLLM sends num_prompts requests at the rate: about num_prompts / rate seconds.
                stage.insert("rate".into(), rate.into());
                stage.insert("duration".into(), (n as f64 / rate).into());
                stage.insert("num_requests".into(), n.into());
            }
        }
        if c.burstiness.is_some() && !rate.is_finite() {
            return Err(
                "--burstiness shapes the gaps of a finite --request-rate; give a rate".into(),
            );
        }
    }
    load.insert(
        "stages".into(),
        Value::Sequence(vec![Value::Mapping(stage)]),
    );
    if let Some(seed) = c.seed {
        load.insert("base_seed".into(), seed.into());
    }
    Ok(Value::Mapping(load))
}

/// One run of a matrix: an entry at one tensor parallel size and one length config.
struct MatrixRun<'a> {
    entry: &'a RunEntry,
    plan: &'a EntryPlan,
    run_name: &'a str,
    tp: u32,
    lc: &'a LengthConfig,
}

/// The profile of one run of the matrix `matrix` (`file` parsed, `raw` as text values).
fn expanded_profile(matrix: &str, file: &MatrixFile, raw: &Value, run: &MatrixRun<'_>) -> Value {
    let MatrixRun {
        entry,
        plan,
        run_name,
        tp,
        lc,
    } = *run;
    let section = |k: &str| raw.get(k).cloned();
    let mut doc = Mapping::new();
    doc.insert("name".into(), run_name.into());
    let mut description = format!(
        "{matrix}: standalone_runs entry `{}` ({}), tensor parallel size {tp}, input_len {}, output_len {}",
        entry.name, plan.mode, lc.input_len, lc.output_len
    );
    if lc.prefix_len > 0 {
        description.push_str(&format!(", prefix_len {}", lc.prefix_len));
    }
    if let Some(d) = &file.description {
        description.push_str(&format!(". {d}"));
    }
    doc.insert("description".into(), description.into());

    let mut server = match section("server") {
        Some(Value::Mapping(m)) => m,
        _ => Mapping::new(),
    };
    // Requests name the served model name (vLLM's --served-model-name), else --model.
    let served = plan
        .args
        .engine
        .get("served_model_name")
        .and_then(Value::as_str);
    if let Some(model) = served.or(plan.args.client.model.as_deref()) {
        server.insert("model_name".into(), model.into());
    }
    doc.insert("server".into(), Value::Mapping(server));

    let api = section("api").unwrap_or_else(|| {
        let mut api = Mapping::new();
        api.insert("type".into(), "completion".into());
        api.insert("streaming".into(), true.into());
        Value::Mapping(api)
    });
    doc.insert("api".into(), api);
    doc.insert("data".into(), data_section(lc, plan.num_prompts));
    doc.insert("load".into(), plan.load.clone());
    let tokenizer = match (&plan.args.client.tokenizer, section("tokenizer")) {
        (Some(t), _) => {
            let mut m = Mapping::new();
            m.insert("pretrained_model_name_or_path".into(), t.as_str().into());
            Some(Value::Mapping(m))
        }
        (None, t) => t,
    };
    if let Some(t) = tokenizer {
        doc.insert("tokenizer".into(), t);
    }
    for k in ["metrics", "report", "storage", "slo"] {
        if let Some(v) = section(k) {
            doc.insert(k.into(), v);
        }
    }
    let mut fleet = match section("fleet") {
        Some(Value::Mapping(m)) => m,
        _ => Mapping::new(),
    };
    fleet.insert("hosts".into(), Value::Sequence(vec![host(plan, tp)]));
    doc.insert("fleet".into(), Value::Mapping(fleet));
    Value::Mapping(doc)
}

/// Fixed lengths in inference-perf's form; a shared prefix when `prefix_len` > 0 (vLLM's random
/// dataset puts the same `prefix_len` tokens before each prompt's `input_len` tokens).
fn data_section(lc: &LengthConfig, num_prompts: Option<u64>) -> Value {
    let fixed = |n: u32| {
        let mut d = Mapping::new();
        d.insert("min".into(), n.into());
        d.insert("max".into(), n.into());
        d.insert("mean".into(), n.into());
        d.insert("std_dev".into(), 0.into());
        Value::Mapping(d)
    };
    let mut data = Mapping::new();
    if lc.prefix_len == 0 {
        data.insert("type".into(), "random".into());
        data.insert("input_distribution".into(), fixed(lc.input_len));
        data.insert("output_distribution".into(), fixed(lc.output_len));
    } else {
        let prompts = num_prompts
            .unwrap_or(DEFAULT_NUM_PROMPTS)
            .clamp(1, u32::MAX as u64);
        let mut sp = Mapping::new();
        sp.insert("num_groups".into(), 1.into());
        sp.insert("num_prompts_per_group".into(), prompts.into());
        sp.insert("system_prompt_len".into(), lc.prefix_len.into());
        sp.insert("question_len".into(), lc.input_len.into());
        sp.insert("output_len".into(), lc.output_len.into());
        data.insert("type".into(), "shared_prefix".into());
        data.insert("shared_prefix".into(), Value::Mapping(sp));
    }
    Value::Mapping(data)
}

/// The one `fleet.hosts` entry of a run: its parallelism and the engine flags of `args`.
fn host(plan: &EntryPlan, tp: u32) -> Value {
    let mut par = Mapping::new();
    par.insert("tp".into(), tp.into());
    if let Some(pp) = plan.args.pipeline_parallel {
        par.insert("pp".into(), pp.into());
    }
    if let Some(dp) = plan.args.data_parallel {
        par.insert("dp".into(), dp.into());
    }
    let mut args = Mapping::new();
    for (k, v) in &plan.args.engine {
        args.insert(k.as_str().into(), v.clone());
    }
    args.insert("tensor_parallel_size".into(), tp.into());
    let mut engine = Mapping::new();
    engine.insert("args".into(), Value::Mapping(args));
    let mut host = Mapping::new();
    host.insert("parallelism".into(), Value::Mapping(par));
    host.insert("engine".into(), Value::Mapping(engine));
    Value::Mapping(host)
}

/// Where an expanded profile's key comes from in the matrix file (for error positions).
fn matrix_key(key: &str, i: usize, j: usize, plan: &EntryPlan) -> String {
    let first = key.split('.').next().unwrap_or("");
    let rest = &key[first.len()..];
    let in_entry = |k: &str| format!("{MATRIX_KEY}.{i}.{k}");
    match first {
        "data" => in_entry(&format!("length_configs.{j}")),
        "load" => match plan.load_from {
            LoadFrom::Entry => in_entry(&format!("load{rest}")),
            LoadFrom::Matrix => key.to_string(),
            LoadFrom::Args => in_entry("args"),
        },
        "fleet" if rest.starts_with(".hosts") => in_entry("tensor_parallel_sizes"),
        "server"
            if rest == ".model_name"
                && (plan.args.client.model.is_some()
                    || plan.args.engine.contains_key("served_model_name")) =>
        {
            in_entry("args")
        }
        "tokenizer" if plan.args.client.tokenizer.is_some() => in_entry("args"),
        "name" | "description" => in_entry("name"),
        _ => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIX: &str = "\
name: sweep
server: {type: vllm, model_name: base, base_url: 'http://127.0.0.1:8000'}
standalone_runs:
  - name: \"Llama-3.1-8B-Instruct\"
    mode: \"vllm_throughput\"
    tensor_parallel_sizes: [1, 2]
    args: >
      --model \"meta-llama/Llama-3.1-8B-Instruct\"
      --num-prompts 200
      --gpu-memory-utilization 0.9
      --quantization fp8
      --enforce-eager
    length_configs:
      - { input_len: 256, output_len: 128, prefix_len: 0 }
      - { input_len: 1024, output_len: 64 }
";

    fn parse(text: &str) -> Result<Matrix, ProfileError> {
        parse_matrix(text, Path::new("profiles/m.yaml"), "m", &[])
    }

    #[test]
    fn a_matrix_is_told_by_its_standalone_runs_key() {
        assert!(is_matrix(MATRIX));
        assert!(!is_matrix(
            "server: {base_url: x}\nload: {type: constant}\n"
        ));
        assert!(!is_matrix("- standalone_runs\n"));
        assert!(!is_matrix(": not yaml ["));
    }

    #[test]
    fn two_tps_by_two_length_configs_expand_into_four_runs() {
        let m = parse(MATRIX).unwrap();
        assert_eq!(m.name, "sweep");
        let names: Vec<&str> = m.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Llama-3.1-8B-Instruct-tp1-in256-out128",
                "Llama-3.1-8B-Instruct-tp1-in1024-out64",
                "Llama-3.1-8B-Instruct-tp2-in256-out128",
                "Llama-3.1-8B-Instruct-tp2-in1024-out64",
            ]
        );
        let r = &m.runs[3];
        assert_eq!(
            (r.tp, r.input_len, r.output_len, r.prefix_len),
            (2, 1024, 64, 0)
        );
        let p = &r.loaded.profile;
        assert_eq!(r.loaded.name, r.name);
        assert_eq!(
            p.server.model_name.as_deref(),
            Some("meta-llama/Llama-3.1-8B-Instruct")
        );
        assert_eq!(p.data.kind, crate::DataType::Random);
        let input = p.data.input_distribution.unwrap();
        assert_eq!(
            (input.min, input.max, input.mean),
            (Some(1024), Some(1024), Some(1024.0))
        );
        assert_eq!(p.data.output_distribution.unwrap().mean, Some(64.0));
        // vllm_throughput: every prompt at once.
        assert_eq!(p.load.kind, crate::LoadType::Constant);
        assert!(p.load.stages[0].rate.unwrap().is_infinite());
        assert_eq!(p.load.stages[0].num_requests, Some(200));
        assert!(p.api.streaming);
        // The tensor parallelism and the engine flags travel in fleet.hosts.
        let hosts = p.fleet.hosts.as_ref().unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].parallelism.unwrap().tp, Some(2));
        let args = &hosts[0].engine.as_ref().unwrap().args;
        assert_eq!(args["gpu_memory_utilization"], Value::from(0.9));
        assert_eq!(args["quantization"], Value::from("fp8"));
        assert_eq!(args["enforce_eager"], Value::Bool(true));
        assert_eq!(args["tensor_parallel_size"], Value::from(2));
    }

    #[test]
    fn an_expanded_profile_is_a_profile_on_its_own() {
        let m = parse(MATRIX).unwrap();
        for r in &m.runs {
            assert!(!is_matrix(&r.profile_text));
            let again = crate::parse_profile(&r.profile_text, Path::new("x.yaml"), "x").unwrap();
            assert_eq!(again.name, r.name);
            assert_eq!(
                again.profile.fleet.hosts.unwrap()[0]
                    .parallelism
                    .unwrap()
                    .tp,
                Some(r.tp)
            );
        }
    }

    #[test]
    fn a_prefix_len_becomes_one_shared_prefix_group() {
        let text = MATRIX.replace("prefix_len: 0", "prefix_len: 100");
        let m = parse(&text).unwrap();
        let r = &m.runs[0];
        assert_eq!(r.name, "Llama-3.1-8B-Instruct-tp1-in256-out128-prefix100");
        let sp = r.loaded.profile.data.shared_prefix.clone().unwrap();
        assert_eq!(
            (
                sp.num_groups,
                sp.num_prompts_per_group,
                sp.system_prompt_len.tokens(),
                sp.question_len.tokens(),
                sp.output_len.tokens()
            ),
            (1, 200, Some(100), Some(256), Some(128))
        );
    }

    #[test]
    fn serve_mode_takes_rate_burstiness_and_concurrency_from_args() {
        let serve = |args: &str| {
            let text = MATRIX
                .replace("\"vllm_throughput\"", "vllm_serve")
                .replace("--enforce-eager", args);
            parse(&text).map(|m| m.runs[0].loaded.profile.load.clone())
        };
        let l = serve("--request-rate 4").unwrap();
        assert_eq!(l.kind, crate::LoadType::Poisson);
        assert_eq!(l.stages[0].rate.unwrap().0, 4.0);
        assert_eq!(l.stages[0].duration, Some(50.0));
        assert_eq!(l.stages[0].num_requests, Some(200));
        let l = serve("--request-rate 4 --burstiness 0.5 --seed 7").unwrap();
        assert_eq!(l.kind, crate::LoadType::Gamma);
        assert_eq!((l.burstiness, l.base_seed), (Some(0.5), Some(7)));
        let l = serve("--max-concurrency 8").unwrap();
        assert_eq!(l.kind, crate::LoadType::Concurrent);
        assert_eq!(l.stages[0].concurrency_level, Some(8));
        let err = serve("--request-rate 4 --max-concurrency 8")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("standalone_runs.0.args") && err.contains("not supported"),
            "{err}"
        );
        // A serve flag in throughput mode says which mode takes it.
        let err = parse(&MATRIX.replace("--enforce-eager", "--request-rate 2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("vllm_serve"), "{err}");
    }

    #[test]
    fn a_load_section_replaces_the_one_args_imply() {
        let text = MATRIX.replace("      --num-prompts 200\n", "").replace(
            "standalone_runs:",
            "load: {type: poisson, stages: [{rate: 2, duration: 3}]}\nstandalone_runs:",
        );
        let m = parse(&text).unwrap();
        let l = &m.runs[0].loaded.profile.load;
        assert_eq!(l.kind, crate::LoadType::Poisson);
        assert_eq!(l.stages[0].duration, Some(3.0));
        // Both: an error naming both.
        let both = MATRIX.replace(
            "standalone_runs:",
            "load: {type: poisson, stages: [{rate: 2, duration: 3}]}\nstandalone_runs:",
        );
        let err = parse(&both).unwrap_err().to_string();
        assert!(
            err.contains("--num-prompts") && err.contains("`load`"),
            "{err}"
        );
        // A load error points into the matrix file.
        let bad = text.replace("rate: 2,", "rate: -2,");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("profiles/m.yaml (run Llama-3.1-8B-Instruct-tp1-in256-out128)"),
            "{err}"
        );
        assert!(
            err.contains("line 3") && err.contains("load.stages.0"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_name_file_line_key_and_allowed_keys() {
        let err = parse(&MATRIX.replace("    mode:", "    modes: x\n    mode:"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("profiles/m.yaml: "), "{err}");
        assert!(err.contains("unknown field `modes`"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(
            err.contains("tensor_parallel_sizes") && err.contains("length_configs"),
            "{err}"
        );
        let err = parse(&MATRIX.replace("prefix_len: 0", "prefix: 0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `prefix`") && err.contains("prefix_len"),
            "{err}"
        );
        let err = parse(&format!("{MATRIX}data: {{type: random}}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `data`") && err.contains("standalone_runs"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_flag_names_the_flag_and_the_allowed_ones() {
        let err = parse(&MATRIX.replace("--enforce-eager", "--num-promts 5"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("profiles/m.yaml: line 7 column 5: `standalone_runs.0.args`"),
            "{err}"
        );
        assert!(
            err.contains("unknown flag --num-promts") && err.contains("--num-prompts"),
            "{err}"
        );
        let err = parse(&MATRIX.replace("--enforce-eager", "--input-len 5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("length_configs"), "{err}");
        let err = parse(&MATRIX.replace("--enforce-eager", "-tp 4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tensor_parallel_sizes"), "{err}");
    }

    #[test]
    fn bad_sizes_and_names_point_at_their_key() {
        let err = parse(&MATRIX.replace("[1, 2]", "[1, 1]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 6") && err.contains("tensor_parallel_sizes.1"),
            "{err}"
        );
        let err = parse(&MATRIX.replace("[1, 2]", "[]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tensor_parallel_sizes"), "{err}");
        let err = parse(&MATRIX.replace("output_len: 64", "output_len: 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("length_configs.1.output_len"), "{err}");
        let err = parse(&MATRIX.replace("\"vllm_throughput\"", "offline"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("vllm_throughput, vllm_serve"), "{err}");
        let twice = format!(
            "{MATRIX}  - name: \"Llama 3.1 8B Instruct\"\n    tensor_parallel_sizes: [1]\n    length_configs: [{{input_len: 256, output_len: 128}}]\n"
        );
        let err = parse(&twice).unwrap_err().to_string();
        assert!(err.contains("comes out twice"), "{err}");
        let hosts = format!("{MATRIX}fleet: {{hosts: [{{parallelism: {{tp: 2}}}}]}}\n");
        let err = parse(&hosts).unwrap_err().to_string();
        assert!(
            err.contains("fleet.hosts") && err.contains("tensor_parallel_sizes"),
            "{err}"
        );
    }

    #[test]
    fn requests_name_the_served_model_name_when_args_give_one() {
        let m = parse(&MATRIX.replace("--enforce-eager", "--served-model-name llama")).unwrap();
        let p = &m.runs[0].loaded.profile;
        assert_eq!(p.server.model_name.as_deref(), Some("llama"));
        let args = &p.fleet.hosts.as_ref().unwrap()[0]
            .engine
            .as_ref()
            .unwrap()
            .args;
        assert_eq!(args["served_model_name"], Value::from("llama"));
        // Without --model, the matrix's server.model_name stays.
        let m = parse(&MATRIX.replace("--model \"meta-llama/Llama-3.1-8B-Instruct\"", "")).unwrap();
        assert_eq!(
            m.runs[0].loaded.profile.server.model_name.as_deref(),
            Some("base")
        );
    }

    #[test]
    fn selection_by_tp_and_entry() {
        let m = parse(MATRIX).unwrap();
        let names = |v: Vec<&ExpandedRun>| v.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(m.select(None, &[]).unwrap().len(), 4);
        assert_eq!(
            names(m.select(Some(2), &[]).unwrap()),
            [
                "Llama-3.1-8B-Instruct-tp2-in256-out128",
                "Llama-3.1-8B-Instruct-tp2-in1024-out64"
            ]
        );
        let one = vec!["Llama-3.1-8B-Instruct-tp1-in1024-out64".to_string()];
        assert_eq!(names(m.select(None, &one).unwrap()), one);
        assert_eq!(
            m.select(Some(2), &one).unwrap_err().to_string(),
            "profiles/m.yaml: no selected run has tensor parallel size 2; selected runs have: 1"
        );
        let by_entry = vec!["Llama-3.1-8B-Instruct".to_string()];
        assert_eq!(m.select(Some(1), &by_entry).unwrap().len(), 2);
        let err = m
            .select(None, &["nope".to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`nope`") && err.contains("tp2-in1024-out64"),
            "{err}"
        );
    }
}
