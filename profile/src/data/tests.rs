use super::files::*;
#[cfg(feature = "hf")]
use super::tokenizer::*;
use fleetbench_model::data::*;
use fleetbench_model::tokenize::count_words;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn spec(dist: LengthDist, mean: f64, std_dev: f64, min: u32, max: u32) -> LengthSpec {
    LengthSpec {
        dist,
        mean,
        std_dev,
        min,
        max,
        skew: 0.0,
    }
}

fn mean_of(data: &DataSource, n: u64, f: impl Fn(&RequestContent) -> u32) -> f64 {
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
        let d = DataSource::Synthetic {
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
    let d = DataSource::Synthetic {
        input: spec(LengthDist::Normal, 50.0, 10.0, 1, 100),
        output: spec(LengthDist::Uniform, 0.0, 0.0, 5, 9),
    };
    assert_eq!(d.request(3, 11), d.request(3, 11));
    assert_ne!(d.request(3, 11).prompt, d.request(3, 12).prompt);
    assert_ne!(d.request(3, 11).prompt, d.request(4, 11).prompt);
}

#[test]
fn shared_prefix_groups_share_their_system_prompt_only() {
    let d = DataSource::SharedPrefix {
        seed: 9,
        num_groups: 4,
        prompts_per_group: 3,
        system_prompt_len: 64,
        system_prompt: None,
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
    let a = trace_prompt(&rec(vec![1, 2, 3], 50), 10, &[]);
    let b = trace_prompt(&rec(vec![1, 2, 7], 40), 11, &[]);
    assert_eq!(count_words(&a), 50);
    assert_eq!(count_words(&b), 40);
    let words = |s: &str, n: usize| s.split(' ').take(n).collect::<Vec<_>>().join(" ");
    assert_eq!(words(&a, 32), words(&b, 32));
    assert_ne!(words(&a, 48), words(&b, 48));
    // Shorter than its blocks: cut.
    assert_eq!(
        count_words(&trace_prompt(&rec(vec![1, 2, 3], 20), 1, &[])),
        20
    );
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
    let sg = read_sharegpt(&root.join("sharegpt_sample.json"), None).unwrap();
    assert!(sg.len() >= 50, "{}", sg.len());
    let mc = read_mooncake(&root.join("mooncake_sample.jsonl")).unwrap();
    assert!(mc.len() >= 20, "{}", mc.len());
    let bad = read_sharegpt(&root.join("mooncake_sample.jsonl"), None).unwrap_err();
    assert!(bad.message.contains("ShareGPT"), "{}", bad.message);
}

#[test]
fn multi_turn_rounds_extend_the_previous_round() {
    let d = DataSource::MultiTurn {
        seed: 5,
        users: 3,
        rounds: 4,
        system_prompt_len: 20,
        question: LengthSpec::fixed(10),
        answer: LengthSpec::fixed(6),
        carry_history: true,
    };
    // User 1: requests 1, 4, 7, 10 are its rounds 0..3; request 13 starts its session again.
    let r: Vec<RequestContent> = [1, 4, 7, 10, 13].iter().map(|&j| d.request(9, j)).collect();
    for (k, c) in r[..4].iter().enumerate() {
        assert_eq!(c.input_tokens, 20 + 10 + 16 * k as u32);
        assert_eq!(count_words(&c.prompt), c.input_tokens as usize);
        assert_eq!(c.max_tokens, 6);
    }
    for k in 1..4 {
        // Round k's prompt starts with round k-1's whole prompt.
        assert!(r[k].prompt.starts_with(&r[k - 1].prompt), "round {k}");
        let m = r[k].messages.as_ref().unwrap();
        assert_eq!(m.len(), 2 + 2 * k);
        assert_eq!(m[0].0, "system");
        assert_eq!(m[2 * k].0, "assistant");
    }
    assert_eq!(r[4], r[0]);
    // Other users have other system prompts.
    let head = |c: &RequestContent| c.prompt.split(' ').take(20).collect::<Vec<_>>().join(" ");
    assert_ne!(head(&d.request(9, 0)), head(&r[0]));
    // Without history each round is the system prompt and its question.
    let flat = DataSource::MultiTurn {
        seed: 5,
        users: 3,
        rounds: 4,
        system_prompt_len: 20,
        question: LengthSpec::fixed(10),
        answer: LengthSpec::fixed(6),
        carry_history: false,
    };
    assert_eq!(flat.request(9, 10).input_tokens, 30);
}

#[test]
fn lora_mix_shares_follow_the_weights() {
    let spec = DataSpec {
        source: DataSource::Synthetic {
            input: LengthSpec::fixed(4),
            output: LengthSpec::fixed(2),
        },
        vocab: vec![],
        media: None,
        prefix_media: None,
        chat_wrap: None,
        corpus: vec![],
        stored_media: None,
        lora_mix: vec![
            LoraShare {
                name: "a".into(),
                weight: 3.0,
            },
            LoraShare {
                name: "b".into(),
                weight: 1.0,
            },
        ],
    };
    let n = 4000;
    let a = (0..n)
        .filter(|&j| spec.request(1, j).model.as_deref() == Some("a"))
        .count();
    assert!((a as f64 / n as f64 - 0.75).abs() < 0.03, "{a}");
    assert_eq!(spec.request(1, 17), spec.request(1, 17));
    let plain: DataSpec = DataSource::Synthetic {
        input: LengthSpec::fixed(4),
        output: LengthSpec::fixed(2),
    }
    .into();
    assert_eq!(plain.request(1, 0).model, None);
    // The wire form round-trips, and a spec without a mix omits the key.
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<DataSpec>(&json).unwrap(), spec);
    assert!(!serde_json::to_string(&plain).unwrap().contains("lora_mix"));
}

#[cfg(feature = "hf")]
fn tiny_tokenizer() -> ModelTokenizer {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tokenizer");
    ModelTokenizer::load(dir.to_str().unwrap()).unwrap()
}

#[cfg(feature = "hf")]
#[test]
fn a_model_tokenizer_gives_exact_token_counts() {
    let t = tiny_tokenizer();
    // Whole-word merges are one token; other words one per letter.
    assert_eq!(t.count("alpha"), 1);
    assert_eq!(t.count("alpha bravo"), 6);
    let words = t.single_token_words().unwrap();
    assert!(words.contains(&"alpha".to_string()) && words.contains(&"answer".to_string()));
    assert!(!words.contains(&"bravo".to_string()));
    let spec = DataSpec {
        vocab: words,
        ..DataSpec::from(DataSource::Synthetic {
            input: spec(LengthDist::Normal, 300.0, 80.0, 10, 1000),
            output: LengthSpec::fixed(3),
        })
    };
    for j in 0..50 {
        let r = spec.request(3, j);
        assert_eq!(t.count(&r.prompt), r.input_tokens, "request {j}");
        assert_eq!(count_words(&r.prompt), r.input_tokens as usize);
    }
    // ShareGPT counted with the tokenizer: not the word counts.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/data");
    let count = |s: &str| t.count(s);
    let counted = read_sharegpt(&root.join("sharegpt_sample.json"), Some(&count)).unwrap();
    let words = read_sharegpt(&root.join("sharegpt_sample.json"), None).unwrap();
    assert_eq!(counted[0].input_tokens, Some(t.count(&counted[0].prompt)));
    assert!(counted[0].output_tokens > words[0].output_tokens);
}
