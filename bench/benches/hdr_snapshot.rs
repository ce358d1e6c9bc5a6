//! Criterion micro-benchmarks of one interval snapshot's way from an agent to the coordinator:
//!
//! - `snapshot/encode`: `Measurements::to_wire` on the agent (V2 serialization of the 8 HDR
//!   histograms and the counters) of an interval of 50 requests of 128 tokens.
//! - `snapshot/decode-merge`: `StageCollector::apply` on the coordinator (the run-length V2
//!   decode of `model/src/measure/hdr_v2.rs` straight into the stage's histograms, counters,
//!   duplicate check) of that snapshot; each iteration is a new `seq`, as a new interval would be.
//! - `snapshot/decode-merge, general deserializer`: the same bytes through `hdrhistogram`'s
//!   deserializer and `Histogram::add` (`Measurements::from_wire` + `add`), the path the fast
//!   decoder replaced, for comparison.
//!
//! Unit: one snapshot per iteration.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetbench_coordinator::collect::StageCollector;
use fleetbench_model::measure::Measurements;
use fleetbench_proto::v1 as wire;
use std::hint::black_box;

fn snapshot(c: &mut Criterion) {
    let m = fleetbench_bench::sample_interval();
    let (histograms, counters) = m.to_wire();
    let bytes: usize = histograms.values().map(Vec::len).sum();
    println!("snapshot: 8 histograms, {bytes} bytes of V2 payload");
    let mut snap = wire::Snapshot {
        run_id: "bench".into(),
        stage: 0,
        shard: 0,
        seq: 0,
        interval: 0,
        histograms,
        counters,
        samples: Vec::new(),
        requests: Vec::new(),
        error_bodies: Default::default(),
    };
    let mut g = c.benchmark_group("snapshot");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode (agent), per snapshot", |b| {
        b.iter(|| black_box(black_box(&m).to_wire()))
    });
    g.bench_function("decode-merge (coordinator), per snapshot", |b| {
        let mut collector = StageCollector::new(1);
        b.iter(|| {
            snap.seq += 1;
            collector.apply(black_box(&snap)).expect("applies")
        });
        assert!(collector.merged.counters.ok > 0);
    });
    g.bench_function(
        "decode-merge, general deserializer + add, per snapshot",
        |b| {
            let mut merged = Measurements::new();
            b.iter(|| {
                let one =
                    Measurements::from_wire(&snap.histograms, &snap.counters).expect("decodes");
                merged.add(black_box(&one)).expect("adds")
            });
        },
    );
    g.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
