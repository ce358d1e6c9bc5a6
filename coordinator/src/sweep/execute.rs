//! The sweep loop: per point reconfigure, wait until ready, run the profile's stages or the SLA
//! search's probes (each a run of [`start_run`], its directory moved under the point), record
//! the point, and write the sweep summary after every point so a stopped sweep still has one.

use super::error::SweepError;
use super::profile::PointProfile;
use super::ready::{reconfigure, wait_ready, Readiness};
use super::search::{meets, Bisection};
use super::spec::{over_name, OnFailure, Point, SearchOver, SearchSpec, Sweep};
use super::summary::{figures, PointStatus, PointSummary, Probe, SlaResult, SweepSummary};
use crate::hub::Hub;
use crate::live;
use crate::redact::register as register_secrets;
use crate::run::{start_run, RunOptions, RunOutcome, RunRequest};
use fleetbench_agent::client::EndpointTrust;
use fleetbench_model::clock::{compact_utc, unix_s};
use fleetbench_profile::LoadedProfile;
use serde_norway::{Mapping, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What `coordinator sweep` asks for besides the file.
pub struct SweepRequest<'a> {
    /// The sweep file, loaded.
    pub sweep: &'a Sweep,
    /// `-o` overrides of the profile from the command line (after the file's own).
    pub overrides: &'a [String],
    /// Verdict thresholds and outputs of every point's run.
    pub options: RunOptions,
    /// Agents to wait for when the file's `ready.agents` is empty (default: the profile's
    /// `fleet.expect_agents`, else 1).
    pub expect_agents: Option<u32>,
    /// The coordinator's listen address: the command's `{coordinator}` and its
    /// `FLEETBENCH_COORDINATOR`.
    pub coordinator: String,
    /// The roots readiness trusts for an `https://` endpoint (the agent's client and trust).
    pub trust: EndpointTrust,
}

/// A sweep id that sorts by time: `<name>-YYYYMMDD-HHMMSS`.
pub fn sweep_id(name: &str) -> String {
    format!("{name}-{}", compact_utc(unix_s()))
}

/// Runs every point of the sweep in the hub's results directory (the sweep's directory).
pub async fn run_sweep(hub: &Arc<Hub>, req: SweepRequest<'_>) -> Result<SweepSummary, SweepError> {
    let dir = hub.config.results_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| SweepError::Io {
        path: dir.clone(),
        source,
    })?;
    // Every point's profile, checked before anything runs.
    let profiles = req
        .sweep
        .points
        .iter()
        .map(|p| PointProfile::load(req.sweep, p, req.overrides))
        .collect::<Result<Vec<_>, _>>()?;
    let name = profiles.first().map_or("", |p| p.loaded.name.as_str());
    let mut summary = SweepSummary::new(req.sweep, name);
    let count = req.sweep.points.len();
    let mut stop = false;
    for (i, (point, profile)) in req.sweep.points.iter().zip(&profiles).enumerate() {
        if stop {
            summary
                .points
                .push(PointSummary::new(point, PointStatus::Skipped));
            continue;
        }
        eprintln!(
            "sweep {}: point {} of {count}: {}",
            req.sweep.name,
            i + 1,
            point.name
        );
        let p = match run_point(hub, &req, point, profile, &dir).await {
            Ok(p) => p,
            Err(SweepError::Stopped) => {
                summary.interrupted = true;
                PointSummary::new(point, PointStatus::Skipped)
            }
            Err(e) => {
                eprintln!("sweep {}: point {} failed: {e}", req.sweep.name, point.name);
                let mut p = PointSummary::new(point, PointStatus::Failed);
                p.error = Some(e.to_string());
                p
            }
        };
        if p.status == PointStatus::Failed && req.sweep.on_failure == OnFailure::Stop {
            eprintln!(
                "sweep {}: on_failure is stop: the remaining points are skipped",
                req.sweep.name
            );
            stop = true;
        }
        if hub.stop_requested() {
            summary.interrupted = true;
            stop = true;
        }
        summary.points.push(p);
        summary.write(&dir)?;
    }
    summary.write(&dir)?;
    Ok(summary)
}

