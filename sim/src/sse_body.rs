//! The streamed response body: pulls ready tokens from a [`TokenSource`], renders them as one
//! frame per poll (batched framing) or one frame per SSE event with a yield between frames
//! (per-event framing), applies mid-stream faults, records latency metrics and the ground-truth
//! times at the moment each frame is handed to the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::faults::Fault;
use crate::ground_truth::{unix_us, GroundTruthLog, GroundTruthRecord};
use crate::metrics::Metrics;
use crate::openai::Usage;
use crate::sse::{self, ChunkTemplates};
use crate::token_source::{Ready, TokenSource};

/// Most tokens rendered into one frame.
const MAX_TOKENS_PER_FRAME: u32 = 1024;

/// Per-request bookkeeping shared by streamed and non-streamed responses: latency metrics and
/// the ground-truth line, written exactly once (when the request ends or is dropped).
#[derive(Debug)]
pub(crate) struct RequestLog {
    pub(crate) request_id: String,
    pub(crate) arrival: Instant,
    pub(crate) arrival_unix_us: u64,
    pub(crate) prompt_tokens: u32,
    /// Prompt tokens found in the prefix cache, when the sim reports them.
    pub(crate) cached_tokens: Option<u32>,
    /// The model or adapter serving the request, once known.
    pub(crate) model: Option<String>,
    /// Prompt tokens this instance computes (0 when its KV came from a prefill instance).
    pub(crate) computed_prompt_tokens: u32,
    /// Prompt tokens whose KV came from a prefill instance, and the transfer time.
    pub(crate) kv_received: Option<(u32, Duration)>,
    /// When the prompt was computed (prefill role) or the first token went out.
    prefill_done: Option<(Instant, u64)>,
    first_token: Option<Instant>,
    accepted: bool,
    metrics: Arc<Metrics>,
    ground_truth: Option<Arc<GroundTruthLog>>,
    token_unix_us: Vec<u64>,
    first_token_unix_us: Option<u64>,
    completion_tokens: u32,
    last_token: Option<Instant>,
    finished: Option<&'static str>,
    /// Deterministic mode counts running requests here (the engine counts its own).
    counts_running: bool,
    /// The request's media parts and their prompt tokens.
    media: crate::openai::MediaCounts,
    /// The request's tools and `tool_choice`.
    tool_use: crate::tools::ToolUse,
}

impl RequestLog {
    /// A request that just arrived; not counted in request metrics until [`Self::accept`].
    pub(crate) fn new(
        request_id: String,
        arrival: Instant,
        arrival_unix_us: u64,
        metrics: Arc<Metrics>,
        ground_truth: Option<Arc<GroundTruthLog>>,
        counts_running: bool,
    ) -> Self {
        RequestLog {
            request_id,
            arrival,
            arrival_unix_us,
            prompt_tokens: 0,
            cached_tokens: None,
            model: None,
            computed_prompt_tokens: 0,
            kv_received: None,
            prefill_done: None,
            first_token: None,
            accepted: false,
            metrics,
            ground_truth,
            token_unix_us: Vec::new(),
            first_token_unix_us: None,
            completion_tokens: 0,
            last_token: None,
            finished: None,
            counts_running,
            media: Default::default(),
            tool_use: Default::default(),
        }
    }

    pub(crate) fn set_prompt_tokens(&mut self, n: u32) {
        self.prompt_tokens = n;
    }

    pub(crate) fn set_media(&mut self, m: crate::openai::MediaCounts) {
        self.media = m;
    }

    /// Records the request's tools and `tool_choice`.
    pub(crate) fn set_tools(&mut self, t: crate::tools::ToolUse) {
        self.tool_use = t;
    }

