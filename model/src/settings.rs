//! The profile settings that travel in a shard spec as they are: the endpoint's API and HTTP
//! version, the client certificate's files, and the `telemetry` section. The profile crate
//! parses them as part of a profile; the agent reads them from its shard spec.

use serde::{Deserialize, Serialize};

/// `telemetry: {interval: 0.2, nvml: auto}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Seconds between samples.
    #[serde(default)]
    pub interval: Option<f64>,
    /// Accelerator telemetry: auto, on or off.
    #[serde(default)]
    pub nvml: Option<NvmlSetting>,
}

/// Accelerator telemetry for a run: `auto` (where the agent has it), `on` (an agent without it
/// fails its shard), `off` (no accelerator samples).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NvmlSetting {
    /// Where the agent has NVML.
    Auto,
    /// Required: an agent without accelerators fails its shard.
    On,
    /// No accelerator samples.
    Off,
}

/// `api.type`: the OpenAI API the requests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApiType {
    /// `/v1/completions`.
    #[default]
    Completion,
    /// `/v1/chat/completions`.
    Chat,
}

/// `api.http_version`: the HTTP version the agents speak to the endpoint. `auto` (the
/// default): HTTP/2 when a TLS server picks `h2` by ALPN, else HTTP/1.1; `1.1`: always HTTP/1.1;
/// `2`: always HTTP/2 (h2c by prior knowledge over `http://`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum HttpVersion {
    /// HTTP/2 when TLS picks `h2` by ALPN, else HTTP/1.1.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// Always HTTP/1.1.
    #[serde(rename = "1.1")]
    Http1,
    /// Always HTTP/2 (h2c by prior knowledge over `http://`).
    #[serde(rename = "2")]
    Http2,
}

impl<'de> Deserialize<'de> for HttpVersion {
    /// `auto`, `1.1` or `2`, written as a string or a YAML number.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Number(n) => n.to_string(),
        };
        match text.as_str() {
            "auto" => Ok(HttpVersion::Auto),
            "1.1" => Ok(HttpVersion::Http1),
            "2" | "2.0" => Ok(HttpVersion::Http2),
            _ => Err(serde::de::Error::custom(format!(
                "api.http_version must be auto, 1.1 or 2, got {text:?}"
            ))),
        }
    }
}

/// The PEM files of a client identity, on each agent's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCert {
    /// The certificate chain (PEM).
    pub cert_path: String,
    /// The private key (PEM); the certificate file when the profile names no key file (a
    /// combined PEM, as Python's `load_cert_chain` accepts).
    pub key_path: String,
}