async fn run_point(
    hub: &Arc<Hub>,
    req: &SweepRequest<'_>,
    point: &Point,
    profile: &PointProfile,
    dir: &Path,
) -> Result<PointSummary, SweepError> {
    let sweep = req.sweep;
    let pdir = dir.join(&point.name);
    std::fs::create_dir_all(&pdir).map_err(|source| SweepError::Io {
        path: pdir.clone(),
        source,
    })?;
    if let Some(command) = sweep.command_for(point, &req.coordinator) {
        let command = command.map_err(|message| SweepError::Reconfigure {
            point: point.name.clone(),
            message,
        })?;
        eprintln!("  reconfigure: {command}");
        let log = pdir.join("reconfigure.log");
        let env = [
            ("FLEETBENCH_COORDINATOR", req.coordinator.as_str()),
            ("FLEETBENCH_POINT", point.name.as_str()),
        ];
        reconfigure(
            &point.name,
            &command,
            secs(sweep.command_timeout),
            &log,
            &env,
        )
        .await?;
    }
    let server = &profile.loaded.profile.server;
    let readiness = Readiness {
        base_url: sweep.ready_url.as_deref().unwrap_or(&server.base_url),
        trust: &req.trust,
        model: server.model_name.as_deref(),
        health: sweep.check_health,
        models: sweep.check_models,
        agents: &point.agents,
        timeout: secs(sweep.ready_timeout),
    };
    wait_ready(&point.name, hub, &readiness).await?;
    eprintln!("  ready");
    let expect = if point.agents.is_empty() {
        req.expect_agents
            .or(profile.loaded.profile.fleet.expect_agents)
            .unwrap_or(1)
    } else {
        point.agents.values().sum()
    };
    let ctx = RunContext {
        hub,
        point: &point.name,
        expect,
        options: req.options,
    };
    let mut p = PointSummary::new(point, PointStatus::Ok);
    match &sweep.search {
        None => {
            let dest = pdir.join("stages");
            let o = ctx
                .run(profile.loaded.clone(), profile.text.clone(), &dest)
                .await?;
            p.stages = o
                .reports
                .iter()
                .zip(&o.verdicts)
                .map(|(r, v)| {
                    figures(
                        r,
                        v,
                        point.gpus,
                        &format!("{}/stages/stage-{}", point.name, v.stage),
                    )
                })
                .collect();
            p.status = PointStatus::of(&o.verdicts);
        }
        Some(s) => p.sla = Some(search_point(&ctx, sweep, s, point, profile, &pdir).await?),
    }
    Ok(p)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// What every run of one point shares.
struct RunContext<'a> {
    hub: &'a Arc<Hub>,
    point: &'a str,
    expect: u32,
    options: RunOptions,
}

impl RunContext<'_> {
    /// One run, as `coordinator run` makes it; its directory then moves to `dest`.
    async fn run(
        &self,
        loaded: LoadedProfile,
        text: String,
        dest: &Path,
    ) -> Result<RunOutcome, SweepError> {
        register_secrets(&loaded.secrets);
        let handle = start_run(
            self.hub.clone(),
            RunRequest {
                loaded,
                profile_text: text,
                expect_agents: self.expect,
                options: self.options,
            },
        );
        let printer = tokio::spawn(live::follow(handle.progress.clone()));
        let result = handle.task.await;
        let _ = printer.await;
        let written = self.hub.config.results_dir.join(&handle.run_id);
        if written.exists() {
            std::fs::rename(&written, dest).map_err(|source| SweepError::Io {
                path: dest.to_path_buf(),
                source,
            })?;
        }
        let fail = |message: String| SweepError::Run {
            point: self.point.to_string(),
            message,
        };
        match result {
            Err(e) => Err(fail(format!("the run task panicked: {e}"))),
            Ok(Err(e)) => Err(fail(e.to_string())),
            Ok(Ok(o)) if self.hub.stop_requested() && o.partial => Err(SweepError::Stopped),
            Ok(Ok(o)) => Ok(o),
        }
    }
}

