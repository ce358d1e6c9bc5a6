//! A replay graph on the wire: a call whose leading messages are those of its shared segment's
//! source (the history an agentic session sends again in every call) names them
//! (`shared: [source, count]`) instead of carrying them, and the reader takes them from the
//! source, already read, as the same shared [`Message`]s. So a graph's JSON grows with its
//! text, not with its calls times its history, and so does the memory of the process that
//! reads it.

use super::replay::{Message, ReplayEvent, ReplayGraph, SegmentKind};
use serde::{Deserialize, Serialize};

/// [`ReplayGraph`] as it is written.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireGraph {
    source: String,
    events: Vec<WireEvent>,
}

/// A call as it is written: its leading messages by reference, the rest in `event`.
#[derive(Serialize, Deserialize)]
struct WireEvent {
    /// The first `[1]` messages are call `[0]`'s first ones (an earlier call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shared: Option<[u32; 2]>,
    #[serde(flatten)]
    event: ReplayEvent,
}

/// How many leading messages of call `i` are its shared segment's source's, and the source.
fn shared_prefix(events: &[ReplayEvent], i: usize) -> Option<[u32; 2]> {
    let e = &events[i];
    let seg = e
        .segments
        .first()
        .filter(|s| s.kind == SegmentKind::Shared)?;
    let src = seg.source.filter(|&s| (s as usize) < i)?;
    let theirs = &events[src as usize].messages;
    let n = (e.messages.iter().zip(theirs))
        .take(seg.messages as usize)
        .take_while(|(a, b)| a == b)
        .count();
    (n > 0).then_some([src, n as u32])
}

impl From<ReplayGraph> for WireGraph {
    fn from(g: ReplayGraph) -> WireGraph {
        let shared: Vec<_> = (0..g.events.len())
            .map(|i| shared_prefix(&g.events, i))
            .collect();
        let events = (g.events.into_iter().zip(shared))
            .map(|(mut event, shared)| {
                if let Some([_, n]) = shared {
                    event.messages.drain(..n as usize);
                }
                WireEvent { shared, event }
            })
            .collect();
        WireGraph {
            source: g.source,
            events,
        }
    }
}

impl TryFrom<WireGraph> for ReplayGraph {
    type Error = String;

    fn try_from(w: WireGraph) -> Result<ReplayGraph, String> {
        let mut events: Vec<ReplayEvent> = Vec::with_capacity(w.events.len());
        for (i, WireEvent { shared, mut event }) in w.events.into_iter().enumerate() {
            if let Some([src, n]) = shared {
                let theirs = (events.get(src as usize))
                    .map(|e| &e.messages)
                    .filter(|m| m.len() >= n as usize)
                    .ok_or_else(|| {
                        format!("call {i}: shares {n} messages of call {src}, which has not as many before it")
                    })?;
                let mut messages: Vec<Message> = theirs[..n as usize].to_vec();
                messages.append(&mut event.messages);
                event.messages = messages;
            }
            events.push(event);
        }
        Ok(ReplayGraph {
            source: w.source,
            events,
        })
    }
}
