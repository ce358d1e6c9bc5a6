//! The sweep file (`docs/sweep.md`): the profile, the deployment points, the reconfigure
//! command, readiness, the failure policy and the optional SLA search, parsed strictly and
//! checked before anything runs (every point's command, profile overrides and agent counts are
//! filled in once; the command's `{coordinator}`, the listen address, when the point runs).

use super::error::SweepError;
use serde::Deserialize;
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most probes one SLA search may make per point.
pub(crate) const MAX_PROBES: u32 = 8;

/// The file as written (unknown keys refused).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    #[serde(default)]
    name: Option<String>,
    profile: PathBuf,
    #[serde(default)]
    overrides: Vec<String>,
    points: Vec<BTreeMap<String, Value>>,
    #[serde(default)]
    reconfigure: Option<ReconfigureFile>,
    #[serde(default)]
    ready: ReadyFile,
    #[serde(default)]
    on_failure: OnFailure,
    #[serde(default)]
    sla: BTreeMap<String, BTreeMap<String, f64>>,
    #[serde(default)]
    search: Option<SearchSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconfigureFile {
    command: String,
    #[serde(default = "default_timeout")]
    timeout: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyFile {
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "yes")]
    health: bool,
    #[serde(default = "yes")]
    models: bool,
    #[serde(default)]
    agents: BTreeMap<String, Value>,
    #[serde(default)]
    url: Option<String>,
}

impl Default for ReadyFile {
    fn default() -> Self {
        ReadyFile {
            timeout: default_timeout(),
            health: true,
            models: true,
            agents: BTreeMap::new(),
            url: None,
        }
    }
}

/// The placeholder of the coordinator's listen address in the reconfigure command (a point
/// may not have a value of that name).
pub(crate) const COORDINATOR: &str = "coordinator";

fn default_timeout() -> f64 {
    300.0
}

fn yes() -> bool {
    true
}

/// What a failed point does to the rest of the sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnFailure {
    #[default]
    Continue,
    Stop,
}

/// What the SLA search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SearchOver {
    /// Requests per second of a constant-rate probe.
    Rate,
    /// Closed-loop users of a concurrent probe.
    Concurrency,
}

/// `search:` — the bisection of each point's SLA search.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchSpec {
    pub over: SearchOver,
    pub lo: f64,
    pub(crate) hi: f64,
    #[serde(default = "default_probes")]
    pub(crate) max_probes: u32,
    /// Relative width of the final bracket (0.1: the maximum is known within 10%).
    #[serde(default = "default_precision")]
    pub precision: f64,
    /// Seconds of each probe stage (rate and concurrency probes).
    #[serde(default = "default_probe_duration")]
    pub(crate) probe_duration: f64,
}

fn default_probes() -> u32 {
    MAX_PROBES
}

fn default_precision() -> f64 {
    0.1
}

fn default_probe_duration() -> f64 {
    10.0
}

/// One SLA target: `sla: {ttft_ms: {p99: 500}}` gives metric `ttft_ms`, stat `p99`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Target {
    pub metric: String,
    pub stat: String,
    pub(crate) limit_ms: f64,
}

/// The metrics an SLA target may name.
pub(crate) const SLA_METRICS: [&str; 5] = ["ttft_ms", "itl_ms", "tpot_ms", "ntpot_ms", "e2e_ms"];
/// The statistics an SLA target may name.
pub(crate) const SLA_STATS: [&str; 7] = ["mean", "p50", "p75", "p90", "p95", "p99", "p99p9"];

/// One deployment point, its values checked and its overrides and agent counts filled in.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    pub name: String,
    pub(crate) values: BTreeMap<String, String>,
    /// The sweep file's `overrides` of the profile, filled with the point's values.
    pub(crate) overrides: Vec<String>,
    /// Agents expected per role before the point runs.
    pub agents: BTreeMap<String, u32>,
    /// GPUs the point uses: its `gpus` value, else (prefill + decode) × tp when it names them.
    pub(crate) gpus: Option<f64>,
}

