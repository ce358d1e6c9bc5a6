//! The NVML backend of [`GpuBackend`](crate::telemetry::gpu::GpuBackend), behind the `nvml`
//! cargo feature (on by default). Built without it, [`NvmlBackend::open`] always fails with
//! `NO_NVML`, which the agent reports as it reports a host without a GPU driver: in its log, in
//! `agent probe`'s output, and in the shard failure when a profile asks for `telemetry.nvml: on`.

/// Why a build without the `nvml` feature samples no accelerators.
#[cfg(not(feature = "nvml"))]
pub(crate) const NO_NVML: &str =
    "no NVML support built in (this agent was built without the `nvml` feature: rebuild with `--features nvml`)";

pub(crate) use imp::NvmlBackend;

#[cfg(feature = "nvml")]
mod imp {
    use crate::telemetry::gpu::GpuBackend;
    use fleetbench_proto::v1 as wire;

    /// The devices NVML sees (those [`selected`]).
    pub(crate) struct NvmlBackend {
        nvml: nvml_wrapper::Nvml,
        devices: Vec<u32>,
    }

    impl NvmlBackend {
        /// Loads libnvidia-ml at run time; an error when the driver is not there.
        pub(crate) fn open(gpus: Option<&[u32]>) -> Result<Self, String> {
            let nvml = nvml_wrapper::Nvml::init().map_err(|e| e.to_string())?;
            let count = nvml.device_count().map_err(|e| e.to_string())?;
            let devices = selected(count, gpus);
            Ok(NvmlBackend { nvml, devices })
        }
    }

    /// Which devices to sample: `--gpus 0,1`, else `CUDA_VISIBLE_DEVICES` when it lists indices,
    /// else all.
    fn selected(count: u32, flag: Option<&[u32]>) -> Vec<u32> {
        if let Some(list) = flag {
            return list.iter().copied().filter(|&i| i < count).collect();
        }
        if let Ok(v) = std::env::var("CUDA_VISIBLE_DEVICES") {
            let parsed: Result<Vec<u32>, _> =
                v.split(',').map(|s| s.trim().parse::<u32>()).collect();
            if let Ok(list) = parsed {
                return list.into_iter().filter(|&i| i < count).collect();
            }
        }
        (0..count).collect()
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
                        memory_used_bytes: d
                            .memory_info()
                            .map(|m| m.used as f64)
                            .unwrap_or(f64::NAN),
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
}

#[cfg(not(feature = "nvml"))]
mod imp {
    use crate::telemetry::gpu::GpuBackend;
    use crate::telemetry::nvml::NO_NVML;
    use fleetbench_proto::v1 as wire;

    /// No NVML in this build: the type has no values.
    pub(crate) enum NvmlBackend {}

    impl NvmlBackend {
        /// Always [`NO_NVML`].
        pub(crate) fn open(_gpus: Option<&[u32]>) -> Result<Self, String> {
            Err(NO_NVML.to_string())
        }
    }

    impl GpuBackend for NvmlBackend {
        fn inventory(&self) -> Vec<wire::Accelerator> {
            match *self {}
        }

        fn sample(&mut self) -> Vec<wire::DeviceSample> {
            match *self {}
        }
    }
}
