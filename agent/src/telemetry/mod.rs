//! What the agent samples on its host while a stage runs: accelerators ([`gpu`], NVML (`nvml`,
//! behind the `nvml` cargo feature) or a scripted fake), the host and the agent process ([`host`]), and the engine's Prometheus
//! metrics ([`engine`]). Samples ride in the interval snapshots; the coordinator cuts the stage
//! window and computes statistics per host group.

pub(crate) mod engine;
mod exposition;
pub mod gpu;
pub(crate) mod host;
mod nvml;
mod prom_query;
pub mod summary;

use fleetbench_proto::v1 as wire;
use gpu::{FakeBackend, FakeGpu, GpuBackend};
use nvml::NvmlBackend;
use std::time::Duration;

/// Whether the agent samples accelerators through NVML (`--nvml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NvmlMode {
    /// Use NVML when the driver is there; say once when it is not.
    Auto,
    /// Fail when NVML cannot be used.
    On,
    /// Do not sample accelerators.
    Off,
}

/// What and how often the agent samples.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// Between two samples.
    pub interval: Duration,
    /// NVML use (`--nvml`).
    pub nvml: NvmlMode,
    /// Device indices to sample (`--gpus`), else `CUDA_VISIBLE_DEVICES` or all.
    pub gpus: Option<Vec<u32>>,
    /// Scripted devices instead of NVML (tests, demos without a GPU).
    pub fake_gpus: Vec<FakeGpu>,
    /// Prometheus endpoints of the engines on this host.
    pub engine_urls: Vec<String>,
}

/// The host's samplers: accelerators, the host and this process, the engines' `/metrics`.
pub struct Telemetry {
    gpu: Option<Box<dyn GpuBackend>>,
    /// Why no accelerators are sampled (`--nvml off`, no driver, no NVML support built in).
    no_accelerators: Option<String>,
    host: host::HostReader,
    engine_urls: Vec<String>,
    /// Between two samples.
    pub interval: Duration,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("accelerators", &self.gpu.is_some())
            .field("engine_urls", &self.engine_urls)
            .field("interval", &self.interval)
            .finish()
    }
}

/// `--nvml on` on a host where NVML cannot be used (the reason inside).
#[derive(Debug, thiserror::Error)]
#[error("NVML is required (--nvml on) but cannot be used: {0}")]
pub struct NvmlUnavailable(String);

impl Telemetry {
    /// Opens the samplers `cfg` names; fails only when `--nvml on` cannot be met.
    pub fn open(cfg: &TelemetryConfig) -> Result<Self, NvmlUnavailable> {
        let gpu: Result<Box<dyn GpuBackend>, String> = if !cfg.fake_gpus.is_empty() {
            Ok(Box::new(FakeBackend::new(cfg.fake_gpus.clone())))
        } else {
            match cfg.nvml {
                NvmlMode::Off => Err("--nvml off".to_string()),
                mode => match NvmlBackend::open(cfg.gpus.as_deref()) {
                    Ok(b) => Ok(Box::new(b)),
                    Err(e) if mode == NvmlMode::On => return Err(NvmlUnavailable(e)),
                    Err(e) => {
                        tracing::info!("no accelerator telemetry on this host (NVML: {e})");
                        Err(format!("NVML: {e}"))
                    }
                },
            }
        };
        let (gpu, no_accelerators) = match gpu {
            Ok(g) => (Some(g), None),
            Err(why) => (None, Some(why)),
        };
        Ok(Telemetry {
            gpu,
            no_accelerators,
            host: host::HostReader::default(),
            engine_urls: cfg.engine_urls.clone(),
            interval: cfg.interval,
        })
    }

    /// The accelerators sampled (model, memory), for the agent's registration.
    pub fn inventory(&self) -> Vec<wire::Accelerator> {
        self.gpu.as_ref().map(|g| g.inventory()).unwrap_or_default()
    }

    /// Why this agent samples no accelerators (`None` when it does).
    pub fn no_accelerators(&self) -> Option<&str> {
        self.no_accelerators.as_deref()
    }

    /// One sample of the host, the engines (this agent's, `more_engines`, and the series of
    /// `query`'s Prometheus API) and (with `accelerators`) the accelerators.
    pub async fn sample(
        &mut self,
        agent_unix_ns: i64,
        accelerators: bool,
        more_engines: &[String],
        query: Option<&fleetbench_model::spec::PromQuery>,
    ) -> wire::TelemetrySample {
        let devices = match self.gpu.as_mut() {
            Some(g) if accelerators => g.sample(),
            _ => Vec::new(),
        };
        let host = self.host.sample();
        let timeout = self.interval.max(Duration::from_millis(100));
        let mut urls: Vec<&String> = self.engine_urls.iter().collect();
        urls.extend(
            more_engines
                .iter()
                .filter(|u| !self.engine_urls.contains(u)),
        );
        let scrapes = urls.into_iter().map(|u| async move {
            engine::fetch(u, timeout)
                .await
                .map(|text| engine::map_metrics(u, &text))
        });
        let queried = async {
            match query {
                Some(q) => prom_query::sample(q, timeout).await,
                None => None,
            }
        };
        let (scraped, queried) =
            futures::future::join(futures::future::join_all(scrapes), queried).await;
        let engines = scraped.into_iter().flatten().chain(queried).collect();
        wire::TelemetrySample {
            agent_unix_ns,
            devices,
            host: Some(host),
            engines,
        }
    }
}