/// A checked sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub(crate) file: PathBuf,
    /// The sweep's name (from the file).
    pub name: String,
    pub(crate) profile: PathBuf,
    /// The reconfigure command's template (`{key}`: a point's value, `{coordinator}`).
    pub(crate) command: Option<String>,
    /// The deployment points, in order.
    pub points: Vec<Point>,
    pub(crate) command_timeout: f64,
    pub(crate) ready_timeout: f64,
    pub(crate) check_health: bool,
    pub(crate) check_models: bool,
    /// Where readiness polls `/health` and `/v1/models` (default: the profile's base URL).
    pub(crate) ready_url: Option<String>,
    pub(crate) on_failure: OnFailure,
    pub(crate) sla: Vec<Target>,
    pub(crate) search: Option<SearchSpec>,
}

impl Sweep {
    /// The command that deploys `p`: the template filled with its values and the
    /// coordinator's listen address (checked when the file was loaded).
    pub(crate) fn command_for(
        &self,
        p: &Point,
        coordinator: &str,
    ) -> Option<Result<String, String>> {
        let mut values = p.values.clone();
        values.insert(COORDINATOR.into(), coordinator.into());
        self.command.as_deref().map(|c| fill(c, &values))
    }
}

fn invalid(file: &Path, key: impl Into<String>, message: impl Into<String>) -> SweepError {
    SweepError::Invalid {
        file: file.to_path_buf(),
        key: key.into(),
        message: message.into(),
    }
}

/// Reads and checks a sweep file; `profile` is resolved against the file's folder.
pub fn load_sweep(path: &Path) -> Result<Sweep, SweepError> {
    let text = std::fs::read_to_string(path).map_err(|source| SweepError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file: SweepFile = serde_norway::from_str(&text).map_err(|e| SweepError::Parse {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    check(path, file)
}

fn check(path: &Path, f: SweepFile) -> Result<Sweep, SweepError> {
    let name = f
        .name
        .unwrap_or_else(|| fleetbench_profile::profile_stem(path, "sweep"));
    if !is_name(&name) {
        return Err(invalid(
            path,
            "name",
            format!("{name:?}: use letters, digits, '.', '-', '_' (at most 64)"),
        ));
    }
    if f.points.is_empty() {
        return Err(invalid(path, "points", "at least one point is needed"));
    }
    let (command_timeout, command) = match f.reconfigure {
        Some(r) => (r.timeout, Some(r.command)),
        None => (default_timeout(), None),
    };
    check_seconds(path, "reconfigure.timeout", command_timeout)?;
    check_seconds(path, "ready.timeout", f.ready.timeout)?;
    if let Some(u) = &f.ready.url {
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 2048 {
            return Err(invalid(
                path,
                "ready.url",
                format!("{u:?}: an http:// or https:// URL (at most 2048 characters)"),
            ));
        }
    }
    let templates = Templates {
        command: command.as_deref(),
        overrides: &f.overrides,
        agents: &f.ready.agents,
    };
    let mut points = Vec::new();
    for (i, raw) in f.points.iter().enumerate() {
        let p = point(path, i, raw, &templates)?;
        if points.iter().any(|q: &Point| q.name == p.name) {
            return Err(invalid(
                path,
                format!("points.{i}.name"),
                format!("{:?} is given twice", p.name),
            ));
        }
        points.push(p);
    }
    let sla = targets(path, &f.sla)?;
    match (&f.search, sla.is_empty()) {
        (Some(s), false) => check_search(path, s)?,
        (Some(_), true) => {
            return Err(invalid(path, "sla", "search needs at least one sla target"))
        }
        (None, false) => {
            return Err(invalid(
                path,
                "search",
                "sla targets need a search: {over, lo, hi, max_probes, precision}",
            ))
        }
        (None, true) => {}
    }
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(Sweep {
        file: path.to_path_buf(),
        name,
        profile: base.join(&f.profile),
        command,
        points,
        command_timeout,
        ready_timeout: f.ready.timeout,
        check_health: f.ready.health,
        check_models: f.ready.models,
        ready_url: f.ready.url,
        on_failure: f.on_failure,
        sla,
        search: f.search,
    })
}

fn check_seconds(file: &Path, key: &str, v: f64) -> Result<(), SweepError> {
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(())
    } else {
        Err(invalid(
            file,
            key,
            format!("{v}: seconds from 0 (exclusive) to 86400"),
        ))
    }
}

/// A point's name (a directory under the sweep's results): letters, digits, `.`, `-`, `_`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A value that may go into a shell command unquoted.
fn is_safe_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '-' | '_' | ':' | '/' | '=' | ',' | '+' | '@')
        })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What each point fills in with its values.
