//! `demo load`: traffic for the gateway with a progress bar, and a summary at the end with
//! three trace ids to look at (the slowest request, an error, a normal one), read from each
//! answer's `traceresponse` header.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Mutex;

use crate::db::SEEDED_USERS;
use crate::runtime::BoxError;

/// What `demo load` sends.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// How many requests in all.
    pub requests: u64,
    /// How many at once.
    pub concurrency: usize,
    /// The gateway's base URL.
    pub gateway: String,
    /// Whether to draw the progress bar (off when the output is not a terminal's).
    pub progress: bool,
}

/// One request's result.
#[derive(Clone, Debug)]
pub struct Sample {
    /// `GET /users/{id}`, `GET /users/{id}/orders` or `POST /orders`.
    pub route: &'static str,
    /// The status, or `None` when no answer came.
    pub status: Option<u16>,
    /// How long the answer took.
    pub latency: Duration,
    /// The trace id from `traceresponse`, when the gateway sent one.
    pub trace_id: Option<String>,
}

impl Sample {
    /// A 5xx or no answer at all.
    pub fn failed(&self) -> bool {
        self.status.is_none_or(|status| status >= 500)
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Summary {
    /// Every request, in the order they finished.
    pub samples: Vec<Sample>,
    /// How long the whole run took.
    pub elapsed: Duration,
}

impl Summary {
    /// The latency at quantile `q` (0 to 1), nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut latencies: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    }

    /// How many failed (5xx or no answer).
    pub fn failures(&self) -> usize {
        self.samples.iter().filter(|s| s.failed()).count()
    }

    /// The requests per second over the run.
    pub fn throughput(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// A client without telemetry, for the load generator and the launcher's health checks.
///
/// # Errors
///
/// The client cannot be built.
pub fn plain_client() -> Result<reqwest::Client, BoxError> {
    // See `runtime::http_client`: reqwest may be built with rustls and no provider here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()?)
}

/// Sends the requests and returns what they measured.
///
/// # Errors
///
/// The client cannot be built; failed requests are samples, not errors.
pub async fn run(options: &LoadOptions) -> Result<Summary, BoxError> {
    let client = plain_client()?;
    let bar = if options.progress {
        let bar = ProgressBar::new(options.requests);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} requests, {per_sec}, eta {eta} {msg}",
            )
            .expect("the template is valid"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let next = Arc::new(AtomicU64::new(0));
    let capacity = options.requests.min(1 << 20) as usize;
    let samples = Arc::new(Mutex::new(Vec::with_capacity(capacity)));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency.max(1))
        .map(|_| {
            let (client, next, samples, failures, bar) = (
                client.clone(),
                next.clone(),
                samples.clone(),
                failures.clone(),
                bar.clone(),
            );
            let (gateway, total) = (options.gateway.clone(), options.requests);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sample = one_request(&client, &gateway).await;
                    if sample.failed() {
                        let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        bar.set_message(format!("({failed} failed)"));
                    }
                    samples.lock().await.push(sample);
                    bar.inc(1);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    bar.finish();
    let elapsed = started.elapsed();
    let samples = std::mem::take(&mut *samples.lock().await);
    Ok(Summary { samples, elapsed })
}

async fn one_request(client: &reqwest::Client, gateway: &str) -> Sample {
    // 3 % unknown users (404s), the rest among the seeded ones.
    let user = if rand::random::<f64>() < 0.03 {
        100_000 + rand::random_range(0..1000)
    } else {
        rand::random_range(1..=SEEDED_USERS)
    };
    let pick = rand::random::<f64>();
    let (route, request) = if pick < 0.45 {
        (
            "GET /users/{id}",
            client.get(format!("{gateway}/users/{user}")),
        )
    } else if pick < 0.75 {
        (
            "GET /users/{id}/orders",
            client.get(format!("{gateway}/users/{user}/orders")),
        )
    } else {
        const ITEMS: [&str; 5] = ["book", "pen", "lamp", "chair", "mug"];
        let item = ITEMS[rand::random_range(0..ITEMS.len())];
        let body = format!(
            r#"{{"user_id": {user}, "item": "{item}", "quantity": {}}}"#,
            rand::random_range(1..=5)
        );
        (
            "POST /orders",
            client
                .post(format!("{gateway}/orders"))
                .header("content-type", "application/json")
                .body(body),
        )
    };
    let started = Instant::now();
    let response = request.send().await;
    match response {
        Ok(response) => {
            let trace_id = response
                .headers()
                .get("traceresponse")
                .and_then(|value| value.to_str().ok())
                .and_then(trace_id_of);
            let status = response.status().as_u16();
            // The answer is all of it: the body is read before the clock stops, and a body
            // that breaks off is no answer.
            let body = response.bytes().await;
            Sample {
                route,
                status: body.is_ok().then_some(status),
                latency: started.elapsed(),
                trace_id,
            }
        }
        Err(_) => Sample {
            route,
            status: None,
            latency: started.elapsed(),
            trace_id: None,
        },
    }
}

/// The trace id of a `traceresponse` (or `traceparent`) value: `00-{trace id}-{span id}-{flags}`.
///
/// ```
/// use hyperion_demo::load::trace_id_of;
///
/// let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// assert_eq!(trace_id_of(value).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert_eq!(trace_id_of("garbage"), None);
/// ```
pub fn trace_id_of(value: &str) -> Option<String> {
    let mut parts = value.trim().split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    (trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| trace_id.to_owned())
}

/// The summary as printed at the end of a run.
pub fn report(summary: &Summary, options: &LoadOptions) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for sample in &summary.samples {
        let key = sample
            .status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        *by_status.entry(key).or_default() += 1;
    }
    let statuses: Vec<String> = by_status
        .iter()
        .map(|(status, n)| format!("{status} ×{n}"))
        .collect();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let _ = writeln!(
        out,
        "\nrequests  {} in {:.1} s ({:.0}/s, concurrency {})",
        summary.samples.len(),
        summary.elapsed.as_secs_f64(),
        summary.throughput(),
        options.concurrency
    );
    let _ = writeln!(out, "statuses  {}", statuses.join(", "));
    let _ = writeln!(out, "errors    {} (5xx or no answer)", summary.failures());
    let _ = writeln!(
        out,
        "latency   p50 {}, p90 {}, p99 {}, max {}",
        ms(summary.quantile(0.5)),
        ms(summary.quantile(0.9)),
        ms(summary.quantile(0.99)),
        ms(summary.quantile(1.0))
    );
    let traced: Vec<&Sample> = summary
        .samples
        .iter()
        .filter(|s| s.trace_id.is_some())
        .collect();
    let slowest = traced.iter().max_by_key(|s| s.latency);
    let error = traced.iter().find(|s| s.failed());
    let normal = traced
        .iter()
        .find(|s| s.status.is_some_and(|status| status < 300));
    let _ = writeln!(out, "traces to look at:");
    for (label, sample) in [
        ("slowest", slowest),
        ("an error", error),
        ("a normal one", normal),
    ] {
        match sample {
            Some(sample) => {
                let _ = writeln!(
                    out,
                    "  {label:<13} {}  ({}, {}, {})",
                    sample.trace_id.as_deref().unwrap_or_default(),
                    sample.route,
                    sample
                        .status
                        .map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
                    ms(sample.latency)
                );
            }
            None => {
                let _ = writeln!(out, "  {label:<13} none in this run");
            }
        }
    }
    let _ = writeln!(
        out,
        "where: with `demo up`, http://127.0.0.1:16686/traces/<trace id> (the local viewer; or search\n\
         \x20      its output for the id with --no-viewer); with the compose stack,\n\
         \x20      http://localhost:16686/trace/<trace id> (Jaeger), and Grafana's duration panels\n\
         \x20      link their exemplars to the same traces"
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{LoadOptions, Sample, Summary, report};

    fn sample(ms: u64, status: Option<u16>, trace: &str) -> Sample {
        Sample {
            route: "GET /users/{id}",
            status,
            latency: Duration::from_millis(ms),
            trace_id: Some(trace.to_owned()),
        }
    }

    #[test]
    fn the_summary_counts_failures_and_reads_quantiles_by_nearest_rank() {
        let samples: Vec<Sample> = (1..=100)
            .map(|ms| sample(ms, Some(200), &format!("{ms:032x}")))
            .chain([
                sample(500, Some(502), &format!("{:032x}", 500)),
                sample(7, None, &format!("{:032x}", 7)),
            ])
            .collect();
        let summary = Summary {
            samples,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(summary.failures(), 2);
        assert_eq!(summary.quantile(0.5), Duration::from_millis(50));
        assert_eq!(summary.quantile(1.0), Duration::from_millis(500));
        assert!((summary.throughput() - 51.0).abs() < 1e-9);
        let options = LoadOptions {
            requests: 102,
            concurrency: 4,
            gateway: "http://127.0.0.1:8080".into(),
            progress: false,
        };
        let text = report(&summary, &options);
        assert!(text.contains("errors    2 (5xx or no answer)"), "{text}");
        assert!(text.contains("200 ×100, 502 ×1, no answer ×1"), "{text}");
        let slowest = format!("slowest       {:032x}", 500);
        assert!(text.contains(&slowest), "{text}");
        assert!(text.contains("an error"), "{text}");
        assert!(text.contains("127.0.0.1:16686/traces/"), "{text}");
    }
}
