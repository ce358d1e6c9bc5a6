//! Issue 8's outputs from a real 3-stage sweep: a deterministic sim (TTFT 50 ms, 10 ms between
//! tokens), a coordinator and two agents on loopback, constant stages of 5, 10 and 20 req/s for
//! 2 s each. Checks the plots (PNG decodes at the promised size, SVG is SVG), `report.html`
//! (the table, only embedded images, nothing fetched), `summary.csv`, `SUMMARY.txt`, that
//! `coordinator report render` rebuilds the same `summary.json`, that `report compare` of the
//! run with itself shows no difference, and pandas' view of `summary.json`
//! (`scripts/check_summary.py`, with the venv `make pyenv` makes).

use fleetbench_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PLOT_WIDTH: u32 = 960;
const PLOT_HEIGHT: u32 = 600;
const PLOTS: [&str; 8] = [
    "itl_vs_load",
    "throughput_vs_load",
    "pareto",
    "ttft_vs_load",
    "ttft_cdf",
    "itl_cdf",
    "throughput_over_time",
    "ttft_over_time",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Decodes a PNG fully; returns (width, height, share of pixels that are not white).
fn decode_png(path: &Path) -> anyhow::Result<(u32, u32, f64)> {
    let decoder = png::Decoder::new(std::fs::File::open(path)?);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let pixels = bytes.len() / channels;
    let inked = bytes
        .chunks(channels)
        .filter(|p| p.iter().take(3).any(|&v| v < 250))
        .count();
    Ok((info.width, info.height, inked as f64 / pixels as f64))
}

#[test]
fn a_three_stage_sweep_renders_tables_plots_and_a_self_contained_page() -> anyhow::Result<()> {
    let dir = scratch("render_outputs");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "50", "--itl-ms", "10"],
    )?;
    let profile = dir.join("sweep.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: sweep\n\
             server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim_addr}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: random, input_distribution: {{min: 32, max: 32, mean: 32, std_dev: 0}},\n\
                     output_distribution: {{min: 24, max: 24, mean: 24, std_dev: 0}}}}\n\
             load: {{type: constant, stages: [{{rate: 5, duration: 2}}, {{rate: 10, duration: 2}}, {{rate: 20, duration: 2}}], base_seed: 11}}\n"
        ),
    )?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(90))?;

    // The summary, as the run wrote it, names the three stages.
    let summary_bytes = std::fs::read(run.join("summary.json"))?;
    let summary: Value = serde_json::from_slice(&summary_bytes)?;
    let names: Vec<String> = (0..3)
        .map(|i| {
            summary["serving"]["Test name"][i.to_string()]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["sweep_qps_05", "sweep_qps_10", "sweep_qps_20"]);

    // Plots: every PNG decodes at the promised size and has ink on it; every SVG is SVG.
    for name in PLOTS {
        let png = run.join(format!("plots/{name}.png"));
        let (w, h, inked) =
            decode_png(&png).unwrap_or_else(|e| panic!("{} does not decode: {e}", png.display()));
        assert_eq!((w, h), (PLOT_WIDTH, PLOT_HEIGHT), "{name}.png size");
        assert!(
            inked > 0.01 && inked < 0.6,
            "{name}.png: {:.1}% non-white pixels",
            inked * 100.0
        );
        let svg = std::fs::read_to_string(run.join(format!("plots/{name}.svg")))?;
        let head = svg.trim_start();
        assert!(
            head.starts_with("<svg") || head.starts_with("<?xml"),
            "{name}.svg starts with {:?}",
            &head[..head.len().min(40)]
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{name}.svg is closed");
        assert!(svg.contains("<text"), "{name}.svg has text (axes, legend)");
        assert!(
            svg.contains(&format!("width=\"{PLOT_WIDTH}\"")),
            "{name}.svg width"
        );
    }

    // report.html: one page with the table and the plots, nothing fetched from elsewhere.
    let html = std::fs::read_to_string(run.join("report.html"))?;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<table class=\"summary\">"));
    for n in &names {
        assert!(
            html.contains(&format!("<td>{n}</td>")),
            "{n} in report.html"
        );
    }
    assert!(html.contains("Mean TTFT (ms)"));
    assert!(html.contains("Scenario") && html.contains("sim-model"));
    assert!(html.matches("<svg").count() >= PLOTS.len(), "inline plots");
    let lower = html.to_lowercase();
    for banned in [
        "src=\"http",
        "src='http",
        "src=http",
        "href=\"http",
        "<link",
        "<script",
        "url(http",
        "@import",
        "<iframe",
    ] {
        assert!(!lower.contains(banned), "report.html contains {banned}");
    }
    for (i, _) in lower.match_indices(" src=") {
        let rest = &lower[i + 5..];
        assert!(
            rest.trim_start_matches(['"', '\'']).starts_with("data:"),
            "an image that is not embedded: {}",
            &rest[..rest.len().min(60)]
        );
    }

    // summary.csv: the 16 columns (vLLM's 15 and goodput) and one row per stage.
    let csv = std::fs::read_to_string(run.join("summary.csv"))?;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.len(), 16);
    assert_eq!(header[0], "Test name");
    assert_eq!(header[14], "P99 ITL (ms)");
    assert_eq!(header[15], "Goodput (req/s)");
    for (line, name) in lines[1..].iter().zip(&names) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 16, "{line}");
        assert_eq!(cells[0], name);
        assert_eq!(cells[1], "sim");
    }

    // SUMMARY.txt: the headline and the fixed-width table.
    let txt = std::fs::read_to_string(run.join("SUMMARY.txt"))?;
    assert!(txt.contains("Best request throughput:"), "{txt}");
    assert!(txt.contains("(sweep_qps_20)"), "the most load wins: {txt}");
    assert!(txt.contains("Best output throughput:"), "{txt}");
    assert!(txt.contains("Best output tok/s per GPU:   n/a"), "{txt}");
    assert!(txt.contains("no SLOs in the profile"), "{txt}");
    for n in &names {
        assert!(txt.lines().any(|l| l.starts_with(n.as_str())), "{n} row");
    }

    // `report render` rebuilds the same summary from the stored files.
    std::fs::remove_file(run.join("report.html"))?;
    std::fs::remove_dir_all(run.join("plots"))?;
    let out = Command::new(bin("coordinator"))
        .args(["report", "render"])
        .arg(&run)
        .output()?;
    assert!(
        out.status.success(),
        "report render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(run.join("summary.json"))?,
        summary_bytes,
        "summary.json rebuilt identically"
    );
    assert!(run.join("report.html").is_file());
    for name in PLOTS {
        assert!(run.join(format!("plots/{name}.png")).is_file(), "{name}");
    }

    // `report compare` of the run with itself: every metric of every stage, no difference.
    let out = Command::new(bin("coordinator"))
        .args(["report", "compare"])
        .arg(&run)
        .arg(&run)
        .arg("--html")
        .arg(dir.join("compare.html"))
        .output()?;
    assert!(out.status.success());
    let cmp = String::from_utf8(out.stdout)?;
    let rows: Vec<&str> = cmp
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("sweep_qps_"))
        .collect();
    // 13 metrics and goodput per stage; without goodput constraints its row has no figures.
    assert_eq!(rows.len(), 3 * 14, "{cmp}");
    for r in &rows {
        if r.contains("| Goodput (req/s) |") {
            assert!(r.trim_end().ends_with("| – | – | – | – |"), "{r}");
        } else {
            assert!(r.trim_end().ends_with("| 0 | 0.00% |"), "{r}");
        }
    }

    // pandas loads summary.json and agrees with the stage reports.
    let python = workspace_root().join(".venv/bin/python");
    if python.exists() {
        let out = Command::new(&python)
            .arg(workspace_root().join("scripts/check_summary.py"))
            .arg(&run)
            .output()?;
        assert!(
            out.status.success(),
            "check_summary.py: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!(
            "{} is missing: `make pyenv` makes it (`make test` does); pandas check skipped",
            python.display()
        );
    }
    Ok(())
}