/// The point's bisection: one short single-stage run per probe.
async fn search_point(
    ctx: &RunContext<'_>,
    sweep: &Sweep,
    s: &SearchSpec,
    point: &Point,
    profile: &PointProfile,
    pdir: &Path,
) -> Result<SlaResult, SweepError> {
    let mut b = Bisection::new(s);
    let mut probes: Vec<Probe> = Vec::new();
    while let Some(value) = b.next() {
        let k = probes.len();
        let text = probe_text(&profile.text, &profile.path, s, value)?;
        let loaded = profile.parse(&text)?;
        eprintln!("  probe {k}: {} {value:.3}", over_name(s.over));
        let dest = pdir.join(format!("probe-{k}"));
        let rel = format!("{}/probe-{k}/stage-0", point.name);
        let probe = match ctx.run(loaded, text, &dest).await {
            Err(SweepError::Stopped) => return Err(SweepError::Stopped),
            Err(e) => Probe {
                k,
                value,
                met: false,
                reasons: vec![e.to_string()],
                figures: None,
            },
            Ok(o) => match (o.reports.first(), o.verdicts.first()) {
                (Some(r), Some(v)) => {
                    let (met, reasons) = meets(r, v, &sweep.sla);
                    Probe {
                        k,
                        value,
                        met,
                        reasons,
                        figures: Some(figures(r, v, point.gpus, &rel)),
                    }
                }
                _ => Probe {
                    k,
                    value,
                    met: false,
                    reasons: vec!["the probe wrote no stage report".into()],
                    figures: None,
                },
            },
        };
        eprintln!(
            "  probe {k}: {}{}",
            if probe.met {
                "meets the SLA"
            } else {
                "misses the SLA"
            },
            if probe.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", probe.reasons.join("; "))
            }
        );
        b.record(value, probe.met);
        probes.push(probe);
    }
    Ok(SlaResult::new(s, &sweep.sla, &b, probes))
}

/// The profile text with its `load` reduced to one probe stage at `value`: a constant-rate
/// stage (the profile's poisson or gamma arrivals kept) or a closed loop of `value` users,
/// `probe_duration` seconds long.
pub(crate) fn probe_text(
    text: &str,
    path: &Path,
    s: &SearchSpec,
    value: f64,
) -> Result<String, SweepError> {
    let bad = |message: String| SweepError::Parse {
        file: path.to_path_buf(),
        message,
    };
    let mut doc: Value = serde_norway::from_str(text).map_err(|e| bad(e.to_string()))?;
    let load = doc
        .get_mut("load")
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| bad("no load section to probe with".into()))?;
    for key in [
        "stages",
        "rates",
        "concurrencies",
        "stage_duration",
        "stage_requests",
    ] {
        load.remove(key);
    }
    let mut stage = Mapping::new();
    match s.over {
        SearchOver::Rate => {
            let keep = matches!(
                load.get("type").and_then(Value::as_str),
                Some("constant" | "poisson" | "gamma")
            );
            if !keep {
                load.insert("type".into(), "constant".into());
            }
            stage.insert("rate".into(), value.into());
        }
        SearchOver::Concurrency => {
            load.insert("type".into(), "concurrent".into());
            stage.insert("concurrency_level".into(), (value.round() as u64).into());
        }
    }
    stage.insert("duration".into(), s.probe_duration.into());
    load.insert(
        "stages".into(),
        Value::Sequence(vec![Value::Mapping(stage)]),
    );
    serde_norway::to_string(&doc).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use fleetbench_profile::parse_profile_with;

    #[test]
    fn a_probe_replaces_the_stages_with_one_stage_at_its_value() {
        let text = "server: {base_url: 'http://127.0.0.1:1'}\napi: {type: completion}\ndata: {type: random, input_distribution: {min: 8, max: 8, mean: 8}, output_distribution: {min: 4, max: 4, mean: 4}}\nload:\n  type: poisson\n  rates: [1, 2]\n  stage_duration: 5\n";
        let s = SearchSpec {
            over: SearchOver::Rate,
            lo: 1.0,
            hi: 8.0,
            max_probes: 8,
            precision: 0.1,
            probe_duration: 3.0,
        };
        let out = probe_text(text, Path::new("p.yaml"), &s, 2.5).unwrap();
        let loaded = parse_profile_with(&out, Path::new("p.yaml"), "p", &[]).unwrap();
        let l = &loaded.profile.load;
        assert!(l.rates.is_none() && l.stage_duration.is_none(), "{out}");
        assert_eq!(l.stages.len(), 1);
        assert_eq!(l.stages[0].rate.map(|r| r.0), Some(2.5));
        assert_eq!(l.stages[0].duration, Some(3.0));
        assert_eq!(serde_json::to_value(l.kind).unwrap(), "poisson");
        let s = SearchSpec {
            over: SearchOver::Concurrency,
            ..s
        };
        let out = probe_text(text, Path::new("p.yaml"), &s, 7.0).unwrap();
        let loaded = parse_profile_with(&out, Path::new("p.yaml"), "p", &[]).unwrap();
        assert_eq!(loaded.profile.load.stages[0].concurrency_level, Some(7));
    }
}
