//! `metrics.prometheus.google_managed`: the engines' series read from Google Cloud Managed
//! Service for Prometheus, as inference-perf reads them there. The first agent queries its
//! Prometheus API (`/api/v1/query`; it has no `/federate`) each telemetry interval; the
//! coordinator holds the Google credentials (Application Default Credentials, as for the
//! buckets: `upload::google_auth`), finds the project, and gets a token with the
//! `monitoring.read` scope before the run (a run that cannot read it is refused before any
//! load) and again at each stage's start. The token rides in that stage's shard spec, as
//! `server.api_key` does, and never in `plan.json`. A token lives an hour: a stage longer than
//! that loses its engine samples from then on (the agent warns).

use crate::upload::google_auth::GoogleAuth;
use crate::upload::http::Http;
use fleetbench_model::clock::unix_s;
use fleetbench_model::spec::ShardSpec;
use std::time::Duration;

/// Read the project's metrics.
const SCOPE: &str = "https://www.googleapis.com/auth/monitoring.read";

/// The Managed Prometheus API's host.
const DEFAULT_ROOT: &str = "https://monitoring.googleapis.com";

/// fleetbench's variable for another root (a proxy, a test's server): `http(s)://HOST[:PORT]`.
pub(crate) const ROOT_VAR: &str = "FLEETBENCH_MANAGED_PROMETHEUS_URL";

/// The project's query API and the credentials that read it.
#[derive(Debug)]
pub(crate) struct ManagedPrometheus {
    auth: GoogleAuth,
    /// `<root>/v1/projects/<project>/location/global/prometheus`.
    base_url: String,
}

impl ManagedPrometheus {
    /// The credentials and project of this process's environment, checked with one token.
    pub(crate) fn from_env() -> Result<ManagedPrometheus, String> {
        Self::from_vars(&|k| std::env::var(k).ok())
    }

    fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<ManagedPrometheus, String> {
        let why = |e: String| format!("metrics.prometheus.google_managed: {e}");
        let auth = GoogleAuth::from_env(var).map_err(why)?;
        let project = auth.project_id(&http(), var).map_err(why)?;
        if project.is_empty()
            || !project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-:._".contains(c))
        {
            return Err(why(format!("{project:?} is not a Google Cloud project id")));
        }
        let root = var(ROOT_VAR).filter(|v| !v.is_empty());
        let root = root.unwrap_or_else(|| DEFAULT_ROOT.into());
        let mp = ManagedPrometheus {
            auth,
            base_url: format!(
                "{}/v1/projects/{project}/location/global/prometheus",
                root.trim_end_matches('/')
            ),
        };
        mp.token()?;
        Ok(mp)
    }

    /// A fresh token (blocking: call it off the runtime).
    pub(crate) fn token(&self) -> Result<String, String> {
        self.auth
            .token_for(&http(), unix_s(), SCOPE)
            .map_err(|f| format!("metrics.prometheus.google_managed: {}", f.message))
    }

    /// `spec`'s Managed Prometheus query with the project's URL and `token`.
    pub(crate) fn fill(&self, spec: &mut ShardSpec, token: &str) {
        if let Some(q) = spec.prometheus_query.as_mut() {
            q.base_url = self.base_url.clone();
            q.bearer = Some(token.to_string());
        }
    }

    /// The project's query API (what the run's log names; no secret in it).
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// Whether `profile` reads Managed Prometheus (`metrics.prometheus.google_managed`).
pub(crate) fn wanted(profile: &fleetbench_profile::Profile) -> bool {
    (profile.metrics.as_ref())
        .and_then(|m| m.prometheus.as_ref())
        .is_some_and(|p| p.google_managed)
}

/// A profile submitted to `serve` reads Managed Prometheus with the coordinator's credentials
/// and project only where its operator allows it (`serve --allow-managed-prometheus`).
pub(crate) fn admit_submitted(
    profile: &fleetbench_profile::Profile,
    allowed: bool,
) -> Result<(), String> {
    match wanted(profile) && !allowed {
        true => Err("metrics.prometheus.google_managed: a submitted profile does not read Google Cloud Managed Prometheus with this coordinator's credentials unless its operator allows it (serve --allow-managed-prometheus)".into()),
        false => Ok(()),
    }
}

fn http() -> Http {
    Http::new(Duration::from_secs(10), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_comes_from_the_environment_then_the_key() {
        let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/storage/service-account.json");
        let key = key.to_str().unwrap().to_string();
        let http = http();
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        let with_key = vars(vec![("GOOGLE_APPLICATION_CREDENTIALS", key.clone())]);
        let auth = GoogleAuth::from_env(&with_key).unwrap();
        assert_eq!(
            auth.project_id(&http, &with_key).unwrap(),
            "fleetbench-test"
        );
        let named = vars(vec![
            ("GOOGLE_APPLICATION_CREDENTIALS", key),
            ("GOOGLE_CLOUD_PROJECT", "other-project".into()),
        ]);
        assert_eq!(auth.project_id(&http, &named).unwrap(), "other-project");
        // No credentials at all: the metadata server, here nowhere.
        let none = vars(vec![
            ("HOME", "/nonexistent".into()),
            ("GCE_METADATA_HOST", "127.0.0.1:9".into()),
        ]);
        let err = ManagedPrometheus::from_vars(&none).unwrap_err();
        assert!(
            err.contains("metrics.prometheus.google_managed")
                && err.contains("127.0.0.1:9")
                && err.contains("GOOGLE_CLOUD_PROJECT"),
            "{err}"
        );
    }
}
