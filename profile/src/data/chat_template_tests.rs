//! `data.use_chat_template` with the test tokenizer that has a chat template
//! (`tests/data/chat-tokenizer`): the template found where transformers looks, rendered and cut
//! around the user's text, the overhead measured, the prompts exact; and every way it is refused.

use super::chat_template::wrap_of;
use super::hf::render_template;
use super::hub::HubEnv;
use super::tokenizer::ModelTokenizer;
use crate::load::{parse_profile, LoadedProfile};
use crate::ProfileError;
use std::path::{Path, PathBuf};

fn chat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/chat-tokenizer")
}

fn offline() -> HubEnv {
    HubEnv::from_vars(|k| match k {
        "HF_HUB_OFFLINE" => Some("1".into()),
        "HF_HUB_CACHE" => Some("/nonexistent/hub".into()),
        _ => None,
    })
}

/// A copy of the chat tokenizer in a fresh directory, its config's template replaced by
/// `config_template` (none: the key removed), and `jinja` written as `chat_template.jinja`.
fn variant(test: &str, config_template: Option<serde_json::Value>, jinja: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetbench-chat-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        chat_dir().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(chat_dir().join("tokenizer_config.json")).unwrap(),
    )
    .unwrap();
    match config_template {
        Some(t) => config["chat_template"] = t,
        None => {
            config.as_object_mut().unwrap().remove("chat_template");
        }
    }
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    if let Some(j) = jinja {
        std::fs::write(dir.join("chat_template.jinja"), j).unwrap();
    }
    dir
}

fn load(dir: &Path) -> (ModelTokenizer, Vec<String>) {
    let t = ModelTokenizer::load(dir.to_str().unwrap()).unwrap();
    let words = t.single_token_words().unwrap();
    (t, words)
}

#[test]
fn the_template_is_cut_around_the_user_text_and_its_overhead_measured() {
    let (t, words) = load(&chat_dir());
    let w = wrap_of(&t, chat_dir().to_str().unwrap(), &words, 10, &offline()).unwrap();
    assert_eq!(w.prefix, "<s> <|user|> ");
    assert_eq!(w.suffix, " <|end|> <|assistant|> ");
    assert_eq!(w.tokens, 4);
    // The shortest prompt must leave room for a word of the user's.
    let err = wrap_of(&t, chat_dir().to_str().unwrap(), &words, 4, &offline()).unwrap_err();
    assert!(
        err.contains("shortest input length (4)") && err.contains("overhead (4 tokens"),
        "{err}"
    );
}

#[test]
fn chat_template_jinja_wins_and_a_list_of_named_templates_gives_default() {
    let dir = variant(
        "jinja",
        None,
        Some("{% for m in messages %}<|{{ m.role }}|> {{ m.content }}{% endfor %} <|assistant|>"),
    );
    let (t, words) = load(&dir);
    let w = wrap_of(&t, dir.to_str().unwrap(), &words, 10, &offline()).unwrap();
    assert_eq!(
        (w.prefix.as_str(), w.suffix.as_str(), w.tokens),
        ("<|user|> ", " <|assistant|>", 2)
    );
    let named = serde_json::json!([
        {"name": "tool_use", "template": "{{ raise_exception('not this one') }}"},
        {"name": "default", "template": "<|system|> {% for m in messages %}{{ m['content'] }}{% endfor %}"},
    ]);
    let dir = variant("named", Some(named), None);
    let (t, words) = load(&dir);
    let w = wrap_of(&t, dir.to_str().unwrap(), &words, 10, &offline()).unwrap();
    assert_eq!(
        (w.prefix.as_str(), w.suffix.as_str(), w.tokens),
        ("<|system|> ", "", 1)
    );
}

#[test]
fn a_tokenizer_without_a_template_names_the_files_it_looked_at() {
    let dir = variant("none", None, None);
    let (t, words) = load(&dir);
    let err = wrap_of(&t, dir.to_str().unwrap(), &words, 10, &offline()).unwrap_err();
    assert!(
        err.contains("has no chat template")
            && err.contains(&dir.join("chat_template.jinja").display().to_string())
            && err.contains(&dir.join("tokenizer_config.json").display().to_string()),
        "{err}"
    );
    // A template that drops the user's text cannot wrap a prompt.
    let dir = variant("drops", Some("<|user|> hello".into()), None);
    let (t, words) = load(&dir);
    let err = wrap_of(&t, dir.to_str().unwrap(), &words, 10, &offline()).unwrap_err();
    assert!(err.contains("exactly once"), "{err}");
}

