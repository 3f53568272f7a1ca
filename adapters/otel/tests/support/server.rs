//! Plumbing shared by the receivers: a server thread with its own runtime, and a small HTTP
//! server on hyper.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, http::request::Parts};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A response the HTTP servers send.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// What an HTTP handler returns: the response, produced asynchronously (so it may wait).
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = HttpResponse> + Send>>;

/// An HTTP request handler: the request head and its whole body in, the response out.
pub(crate) type Handler = Arc<dyn Fn(Parts, Bytes) -> HandlerFuture + Send + Sync>;

/// A thread running a current-thread tokio runtime that serves until dropped.
///
/// Dropping it signals shutdown and joins the thread; the runtime's drop cancels every task
/// (accept loops and open connections alike).
pub(crate) struct ServerThread {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Starts a thread named `name`, runs `setup` on its runtime (bind listeners, spawn the
    /// server tasks) and returns what `setup` returned once it has run.
    ///
    /// Panics if `setup` panics (a bind failure, say).
    pub(crate) async fn spawn<T, F, Fut>(name: &str, setup: F) -> (Self, T)
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build the receiver's runtime");
                runtime.block_on(async move {
                    let value = setup().await;
                    if ready_tx.send(value).is_err() {
                        return;
                    }
                    // Either an explicit shutdown or the owner going away ends the server.
                    let _ = shutdown_rx.await;
                });
            })
            .expect("spawn the receiver's thread");
        let value = match ready_rx.await {
            Ok(value) => value,
            Err(_) => {
                // The setup panicked; surface its panic here.
                match thread.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => panic!("{name}: the server thread ended before it was ready"),
                }
            }
        };
        let server = ServerThread {
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        (server, value)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds a TCP listener on 127.0.0.1 with an OS-chosen port.
pub(crate) async fn bind_local() -> TcpListener {
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind 127.0.0.1:0")
}

/// Serves HTTP/1.1 and cleartext HTTP/2 on `listener` with `handler`, forever (until the runtime
/// that runs it drops). Spawn it on the server thread's runtime.
pub(crate) async fn serve_http(listener: TcpListener, handler: Handler) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let response = match body.collect().await {
                        Ok(collected) => handler(parts, collected.to_bytes()).await,
                        Err(error) => text(
                            StatusCode::BAD_REQUEST,
                            format!("could not read the body: {error}"),
                        ),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A response with `status` and a plain-text body.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.into())))
        .expect("a valid response")
}

/// A response with `status`, `content_type` and `body`.
pub(crate) fn with_body(status: StatusCode, content_type: &str, body: Vec<u8>) -> HttpResponse {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// The media type of a `content-type` header value: lower-cased, parameters dropped.
pub(crate) fn media_type(parts: &Parts) -> String {
    header(parts, "content-type")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A header's value as text (empty when absent or not text).
pub(crate) fn header(parts: &Parts, name: &str) -> String {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Every header as `(name, value)` text pairs, in arrival order.
pub(crate) fn all_headers(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Undoes `content-encoding` (`gzip` or none). Errors name the problem, for a 400/415 answer.
pub(crate) fn decode_content(encoding: &str, body: &[u8]) -> Result<Vec<u8>, (StatusCode, String)> {
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" => super::gunzip(body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad gzip body: {e}"))),
        other => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content-encoding {other:?}"),
        )),
    }
}

/// Polls `check` every few milliseconds until it returns `Some`, or `timeout` passes (then
/// returns `None`). Uses the caller's tokio timer.
pub(crate) async fn poll_until<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
