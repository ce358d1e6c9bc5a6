//! Issue 6's vLLM-style sweep matrix, with real processes: a 2 × 2 matrix (two tensor parallel
//! sizes × two length configs) expands into four profiles that validate on their own; one tiny
//! run of it, picked with `--tp` and `--entry`, runs against the sim and its report carries the
//! run's lengths and tensor parallelism; a matrix run that would mix tensor parallel sizes, and a
//! matrix with an unknown key, are refused with what to do.

use fleetbench_e2e::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write_matrix(dir: &Path, sim: &str) -> std::path::PathBuf {
    let path = dir.join("matrix.yaml");
    let text = format!(
        "name: e2e-sweep\n\
         server: {{type: vllm, base_url: 'http://{sim}', ignore_eos: true}}\n\
         api: {{type: completion, streaming: true}}\n\
         standalone_runs:\n\
         \x20 - name: tiny\n\
         \x20   mode: vllm_throughput\n\
         \x20   tensor_parallel_sizes: [1, 2]\n\
         \x20   args: >\n\
         \x20     --model sim-model\n\
         \x20     --num-prompts 6\n\
         \x20     --max-num-seqs 64\n\
         \x20   length_configs:\n\
         \x20     - {{input_len: 32, output_len: 4, prefix_len: 0}}\n\
         \x20     - {{input_len: 64, output_len: 8, prefix_len: 0}}\n"
    );
    std::fs::write(&path, text).expect("write the matrix");
    path
}

fn coordinator(args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let out = Command::new(bin("coordinator")).args(args).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn a_two_by_two_matrix_expands_and_one_run_of_it_reports_its_lengths_and_tp() -> anyhow::Result<()>
{
    let dir = scratch("matrix_two_by_two");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "2", "--itl-ms", "1"],
    )?;
    let matrix = write_matrix(&dir, &sim);
    let m = matrix.display().to_string();

    // expand: one profile per tp × length config, each a valid profile on its own.
    let out_dir = dir.join("expanded");
    let (ok, stdout, stderr) =
        coordinator(&["expand", &m, "--out", &out_dir.display().to_string()])?;
    assert!(ok, "expand failed: {stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "tiny-tp1-in32-out4.yaml",
            "tiny-tp1-in64-out8.yaml",
            "tiny-tp2-in32-out4.yaml",
            "tiny-tp2-in64-out8.yaml"
        ]
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    for n in &names {
        let (ok, stdout, stderr) =
            coordinator(&["validate", &out_dir.join(n).display().to_string()])?;
        assert!(ok && stdout.contains(": valid"), "{n}: {stdout}\n{stderr}");
    }
    // validate: every run and its plan.
    let (ok, stdout, stderr) = coordinator(&["validate", &m, "--agents", "2"])?;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("matrix") && stdout.contains("4 runs"),
        "{stdout}"
    );
    assert_eq!(stdout.matches(": valid").count(), 4, "{stdout}");
    assert!(
        stdout.contains("run tiny-tp2-in64-out8: entry tiny (vllm_throughput), tp 2, input_len 64, output_len 8"),
        "{stdout}"
    );

    // run: the endpoint serves one deployment, so a run mixing tp 1 and 2 is refused up front.
    let (ok, _, stderr) = coordinator(&["run", &m, "--insecure", "--listen", "127.0.0.1:0"])?;
    assert!(!ok);
    assert!(
        stderr.contains("tensor parallel sizes 1, 2") && stderr.contains("--tp N"),
        "{stderr}"
    );

    // run one tiny entry with two agents.
    let (mut coord, addr) = start_coordinator_run(
        &dir,
        &matrix,
        2,
        &["--tp", "2", "--entry", "tiny-tp2-in64-out8"],
    )?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed: see {}",
        dir.join("coordinator.log").display()
    );
    for agent in [&mut a, &mut b] {
        assert!(
            agent.wait(Duration::from_secs(10))?.success(),
            "{}",
            agent.name
        );
    }
    let run = run_dir(&dir)?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 6.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    for (what, want) in [("input_length", 64.0), ("output_length", 8.0)] {
        for stat in ["min", "mean", "max"] {
            assert_eq!(
                num(&r, &format!("metrics.requests.{what}.{stat}")),
                want,
                "{what}.{stat}"
            );
        }
    }
    assert_eq!(num(&r, "scenario.host.accelerator.0.parallelism.tp"), 2.0);
    assert_eq!(
        num(&r, "scenario.platform.engine.0.args.tensor_parallel_size"),
        2.0
    );
    assert_eq!(
        num(&r, "scenario.platform.engine.0.args.max_num_seqs"),
        64.0
    );
    // The run directory keeps the expanded profile that ran.
    let kept = std::fs::read_dir(&run)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("profile"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(kept.contains("name: tiny-tp2-in64-out8"), "{kept}");
    Ok(())
}

#[test]
fn a_matrix_error_names_file_line_key_and_what_is_allowed() -> anyhow::Result<()> {
    let dir = scratch("matrix_errors");
    let matrix = write_matrix(&dir, "127.0.0.1:9");
    let text = std::fs::read_to_string(&matrix)?;
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, text.replace("    mode:", "    modes: x\n    mode:"))?;
    let (ok, _, stderr) = coordinator(&["validate", &bad.display().to_string()])?;
    assert!(!ok);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("line 6"), "{stderr}");
    assert!(stderr.contains("unknown field `modes`"), "{stderr}");
    assert!(
        stderr.contains("tensor_parallel_sizes") && stderr.contains("length_configs"),
        "{stderr}"
    );
    std::fs::write(&bad, text.replace("--num-prompts 6", "--num-prompt 6"))?;
    let (ok, _, stderr) = coordinator(&["validate", &bad.display().to_string()])?;
    assert!(!ok);
    assert!(
        stderr.contains("bad.yaml: line 8 column 5: `standalone_runs.0.args`")
            && stderr.contains("unknown flag --num-prompt")
            && stderr.contains("--num-prompts"),
        "{stderr}"
    );
    // --tp selects runs of a matrix only.
    let (ok, _, stderr) = coordinator(&[
        "validate",
        &write_profile(
            &dir,
            "127.0.0.1:9",
            8,
            2,
            "load: {type: constant, stages: [{rate: 1, duration: 1}]}",
        )
        .display()
        .to_string(),
        "--tp",
        "2",
    ])?;
    assert!(!ok && stderr.contains("sweep matrix"), "{stderr}");
    Ok(())
}