#[test]
fn templates_run_bounded_and_their_errors_are_reported() {
    let ctx = serde_json::json!({"messages": []});
    let err = render_template("{{ raise_exception('no system role') }}", &ctx).unwrap_err();
    assert!(err.contains("no system role"), "{err}");
    let err = render_template("{% for m in messages %}", &ctx).unwrap_err();
    assert!(err.contains("not a Jinja template"), "{err}");
    // A template is input: one that would run for ever stops on its fuel.
    let forever = "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}x{% endfor %}{% endfor %}{% endfor %}";
    let err = render_template(forever, &ctx).unwrap_err();
    assert!(err.to_lowercase().contains("fuel"), "{err}");
    // Python's string methods, `strftime_now`, loop controls.
    let out = render_template(
        "{{ ' a '.strip() }}|{{ 'x'.upper() }}|{{ strftime_now('%Y') | length }}|{% for i in [1, 2, 3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}",
        &ctx,
    )
    .unwrap();
    assert_eq!(out, "a|X|4|1");
}

const LENGTHS: &str =
    "input_distribution: {type: fixed, mean: 20}, output_distribution: {type: fixed, mean: 4}";

const BASE: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n\
load: {type: constant, stages: [{rate: 1, duration: 2}]}\n";

fn parse(data: &str) -> Result<LoadedProfile, ProfileError> {
    let text = format!(
        "{BASE}data: {data}\ntokenizer: {{pretrained_model_name_or_path: '{}'}}\n",
        chat_dir().display()
    );
    parse_profile(&text, Path::new("profiles/x.yaml"), "x")
}

#[test]
fn random_prompts_are_templated_and_exactly_as_long_as_asked() {
    let p = parse("{type: random, use_chat_template: true, input_distribution: {min: 5, max: 60, mean: 30, std_dev: 20}, output_distribution: {type: fixed, mean: 4}}").unwrap();
    let spec = crate::data::plan::plan_data(&p, 7);
    let w = spec.chat_wrap.clone().unwrap();
    let t = ModelTokenizer::load(chat_dir().to_str().unwrap()).unwrap();
    for j in 0..100 {
        let r = spec.request(7, j);
        assert!(
            r.prompt.starts_with(&w.prefix) && r.prompt.ends_with(&w.suffix),
            "{}",
            r.prompt
        );
        assert_eq!(
            t.count(&r.prompt),
            r.input_tokens,
            "request {j}: {}",
            r.prompt
        );
    }
    assert!(
        spec.describe().contains("chat template (4 tokens"),
        "{}",
        spec.describe()
    );
    // Off: plain prompts.
    let p = parse(&format!(
        "{{type: random, use_chat_template: 'false', {LENGTHS}}}"
    ))
    .unwrap();
    assert!(crate::data::plan::plan_data(&p, 7).chat_wrap.is_none());
}

#[test]
fn use_chat_template_is_refused_where_inference_perf_refuses_it_or_it_cannot_apply() {
    let err = |data: &str| parse(data).unwrap_err().to_string();
    let e = err("{type: shared_prefix, use_chat_template: true}");
    assert!(
        e.contains("data.use_chat_template") && e.contains("only supported by the 'random'"),
        "{e}"
    );
    let e = err(&format!(
        "{{type: random, use_chat_template: maybe, {LENGTHS}}}"
    ));
    assert!(
        e.contains("data.use_chat_template") && e.contains("true or false"),
        "{e}"
    );
    let e = err("{type: random, use_chat_template: true, input_distribution: {type: fixed, mean: 3}, output_distribution: {type: fixed, mean: 3}}");
    assert!(e.contains("shortest input length (3)"), "{e}");
    let text = format!("{BASE}data: {{type: random, use_chat_template: true, {LENGTHS}}}\n");
    let e = parse_profile(&text, Path::new("profiles/x.yaml"), "x")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("needs tokenizer.pretrained_model_name_or_path"),
        "{e}"
    );
    let text = format!(
        "{}data: {{type: random, use_chat_template: true, {LENGTHS}}}\ntokenizer: {{pretrained_model_name_or_path: '{}'}}\n",
        BASE.replace("type: completion", "type: chat"),
        chat_dir().display()
    );
    let e = parse_profile(&text, Path::new("profiles/x.yaml"), "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("api.type chat"), "{e}");
}
