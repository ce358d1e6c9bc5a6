//! `sim --help` documents every flag of the contract.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("run sim");
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn help_documents_every_flag() {
    let top = help(&["--help"]);
    assert!(top.contains("serve") && top.contains("proxy"));
    assert!(top.contains("listening on ADDR"));
    let serve = help(&["serve", "--help"]);
    for flag in [
        "--listen",
        "--model",
        "--lora",
        "--role",
        "--deterministic",
        "--ttft-ms",
        "--itl-ms",
        "--card",
        "--ground-truth",
        "--fault ",
        "--fault-rate",
        "--seed",
        "--threads",
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    for kind in [
        "http_429",
        "http_500",
        "http_503",
        "reset",
        "stall:SECS",
        "malformed",
        "slow_headers:SECS",
        "stream_error",
        "x-fleetbench-fault",
    ] {
        assert!(serve.contains(kind), "serve --help lacks fault {kind}");
    }
    let proxy = help(&["proxy", "--help"]);
    for flag in [
        "--listen",
        "--prefill",
        "--decode",
        "--kv-transfer-us-per-token",
        "--threads",
    ] {
        assert!(proxy.contains(flag), "proxy --help lacks {flag}");
    }
}

#[test]
fn bad_flags_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--fault", "bogus"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run sim");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid fault `bogus`"), "{err}");
}
