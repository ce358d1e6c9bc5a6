//! A Weka trace's calls rebuilt as inference-perf rebuilds them (`_reconstruct_raw_calls` and
//! `ConversationReconstructor`): every block hash id stands for `block_size` tokens of the
//! tokenized corpus at an offset drawn by Python's RNG seeded with
//! `sha256("{base_seed}:{trace id}:{hash id}")`, so equal ids give equal text; each turn
//! rewinds the conversation to the longest common prefix of block ids with the turn before and
//! appends the new blocks, the first ones as the assistant's answer to the turn before; lengths
//! that do not fill whole blocks are topped up from the corpus at an offset drawn from
//! `sha256(seed)`. Timing: idle gaps capped, subagent requests packed into parallel streams.

use super::trace::{absolute_t, pack_into_streams, Entry, IdleGapWarp, Request, WekaTrace};
use crate::data::otel::spans::{Msg, RawCall};
use crate::data::python_random::Mt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// The tokenized corpus and how to turn tokens back into text.
pub(crate) struct Corpus<'a> {
    /// The corpus's token ids (`encode(base prompt + text)`).
    pub tokens: &'a [u32],
    /// `decode(ids)`.
    pub decode: &'a dyn Fn(&[u32]) -> Result<String, String>,
    /// `load.base_seed`, else 42.
    pub base_seed: u64,
}

/// The first 8 bytes of `sha256(text)`, big-endian.
fn sha_u64(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// One trace's token sources: block tokens by hash id (cached), partial tails by seed; and the
/// texts decoded from them, counted.
struct Blocks<'a> {
    corpus: &'a Corpus<'a>,
    trace_id: &'a str,
    block_size: usize,
    cache: HashMap<i128, Vec<u32>>,
    /// Bytes of text decoded so far.
    decoded: usize,
}

impl Blocks<'_> {
    /// `decode_block_tokens`: the tokens of `ids`, `block_size` each.
    fn tokens(&mut self, ids: &[i128]) -> Vec<u32> {
        let corpus = self.corpus.tokens;
        let n = corpus.len();
        let mut out = Vec::with_capacity(ids.len() * self.block_size);
        for &h in ids {
            let block = self.cache.entry(h).or_insert_with(|| {
                let seed = sha_u64(&format!("{}:{}:{h}", self.corpus.base_seed, self.trace_id));
                let start = Mt::seeded(seed).below(n as u32) as usize;
                let end = start + self.block_size;
                let mut b = corpus[start..end.min(n)].to_vec();
                if end > n {
                    b.extend_from_slice(&corpus[..(end - n).min(n)]);
                }
                b
            });
            out.extend_from_slice(block);
        }
        out
    }

    /// The text of `tokens` (the calls that repeat it share it).
    fn text(&mut self, tokens: &[u32]) -> Result<Arc<str>, String> {
        let text = (self.corpus.decode)(tokens)?;
        self.decoded += text.len();
        Ok(text.into())
    }

    /// `sample_partial_tail_tokens`: `len` corpus tokens from an offset drawn from `seed`.
    fn tail(&self, len: usize, seed: &str) -> Vec<u32> {
        if len == 0 {
            return Vec::new();
        }
        let corpus = self.corpus.tokens;
        let offset = (sha_u64(seed) % (corpus.len().saturating_sub(len).max(1)) as u64) as usize;
        corpus[offset.min(corpus.len())..(offset + len).min(corpus.len())].to_vec()
    }
}

/// A run of one role's blocks in the rebuilt conversation.
struct Segment {
    role: &'static str,
    blocks: i64,
    tokens: Vec<u32>,
    content: Arc<str>,
}

/// The conversation as it stands after a turn.
#[derive(Default)]
struct Conversation {
    segments: Vec<Segment>,
}

impl Conversation {
    fn push(
        &mut self,
        role: &'static str,
        blocks: i64,
        tokens: Vec<u32>,
        b: &mut Blocks<'_>,
    ) -> Result<(), String> {
        let content = b.text(&tokens)?;
        self.segments.push(Segment {
            role,
            blocks,
            tokens,
            content,
        });
        Ok(())
    }

