use super::*;

fn spec(dist: LengthDist, mean: f64, std_dev: f64, min: u32, max: u32) -> LengthSpec {
    LengthSpec {
        dist,
        mean,
        std_dev,
        min,
        max,
    }
}

fn mean_of(data: &DataSpec, n: u64, f: impl Fn(&RequestContent) -> u32) -> f64 {
    (0..n).map(|j| f(&data.request(7, j)) as f64).sum::<f64>() / n as f64
}

#[test]
fn every_distribution_meets_its_mean_and_clamps() {
    for (s, want) in [
        (spec(LengthDist::Fixed, 300.0, 0.0, 1, u32::MAX), 300.0),
        (spec(LengthDist::Normal, 500.0, 100.0, 1, 10_000), 500.0),
        (spec(LengthDist::Uniform, 0.0, 0.0, 100, 300), 200.0),
        (
            spec(LengthDist::Lognormal, 400.0, 200.0, 1, 1_000_000),
            400.0,
        ),
    ] {
        let d = DataSpec::Synthetic {
            input: s,
            output: LengthSpec::fixed(3),
        };
        let m = mean_of(&d, 4000, |r| r.input_tokens);
        assert!(
            (m - want).abs() / want < 0.02,
            "{s:?}: mean {m}, want {want}"
        );
        for j in 0..200 {
            let r = d.request(7, j);
            assert!(r.input_tokens >= s.min && r.input_tokens <= s.max);
            assert_eq!(count_words(&r.prompt), r.input_tokens as usize);
            assert_eq!(r.max_tokens, 3);
        }
        assert!((s.expected_mean(4000) - want).abs() / want < 0.02);
    }
    let clamped = spec(LengthDist::Normal, 100.0, 1000.0, 90, 110);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!((0..500).all(|_| (90..=110).contains(&clamped.draw(&mut rng))));
}

#[test]
fn request_j_is_the_same_on_every_build_and_differs_between_j() {
    let d = DataSpec::Synthetic {
        input: spec(LengthDist::Normal, 50.0, 10.0, 1, 100),
        output: spec(LengthDist::Uniform, 0.0, 0.0, 5, 9),
    };
    assert_eq!(d.request(3, 11), d.request(3, 11));
    assert_ne!(d.request(3, 11).prompt, d.request(3, 12).prompt);
    assert_ne!(d.request(3, 11).prompt, d.request(4, 11).prompt);
}

#[test]
fn shared_prefix_groups_share_their_system_prompt_only() {
    let d = DataSpec::SharedPrefix {
        seed: 9,
        num_groups: 4,
        prompts_per_group: 3,
        system_prompt_len: 64,
        question: LengthSpec::fixed(16),
        output: LengthSpec::fixed(8),
    };
    let prefix = |j: u64| {
        d.request(1, j)
            .prompt
            .split(' ')
            .take(64)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(prefix(0), prefix(4));
    assert_eq!(prefix(1), prefix(9));
    assert_ne!(prefix(0), prefix(1));
    // Same group, other question; the dataset repeats after 4 × 3 prompts; the stage seed does
    // not change the dataset.
    assert_ne!(d.request(1, 0).prompt, d.request(1, 4).prompt);
    assert_eq!(d.request(1, 0).prompt, d.request(1, 12).prompt);
    assert_eq!(d.request(1, 5).prompt, d.request(2, 5).prompt);
    let r = d.request(1, 5);
    assert_eq!(r.input_tokens, 80);
    assert_eq!(count_words(&r.prompt), 80);
    assert_eq!(r.max_tokens, 8);
}

#[test]
fn trace_hash_ids_are_shared_blocks() {
    let rec = |ids: Vec<u64>, len: u32| TraceRecord {
        timestamp_ms: 0.0,
        input_length: len,
        output_length: 5,
        hash_ids: ids,
    };
    let a = trace_prompt(&rec(vec![1, 2, 3], 50), 10);
    let b = trace_prompt(&rec(vec![1, 2, 7], 40), 11);
    assert_eq!(count_words(&a), 50);
    assert_eq!(count_words(&b), 40);
    let words = |s: &str, n: usize| s.split(' ').take(n).collect::<Vec<_>>().join(" ");
    assert_eq!(words(&a, 32), words(&b, 32));
    assert_ne!(words(&a, 48), words(&b, 48));
    // Shorter than its blocks: cut.
    assert_eq!(count_words(&trace_prompt(&rec(vec![1, 2, 3], 20), 1)), 20);
}

#[test]
fn sampling_is_a_seeded_permutation_cycled() {
    let items: Vec<u32> = (0..10).collect();
    let s = sample(&items, 25, 42);
    assert_eq!(s.len(), 25);
    let mut first: Vec<u32> = s[..10].to_vec();
    first.sort();
    assert_eq!(first, items);
    assert_eq!(s[..10], s[10..20]);
    assert_eq!(s, sample(&items, 25, 42));
    assert_ne!(s, sample(&items, 25, 43));
}

#[test]
fn sample_files_of_the_project_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/data");
    let sg = read_sharegpt(&root.join("sharegpt_sample.json")).unwrap();
    assert!(sg.len() >= 50, "{}", sg.len());
    let mc = read_mooncake(&root.join("mooncake_sample.jsonl")).unwrap();
    assert!(mc.len() >= 20, "{}", mc.len());
    let bad = read_sharegpt(&root.join("mooncake_sample.jsonl")).unwrap_err();
    assert!(bad.message.contains("ShareGPT"), "{}", bad.message);
}
