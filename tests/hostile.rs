//! Issue 13, hostile clients against a real coordinator: a fake agent (a gRPC client in this
//! test) sends a snapshot whose HDR header declares a huge histogram, counters that overflow
//! 2^64, more requests than its shard was assigned, and a malformed protobuf; each forged run
//! fails with a clear reason, the coordinator keeps serving and its peak RSS stays under
//! 100 MB. Two concurrent Submits of a 4 MiB deeply nested YAML do not disturb a running stage.

use anyhow::{bail, Context, Result};
use fleetbench_e2e::security::*;
use fleetbench_e2e::*;
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::agent_message::Body as Up;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

type Client = wire::control_client::ControlClient<tonic::transport::Channel>;

const PEAK_RSS_LIMIT: u64 = 100 << 20;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A fake agent's open Join stream.
struct FakeAgent {
    up: mpsc::Sender<wire::AgentMessage>,
    down: tonic::Streaming<wire::CoordinatorMessage>,
}

impl FakeAgent {
    async fn join(client: &mut Client, name: &str) -> Result<FakeAgent> {
        let (up, rx) = mpsc::channel(64);
        up.send(msg(Up::Hello(wire::Hello {
            agent_id: name.into(),
            role: wire::Role::Client as i32,
            host_name: "fake".into(),
            software_version: "fake".into(),
            protocol_version: fleetbench_model::PROTOCOL_VERSION,
            ..Default::default()
        })))
        .await?;
        let down = client.join(ReceiverStream::new(rx)).await?.into_inner();
        Ok(FakeAgent { up, down })
    }

    /// Answers clock probes until an Assign comes.
    async fn assignment(&mut self) -> Result<wire::Assign> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.down.message())
                .await
                .context("no Assign within 30 s")??
                .context("the coordinator closed the stream")?;
            match m.body {
                Some(Down::Clock(p)) => {
                    let reply = wire::ClockProbeReply {
                        probe_id: p.probe_id,
                        coordinator_unix_ns: p.coordinator_unix_ns,
                        agent_unix_ns: p.coordinator_unix_ns,
                    };
                    self.up.send(msg(Up::Clock(reply))).await?;
                }
                Some(Down::Assign(a)) => return Ok(a),
                _ => {}
            }
        }
    }

    async fn send_snapshot(&self, a: &wire::Assign, seq: u64, forged: Forged) -> Result<()> {
        let (histograms, counters) = forged;
        self.up
            .send(msg(Up::Snapshot(wire::Snapshot {
                run_id: a.run_id.clone(),
                stage: a.stage,
                shard: a.shard,
                seq,
                histograms,
                counters,
                ..Default::default()
            })))
            .await?;
        Ok(())
    }
}

type Forged = (HashMap<String, Vec<u8>>, HashMap<String, u64>);

fn msg(b: Up) -> wire::AgentMessage {
    wire::AgentMessage { body: Some(b) }
}

/// A 40-byte V2 header declaring 5 significant digits over 1..2^62, with an empty payload.
fn huge_histogram_header() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend((0x1c84_9303u32 | 0x10).to_be_bytes());
    h.extend(0u32.to_be_bytes()); // payload length
    h.extend(0u32.to_be_bytes()); // normalizing offset
    h.extend(5u32.to_be_bytes()); // significant digits
    h.extend(1u64.to_be_bytes()); // lowest
    h.extend((1u64 << 62).to_be_bytes()); // highest
    h.extend(1f64.to_bits().to_be_bytes());
    h
}