    /// The request passed validation: it counts as running (deterministic mode) and, when it
    /// ends, in the request metrics.
    pub(crate) fn accept(&mut self) {
        if self.accepted {
            return;
        }
        self.accepted = true;
        if self.counts_running {
            self.metrics
                .running
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The prompt is computed and no token will follow (P/D prefill role): counts its prompt
    /// tokens as processed.
    pub(crate) fn prefill_done(&mut self) {
        self.prefill_done = Some((Instant::now(), unix_us()));
        self.metrics.prompt_tokens.fetch_add(
            self.prompt_tokens as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The P/D figures of a finished request.
    fn pd_record(&self) -> crate::pd_metrics::PdRecord {
        crate::pd_metrics::PdRecord {
            prefill: self.prefill_done.map(|(t, _)| t - self.arrival),
            decode: self
                .first_token
                .zip(self.last_token)
                .map(|(first, last)| last - first),
            computed_prompt_tokens: self.computed_prompt_tokens,
            kv_received: self.kv_received,
        }
    }

    /// Records `n` tokens handed to the connection now.
    pub(crate) fn tokens_sent(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let now_us = unix_us();
        use std::sync::atomic::Ordering::Relaxed;
        match self.last_token {
            None => {
                self.first_token_unix_us = Some(now_us);
                self.first_token = Some(now);
                if self.prefill_done.is_none() {
                    self.prefill_done = Some((now, now_us));
                }
                self.metrics.ttft.observe(now - self.arrival);
                self.metrics
                    .prompt_tokens
                    .fetch_add(self.prompt_tokens as u64, Relaxed);
                self.metrics.itl.observe_n(Duration::ZERO, n as u64 - 1);
            }
            Some(prev) => {
                self.metrics.itl.observe(now - prev);
                self.metrics.itl.observe_n(Duration::ZERO, n as u64 - 1);
            }
        }
        self.metrics.generation_tokens.fetch_add(n as u64, Relaxed);
        self.last_token = Some(now);
        self.completion_tokens += n;
        if self.ground_truth.is_some() {
            self.token_unix_us
                .extend(std::iter::repeat_n(now_us, n as usize));
        }
    }

    /// Marks the request finished with this reason (counted once, on drop).
    pub(crate) fn finish(&mut self, reason: &'static str) {
        self.finished = Some(reason);
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.accepted {
            if self.counts_running {
                self.metrics.running.fetch_sub(1, Relaxed);
            }
            let reason = self.finished.unwrap_or("abort");
            self.metrics.finished(reason);
            if self.finished.is_some() {
                self.metrics.e2e.observe(self.arrival.elapsed());
                self.metrics.pd.record(&self.pd_record());
            }
        }
        if let Some(gt) = &self.ground_truth {
            let tool_call = (self.tool_use.call(&self.request_id, false)).map(|c| c.id);
            gt.write(&GroundTruthRecord {
                request_id: std::mem::take(&mut self.request_id),
                arrival_unix_us: self.arrival_unix_us,
                first_token_unix_us: self.first_token_unix_us,
                token_unix_us: std::mem::take(&mut self.token_unix_us),
                prompt_tokens: self.prompt_tokens,
                completion_tokens: self.completion_tokens,
                model: self.model.take(),
                prefill_done_unix_us: self.prefill_done.map(|(_, us)| us),
                computed_prompt_tokens: self.computed_prompt_tokens,
                kv_received_tokens: self.kv_received.map(|(n, _)| n),
                images: self.media.images,
                audios: self.media.audios,
                videos: self.media.videos,
                media_tokens: self.media.tokens,
                tools: self.tool_use.tools,
                tool_choice: self.tool_use.choice.take(),
                tool_call,
                tool_results: std::mem::take(&mut self.tool_use.results),
            });
        }
    }
}

/// A mid-stream fault waiting for its token index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingFault {
    pub(crate) fault: Fault,
    pub(crate) at: u32,
}

/// What one poll of a body answers.
type FramePoll = Poll<Option<Result<Frame<Bytes>, std::io::Error>>>;

/// How a stream's events are framed: what one poll of the body hands to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Every token that is ready goes into one frame (one write): at zero delay a whole
    /// response is one HTTP chunk.
    Batched,
    /// Every SSE event (role, token, usage, `[DONE]`) is its own frame, and the body yields
    /// between frames so that the connection writes (and, with TCP_NODELAY, sends) each one
    /// before the next: one HTTP chunk and one TCP segment per event, as real engines stream.
    PerEvent,
}

/// What a streamed response sends besides its tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SseShape {
    /// Tokens the response carries.
    pub(crate) total: u32,
    pub(crate) finish_reason: &'static str,
    /// A usage chunk before `[DONE]` (`stream_options.include_usage`).
    pub(crate) include_usage: bool,
    pub(crate) framing: Framing,
}

/// A rendered event waiting for its turn, with the tokens it carries (counted as sent when it
/// is handed to the connection).
struct Pending {
    bytes: Bytes,
    tokens: u32,
    last: bool,
}

/// SSE response body of one streamed request.
pub(crate) struct SseBody {
    src: TokenSource,
    tpl: ChunkTemplates,
    shape: SseShape,
    sent: u32,
    fault: Option<PendingFault>,
    stall: Option<Pin<Box<Sleep>>>,
    log: RequestLog,
    /// Per-event framing: rendered events not yet handed over, and whether the body yields
    /// before the next one (so that the previous one is written first).
    queue: std::collections::VecDeque<Pending>,
    yield_first: bool,
    done: bool,
    reset_armed: bool,
}

impl SseBody {
    pub(crate) fn new(
        src: TokenSource,
        tpl: ChunkTemplates,
        shape: SseShape,
        fault: Option<Fault>,
        log: RequestLog,
    ) -> Self {
        let fault = fault.and_then(|f| match f {
            Fault::Reset { .. } | Fault::Stall(_) | Fault::Malformed | Fault::StreamError => {
                Some(PendingFault {
                    fault: f,
                    at: f.fire_at(shape.total),
                })
            }
            _ => None,
        });
        SseBody {
            src,
            tpl,
            shape,
            sent: 0,
            fault,
            stall: None,
            log,
            queue: Default::default(),
            yield_first: false,
            done: false,
            reset_armed: false,
        }
    }

