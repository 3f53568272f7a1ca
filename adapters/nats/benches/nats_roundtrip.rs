// Latest results: `cargo bench -p hyperion-nats --bench nats_roundtrip -- --warm-up-time 2
// --measurement-time 10`, 2026-12-01, Intel Xeon (lscpu model name), 2 vCPUs of a shared VM,
// rustc 1.95.0, nats-server on the same VM (loopback), 128-byte payload, one connection.
// NOISY: other builds and tests ran throughout (during this run a test binary used ~190% CPU),
// and this VM's round trip flips between ~21-28 us and ~75-90 us for minutes at a time (earlier
// runs of the same code: criterion medians from 27 to 91 us for the same case). Criterion
// measures the cases one after the other, so its ratios carry that drift; the interleaved
// medians (printed after criterion in the same run: blocks of 100 round trips, one block per
// case per round, 300 rounds, rotating order) are the better comparison. Instructions: user
// space only, `valgrind --tool=callgrind` with `NATS_BENCH_ONLY=<case>` (30,000 round trips,
// minus a run with none), deterministic. The memory module (hyperion's test adapter: every span
// and point copied into a Vec) stands in for an exporter; it is cheap to set up, not to run.
//
// | case                     | criterion median [95% CI] | ratio | interleaved | ratio | instr/rt | vs bare |
// |--------------------------|---------------------------|-------|-------------|-------|----------|---------|
// | bare: async-nats alone   | 27.18 us [26.11, 27.80]   | 1     | 20.97 us    | 1     | 12,520   |         |
// | bare_headers: + 1 header | 29.86 us [28.16, 30.69]   | 1.099 | 23.69 us    | 1.130 | +8,722   | +70%    |
// | traced_noop              | 28.21 us [27.42, 29.00]   | 1.038 | 21.10 us    | 1.006 | +83      | +0.66%  |
// | traced_noop_propagating  | 31.53 us [30.64, 32.49]   | 1.160 | 24.15 us    | 1.152 | +10,352  | +83%    |
// | traced_memory            | 36.56 us [33.42, 37.47]   | 1.345 | 26.49 us    | 1.263 | +28,922  | +231%   |
//
// bare_headers is async-nats sending the same message with a `traceparent` header and no
// telemetry: the price of carrying a context at all. traced_noop_propagating is Telemetry::noop()
// with a caller's context that has a span: inject on send, extract on receive, no span.
//
// Goals:
// - noop <= 0.5 %: not resolvable by the clock here (criterion +3.8 %, inside the drift between
//   cases; interleaved +0.6 % with a spread of about +-1 % between runs: 0.991 to 1.016 in the
//   quieter runs, up to 1.06 in the noisy ones). By instructions, +83 per round trip: +0.66 % of
//   async-nats' own user-space work, a narrow MISS on that measure; as time, ~25 ns of a 21-28 us
//   round trip, ~0.1 %. What is left: one read of the core's bridge thread-local (the fallback
//   parent, ~45 instructions) and the wrapper futures.
// - telemetry on <= 5 %: MISSED, +26 % (interleaved) / +35 % (criterion). Per round trip: 8.7k
//   instructions are async-nats handling one header (bare_headers, +10-13 % by itself: any
//   propagation pays it), 8.6k the memory module (span and point copies), 3.6k its store being
//   emptied (outside the timed loop but in the count), ~8k this crate and the facade (two spans'
//   attributes and names, two clock pairs, inject and extract, two histogram records). Measured
//   with the memory module only; an SDK exporter costs differently.

//! A publish + receive round trip on loopback through the NATS server of the tests
//! (`HYPERION_TEST_NATS_URL`, default `nats://127.0.0.1:4222`), side by side in one run:
//!
//! - `bare`: async-nats alone — `publish`, then the subscription's `next`;
//! - `bare_headers`: the same with a `traceparent` header built by hand (no telemetry);
//! - `traced_noop`: `TracedClient::publish` with `Telemetry::noop()` and `Context::noop()`, the
//!   subscription's `next`, and `TracedSubscriber::process` with an empty handler;
//! - `traced_noop_propagating`: the same with a caller's context holding a span (injected on
//!   send, extracted for the handler; still no span);
//! - `traced_memory`: the same recorded by the `memory` module (PRODUCER and CONSUMER spans,
//!   both histograms, headers injected and extracted); the store is emptied between samples,
//!   outside the timed loop.
//!
//! After criterion, the same cases run again in interleaved blocks (see `interleaved`), unless
//! `NATS_BENCH_INTERLEAVED=0`.
//!
//! One client publishes and subscribes (same connection, so ordering is guaranteed); a
//! current-thread runtime drives both the benchmark and the connection task, so that the
//! measurement does not depend on cross-thread wake-ups.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use async_nats::Client;
use bytes::Bytes;
use criterion::Criterion;
use futures_util::StreamExt;
use hyperion::testing::{MemoryModule, MemoryStore};
use hyperion::{Context, Telemetry};
use hyperion_nats::TracedClient;
use tokio::runtime::Runtime;

