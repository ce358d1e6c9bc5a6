//! What the agent needs from one streamed chunk, parsed with borrowed strings (no allocation
//! unless a text needs unescaping, or a chunk has more than one choice): does it carry generated
//! text, does it carry `usage`, is it an error. Unknown fields are skipped.

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// One streamed chunk's JSON, borrowed from its bytes: what the client reads of it.
#[derive(Debug, Deserialize)]
pub struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Choices<'a>,
    /// The `usage` object, when the chunk carries one (the last chunk, or every chunk with
    /// `continuous_usage_stats`).
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// `choices`: the first one inline, any others in a `Vec`, so that the usual one-choice chunk
/// allocates nothing (a `Vec` allocated once per chunk).
#[derive(Debug, Default)]
struct Choices<'a> {
    first: Option<Choice<'a>>,
    rest: Vec<Choice<'a>>,
}

impl<'a> Choices<'a> {
    fn iter(&self) -> impl Iterator<Item = &Choice<'a>> {
        self.first.iter().chain(&self.rest)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Choices<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq<'a>(PhantomData<Choices<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Seq<'a> {
            type Value = Choices<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices<'a>, A::Error> {
                let first = seq.next_element()?;
                let mut rest = Vec::new();
                while let Some(c) = seq.next_element()? {
                    rest.push(c);
                }
                Ok(Choices { first, rest })
            }
        }
        d.deserialize_seq(Seq(PhantomData))
    }
}

/// A string borrowed from the chunk unless it had escapes. (`Option<Cow<str>>` alone always
/// allocates: serde borrows a `Cow` only when it is the field itself.)
#[derive(Debug, Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl Text<'_> {
    fn non_empty(t: &Option<Text<'_>>) -> bool {
        t.as_ref().is_some_and(|t| !t.0.is_empty())
    }
}

#[derive(Debug, Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    message: Option<Delta<'a>>,
}

#[derive(Debug, Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Text<'a>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Text<'a>>,
    /// vLLM's newer name of `reasoning_content`.
    #[serde(borrow, default)]
    reasoning: Option<Text<'a>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

impl Delta<'_> {
    /// Generated tokens: content, reasoning, or a tool call's name or arguments.
    fn carries_text(&self) -> bool {
        Text::non_empty(&self.content)
            || Text::non_empty(&self.reasoning_content)
            || Text::non_empty(&self.reasoning)
            || self.tool_calls.iter().flatten().any(ToolCall::carries_text)
    }
}

/// One element of `tool_calls` (a whole call, or a streamed fragment of one).
#[derive(Debug, Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow, default)]
    function: Option<Function<'a>>,
}

#[derive(Debug, Deserialize)]
struct Function<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    arguments: Option<Text<'a>>,
}

impl ToolCall<'_> {
    fn carries_text(&self) -> bool {
        self.function
            .as_ref()
            .is_some_and(|f| Text::non_empty(&f.name) || Text::non_empty(&f.arguments))
    }
}

/// A response's `usage`: the server's token counts.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens`.
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`, flattened.
    #[serde(
        default,
        rename = "prompt_tokens_details",
        deserialize_with = "cached_tokens"
    )]
    pub cached_tokens: Option<u64>,
}

/// `prompt_tokens_details: {cached_tokens: N, ...}` (or null) → `Some(N)`.
fn cached_tokens<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Details {
        #[serde(default)]
        cached_tokens: Option<u64>,
    }
    Ok(Option::<Details>::deserialize(d)?.and_then(|x| x.cached_tokens))
}

impl<'a> Chunk<'a> {
    /// Parses one event's `data` (a JSON object).
    pub fn parse(bytes: &'a [u8]) -> Result<Chunk<'a>, serde_json::Error> {
        // One UTF-8 check of the whole chunk, then the `str` reader: `from_slice` validates every
        // key and string separately (an eighth of the agent's instructions per chunk). Invalid
        // UTF-8 takes the slice reader, which decides exactly as before.
        match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        }
    }

    /// True when the chunk carries generated tokens: `choices[].text`, `delta.content`,
    /// `delta.reasoning_content`, `delta.reasoning`, or a `delta.tool_calls[].function` `name` or
    /// `arguments` non-empty; role-only, empty and usage-only chunks do not.
    pub fn carries_text(&self) -> bool {
        self.choices
            .iter()
            .any(|c| Text::non_empty(&c.text) || c.delta.as_ref().is_some_and(Delta::carries_text))
    }

    /// The generated text of a non-streamed response, or of one streamed chunk (`text`,
    /// `delta.content`, `message.content`; not the reasoning).
    pub(crate) fn full_text(&self) -> String {
        let mut out = String::new();
        for c in self.choices.iter() {
            if let Some(t) = &c.text {
                out.push_str(&t.0);
            }
            if let Some(t) = c.delta.as_ref().and_then(|d| d.content.as_ref()) {
                out.push_str(&t.0);
            }
            if let Some(m) = &c.message {
                if let Some(t) = &m.content {
                    out.push_str(&t.0);
                }
            }
        }
        out
    }

    /// Whether the chunk is an error event (`{"error": ...}` in the stream).
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_come_from_prompt_tokens_details() {
        let c = Chunk::parse(br#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0}}}"#).unwrap();
        assert_eq!(c.usage.unwrap().cached_tokens, Some(8));
        let c = Chunk::parse(br#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":null}}"#).unwrap();
        assert_eq!(c.usage.unwrap().cached_tokens, None);
        let c = Chunk::parse(br#"{"choices":[],"usage":{"prompt_tokens":10}}"#).unwrap();
        assert_eq!(c.usage.unwrap().cached_tokens, None);
    }

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
        assert!(Chunk::parse(b"{\"choices\":[{\"text\":\"\xff\"}]}").is_err());
        let c = Chunk::parse(b"{\"id\":\"\xff\",\"choices\":[{\"text\":\"\xc3\xa9\"}]}").unwrap();
        assert!(
            c.carries_text(),
            "invalid UTF-8 in a skipped field is skipped, as before"
        );
        let c = Chunk::parse(br#"{"choices":[{"text":"a\"b"}]}"#).unwrap();
        assert!(c.carries_text());
        assert_eq!(c.full_text(), "a\"b");
    }

    #[test]
    fn texts_are_borrowed_and_every_choice_counts() {
        let c = Chunk::parse(br#"{"choices":[{"index":0,"text":" tok"}]}"#).unwrap();
        let text = &c.choices.first.as_ref().unwrap().text.as_ref().unwrap().0;
        assert!(matches!(text, Cow::Borrowed(" tok")), "{text:?}");
        let c = Chunk::parse(
            br#"{"choices":[{"text":""},{"text":"b"},{"message":{"content":"c"}}],"usage":null}"#,
        )
        .unwrap();
        assert!(c.carries_text(), "the second choice carries text");
        assert_eq!(c.full_text(), "bc");
        let c = Chunk::parse(br#"{"choices":[]}"#).unwrap();
        assert!(!c.carries_text());
        assert!(Chunk::parse(br#"{"choices":null}"#).is_err());
        assert!(Chunk::parse(br#"{"choices":[{"text":1}]}"#).is_err());
    }
}