    /// Renders the next `n` tokens (and the role, usage and `[DONE]` events around them) as
    /// one frame.
    fn render(&mut self, n: u32) -> Bytes {
        let last = self.sent + n >= self.shape.total;
        let mut buf = BytesMut::with_capacity(
            self.tpl.token_len() * (n as usize + 2) + sse::DONE.len() + 256,
        );
        // The first token's chunk may differ (a tool call's opens the call).
        let mut rest = n;
        if self.sent == 0 {
            self.tpl.put_role(&mut buf);
        }
        if self.sent == 0 && n > 0 {
            let finish = (last && n == 1).then_some(self.shape.finish_reason);
            self.tpl.put_first_token(&mut buf, finish);
            rest -= 1;
        }
        if last {
            if rest > 0 {
                self.tpl.put_tokens(&mut buf, rest - 1);
                self.tpl.put_last_token(&mut buf, self.shape.finish_reason);
            }
            self.put_usage(&mut buf);
            buf.extend_from_slice(sse::DONE);
        } else {
            self.tpl.put_tokens(&mut buf, rest);
        }
        self.sent += n;
        self.hand_over(n, last);
        buf.freeze()
    }

    /// Queues one token's events, each its own frame (per-event framing).
    fn render_events(&mut self, n: u32) {
        for _ in 0..n {
            let last = self.sent + 1 >= self.shape.total;
            if self.sent == 0 {
                let mut role = BytesMut::new();
                self.tpl.put_role(&mut role);
                if !role.is_empty() {
                    self.queue_event(role, 0, false);
                }
            }
            let mut token = BytesMut::with_capacity(self.tpl.token_len() + 64);
            if self.sent == 0 {
                let finish = last.then_some(self.shape.finish_reason);
                self.tpl.put_first_token(&mut token, finish);
            } else if last {
                self.tpl
                    .put_last_token(&mut token, self.shape.finish_reason);
            } else {
                self.tpl.put_tokens(&mut token, 1);
            }
            self.sent += 1;
            self.queue_event(token, 1, false);
            if last {
                let mut usage = BytesMut::new();
                self.put_usage(&mut usage);
                if !usage.is_empty() {
                    self.queue_event(usage, 0, false);
                }
                self.queue_event(BytesMut::from(sse::DONE), 0, true);
                return;
            }
        }
    }

