//! The quick form of `coordinator run`: `--url URL --model NAME` with a load
//! (`--rate R[,R…]` or `--concurrency C[,C…]`), a stage duration and fixed lengths, turned into
//! an ordinary profile's text. That text is parsed and validated as any profile file is, and the
//! run directory keeps it as `profile.yaml`, so `coordinator run results/<id>/profile.yaml`
//! repeats the run exactly.

use fleetbench_profile::{parse_profile, LoadedProfile};
use std::fmt::Write as _;
use std::path::Path;

/// The endpoint's API for the quick form.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum QuickApi {
    /// `/v1/completions`.
    Completion,
    /// `/v1/chat/completions`.
    Chat,
}

/// `coordinator run --url URL --model NAME …` (no profile file).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct QuickArgs {
    /// Quick form: the OpenAI-compatible endpoint's base URL (e.g. http://127.0.0.1:8000);
    /// fleetbench builds the profile from these flags instead of a PROFILE file.
    #[arg(long, conflicts_with = "profile", requires = "model")]
    pub url: Option<String>,
    /// Quick form: the model name the endpoint serves.
    #[arg(long, requires = "url")]
    pub model: Option<String>,
    /// Quick form: open-loop requests per second, one stage per value (comma-separated);
    /// default 1 when --concurrency is not given.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "url",
        conflicts_with = "concurrency"
    )]
    pub rate: Vec<f64>,
    /// Quick form: closed-loop users, one stage per value (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "url")]
    pub concurrency: Vec<u32>,
    /// Quick form: seconds each stage sends load.
    #[arg(long, default_value_t = 30.0, requires = "url")]
    pub duration: f64,
    /// Quick form: prompt length of every request, in tokens.
    #[arg(long, default_value_t = 128, requires = "url")]
    pub input_len: u32,
    /// Quick form: output length of every request, in tokens (the server is asked to ignore
    /// end-of-sequence so that every request produces exactly this many).
    #[arg(long, default_value_t = 128, requires = "url")]
    pub output_len: u32,
    /// Quick form: which API to call.
    #[arg(long, value_enum, default_value = "completion", requires = "url")]
    pub api: QuickApi,
}

impl QuickArgs {
    /// The profile text these flags describe.
    pub fn profile_text(&self) -> String {
        let url = self.url.as_deref().unwrap_or_default();
        let model = self.model.as_deref().unwrap_or_default();
        let api = match self.api {
            QuickApi::Completion => "completion",
            QuickApi::Chat => "chat",
        };
        let (kind, stages) = self.stages();
        let (i, o) = (self.input_len, self.output_len);
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# Written by `coordinator run --url ... --model ...`; run it again with\n\
             # `coordinator run <this file>`.\n\
             name: quick\n\
             description: {}\n\
             server: {{type: vllm, model_name: {}, base_url: {}, ignore_eos: true}}\n\
             api: {{type: {api}, streaming: true}}\n\
             data:\n  type: random\n  \
             input_distribution: {{min: {i}, max: {i}, mean: {i}, std_dev: 0}}\n  \
             output_distribution: {{min: {o}, max: {o}, mean: {o}, std_dev: 0}}\n\
             load:\n  type: {kind}\n  stages:",
            quote(&self.describe()),
            quote(model),
            quote(url),
        );
        for s in stages {
            let _ = writeln!(t, "    - {s}");
        }
        t
    }

    /// The load type and one flow-style stage per rate or concurrency.
    fn stages(&self) -> (&'static str, Vec<String>) {
        let d = self.duration;
        if !self.concurrency.is_empty() {
            let s = self
                .concurrency
                .iter()
                .map(|c| format!("{{concurrency_level: {c}, duration: {d}}}"))
                .collect();
            return ("concurrent", s);
        }
        let rates = if self.rate.is_empty() {
            vec![1.0]
        } else {
            self.rate.clone()
        };
        let s = rates
            .iter()
            .map(|r| format!("{{rate: {r}, duration: {d}}}"))
            .collect();
        ("constant", s)
    }

    fn describe(&self) -> String {
        let load = if self.concurrency.is_empty() {
            let r = if self.rate.is_empty() {
                "1".to_string()
            } else {
                join(&self.rate)
            };
            format!("{r} req/s")
        } else {
            format!("{} concurrent users", join(&self.concurrency))
        };
        format!(
            "{load}, {} s per stage, {} in / {} out tokens",
            self.duration, self.input_len, self.output_len
        )
    }

    /// The profile and its text, validated as a profile file would be (errors name the flags'
    /// profile as `quick form`).
    pub fn load(&self) -> anyhow::Result<(LoadedProfile, String)> {
        let text = self.profile_text();
        let loaded = parse_profile(
            &text,
            Path::new("quick form (--url/--model flags)"),
            "quick",
        )?;
        Ok((loaded, text))
    }
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        profile: Option<std::path::PathBuf>,
        #[command(flatten)]
        quick: QuickArgs,
    }

    fn quick(args: &[&str]) -> QuickArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().quick
    }

    #[test]
    fn rates_become_constant_stages_of_a_valid_profile() {
        let q = quick(&[
            "--url",
            "http://127.0.0.1:8000",
            "--model",
            "m: \"x\"",
            "--rate",
            "2,5",
            "--duration",
            "5",
            "--input-len",
            "64",
            "--output-len",
            "16",
        ]);
        let (loaded, text) = q.load().unwrap();
        let p = &loaded.profile;
        assert_eq!(p.server.model_name.as_deref(), Some("m: \"x\""), "{text}");
        assert_eq!(p.server.base_url, "http://127.0.0.1:8000");
        assert_eq!(p.load.stages.len(), 2, "{text}");
        assert!(
            p.load.stages[1].rate.is_some() && text.contains("{rate: 5, duration: 5}"),
            "{text}"
        );
        assert!(text.contains("min: 64, max: 64"), "{text}");
    }

    #[test]
    fn concurrency_becomes_closed_loop_stages_and_chat_is_kept() {
        let q = quick(&[
            "--url",
            "http://h:1",
            "--model",
            "m",
            "--concurrency",
            "4",
            "--api",
            "chat",
        ]);
        let (loaded, text) = q.load().unwrap();
        assert!(text.contains("type: concurrent"), "{text}");
        assert!(text.contains("type: chat"), "{text}");
        assert_eq!(loaded.profile.load.stages[0].concurrency_level, Some(4));
    }

    #[test]
    fn the_quick_form_needs_a_model_and_excludes_a_profile() {
        assert!(Cli::try_parse_from(["t", "--url", "http://h:1"]).is_err());
        assert!(
            Cli::try_parse_from(["t", "p.yaml", "--url", "http://h:1", "--model", "m"]).is_err()
        );
        assert!(Cli::try_parse_from([
            "t",
            "--url",
            "http://h:1",
            "--model",
            "m",
            "--rate",
            "1",
            "--concurrency",
            "2"
        ])
        .is_err());
    }
}
