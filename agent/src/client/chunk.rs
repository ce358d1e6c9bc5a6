//! What the agent needs from one streamed chunk, parsed with borrowed strings (no allocation
//! unless a text needs unescaping): does it carry generated text, does it carry `usage`, is it an
//! error. Unknown fields are skipped.

use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Deserialize)]
pub struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    message: Option<Delta<'a>>,
}

#[derive(Debug, Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

impl<'a> Chunk<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Chunk<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// True when the chunk carries generated text (`choices[].text`, `delta.content` or
    /// `delta.reasoning_content` non-empty); role-only, empty and usage-only chunks do not.
    pub fn carries_text(&self) -> bool {
        self.choices.iter().any(|c| {
            let non_empty = |s: &Option<Cow<'_, str>>| s.as_deref().is_some_and(|s| !s.is_empty());
            non_empty(&c.text)
                || c.delta
                    .as_ref()
                    .is_some_and(|d| non_empty(&d.content) || non_empty(&d.reasoning_content))
        })
    }

    /// The generated text of a non-streamed response.
    pub fn full_text(&self) -> String {
        let mut out = String::new();
        for c in &self.choices {
            if let Some(t) = &c.text {
                out.push_str(t);
            }
            if let Some(m) = &c.message {
                if let Some(t) = &m.content {
                    out.push_str(t);
                }
            }
        }
        out
    }

    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_role_usage_and_error_chunks() {
        let c = Chunk::parse(
            br#"{"id":"x","choices":[{"index":0,"text":" tok","finish_reason":null}]}"#,
        )
        .unwrap();
        assert!(c.carries_text());
        let c =
            Chunk::parse(br#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#).unwrap();
        assert!(!c.carries_text());
        let c = Chunk::parse(br#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#).unwrap();
        assert!(c.carries_text());
        let c = Chunk::parse(br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#).unwrap();
        assert!(!c.carries_text());
        assert_eq!(c.usage.unwrap().completion_tokens, Some(7));
        let c = Chunk::parse(br#"{"error":{"message":"boom","code":500}}"#).unwrap();
        assert!(c.is_error());
        assert!(Chunk::parse(b"{not json").is_err());
        let c = Chunk::parse(br#"{"choices":[{"text":"a\"b"}]}"#).unwrap();
        assert!(c.carries_text());
    }
}
