//! One session of an OTel trace replay (`fleetbench_model::data::ReplaySessions`): its calls as
//! a DAG. Every call starts as a task that waits for its predecessors; when they all ended it
//! waits its recorded gap (capped by `max_wait_ms`) and sends its messages, where an ancestor's
//! recorded output appeared its live output (output substitution, unless the profile disables
//! it; the calls then capture their generated text). Its latency counts from that instant (the
//! intended start). A failed call fails the session: the calls that
//! depend on it, directly or not, are not sent (inference-perf's failure propagation); calls on
//! other branches go on. The number of tasks is the session's calls (bounded by
//! `MAX_REPLAY_EVENTS`), each ending once its predecessors did.

use crate::client::EndpointClient;
use crate::request::RequestData;
use bytes::Bytes;
use fleetbench_model::data::{CallMessages, LiveCall, Message, ReplaySessions, ROUND_BITS};
use fleetbench_model::settings::ApiType;
use fleetbench_model::spec::ShardSpec;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A call's state as its successors see it.
#[derive(Debug, Clone, PartialEq)]
enum Done {
    Pending,
    /// Ended ok, at this instant, with what it sent and generated (for substitution).
    Ok(Instant, Arc<LiveCall>),
    /// Failed, or skipped because a predecessor failed.
    Failed,
}

/// What a session's run came to: calls sent ok, failed, and skipped after a failure (or not
/// sendable); the calls whose malformed live tool calls their successors replaced by the
/// recorded messages (each once, as inference-perf counts `n_recorded_substitutions`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionOutcome {
    pub ok: u32,
    pub failed: u32,
    pub skipped: u32,
    pub recorded_fallbacks: u32,
}

/// How one call of a session ended.
enum CallEnd {
    Ok,
    Failed,
    Skipped,
}