    fn queue_event(&mut self, bytes: BytesMut, tokens: u32, last: bool) {
        self.queue.push_back(Pending {
            bytes: bytes.freeze(),
            tokens,
            last,
        });
    }

    fn put_usage(&self, buf: &mut BytesMut) {
        if self.shape.include_usage {
            self.tpl.put_usage(
                buf,
                Usage {
                    prompt_tokens: self.log.prompt_tokens,
                    completion_tokens: self.shape.total,
                    cached_tokens: self.log.cached_tokens,
                },
            );
        }
    }

    /// Records `n` tokens handed to the connection now (and the end of the response).
    fn hand_over(&mut self, n: u32, last: bool) {
        self.log.tokens_sent(n);
        if last {
            self.log.finish(self.shape.finish_reason);
            self.done = true;
        }
    }

    /// The next queued event, after one yield since the previous one (per-event framing).
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Option<FramePoll> {
        if self.queue.is_empty() {
            return None;
        }
        if self.yield_first {
            self.yield_first = false;
            cx.waker().wake_by_ref();
            return Some(Poll::Pending);
        }
        let ev = self.queue.pop_front()?;
        self.yield_first = true;
        self.hand_over(ev.tokens, ev.last);
        Some(Poll::Ready(Some(Ok(Frame::data(ev.bytes)))))
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(p) = this.poll_queued(cx) {
                return p;
            }
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(stall) = &mut this.stall {
                if stall.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.stall = None;
            }
            if let Some(pf) = this.fault.filter(|pf| pf.at == this.sent) {
                if let Fault::Reset { .. } = pf.fault {
                    // Close when the next token would have gone out, and only after one yield
                    // so the connection flushes the tokens already handed over.
                    if !this.reset_armed {
                        if this.sent < this.shape.total
                            && this.src.poll_ready(cx, this.sent, 1).is_pending()
                        {
                            return Poll::Pending;
                        }
                        this.reset_armed = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                this.fault = None;
                match pf.fault {
                    Fault::Reset { .. } => {
                        this.done = true;
                        tracing::debug!(request_id = %this.log.request_id, "fault: reset");
                        return Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected fault: reset",
                        ))));
                    }
                    Fault::Stall(d) => {
                        this.src.delay(d);
                        this.stall = Some(Box::pin(tokio::time::sleep(d)));
                        continue;
                    }
                    Fault::Malformed => {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                            sse::MALFORMED,
                        )))));
                    }
                    Fault::StreamError => {
                        this.done = true;
                        this.log.finish("abort");
                        let mut b = sse::error_event("injected fault: stream_error");
                        b.extend_from_slice(sse::DONE);
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(b)))));
                    }
                    Fault::Status(_) | Fault::SlowHeaders(_) | Fault::Drop | Fault::BadToolArgs => {
                    }
                }
            }
            let limit = match this.fault {
                Some(pf) => pf.at - this.sent,
                None => this.shape.total - this.sent,
            }
            .min(MAX_TOKENS_PER_FRAME);
            if limit == 0 {
                // Nothing left to send (total 0): end the stream properly.
                this.done = true;
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(sse::DONE)))));
            }
            return match this.src.poll_ready(cx, this.sent, limit) {
                Poll::Pending => {
                    // Nothing to send until the source wakes us: the last frame gets written.
                    this.yield_first = false;
                    Poll::Pending
                }
                Poll::Ready(Ready::Tokens(n)) if this.shape.framing == Framing::PerEvent => {
                    this.render_events(n);
                    continue;
                }
                Poll::Ready(Ready::Tokens(n)) => Poll::Ready(Some(Ok(Frame::data(this.render(n))))),
                Poll::Ready(Ready::PrefillDone | Ready::Ended) => {
                    this.done = true;
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(sse::DONE)))))
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