struct Templates<'a> {
    command: Option<&'a str>,
    overrides: &'a [String],
    agents: &'a BTreeMap<String, Value>,
}

fn point(
    file: &Path,
    i: usize,
    raw: &BTreeMap<String, Value>,
    t: &Templates<'_>,
) -> Result<Point, SweepError> {
    let mut values = BTreeMap::new();
    for (k, v) in raw {
        let key = format!("points.{i}.{k}");
        if k == COORDINATOR {
            return Err(invalid(
                file,
                key,
                "{coordinator} is the coordinator's listen address; name the value otherwise",
            ));
        }
        if !is_name(k) {
            return Err(invalid(
                file,
                key,
                "a value's name uses letters, digits, '.', '-', '_'",
            ));
        }
        let Some(s) = scalar(v) else {
            return Err(invalid(file, key, "expected a string, number or boolean"));
        };
        if !is_safe_token(&s) {
            return Err(invalid(file, key, format!("{s:?}: values go into a shell command, so only letters, digits and . - _ : / = , + @ (at most 128)")));
        }
        values.insert(k.clone(), s);
    }
    let Some(name) = values.get("name").cloned() else {
        return Err(invalid(
            file,
            format!("points.{i}"),
            "every point needs a name",
        ));
    };
    if !is_name(&name) {
        return Err(invalid(
            file,
            format!("points.{i}.name"),
            format!("{name:?}: use letters, digits, '.', '-', '_' (at most 64)"),
        ));
    }
    if let Some(c) = t.command {
        let mut with = values.clone();
        with.insert(COORDINATOR.into(), "127.0.0.1:7600".into());
        fill(c, &with)
            .map_err(|m| invalid(file, "reconfigure.command", format!("point {name}: {m}")))?;
    }
    let overrides = t
        .overrides
        .iter()
        .enumerate()
        .map(|(j, o)| {
            fill(o, &values)
                .map_err(|m| invalid(file, format!("overrides.{j}"), format!("point {name}: {m}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut expected = BTreeMap::new();
    for (role, v) in t.agents {
        let key = format!("ready.agents.{role}");
        if !matches!(role.as_str(), "client" | "prefill" | "decode" | "other") {
            return Err(invalid(
                file,
                key,
                "roles are client, prefill, decode, other",
            ));
        }
        let template =
            scalar(v).ok_or_else(|| invalid(file, &key, "expected a count or a {placeholder}"))?;
        let text = fill(&template, &values)
            .map_err(|m| invalid(file, &key, format!("point {name}: {m}")))?;
        let n: u32 = text.parse().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
            invalid(
                file,
                &key,
                format!("point {name}: {text:?} is not a count from 0 to 10000"),
            )
        })?;
        expected.insert(role.clone(), n);
    }
    let gpus = gpu_count(&values).map_err(|m| invalid(file, format!("points.{i}"), m))?;
    Ok(Point {
        name,
        values,
        overrides,
        agents: expected,
        gpus,
    })
}

/// `gpus`, else (prefill + decode) × tp (tp 1 when absent) when prefill or decode is given.
fn gpu_count(values: &BTreeMap<String, String>) -> Result<Option<f64>, String> {
    let num = |k: &str| -> Result<Option<f64>, String> {
        values
            .get(k)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("{k}: {v:?} is not a count"))
            })
            .transpose()
    };
    if let Some(g) = num("gpus")? {
        return Ok(Some(g).filter(|g| *g > 0.0));
    }
    let (p, d) = (num("prefill")?, num("decode")?);
    if p.is_none() && d.is_none() {
        return Ok(None);
    }
    let tp = num("tp")?.unwrap_or(1.0);
    Ok(Some((p.unwrap_or(0.0) + d.unwrap_or(0.0)) * tp).filter(|g| *g > 0.0))
}