/// Runs session `session` of `r` to its end; `record` takes each sent call's record (false:
/// the stage closed, stop recording).
pub(crate) async fn run_graph_session(
    spec: &ShardSpec,
    r: &ReplaySessions,
    session: u64,
    client: &EndpointClient,
    record: &(dyn Fn(&crate::request::RequestRecord) -> bool + Sync),
) -> SessionOutcome {
    let Some(graph) = r.graph_of(session) else {
        return SessionOutcome::default();
    };
    let n = graph.events.len();
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..n).map(|_| watch::channel(Done::Pending)).unzip();
    let max_wait = Duration::from_millis(r.max_wait_ms);
    let pred_timeout = r.predecessor_timeout_ms.map(Duration::from_millis);
    let receivers = &receivers;
    let calls = graph.events.iter().enumerate().map(|(i, e)| {
        let preds: Vec<watch::Receiver<Done>> = e
            .preds
            .iter()
            .filter_map(|&p| receivers.get(p as usize).cloned())
            .collect();
        let tx = &senders[i];
        let wait = Duration::from_millis(e.wait_ms).min(max_wait);
        let index = session << ROUND_BITS | i as u64;
        async move {
            let mut ready: Option<Instant> = None;
            for mut p in preds {
                // A predecessor always ends (Ok or Failed): its own task sets it; after
                // `predecessor_wait_timeout_sec` this call fails instead.
                let ended = p.wait_for(|d| *d != Done::Pending);
                let state = match pred_timeout {
                    Some(t) => match tokio::time::timeout(t, ended).await {
                        Ok(Ok(d)) => d.clone(),
                        _ => Done::Failed,
                    },
                    None => match ended.await {
                        Ok(d) => d.clone(),
                        Err(_) => Done::Failed,
                    },
                };
                match state {
                    Done::Ok(t, _) => ready = Some(ready.map_or(t, |r: Instant| r.max(t))),
                    _ => {
                        let _ = tx.send(Done::Failed);
                        return (CallEnd::Skipped, Vec::new());
                    }
                }
            }
            let intended = ready.unwrap_or_else(Instant::now) + wait;
            tokio::time::sleep_until(intended.into()).await;
            // An ancestor whose output this call carries has ended ok (it precedes a
            // predecessor that did).
            let live = |p: u32| match &*receivers.get(p as usize)?.borrow() {
                Done::Ok(_, l) => Some(l.clone()),
                _ => None,
            };
            let call = match replay_request(spec, r, index, &live) {
                Ok(call) => call,
                Err(e) => {
                    // inference-perf fails such a call without sending it.
                    tracing::warn!("{}: {} not sent: {e}", spec.stage, call_name(r, index));
                    let _ = tx.send(Done::Failed);
                    return (CallEnd::Skipped, Vec::new());
                }
            };
            let mut rec = client.execute(&call.data, intended).await;
            let ok = rec.outcome.is_ok();
            let keep = record(&rec);
            let sent = LiveCall {
                messages: call.messages,
                reply: rec.reply.take().map(Arc::new),
            };
            let _ = tx.send(if ok && keep {
                Done::Ok(rec.t_end, Arc::new(sent))
            } else {
                Done::Failed
            });
            let end = if ok { CallEnd::Ok } else { CallEnd::Failed };
            (end, call.recorded_fallbacks)
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut out = SessionOutcome::default();
    let mut replaced = std::collections::BTreeSet::new();
    for (end, fallbacks) in results {
        match end {
            CallEnd::Ok => out.ok += 1,
            CallEnd::Failed => out.failed += 1,
            CallEnd::Skipped => out.skipped += 1,
        }
        replaced.extend(fallbacks);
    }
    out.recorded_fallbacks = replaced.len() as u32;
    out
}

/// Session `index >> ROUND_BITS`'s id and call `index`'s, for a log line.
fn call_name(r: &ReplaySessions, index: u64) -> String {
    let slot = (r.slots.get((index >> ROUND_BITS) as usize)).map_or("?", |s| s.id.as_str());
    let event = r.event(index).map_or("?", |e| e.id.as_str());
    format!("session {slot} call {event}")
}

/// One call of a replay session, ready to send.
pub(crate) struct ReplayCall {
    pub data: RequestData,
    /// The messages it sends, kept for its successors (none without substitution).
    pub messages: Vec<Message>,
    /// The ancestors whose live messages were replaced by their recorded ones.
    pub recorded_fallbacks: Vec<u32>,
}

/// Call `index` of a replay session as a request: the chat API sends the recorded messages
/// (tool calls and results structured, the session string injected, `live(ancestor)`'s message
/// where the ancestor's recorded output was) and tools; the completion API the recorded
/// messages' text joined. With output substitution the call captures its own reply, and its
/// messages come back for its successors. `Err`: it cannot be sent (`ReplaySessions::messages`).
pub(crate) fn replay_request(
    spec: &ShardSpec,
    r: &ReplaySessions,
    index: u64,
    live: &dyn Fn(u32) -> Option<Arc<LiveCall>>,
) -> Result<ReplayCall, String> {
    let mut data = RequestData::build(spec, index);
    data.capture_reply = r.substitute_outputs;
    let bare = |data| ReplayCall {
        data,
        messages: Vec::new(),
        recorded_fallbacks: Vec::new(),
    };
    let (Some(event), ApiType::Chat) = (r.event(index), spec.endpoint.api) else {
        return Ok(bare(data));
    };
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&data.body) else {
        return Ok(bare(data));
    };
    let CallMessages {
        messages,
        recorded_fallbacks,
    } = r.messages(index, live)?;
    if let Some(o) = body.as_object_mut() {
        data.input_tokens = fleetbench_model::data::message_words(&messages);
        o.insert(
            "messages".into(),
            serde_json::Value::Array(messages.iter().map(|m| (**m).clone()).collect()),
        );
        if let Some(tools) = &event.tools {
            // inference-perf sends a call with tools `ignore_eos: false`: a tool call ends at
            // its end of sequence, and so does the text answer that closes a tool loop.
            o.insert("tools".into(), tools.clone());
            o.insert("ignore_eos".into(), serde_json::Value::Bool(false));
            data.stops_at_eos = true;
        }
        if let Some(choice) = &event.tool_choice {
            o.insert("tool_choice".into(), choice.clone());
        }
    }
    data.body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let keep = if r.substitute_outputs {
        messages
    } else {
        Vec::new()
    };
    Ok(ReplayCall {
        data,
        messages: keep,
        recorded_fallbacks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_spec::{one_request, shard_spec};
    use fleetbench_model::data::{
        DataSource, ReplayEvent, ReplayGraph, ReplaySlot, Segment, SegmentKind,
    };
    use serde_json::json;

    #[test]
    fn a_call_is_sent_with_its_recorded_messages_model_and_max_tokens() {
        let event = ReplayEvent {
            id: "event_000_a".into(),
            preds: vec![],
            wait_ms: 0,
            model: Some("m2".into()),
            messages: fleetbench_model::data::messages(vec![
                json!({"role": "system", "content": "be brief"}),
                json!({"role": "user", "content": "hello world"}),
            ]),
            segments: vec![Segment {
                kind: SegmentKind::Unique,
                messages: 2,
                tokens: 4,
                source: None,
            }],
            max_tokens: 9,
            expected_output: String::new(),
            tools: Some(json!([{"type": "function", "function": {"name": "f"}}])),
            tool_choice: Some(json!("none")),
        };
        let r = ReplaySessions {
            graphs: vec![ReplayGraph {
                source: "t.json".into(),
                events: vec![event],
            }],
            slots: vec![ReplaySlot {
                graph: 0,
                id: "trace0_t".into(),
                duplicate: false,
            }],
            max_wait_ms: 10,
            predecessor_timeout_ms: Some(1000),
            substitute_outputs: true,
            inject_session_id: false,
            seed: 1,
            recorded_on_bad_tool_calls: false,
        };
        let spec = shard_spec(ApiType::Chat, DataSource::Replay(r.clone()), one_request());
        let ReplayCall {
            data,
            messages: sent,
            ..
        } = replay_request(&spec, &r, 0, &|_| None).unwrap();
        assert_eq!(sent.len(), 2, "kept for the successors' shared prefixes");
        assert!(
            data.capture_reply,
            "substitution on: the call keeps its reply"
        );
        let body: serde_json::Value = serde_json::from_slice(&data.body).unwrap();
        assert_eq!(body["model"], "m2");
        assert_eq!(body["max_tokens"], 9);
        assert_eq!(body["messages"][1]["content"], "hello world");
        assert_eq!(body["tools"][0]["function"]["name"], "f");
        assert_eq!(body["tool_choice"], "none");
        assert_eq!(
            body["ignore_eos"], false,
            "a call with tools stops at its end"
        );
        assert!(data.stops_at_eos, "so a short output is no failure");
        assert_eq!(data.input_tokens, 4);
        assert_eq!(data.id, format!("{}-0", spec.stage));
    }
}