    /// `init_turn_0`: the system prefix (tool and system tokens, in whole blocks) and the user's
    /// first prompt.
    fn first(
        &mut self,
        r: &Request,
        tool: i64,
        system: i64,
        seed: &str,
        b: &mut Blocks<'_>,
    ) -> Result<(), String> {
        let bs = b.block_size;
        let input = r.input as usize;
        let full = input / bs;
        let partial = input - full * bs;
        let covered = full.min(r.hash_ids.len());
        let missing = (full - covered) * bs;
        self.segments.clear();
        let mut cursor = 0;
        let prefix_tokens = (tool + system) as usize;
        if prefix_tokens > 0 {
            let prefix_blocks = prefix_tokens.div_ceil(bs).min(r.hash_ids.len());
            if prefix_blocks > 0 {
                let t = b.tokens(&r.hash_ids[..prefix_blocks]);
                self.push("system", prefix_blocks as i64, t, b)?;
                cursor = prefix_blocks;
            }
        }
        // Python slices `hash_ids[cursor : cursor + user_blocks]`: a negative count takes none
        // (and is kept as the segment's block count, as inference-perf keeps it).
        let user_blocks = covered as i64 - cursor as i64;
        let mut user = if user_blocks > 0 {
            b.tokens(&r.hash_ids[cursor..cursor + user_blocks as usize])
        } else {
            Vec::new()
        };
        user.extend(b.tail(missing + partial, seed));
        self.push("user", user_blocks, user, b)
    }

    /// `truncate_synth_buf_at_block`: the conversation cut back to its first `target` blocks,
    /// less the previous prompt's partial tail where the cut falls at a segment's end.
    fn truncate(
        &mut self,
        target: i64,
        bs: usize,
        prev_tail: usize,
        b: &mut Blocks<'_>,
    ) -> Result<(), String> {
        if target <= 0 {
            self.segments.clear();
            return Ok(());
        }
        let mut cursor = 0i64;
        for i in 0..self.segments.len() {
            let count = self.segments[i].blocks;
            if cursor + count < target {
                cursor += count;
                continue;
            }
            if cursor + count == target {
                let seg = &mut self.segments[i];
                if prev_tail > 0 && !seg.tokens.is_empty() {
                    let keep = seg.tokens.len() - prev_tail.min(seg.tokens.len());
                    seg.tokens.truncate(keep);
                    seg.content = b.text(&seg.tokens)?;
                }
                self.segments.truncate(i + 1);
                return Ok(());
            }
            if cursor == target {
                self.segments.truncate(i);
                return Ok(());
            }
            let kept = target - cursor;
            let seg = &mut self.segments[i];
            seg.blocks = kept;
            seg.tokens.truncate(kept as usize * bs);
            seg.content = b.text(&seg.tokens)?;
            self.segments.truncate(i + 1);
            return Ok(());
        }
        Ok(())
    }

    /// `advance_turn`: rewind to the common prefix with the previous turn's blocks, then the new
    /// blocks: first the assistant's answer to the previous turn, then the user's prompt.
    fn advance(
        &mut self,
        prev: &Request,
        curr: &Request,
        seed: &str,
        b: &mut Blocks<'_>,
    ) -> Result<(), String> {
        let bs = b.block_size;
        let m_curr = curr.hash_ids.len();
        let full = curr.input as usize / bs;
        let missing = full.saturating_sub(m_curr) * bs;
        let lcp = prev
            .hash_ids
            .iter()
            .zip(&curr.hash_ids)
            .take_while(|(a, c)| a == c)
            .count();
        self.truncate(lcp as i64, bs, prev.input as usize % bs, b)?;
        let mut region = b.tokens(&curr.hash_ids[lcp..m_curr]);
        region.extend(b.tail(missing + curr.input as usize % bs, seed));
        let new_blocks = m_curr - lcp;
        let answer_target = if prev.output > 0 {
            (prev.output as usize).div_ceil(bs)
        } else {
            0
        };
        let answer_blocks = answer_target.min(new_blocks);
        let answer_len = (answer_blocks * bs).min(region.len());
        let user = region.split_off(answer_len);
        if answer_blocks > 0 {
            self.push("assistant", answer_blocks as i64, region, b)?;
        }
        if !user.is_empty() {
            self.push("user", (new_blocks - answer_blocks) as i64, user, b)?;
        }
        Ok(())
    }

    fn messages(&self) -> Vec<Msg> {
        (self.segments.iter())
            .map(|s| Msg {
                role: s.role.to_string(),
                text: s.content.clone(),
                info: None,
            })
            .collect()
    }
}

/// One stream of turns: a session's requests in order (with their warped starts), its prefix
/// tokens and seed names.
struct Stream {
    /// Seed stem (`{trace}` / `{trace}::sa:{agent}[:s{k}]`).
    seed_id: String,
    call_stem: String,
    final_seed: String,
    requests: Vec<(Request, f64)>,
    tool: i64,
    system: i64,
}