/// Replaces each `{key}` of `template` with the point's value; `{{` and `}}` are literal braces.
pub(crate) fn fill(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err("an unmatched '}' (write '}}' for a literal one)".into());
        }
        let end = tail.find('}').ok_or("an unclosed '{'")?;
        let key = &tail[1..end];
        let v = values.get(key).ok_or_else(|| {
            format!(
                "placeholder {{{key}}} is not one of the point's values ({})",
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        out.push_str(v);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn targets(
    file: &Path,
    sla: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<Vec<Target>, SweepError> {
    let mut out = Vec::new();
    for (metric, stats) in sla {
        if !SLA_METRICS.contains(&metric.as_str()) {
            return Err(invalid(
                file,
                format!("sla.{metric}"),
                format!("allowed: {}", SLA_METRICS.join(", ")),
            ));
        }
        for (stat, limit) in stats {
            let key = format!("sla.{metric}.{stat}");
            if !SLA_STATS.contains(&stat.as_str()) {
                return Err(invalid(
                    file,
                    key,
                    format!("allowed: {}", SLA_STATS.join(", ")),
                ));
            }
            if !(limit.is_finite() && *limit > 0.0) {
                return Err(invalid(
                    file,
                    key,
                    format!("{limit}: a limit in ms above 0"),
                ));
            }
            out.push(Target {
                metric: metric.clone(),
                stat: stat.clone(),
                limit_ms: *limit,
            });
        }
    }
    Ok(out)
}

fn check_search(file: &Path, s: &SearchSpec) -> Result<(), SweepError> {
    let (lo_min, hi_max) = match s.over {
        SearchOver::Rate => (0.001, 100_000.0),
        SearchOver::Concurrency => (1.0, 10_000.0),
    };
    if !(s.lo.is_finite() && s.lo >= lo_min) {
        return Err(invalid(
            file,
            "search.lo",
            format!("{}: at least {lo_min}", s.lo),
        ));
    }
    if !(s.hi.is_finite() && s.hi > s.lo && s.hi <= hi_max) {
        return Err(invalid(
            file,
            "search.hi",
            format!("{}: above lo ({}) and at most {hi_max}", s.hi, s.lo),
        ));
    }
    if s.over == SearchOver::Concurrency && (s.lo.fract() != 0.0 || s.hi.fract() != 0.0) {
        return Err(invalid(
            file,
            "search.lo",
            "concurrency bounds are whole users",
        ));
    }
    if !(1..=MAX_PROBES).contains(&s.max_probes) {
        return Err(invalid(
            file,
            "search.max_probes",
            format!("{}: from 1 to {MAX_PROBES}", s.max_probes),
        ));
    }
    if !(s.precision.is_finite() && s.precision >= 0.01 && s.precision <= 1.0) {
        return Err(invalid(
            file,
            "search.precision",
            format!("{}: a fraction from 0.01 to 1", s.precision),
        ));
    }
    check_seconds(file, "search.probe_duration", s.probe_duration)?;
    let needed = probes_needed(s.lo, s.hi, s.precision);
    if needed > s.max_probes {
        return Err(invalid(
            file,
            "search.max_probes",
            format!(
                "{}: bisecting {}..{} to within {}% takes {needed} probes; raise max_probes (at most {MAX_PROBES}), narrow lo..hi or loosen precision",
                s.max_probes, s.lo, s.hi, s.precision * 100.0
            ),
        ));
    }
    Ok(())
}

/// Probes a search of `lo..hi` may need to reach `hi / lo <= 1 + precision`: the halvings of
/// the bracket (in log space) plus one probe that confirms an end no halving tested.
pub(crate) fn probes_needed(lo: f64, hi: f64, precision: f64) -> u32 {
    let halvings = ((hi / lo).ln() / (1.0 + precision).ln())
        .log2()
        .ceil()
        .max(0.0);
    halvings as u32 + 1
}

/// The name of what a search varies, as the sweep file and the summaries write it.
pub(crate) fn over_name(o: SearchOver) -> &'static str {
    match o {
        SearchOver::Rate => "rate",
        SearchOver::Concurrency => "concurrency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Sweep, SweepError> {
        check(Path::new("s.yaml"), serde_norway::from_str(text).unwrap())
    }

    const BASE: &str = "profile: p.yaml\npoints:\n  - {name: 1p1d, prefill: 1, decode: 1, tp: 2}\n  - {name: 2p1d, prefill: 2, decode: 1}\n";

    #[test]
    fn commands_and_agent_counts_are_filled_per_point() {
        let s = parse(&format!(
            "{BASE}reconfigure: {{command: 'deploy --p {{prefill}} --d {{decode}} {{{{x}}}}'}}\nready: {{agents: {{client: 1, prefill: '{{prefill}}'}}}}\n"
        ))
        .unwrap();
        assert_eq!(
            s.command_for(&s.points[0], "10.0.0.1:7600"),
            Some(Ok("deploy --p 1 --d 1 {x}".to_string()))
        );
        assert_eq!(s.points[1].agents["prefill"], 2);
        assert_eq!(s.points[1].agents["client"], 1);
        assert_eq!(s.points[0].gpus, Some(4.0));
        assert_eq!(s.points[1].gpus, Some(3.0));
        assert_eq!(s.profile, Path::new("p.yaml"));
    }

    #[test]
    fn unsafe_values_unknown_placeholders_and_duplicates_are_refused() {
        let e = parse("profile: p.yaml\npoints: [{name: a, x: 'a; rm -rf /'}]\n").unwrap_err();
        assert!(e.to_string().contains("points.0.x"), "{e}");
        let e = parse(&format!("{BASE}reconfigure: {{command: 'x {{tp}}'}}\n")).unwrap_err();
        assert!(
            e.to_string().contains("point 2p1d") && e.to_string().contains("{tp}"),
            "{e}"
        );
        let e = parse("profile: p.yaml\npoints: [{name: a}, {name: a}]\n").unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let e = parse("profile: p.yaml\npoints: [{name: '../a'}]\n").unwrap_err();
        assert!(e.to_string().contains("points.0"), "{e}");
    }

    /// `{coordinator}` is the listen address in the command only; overrides take the
    /// point's values, and a point may not name a value `coordinator`.
    #[test]
    fn the_coordinator_placeholder_and_per_point_overrides() {
        let s = parse(&format!(
            "{BASE}overrides: ['fleet.expect_agents={{prefill}}']\nreconfigure: {{command: 'up --c {{coordinator}} --d {{decode}}'}}\nready: {{url: 'https://127.0.0.1:8443'}}\n"
        ))
        .unwrap();
        assert_eq!(
            s.command_for(&s.points[1], "172.18.0.1:7600"),
            Some(Ok("up --c 172.18.0.1:7600 --d 1".to_string()))
        );
        assert_eq!(s.points[1].overrides, ["fleet.expect_agents=2"]);
        assert_eq!(s.ready_url.as_deref(), Some("https://127.0.0.1:8443"));
        let e = parse("profile: p.yaml\npoints: [{name: a, coordinator: x}]\n").unwrap_err();
        assert!(e.to_string().contains("points.0.coordinator"), "{e}");
        let e = parse(&format!("{BASE}overrides: ['a={{coordinator}}']\n")).unwrap_err();
        assert!(
            e.to_string().contains("overrides.0") && e.to_string().contains("point 1p1d"),
            "{e}"
        );
        let e = parse(&format!("{BASE}ready: {{url: 'ftp://x'}}\n")).unwrap_err();
        assert!(e.to_string().contains("ready.url"), "{e}");
    }

    #[test]
    fn a_search_that_cannot_reach_its_precision_is_refused() {
        let sla = "sla: {ttft_ms: {p99: 100}}\n";
        let ok = parse(&format!(
            "{BASE}{sla}search: {{over: rate, lo: 1, hi: 64, max_probes: 8, precision: 0.05}}\n"
        ));
        assert!(ok.is_ok());
        let e = parse(&format!(
            "{BASE}{sla}search: {{over: rate, lo: 1, hi: 64, max_probes: 3, precision: 0.05}}\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("search.max_probes"), "{e}");
        let e = parse(&format!(
            "{BASE}{sla}search: {{over: rate, lo: 1, hi: 64, max_probes: 9}}\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("from 1 to 8"), "{e}");
        let e = parse(&format!(
            "{BASE}sla: {{ttft_ms: {{p42: 1}}}}\nsearch: {{over: rate, lo: 1, hi: 2}}\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("sla.ttft_ms.p42"), "{e}");
    }

    #[test]
    fn the_shipped_sweeps_load_and_name_existing_profiles() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/sweeps");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let s = load_sweep(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                s.profile.exists(),
                "{}: {}",
                path.display(),
                s.profile.display()
            );
            assert!(s.command.is_some());
            assert!(s.points.iter().all(|p| !p.agents.is_empty()));
            n += 1;
        }
        assert!(n >= 1);
    }
}
