//! [`ZipkinReceiver`]: an in-test Zipkin v2 span receiver.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hyper::{StatusCode, http::request::Parts};
use serde_json::Value;

use super::server::{self, Handler, HandlerFuture, ServerThread};

/// The path Zipkin v2 spans are posted to.
pub const SPANS_PATH: &str = "/api/v2/spans";

#[derive(Default)]
struct State {
    spans: Vec<Value>,
    content_types: Vec<String>,
    errors: Vec<String>,
    attempts: usize,
    failures: VecDeque<u16>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An in-test Zipkin v2 receiver: `POST /api/v2/spans` with a JSON array of spans (gzip or not),
/// answered `202 Accepted` like a Zipkin server. Every span is stored as a JSON value.
///
/// It runs on its own thread and runtime until dropped.
pub struct ZipkinReceiver {
    state: Shared,
    addr: SocketAddr,
    _server: ServerThread,
}

impl ZipkinReceiver {
    /// Binds 127.0.0.1 on an OS-chosen port and starts serving.
    pub async fn start() -> Self {
        let state = Shared::default();
        let shared = state.clone();
        let (server, addr) = ServerThread::spawn("zipkin-receiver", move || async move {
            let listener = server::bind_local().await;
            let addr = listener.local_addr().expect("local addr");
            let handler: Handler = Arc::new(move |parts, body| handle(shared.clone(), parts, body));
            tokio::spawn(server::serve_http(listener, handler));
            addr
        })
        .await;
        ZipkinReceiver {
            state,
            addr,
            _server: server,
        }
    }

    /// The full spans URL, `http://127.0.0.1:PORT/api/v2/spans`.
    pub fn endpoint(&self) -> String {
        format!("http://{}{SPANS_PATH}", self.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every span accepted so far (the elements of the posted arrays), in arrival order.
    pub fn spans(&self) -> Vec<Value> {
        lock(&self.state).spans.clone()
    }

    /// Accepted spans whose `name` is `name`.
    pub fn spans_named(&self, name: &str) -> Vec<Value> {
        self.spans()
            .into_iter()
            .filter(|s| s["name"] == name)
            .collect()
    }

    /// For every POST to the spans path in order, its media type plus `+gzip` when compressed.
    pub fn content_types_seen(&self) -> Vec<String> {
        lock(&self.state).content_types.clone()
    }

    /// Why requests were rejected, in order.
    pub fn errors(&self) -> Vec<String> {
        lock(&self.state).errors.clone()
    }

    /// How many requests reached the spans path, accepted or not.
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }

    /// Answers the next `count` requests with `status` without storing them (queues up).
    pub fn fail_next(&self, count: usize, status: u16) {
        StatusCode::from_u16(status).expect("a valid HTTP status");
        lock(&self.state)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Waits until at least `n` spans have arrived and returns all of them. Panics after
    /// `timeout`, listing what did arrive.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let found = server::poll_until(timeout, || {
            let spans = self.spans();
            (spans.len() >= n).then_some(spans)
        })
        .await;
        match found {
            Some(spans) => spans,
            None => {
                let state = lock(&self.state);
                panic!(
                    "ZipkinReceiver: waited {timeout:?} for {n} span(s), got {}: {:#?}\n\
                     attempts: {}, errors: {:#?}",
                    state.spans.len(),
                    state.spans,
                    state.attempts,
                    state.errors
                )
            }
        }
    }
}

impl fmt::Debug for ZipkinReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZipkinReceiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn handle(state: Shared, parts: Parts, body: Bytes) -> HandlerFuture {
    let response = {
        let mut state = lock(&state);
        if parts.uri.path() != SPANS_PATH {
            let message = format!("no such path {}", parts.uri.path());
            state.errors.push(message.clone());
            server::text(StatusCode::NOT_FOUND, message)
        } else if parts.method != hyper::Method::POST {
            state.attempts += 1;
            let message = format!("{} not allowed", parts.method);
            state.errors.push(message.clone());
            server::text(StatusCode::METHOD_NOT_ALLOWED, message)
        } else {
            state.attempts += 1;
            let content_type = server::media_type(&parts);
            let encoding = server::header(&parts, "content-encoding")
                .trim()
                .to_ascii_lowercase();
            state.content_types.push(if encoding.is_empty() {
                content_type.clone()
            } else {
                format!("{content_type}+{encoding}")
            });
            if let Some(status) = state.failures.pop_front() {
                server::text(StatusCode::from_u16(status).expect("checked"), "")
            } else {
                match decode(&content_type, &encoding, &body) {
                    Ok(spans) => {
                        state.spans.extend(spans);
                        server::text(StatusCode::ACCEPTED, "")
                    }
                    Err((status, message)) => {
                        state.errors.push(message.clone());
                        server::text(status, message)
                    }
                }
            }
        }
    };
    Box::pin(async move { response })
}

fn decode(
    content_type: &str,
    encoding: &str,
    body: &[u8],
) -> Result<Vec<Value>, (StatusCode, String)> {
    if content_type != "application/json" {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content-type {content_type:?}"),
        ));
    }
    let body = server::decode_content(encoding, body)?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(spans)) => Ok(spans),
        Ok(other) => Err((
            StatusCode::BAD_REQUEST,
            format!("expected a JSON array of spans, got {other}"),
        )),
        Err(e) => Err((StatusCode::BAD_REQUEST, format!("bad JSON body: {e}"))),
    }
}
