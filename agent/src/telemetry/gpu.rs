//! Accelerators: what the host has (inventory, sent at join) and what they do (samples). NVML
//! is one backend; a scripted fake backend stands in for it where there is no GPU (CI, tests).

use fleetbench_proto::v1 as wire;
use std::time::Instant;

/// A source of accelerator inventory and samples.
pub trait GpuBackend: Send {
    fn inventory(&self) -> Vec<wire::Accelerator>;
    fn sample(&mut self) -> Vec<wire::DeviceSample>;
}

/// Which devices to sample: `--gpus 0,1`, else `CUDA_VISIBLE_DEVICES` when it lists indices,
/// else all.
pub fn selected(count: u32, flag: Option<&[u32]>) -> Vec<u32> {
    if let Some(list) = flag {
        return list.iter().copied().filter(|&i| i < count).collect();
    }
    if let Ok(v) = std::env::var("CUDA_VISIBLE_DEVICES") {
        let parsed: Result<Vec<u32>, _> = v.split(',').map(|s| s.trim().parse::<u32>()).collect();
        if let Ok(list) = parsed {
            return list.into_iter().filter(|&i| i < count).collect();
        }
    }
    (0..count).collect()
}

pub struct NvmlBackend {
    nvml: nvml_wrapper::Nvml,
    devices: Vec<u32>,
}

impl NvmlBackend {
    /// Loads libnvidia-ml at run time; an error when the driver is not there.
    pub fn open(gpus: Option<&[u32]>) -> Result<Self, nvml_wrapper::error::NvmlError> {
        let nvml = nvml_wrapper::Nvml::init()?;
        let count = nvml.device_count()?;
        let devices = selected(count, gpus);
        Ok(NvmlBackend { nvml, devices })
    }
}

impl GpuBackend for NvmlBackend {
    fn inventory(&self) -> Vec<wire::Accelerator> {
        let driver = self.nvml.sys_driver_version().unwrap_or_default();
        let cuda = self
            .nvml
            .sys_cuda_driver_version()
            .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10))
            .unwrap_or_default();
        self.devices
            .iter()
            .filter_map(|&i| {
                let d = self.nvml.device_by_index(i).ok()?;
                Some(wire::Accelerator {
                    index: i,
                    model: d.name().unwrap_or_default(),
                    memory_bytes: d.memory_info().map(|m| m.total).unwrap_or(0),
                    pci_bus_id: d.pci_info().map(|p| p.bus_id).unwrap_or_default(),
                    uuid: d.uuid().unwrap_or_default(),
                    driver_version: driver.clone(),
                    cuda_version: cuda.clone(),
                })
            })
            .collect()
    }

    fn sample(&mut self) -> Vec<wire::DeviceSample> {
        use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
        self.devices
            .iter()
            .filter_map(|&i| {
                let d = self.nvml.device_by_index(i).ok()?;
                let util = d.utilization_rates().ok();
                Some(wire::DeviceSample {
                    index: i,
                    power_w: d
                        .power_usage()
                        .map(|mw| mw as f64 / 1000.0)
                        .unwrap_or(f64::NAN),
                    memory_used_bytes: d.memory_info().map(|m| m.used as f64).unwrap_or(f64::NAN),
                    memory_util_pct: util.as_ref().map(|u| u.memory as f64).unwrap_or(f64::NAN),
                    gpu_util_pct: util.as_ref().map(|u| u.gpu as f64).unwrap_or(f64::NAN),
                    sm_clock_mhz: d
                        .clock_info(Clock::SM)
                        .map(|c| c as f64)
                        .unwrap_or(f64::NAN),
                    temperature_c: d
                        .temperature(TemperatureSensor::Gpu)
                        .map(|t| t as f64)
                        .unwrap_or(f64::NAN),
                    energy_mj: d
                        .total_energy_consumption()
                        .map(|e| e as f64)
                        .unwrap_or(f64::NAN),
                })
            })
            .collect()
    }
}

/// One scripted device: `MODEL:MEMORY_GB:POWER_W` (the `--fake-gpu` flag).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeGpu {
    pub model: String,
    pub memory_gb: f64,
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
pub struct FakeBackend {
    devices: Vec<FakeGpu>,
    started: Instant,
}

impl FakeBackend {
    pub fn new(devices: Vec<FakeGpu>) -> Self {
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
