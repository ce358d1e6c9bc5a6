//! Accelerators: what the host has (inventory, sent at join) and what they do (samples). NVML
//! is one backend (`super::nvml`); a scripted fake backend stands in for it where there is no
//! GPU (CI, tests).

use fleetbench_proto::v1 as wire;
use std::time::Instant;

/// A source of accelerator inventory and samples.
pub(crate) trait GpuBackend: Send {
    fn inventory(&self) -> Vec<wire::Accelerator>;
    fn sample(&mut self) -> Vec<wire::DeviceSample>;
}

/// One scripted device: `MODEL:MEMORY_GB:POWER_W` (the `--fake-gpu` flag).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeGpu {
    /// The model name reported.
    pub model: String,
    /// Its memory, GB.
    pub memory_gb: f64,
    /// Its power draw, W.
    pub power_w: f64,
}

impl std::str::FromStr for FakeGpu {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.rsplitn(3, ':').collect();
        let [power, mem, model] = parts.as_slice() else {
            return Err(format!("{s:?} is not MODEL:MEMORY_GB:POWER_W"));
        };
        Ok(FakeGpu {
            model: model.to_string(),
            memory_gb: mem
                .parse()
                .map_err(|_| format!("{s:?}: memory {mem:?} is not a number of GB"))?,
            power_w: power
                .parse()
                .map_err(|_| format!("{s:?}: power {power:?} is not a number of W"))?,
        })
    }
}

/// Scripted devices: constant power, 60% of memory used, 50% busy; energy integrates the power.
pub(crate) struct FakeBackend {
    devices: Vec<FakeGpu>,
    started: Instant,
}

impl FakeBackend {
    pub(crate) fn new(devices: Vec<FakeGpu>) -> Self {
        FakeBackend {
            devices,
            started: Instant::now(),
        }
    }
}

impl GpuBackend for FakeBackend {
    fn inventory(&self) -> Vec<wire::Accelerator> {
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| wire::Accelerator {
                index: i as u32,
                model: d.model.clone(),
                memory_bytes: (d.memory_gb * 1e9) as u64,
                pci_bus_id: format!("00000000:{:02X}:00.0", i + 1),
                uuid: format!("GPU-fake-{i}"),
                driver_version: "fake".into(),
                cuda_version: String::new(),
            })
            .collect()
    }

    fn sample(&mut self) -> Vec<wire::DeviceSample> {
        let t = self.started.elapsed().as_secs_f64();
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| wire::DeviceSample {
                index: i as u32,
                power_w: d.power_w,
                memory_used_bytes: d.memory_gb * 1e9 * 0.6,
                memory_util_pct: 50.0,
                gpu_util_pct: 50.0,
                sm_clock_mhz: 1980.0,
                temperature_c: 60.0,
                energy_mj: d.power_w * t * 1000.0,
            })
            .collect()
    }
}
