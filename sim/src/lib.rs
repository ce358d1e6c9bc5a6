//! # fleetbench-sim: a simulated LLM inference engine
//!
//! fleetbench must run, and its measurements must be checked, without a GPU. `sim` is an
//! OpenAI-compatible HTTP server that behaves like vLLM closely enough for every fleetbench
//! code path: the agent's load engine and SSE parser talk to it exactly as to vLLM, the
//! telemetry code scrapes its vLLM-named `/metrics`, the P/D profiles run against its prefill and
//! decode roles behind `sim proxy`, and the end-to-end tests compare what the agent measured with
//! the sim's ground-truth log of when each token was actually sent.
//!
//! Two ways of timing tokens:
//! - **Deterministic mode** (`--deterministic --ttft-ms F --itl-ms F`): token k of a request
//!   leaves at exactly `arrival + ttft + k·itl` (absolute deadlines), output length is exactly
//!   `max_tokens`. With both at 0 it streams as fast as it can (the [`sse`] templates and
//!   batched frames make that well over 500k chunks/s per core; see `sim-bench`).
//! - **Engine mode** (the default): an [`engine`] task runs a vLLM-V1-like continuous-batching
//!   scheduler in real time, with chunked prefill, a KV cache of fixed blocks with prefix caching
//!   and preemption, and a step time modelled from an engine card (`sim/cards/*.yaml`, format in
//!   `sim/README.md`). Latency then rises with load the way a real engine's does.
//!
//! Token rule shared with the load generator: prompt tokens are the whitespace-separated words
//! of the prompt, every output token is the word `" tok"`, and every streamed content chunk
//! carries exactly one token.
//!
//! Code map: [`cli`] (flags), [`server`] (config, state, routing), [`generate`] (the request
//! path), [`http`] (accept loop, response body), [`openai`] (request and
//! response shapes), [`sse`] (pre-rendered chunks), [`sse_body`] (the streamed body, metrics and
//! ground truth per request), [`token_source`] (deterministic schedule or engine channel),
//! [`engine`] (card, scheduler, KV cache), [`faults`], [`metrics`], [`ground_truth`], [`proxy`],
//! [`tls`] (HTTPS for `--tls-cert/--tls-key`).

#![warn(unreachable_pub, missing_docs)]

pub mod cli;
mod engine;
mod faults;
mod generate;
mod ground_truth;
mod histogram;
mod http;
mod media;
mod metrics;
pub mod openai;
mod pd_metrics;
mod prefix_cache;
pub mod proxy;
pub mod server;
pub mod sse;
mod sse_body;
mod state;
mod tls;
mod token_source;
mod tools;

use std::io::Write;
use std::net::SocketAddr;

/// Prints the contract line `listening on ADDR` as the first line on stdout, flushed.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}