fn counters(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Submits `profile` for one agent and returns the run id.
async fn submit(client: &mut Client, profile: &str) -> Result<String> {
    let r = client
        .submit(wire::SubmitRequest {
            profile_yaml: profile.into(),
            profile_name: "hostile.yaml".into(),
            expect_agents: 1,
            // The fake agent answers no preflight: it only forges snapshots.
            no_preflight: true,
            ..Default::default()
        })
        .await?;
    Ok(r.into_inner().run_id)
}

/// Waits for a run to end; returns its error message (empty when it passed).
async fn outcome(client: &mut Client, run_id: &str) -> Result<String> {
    let until = Instant::now() + Duration::from_secs(40);
    let mut events = client
        .watch(wire::WatchRequest {
            run_id: run_id.into(),
        })
        .await?
        .into_inner();
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(5), events.message()).await {
            Ok(Ok(Some(ev))) if ev.finished => return Ok(ev.error),
            Ok(Ok(Some(_))) | Err(_) => {}
            Ok(Ok(None)) | Ok(Err(_)) => break,
        }
    }
    bail!("run {run_id} did not end")
}

#[test]
fn forged_snapshots_fail_their_run_and_the_coordinator_stays_small() -> Result<()> {
    let dir = scratch("hostile_snapshots");
    let (coord, addr) = start_coordinator(
        &dir,
        &s(&[
            "serve",
            "--insecure",
            "--start-lead",
            "0.2",
            "--out",
            &arg(&dir.join("results")),
        ]),
        &[],
    )?;
    // The endpoint is never called: the fake agent only forges snapshots.
    let profile = "server: {base_url: 'http://127.0.0.1:9', model_name: m}\n\
                   api: {type: completion, streaming: true}\n\
                   data: {type: random, input_distribution: {type: fixed, mean: 8}, output_distribution: {type: fixed, mean: 4}}\n\
                   load: {type: constant, stages: [{rate: 20, duration: 1}]}\n";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut client = Client::connect(format!("http://{addr}")).await?;
        let mut agent = FakeAgent::join(&mut client, "fake-a").await?;
        let ok_counters = || counters(&[("requests", 0), ("ok", 0)]);
        let cases: Vec<(&str, Vec<Forged>, &str)> = vec![
            (
                "huge HDR header",
                vec![(
                    [("ttft_us".to_string(), huge_histogram_header())].into(),
                    ok_counters(),
                )],
                "significant digits",
            ),
            (
                "counters overflow",
                vec![
                    (HashMap::new(), counters(&[("output_tokens", u64::MAX - 1)])),
                    (HashMap::new(), counters(&[("output_tokens", u64::MAX - 1)])),
                ],
                "overflow",
            ),
            (
                "more requests than planned",
                vec![(HashMap::new(), counters(&[("requests", 21), ("ok", 21)]))],
                "the stage planned 20",
            ),
        ];
        for (what, snapshots, expect) in cases {
            let run = submit(&mut client, profile).await?;
            let a = agent.assignment().await?;
            assert_eq!(a.run_id, run);
            for (seq, forged) in snapshots.into_iter().enumerate() {
                agent.send_snapshot(&a, seq as u64, forged).await?;
            }
            let error = outcome(&mut client, &run).await?;
            assert!(
                error.contains("fake-a") && error.contains(expect),
                "{what}: {error:?}"
            );
        }
        // A malformed protobuf on a second agent's stream: that stream ends, nothing else.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut raw = tonic::client::Grpc::new(channel);
        raw.ready().await?;
        let mut hello = Vec::new();
        prost::Message::encode(
            &msg(Up::Hello(wire::Hello {
                agent_id: "fake-b".into(),
                protocol_version: fleetbench_model::PROTOCOL_VERSION,
                ..Default::default()
            })),
            &mut hello,
        )?;
        let garbage = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01];
        let frames = tokio_stream::iter(vec![hello, garbage]);
        let path = http::uri::PathAndQuery::from_static("/fleetbench.v1.Control/Join");
        if let Ok(r) = raw
            .streaming(tonic::Request::new(frames), path, RawCodec)
            .await
        {
            let mut down = r.into_inner();
            let _ = tokio::time::timeout(Duration::from_secs(2), down.message()).await;
        }
        // Still serving: a clean run with the honest numbers passes.
        let run = submit(&mut client, profile).await?;
        let a = agent.assignment().await?;
        agent
            .send_snapshot(
                &a,
                0,
                (HashMap::new(), counters(&[("requests", 20), ("ok", 20)])),
            )
            .await?;
        agent
            .up
            .send(msg(Up::Done(wire::ShardDone {
                run_id: a.run_id.clone(),
                stage: a.stage,
                shard: a.shard,
                snapshots: 1,
                ..Default::default()
            })))
            .await?;
        let error = outcome(&mut client, &run).await?;
        assert!(error.is_empty(), "the honest run failed: {error}");
        anyhow::Ok(())
    })?;
    let peak = peak_rss_bytes(coord.pid())?;
    eprintln!("coordinator peak RSS (VmHWM): {} MB", peak >> 20);
    assert!(
        peak < PEAK_RSS_LIMIT,
        "coordinator peak RSS {} MB",
        peak >> 20
    );
    let clog = log(&dir, "coordinator");
    assert!(!clog.contains("panicked"), "{clog}");
    Ok(())
}