const PAYLOAD: &[u8] = &[b'x'; 128];
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn url() -> String {
    std::env::var("HYPERION_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn connect() -> Client {
    let url = url();
    async_nats::connect(&url).await.unwrap_or_else(|error| {
        panic!("the benchmark needs a NATS server at {url} (HYPERION_TEST_NATS_URL): {error}")
    })
}

fn subject(name: &str) -> String {
    format!("hyperion.bench.{name}.{}", std::process::id())
}

/// `iters` round trips through async-nats alone.
async fn bare(
    client: &Client,
    sub: &mut async_nats::Subscriber,
    subject: &str,
    iters: u64,
) -> Duration {
    let payload = Bytes::from_static(PAYLOAD);
    let subject = async_nats::Subject::from(subject);
    let start = Instant::now();
    for _ in 0..iters {
        client
            .publish(subject.clone(), payload.clone())
            .await
            .unwrap();
        let message = sub.next().await.unwrap();
        black_box(message);
    }
    start.elapsed()
}

/// `iters` round trips through async-nats alone, each message carrying a `traceparent` header
/// (what propagation costs on the wire and in async-nats, without any telemetry).
async fn bare_headers(
    client: &Client,
    sub: &mut async_nats::Subscriber,
    subject: &str,
    iters: u64,
) -> Duration {
    let payload = Bytes::from_static(PAYLOAD);
    let subject = async_nats::Subject::from(subject);
    let start = Instant::now();
    for _ in 0..iters {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", TRACEPARENT);
        client
            .publish_with_headers(subject.clone(), headers, payload.clone())
            .await
            .unwrap();
        let message = sub.next().await.unwrap();
        black_box(message);
    }
    start.elapsed()
}

/// `iters` traced round trips: publish with `ctx`, receive, process with an empty handler.
async fn traced(
    traced: &TracedClient,
    sub: &mut hyperion_nats::TracedSubscriber,
    ctx: &Context,
    subject: &str,
    iters: u64,
) -> Duration {
    let payload = Bytes::from_static(PAYLOAD);
    let subject = async_nats::Subject::from(subject);
    let start = Instant::now();
    for _ in 0..iters {
        traced
            .publish(ctx, subject.clone(), payload.clone())
            .await
            .unwrap();
        let message = sub.next().await.unwrap();
        let done: Result<(), Infallible> = sub
            .process(&message, |ctx| async move {
                black_box(ctx);
                Ok(())
            })
            .await;
        done.unwrap();
    }
    start.elapsed()
}

fn memory_telemetry(rt: &Runtime) -> (Telemetry, MemoryStore) {
    rt.block_on(async {
        let memory = MemoryModule::new();
        let store = memory.store();
        let telemetry = Telemetry::builder().module(memory).build().await.unwrap();
        (telemetry, store)
    })
}

/// The cases, in the order they are measured and printed.
const CASES: [&str; 5] = [
    "bare",
    "bare_headers",
    "traced_noop",
    "traced_noop_propagating",
    "traced_memory",
];

/// Everything the measurements share: one runtime, one connection, a subscription per case.
struct Setup {
    rt: Runtime,
    client: Client,
    noop: TracedClient,
    recorded: TracedClient,
    store: MemoryStore,
    /// The memory telemetry's root context: each recorded round trip is a new trace.
    root: Context,
    /// A context holding a remote span, for the no-op case that propagates.
    remote: Context,
    subjects: Vec<String>,
    plain_subs: Vec<async_nats::Subscriber>,
    traced_subs: Vec<hyperion_nats::TracedSubscriber>,
    _telemetry: Telemetry,
}

impl Setup {
    fn new() -> Setup {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(connect());
        let noop = TracedClient::new(client.clone(), &Telemetry::noop());
        let (telemetry, store) = memory_telemetry(&rt);
        let recorded = TracedClient::new(client.clone(), &telemetry);
        let subjects: Vec<String> = CASES.iter().map(|case| subject(case)).collect();
        let plain_subs = subjects[..2]
            .iter()
            .map(|s| rt.block_on(client.subscribe(s.clone())).unwrap())
            .collect();
        let traced_subs = vec![
            rt.block_on(noop.subscribe(subjects[2].clone())).unwrap(),
            rt.block_on(noop.subscribe(subjects[3].clone())).unwrap(),
            rt.block_on(recorded.subscribe(subjects[4].clone()))
                .unwrap(),
        ];
        let remote = hyperion::SpanContext::new(
            hyperion::TraceId::from_bytes([1; 16]),
            hyperion::SpanId::from_bytes([2; 8]),
            hyperion::TraceFlags::SAMPLED,
            true,
            hyperion::TraceState::default(),
        );
        Setup {
            root: telemetry.context(),
            remote: Context::noop().with_span_context(remote),
            rt,
            client,
            noop,
            recorded,
            store,
            subjects,
            plain_subs,
            traced_subs,
            _telemetry: telemetry,
        }
    }

    /// `iters` round trips of a case. The memory store is emptied afterwards, outside the
    /// timed loop.
    fn run(&mut self, case: usize, iters: u64) -> Duration {
        let subject = &self.subjects[case];
        let rt = &self.rt;
        match case {
            0 => rt.block_on(bare(&self.client, &mut self.plain_subs[0], subject, iters)),
            1 => rt.block_on(bare_headers(
                &self.client,
                &mut self.plain_subs[1],
                subject,
                iters,
            )),
            2 => rt.block_on(traced(
                &self.noop,
                &mut self.traced_subs[0],
                &Context::noop(),
                subject,
                iters,
            )),
            3 => rt.block_on(traced(
                &self.noop,
                &mut self.traced_subs[1],
                &self.remote,
                subject,
                iters,
            )),
            _ => {
                let elapsed = rt.block_on(traced(
                    &self.recorded,
                    &mut self.traced_subs[2],
                    &self.root,
                    subject,
                    iters,
                ));
                self.store.clear();
                elapsed
            }
        }
    }
}

fn roundtrip(c: &mut Criterion, setup: &mut Setup) {
    let mut group = c.benchmark_group("nats_roundtrip");
    for (case, name) in CASES.iter().enumerate() {
        group.bench_function(*name, |b| b.iter_custom(|iters| setup.run(case, iters)));
    }
    group.finish();
}

/// The time this thread has spent on a CPU, in nanoseconds (Linux: the first field of
/// `/proc/thread-self/schedstat`), or `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The same loops in alternating blocks (one block of each case per round, the order rotating
/// from round to round), so that a change of load on the machine hits every case alike; prints, per case, the median wall time
/// per round trip and its ratio to `bare`, and the median CPU time the benchmark's thread (the
/// application's side: the caller and async-nats' connection task, not the server) spent per
/// round trip. Criterion measures the cases one after the other, seconds apart.
fn interleaved(setup: &mut Setup) {
    const ROUNDS: usize = 300;
    const BLOCK: u64 = 100;
    let mut wall: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); CASES.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); CASES.len()];
    for case in 0..CASES.len() {
        setup.run(case, BLOCK);
    }
    // `NATS_BENCH_ONLY=traced_memory` runs one case alone (after the common warm-up), for
    // counting its instructions: `valgrind --tool=callgrind` once per case, then subtract.
    let only = std::env::var("NATS_BENCH_ONLY").ok();
    for round in 0..ROUNDS {
        // Each round starts with another case, so that no case always follows the same one
        // (the memory case frees its store after its block: the next block pays for that).
        for i in 0..CASES.len() {
            let case = (round + i) % CASES.len();
            if only.as_deref().is_some_and(|only| only != CASES[case]) {
                continue;
            }
            let before = thread_cpu_ns();
            let elapsed = setup.run(case, BLOCK);
            if let (Some(before), Some(after)) = (before, thread_cpu_ns()) {
                cpu[case].push((after - before) as f64 / 1e9 / BLOCK as f64);
            }
            wall[case].push(elapsed.as_secs_f64() / BLOCK as f64);
        }
    }
    let wall: Vec<f64> = wall.into_iter().map(median).collect();
    println!(
        "\ninterleaved: {ROUNDS} rounds of {BLOCK} round trips per case; medians per round trip"
    );
    println!(
        "  {:<24} {:>9} {:>8} {:>10} {:>8}",
        "case", "wall µs", "ratio", "cpu µs", "ratio"
    );
    let cpu: Vec<Option<f64>> = cpu
        .into_iter()
        .map(|c| (!c.is_empty()).then(|| median(c)))
        .collect();
    for (case, name) in CASES.iter().enumerate() {
        let (cpu_us, cpu_ratio) = match (cpu[case], cpu[0]) {
            (Some(c), Some(c0)) => (format!("{:.2}", c * 1e6), format!("{:.3}", c / c0)),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "  {name:<24} {:>9.2} {:>8.4} {cpu_us:>10} {cpu_ratio:>8}",
            wall[case] * 1e6,
            wall[case] / wall[0],
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut setup = Setup::new();
    roundtrip(&mut criterion, &mut setup);
    // Only under `cargo bench` (not `cargo test --benches`, not `--list`), unless
    // `NATS_BENCH_INTERLEAVED=0` (for profiling one case).
    let args: Vec<String> = std::env::args().collect();
    let wanted = std::env::var("NATS_BENCH_INTERLEAVED").map_or(true, |v| v != "0");
    if wanted && args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list") {
        interleaved(&mut setup);
    }
    criterion.final_summary();
}
