//! What the integration tests share: the NATS server they need (and a clear failure when it is
//! missing), `memory` telemetry, unique subjects, and span and point lookups.

#![allow(dead_code)] // each test file uses a part

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use hyperion::testing::{MemoryModule, MemoryStore, MetricPoint, RecordedSpan, Snapshot};
use hyperion::{
    Config, KeyValue, SpanContext, SpanId, Telemetry, TraceFlags, TraceId, TraceState, Value,
};

/// The variable naming the server; the default is the one the setup starts.
pub const URL_VAR: &str = "HYPERION_TEST_NATS_URL";

pub fn nats_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

/// A client of the test server. Fails (never skips) with what to do when there is none.
pub async fn connect() -> async_nats::Client {
    connect_with(async_nats::ConnectOptions::new()).await
}

pub async fn connect_with(options: async_nats::ConnectOptions) -> async_nats::Client {
    let url = nats_url();
    let options = options.connection_timeout(Duration::from_secs(3));
    match tokio::time::timeout(Duration::from_secs(5), options.connect(&url)).await {
        Ok(Ok(client)) => client,
        Ok(Err(error)) => panic!("{}", missing_server(&url, &error.to_string())),
        Err(_) => panic!("{}", missing_server(&url, "timed out")),
    }
}

fn missing_server(url: &str, error: &str) -> String {
    format!(
        "these tests need a NATS server with JetStream at {url} ({URL_VAR} overrides it), and \
         connecting failed: {error}. Start one with: start-stop-daemon --start --oknodo \
         --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd \
         /var/lib/nats-server -l /var/log/nats-server.log"
    )
}

/// Returns once the server has processed everything the client sent before (a subscription
/// above all): a request nobody answers makes the server reply "no responders", after what came
/// before it on the connection. (`Client::flush` only writes to the socket.)
pub async fn server_processed(client: &async_nats::Client) {
    let probe = format!("hyperion.test.probe.{}", unique("sync"));
    let error = client
        .request(probe, "".into())
        .await
        .expect_err("nobody answers the probe");
    assert_eq!(
        error.kind(),
        async_nats::client::RequestErrorKind::NoResponders
    );
}

/// A name no other test, parallel or earlier, uses: `{prefix}_{random}` (letters, digits and
/// `_`, so that it is also a valid stream or consumer name).
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let random = RandomState::new().hash_one((
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    ));
    format!("{prefix}_{random:016x}")
}

/// A subject of its own for one test: `hyperion.test.{name}_{random}`.
pub fn subject(name: &str) -> String {
    format!("hyperion.test.{}", unique(name))
}

pub async fn memory_with(yaml: &str) -> (Telemetry, MemoryStore) {
    let memory = MemoryModule::new();
    let store = memory.store();
    let telemetry = Telemetry::builder()
        .module(memory)
        .config(Config::from_yaml_str(yaml).unwrap())
        .build()
        .await
        .unwrap();
    (telemetry, store)
}

pub async fn memory() -> (Telemetry, MemoryStore) {
    memory_with("").await
}

pub async fn flushed(telemetry: &Telemetry, store: &MemoryStore) -> Snapshot {
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    store.snapshot()
}

/// The next item of a subscription, or a failure after 5 s.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("no message within 5 s")
        .expect("the subscription ended")
}

/// Waits until `n` spans are exported, or fails after 5 s (for work finished on other tasks).
pub async fn spans_flushed(telemetry: &Telemetry, store: &MemoryStore, n: usize) -> Snapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let snapshot = flushed(telemetry, store).await;
        if snapshot.spans.len() >= n || tokio::time::Instant::now() > deadline {
            return snapshot;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn remote_parent(trace: u8, span: u8, state: &str) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes([trace; 16]),
        SpanId::from_bytes([span; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_header(state, 32).unwrap(),
    )
}

/// Attributes as text, by key.
pub fn texts(attributes: &[KeyValue<'static>]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|a| (a.key.as_str().to_owned(), a.value.to_string()))
        .collect()
}

pub fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn str_attr<'a>(span: &'a RecordedSpan, key: &str) -> Option<&'a str> {
    span.attribute(key).and_then(Value::as_str)
}

/// The points of an instrument whose attribute `key` is `value`.
pub fn points_with<'s>(
    snapshot: &'s Snapshot,
    instrument: &str,
    key: &str,
    value: &str,
) -> Vec<&'s MetricPoint> {
    snapshot
        .points(instrument)
        .into_iter()
        .filter(|p| p.attribute(key).and_then(Value::as_str) == Some(value))
        .collect()
}

/// `expected(pairs)` plus `server.address` and `server.port` as the client's server announced
/// them (none when it announced a wildcard address).
pub fn with_server(
    client: &async_nats::Client,
    pairs: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut map = expected(pairs);
    let info = client.server_info();
    if !info
        .host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        map.insert("server.address".into(), info.host);
        map.insert("server.port".into(), info.port.to_string());
    }
    map
}

/// The header `name` of a message, as text.
pub fn header<'m>(message: &'m async_nats::Message, name: &str) -> Option<&'m str> {
    message
        .headers
        .as_ref()?
        .get(name)
        .map(async_nats::HeaderValue::as_str)
}