#[test]
fn concurrent_huge_submits_do_not_disturb_a_running_stage() -> Result<()> {
    let dir = scratch("hostile_submits");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
    )?;
    let (coord, addr) = start_coordinator(
        &dir,
        &s(&[
            "serve",
            "--insecure",
            "--start-lead",
            "0.2",
            "--agent-timeout",
            "2",
            "--out",
            &arg(&dir.join("results")),
        ]),
        &[],
    )?;
    let mut agent = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    wait_for_log(&dir, "coordinator", "agent joined", Duration::from_secs(20))?;
    let profile = format!(
        "server: {{base_url: 'http://{sim_addr}', model_name: sim-model, ignore_eos: true}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: random, input_distribution: {{min: 8, max: 8, mean: 8}}, output_distribution: {{min: 4, max: 4, mean: 4}}}}\n\
         load: {{type: constant, stages: [{{rate: 10, duration: 4}}]}}\n"
    );
    // 4 MiB, nested as deep as it goes.
    let depth = (4 << 20) / 2;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(nested.len() <= 4 << 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut client = Client::connect(format!("http://{addr}")).await?;
        client = client.max_encoding_message_size(8 << 20);
        let run = submit(&mut client, &profile).await?;
        // Once the stage runs, two hostile submits at once.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let hostile = |c: Client| {
            let text = nested.clone();
            async move {
                let mut c = c;
                c.submit(wire::SubmitRequest {
                    profile_yaml: text,
                    profile_name: "nested.yaml".into(),
                    expect_agents: 1,
                    ..Default::default()
                })
                .await
            }
        };
        let (x, y) = tokio::join!(hostile(client.clone()), hostile(client.clone()));
        for r in [x, y] {
            let e = r.expect_err("a nested YAML was accepted");
            assert_ne!(e.code(), tonic::Code::Ok);
        }
        let error = outcome(&mut client, &run).await?;
        assert!(error.is_empty(), "the running stage failed: {error}");
        anyhow::Ok(())
    })?;
    let clog = log(&dir, "coordinator");
    assert!(
        !clog.contains("agent lost"),
        "an agent was declared lost:\n{clog}"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(num(&r, "metrics.requests.total") as u64, 40);
    let peak = peak_rss_bytes(coord.pid())?;
    eprintln!("coordinator peak RSS (VmHWM): {} MB", peak >> 20);
    assert!(
        peak < PEAK_RSS_LIMIT,
        "coordinator peak RSS {} MB",
        peak >> 20
    );
    let _ = agent.wait(Duration::from_secs(5));
    Ok(())
}

/// Sends and receives raw bytes: a malformed protobuf, as no honest client would.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let v = src.copy_to_bytes(src.remaining()).to_vec();
        Ok(Some(v))
    }
}