/// The trace's streams: the parent's turns, then each subagent's requests packed into parallel
/// streams; request starts warped with the idle gaps capped at `cap_seconds`.
fn streams_of(trace: &WekaTrace, cap_seconds: f64) -> Vec<Stream> {
    let normals: Vec<&Request> = (trace.requests.iter())
        .filter_map(|e| match e {
            Entry::Normal(r) | Entry::Streaming(r) => Some(r),
            Entry::Subagent(_) => None,
        })
        .collect();
    let mut children = Vec::new();
    for e in &trace.requests {
        let Entry::Subagent(s) = e else { continue };
        let plain: Vec<Request> = s.requests.iter().map(|r| r.request.clone()).collect();
        let mut packed = pack_into_streams(&plain);
        if packed.is_empty() {
            packed.push(Vec::new());
        }
        let multi = packed.len() > 1;
        for (k, reqs) in packed.into_iter().enumerate() {
            let mut sid = format!("{}::sa:{}", trace.id, s.agent_id);
            if multi {
                sid.push_str(&format!(":s{k}"));
            }
            children.push((sid, s, k, reqs));
        }
    }
    let mut starts: Vec<f64> = normals.iter().map(|r| r.t).collect();
    for (_, s, _, reqs) in &children {
        starts.extend(reqs.iter().map(|r| absolute_t(s, r)));
    }
    let warp = IdleGapWarp::new(&starts, cap_seconds);
    let mut streams = vec![Stream {
        seed_id: trace.id.clone(),
        call_stem: "parent_turn_".into(),
        final_seed: format!("{}:final_parent_turn_completion", trace.id),
        requests: normals
            .iter()
            .map(|r| ((*r).clone(), warp.map(r.t)))
            .collect(),
        tool: trace.tool_tokens,
        system: trace.system_tokens,
    }];
    for (sid, s, k, reqs) in children {
        streams.push(Stream {
            final_seed: format!("{sid}:final_turn_completion"),
            call_stem: format!("sa_{}_s{k}_turn_", s.agent_id),
            requests: (reqs.iter())
                .map(|r| (r.clone(), warp.map(absolute_t(s, r))))
                .collect(),
            seed_id: sid,
            tool: s.tool_tokens,
            system: s.system_tokens,
        });
    }
    streams
}

/// `_reconstruct_raw_calls`: the trace's calls, parent turns and subagent streams, sorted by
/// start then call id; `budget` bounds the bytes of text decoded (each message's text is held
/// once, shared by the calls that send it).
pub(crate) fn raw_calls(
    trace: &WekaTrace,
    default_block_size: i64,
    cap_seconds: f64,
    corpus: &Corpus<'_>,
    budget: usize,
) -> Result<Vec<RawCall>, String> {
    let bs = if trace.block_size != 0 {
        trace.block_size
    } else {
        default_block_size
    } as usize;
    let streams = streams_of(trace, cap_seconds);
    let mut blocks = Blocks {
        corpus,
        trace_id: &trace.id,
        block_size: bs,
        cache: HashMap::new(),
        decoded: 0,
    };
    let mut calls = Vec::new();
    for st in &streams {
        let mut conv = Conversation::default();
        let seed = |k: usize| format!("{}:turn_{k}:partial_tail", st.seed_id);
        for (k, (r, t)) in st.requests.iter().enumerate() {
            let t = *t;
            if k == 0 {
                conv.first(r, st.tool, st.system, &seed(0), &mut blocks)?;
            }
            let messages = conv.messages();
            // The answer is what the next turn's rewind puts in as the assistant's text; that
            // rewind is the next turn's conversation, so each turn is rebuilt (and decoded) once.
            let answer = match st.requests.get(k + 1) {
                Some((next, _)) => {
                    conv.advance(r, next, &seed(k + 1), &mut blocks)?;
                    (conv.segments.iter().rev())
                        .find(|s| s.role == "assistant")
                        .map_or_else(|| Arc::from(""), |s| s.content.clone())
                }
                None => {
                    let tail = blocks.tail(r.output as usize, &st.final_seed);
                    blocks.text(&tail)?
                }
            };
            if blocks.decoded > budget {
                return Err(format!(
                    "its rebuilt text passes {budget} bytes by call {} of {:?}; name fewer or shorter traces",
                    k,
                    st.seed_id
                ));
            }
            let start_ms = (t * 1000.0) as i64;
            calls.push(RawCall {
                call_id: format!("{}{k}", st.call_stem),
                t_start_ms: start_ms,
                t_end_ms: start_ms + (r.api_time.unwrap_or(0.0) * 1000.0) as i64,
                model: r.model.clone(),
                messages,
                out: Some(Msg {
                    role: "assistant".into(),
                    text: answer,
                    info: None,
                }),
                prompt_tokens: Some(r.input as u64),
                completion_tokens: Some(r.output as u64),
                tools: None,
            });
        }
    }
    calls.sort_by(|a, b| (a.t_start_ms, &a.call_id).cmp(&(b.t_start_ms, &b.call_id)));
    Ok(calls)
}
