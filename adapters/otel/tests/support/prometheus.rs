//! [`Prometheus`]: a real Prometheus server (Debian's 2.42, see `scripts/setup.sh`) run as a
//! child process that scrapes the test's endpoints, with helpers for its HTTP API.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::free_port;

/// Overrides the `prometheus` binary (by default the one on `PATH`).
pub const PROMETHEUS_BIN_ENV: &str = "PROMETHEUS_BIN";

/// How long [`Prometheus::start`] waits for `/-/ready` to answer 200.
pub const PROMETHEUS_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the `wait_for*` helpers ask again.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One sample of an instant query: the series' labels (`__name__` included) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels, `__name__` included when the result keeps it.
    pub labels: BTreeMap<String, String>,
    /// The sample's value (`NaN` and infinities as Prometheus reported them).
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// One exemplar from `/api/v1/query_exemplars`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The labels of the series the exemplar belongs to (`__name__`, `le` for a bucket, ...).
    pub series_labels: BTreeMap<String, String>,
    /// The exemplar's own labels: `trace_id` and `span_id` for a trace exemplar.
    pub labels: BTreeMap<String, String>,
    /// The exemplar's value (the observed value for a histogram, the increment for a counter).
    pub value: f64,
    /// The exemplar's timestamp, in seconds since the Unix epoch.
    pub timestamp: f64,
}

impl Exemplar {
    /// The exemplar's `trace_id` label.
    pub fn trace_id(&self) -> Option<&str> {
        self.labels.get("trace_id").map(String::as_str)
    }

    /// The exemplar's `span_id` label.
    pub fn span_id(&self) -> Option<&str> {
        self.labels.get("span_id").map(String::as_str)
    }
}

/// One scrape target as `/api/v1/targets` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    /// The URL Prometheus scrapes, e.g. `http://127.0.0.1:9464/metrics`.
    pub scrape_url: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    /// Why the last scrape failed; empty when it did not.
    pub last_error: String,
}

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// A Prometheus server run as a child process on a free port of 127.0.0.1, with exemplar storage
/// on (`--enable-feature=exemplar-storage`), scraping one job, `hyperion`, from fixed targets.
/// Killed, and its temporary directory (config and TSDB) removed, on drop.
///
/// Prometheus asks its targets for OpenMetrics (`Accept: application/openmetrics-text;...`) and
/// keeps exemplars only from that format.
///
/// Ready in about 0.15 s, but the first scrape comes only about 5 s after the start: Prometheus
/// 2.42 hands new targets to its scrapers on a fixed 5 s tick (no flag changes it). Give waits
/// for the first samples 15 s or more.
///
/// ```ignore
/// let prometheus = Prometheus::start(&[endpoint_addr], "/metrics", Duration::from_millis(500));
/// let samples = prometheus
///     .wait_for("my_counter_total", |s| !s.is_empty(), Duration::from_secs(10))
///     .await;
/// let exemplar = prometheus
///     .wait_for_exemplar("my_histogram_bucket", &trace_id, Duration::from_secs(10))
///     .await;
/// ```
pub struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
    started: SystemTime,
    client: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `metrics_path` (e.g. `/metrics`) on every one of
    /// `scrape_targets` every `scrape_interval` (which is also the scrape timeout and the rule
    /// evaluation interval), and blocks until `/-/ready` answers 200.
    ///
    /// Panics, with Prometheus's output, if it exits or is not ready within
    /// [`PROMETHEUS_STARTUP_TIMEOUT`]; panics telling to run `scripts/setup.sh` if the binary is
    /// missing (tests fail rather than skip).
    pub fn start(
        scrape_targets: &[SocketAddr],
        metrics_path: &str,
        scrape_interval: Duration,
    ) -> Prometheus {
        assert!(
            scrape_interval >= Duration::from_millis(1),
            "scrape interval must be at least 1 ms"
        );
        assert!(
            metrics_path.starts_with('/'),
            "metrics path {metrics_path:?} must start with '/'"
        );
        let binary = prometheus_path();
        let config = config_yaml(scrape_targets, metrics_path, scrape_interval);
        // The crate's dev build turns on reqwest's `rustls-no-provider` (feature
        // `http-tls`), so any reqwest client needs a process-wide crypto provider, even for
        // plain HTTP. Another caller may have installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            // Connections must not outlive the runtime of the call that opened them.
            .pool_max_idle_per_host(0)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build an HTTP client");
        // The free port may be taken between choosing and binding it; try a few.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let dir = std::env::temp_dir().join(format!(
                "hyperion-prometheus-{}-{}",
                std::process::id(),
                INSTANCES.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create Prometheus's temp dir");
            let config_file = dir.join("prometheus.yml");
            std::fs::write(&config_file, &config).expect("write prometheus.yml");
            let stdout = File::create(dir.join("stdout.log")).expect("create Prometheus's log");
            let stderr = File::create(dir.join("stderr.log")).expect("create Prometheus's log");
            let port = free_port();
            let spawned = Command::new(&binary)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--enable-feature=exemplar-storage")
                .arg("--log.level=warn")
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("could not run {}: {e}", binary.display());
                }
            };
            let mut prometheus = Prometheus {
                child,
                port,
                dir,
                started: SystemTime::now(),
                client: client.clone(),
            };
            match prometheus.wait_until_ready(PROMETHEUS_STARTUP_TIMEOUT) {
                Ok(()) => return prometheus,
                // Dropping it kills it and removes its directory.
                Err(failure) if failure.contains("address already in use") => {
                    last_failure = failure;
                }
                Err(failure) => {
                    drop(prometheus);
                    panic!("{failure}");
                }
            }
        }
        panic!("{last_failure}")
    }

    /// The base URL of Prometheus's web and API server, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port Prometheus listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When this Prometheus was started (the default start of exemplar queries).
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The `prometheus.yml` the server runs with.
    pub fn config(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.yml")).unwrap_or_default()
    }

    /// What Prometheus printed so far (stdout and stderr; warnings and errors only), for failure
    /// messages.
    pub fn output(&self) -> String {
        output_of(&self.dir)
    }

    /// Runs the instant query `promql` (`/api/v1/query`, evaluated now) and returns its samples;
    /// a scalar result is one sample without labels. Panics if the request or the query fails.
    pub async fn query(&self, promql: &str) -> Vec<Sample> {
        match self.try_query(promql).await {
            Ok(samples) => samples,
            Err(error) => panic!("Prometheus query {promql:?} failed: {error}"),
        }
    }

    /// Like [`Prometheus::query`], returning the failure (transport, HTTP status or Prometheus's
    /// own `error`) instead of panicking.
    pub async fn try_query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let data = self.api("/api/v1/query", &[("query", promql)]).await?;
        parse_query_result(&data)
    }

    /// Polls the instant query `promql` until `predicate` holds for its samples and returns
    /// them. Panics, with the last result (or error) and every target's health, when `timeout`
    /// passes.
    pub async fn wait_for(
        &self,
        promql: &str,
        predicate: impl Fn(&[Sample]) -> bool,
        timeout: Duration,
    ) -> Vec<Sample> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = self.try_query(promql).await;
            if last.as_ref().is_ok_and(|samples| predicate(samples)) {
                return last.unwrap_or_default();
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "Prometheus: {promql:?} did not satisfy the predicate within {timeout:?}; last \
                     result: {last:?}\n{}",
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The exemplars of the series that `promql` selects (`/api/v1/query_exemplars`) whose
    /// timestamps lie between `start` and `end`. Panics if the request or the query fails.
    pub async fn exemplars(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> Vec<Exemplar> {
        match self.try_exemplars(promql, start, end).await {
            Ok(exemplars) => exemplars,
            Err(error) => panic!("Prometheus exemplar query {promql:?} failed: {error}"),
        }
    }

    /// Like [`Prometheus::exemplars`], returning the failure instead of panicking.
    pub async fn try_exemplars(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<Exemplar>, String> {
        let (start, end) = (unix_seconds(start), unix_seconds(end));
        let data = self
            .api(
                "/api/v1/query_exemplars",
                &[("query", promql), ("start", &start), ("end", &end)],
            )
            .await?;
        parse_exemplars(&data)
    }

    /// Polls the exemplars of `promql` (from a minute before this Prometheus started until now)
    /// until one carries `trace_id` (lower-case hex, as exposed) and returns it. Panics, with the
    /// exemplars that did come back and every target's health, when `timeout` passes.
    pub async fn wait_for_exemplar(
        &self,
        promql: &str,
        trace_id: &str,
        timeout: Duration,
    ) -> Exemplar {
        let from = self.started - Duration::from_secs(60);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Exemplar timestamps may run ahead of this clock a little (scrape time, rounding).
            let to = SystemTime::now() + Duration::from_secs(60);
            let last = self.try_exemplars(promql, from, to).await;
            let found = last.as_ref().ok().and_then(|exemplars| {
                exemplars
                    .iter()
                    .find(|e| e.trace_id() == Some(trace_id))
                    .cloned()
            });
            if let Some(found) = found {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "Prometheus: no exemplar with trace_id {trace_id} for {promql:?} within \
                     {timeout:?}; last result: {last:?}\n{}",
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Every active scrape target (`/api/v1/targets`) as `(scrapeUrl, health, lastError)`;
    /// `health` is `up`, `down` or `unknown` (not scraped yet). Panics if the request fails.
    pub async fn target_health(&self) -> Vec<(String, String, String)> {
        match self.try_targets().await {
            Ok(targets) => targets
                .into_iter()
                .map(|t| (t.scrape_url, t.health, t.last_error))
                .collect(),
            Err(error) => panic!("Prometheus /api/v1/targets failed: {error}"),
        }
    }

    /// Every active scrape target (`/api/v1/targets`), or why they could not be read.
    pub async fn try_targets(&self) -> Result<Vec<TargetHealth>, String> {
        let data = self.api("/api/v1/targets", &[("state", "active")]).await?;
        let targets = data
            .get("activeTargets")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("no activeTargets in {data}"))?;
        let text = |t: &Value, key: &str| {
            t.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(targets
            .iter()
            .map(|t| TargetHealth {
                scrape_url: text(t, "scrapeUrl"),
                health: text(t, "health"),
                last_error: text(t, "lastError"),
            })
            .collect())
    }

    /// Polls until every target has been scraped successfully (`health == "up"`) and returns
    /// them. Panics with the targets' health when `timeout` passes.
    pub async fn wait_for_targets_up(&self, timeout: Duration) -> Vec<TargetHealth> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = self.try_targets().await;
            let all_up = last.as_ref().is_ok_and(|targets| {
                !targets.is_empty() && targets.iter().all(|t| t.health == "up")
            });
            if all_up {
                return last.unwrap_or_default();
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "Prometheus: targets not all up within {timeout:?}: {last:?}\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Targets' health and Prometheus's output, for failure messages.
    async fn diagnostics(&self) -> String {
        let targets = match self.try_targets().await {
            Ok(targets) => format!("{targets:#?}"),
            Err(error) => format!("(could not read: {error})"),
        };
        format!("targets: {targets}\n{}", self.output())
    }

    /// GETs an API path with query parameters and returns the `data` of a `success` answer.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.url()))
            .map_err(|e| format!("bad URL: {e}"))?;
        url.query_pairs_mut().extend_pairs(params);
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
        let json: Value = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "GET {url}: {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        if json.get("status").and_then(Value::as_str) != Some("success") {
            return Err(format!("GET {url}: {status}: {json}"));
        }
        Ok(json.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Waits until `GET /-/ready` answers 200, or returns why not (with the output).
    fn wait_until_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "Prometheus exited during startup ({status}) on port {}\n{}",
                    self.port,
                    self.output()
                ));
            }
            let last = match ready_status(self.port) {
                Ok(200) => return Ok(()),
                Ok(code) => format!("/-/ready answered {code}"),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "Prometheus was not ready within {timeout:?} on port {} ({last})\n{}",
                    self.port,
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prometheus")
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `prometheus` binary: `$PROMETHEUS_BIN`, else the first on `PATH`. Panics, telling to run
/// `scripts/setup.sh`, when there is none.
pub fn prometheus_path() -> PathBuf {
    if let Some(path) = std::env::var_os(PROMETHEUS_BIN_ENV) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "${PROMETHEUS_BIN_ENV} names {}, which is not a file",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the `prometheus` binary is not on PATH. Run scripts/setup.sh (as root), which \
                 installs Debian's Prometheus with `apt-get install -y --no-install-recommends \
                 prometheus`, or set {PROMETHEUS_BIN_ENV} to the binary."
            )
        })
}

/// The scrape configuration: one job, `hyperion`, scraping `targets` over HTTP.
fn config_yaml(targets: &[SocketAddr], metrics_path: &str, interval: Duration) -> String {
    let interval = format!("{}ms", interval.as_millis());
    let targets = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "global:\n  \
           scrape_interval: {interval}\n  \
           scrape_timeout: {interval}\n  \
           evaluation_interval: {interval}\n\
         scrape_configs:\n  \
           - job_name: hyperion\n    \
             scheme: http\n    \
             metrics_path: '{metrics_path}'\n    \
             static_configs:\n      \
               - targets: [{targets}]\n"
    )
}

/// Prometheus's stdout and stderr in `dir`.
fn output_of(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["stdout", "stderr"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        if !text.trim().is_empty() {
            out.push_str(&format!("--- prometheus {name} ---\n{}\n", text.trim_end()));
        }
    }
    if out.is_empty() {
        out.push_str("(prometheus printed nothing)");
    }
    out
}

/// The status code of `GET /-/ready` (blocking, plain HTTP/1.0: no runtime needed).
fn ready_status(port: u16) -> Result<u16, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    stream
        .write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    // "HTTP/1.0 200 OK"
    let head = String::from_utf8_lossy(&head[..read]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("unexpected answer {head:?}"))
}

/// Seconds since the Unix epoch, as Prometheus's API takes them.
fn unix_seconds(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

/// A label set (`{"name": "value", ...}`) as a map.
fn labels(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A sample value as Prometheus encodes it: a string (`"1.5"`, `"NaN"`, `"+Inf"`).
fn number(value: Option<&Value>) -> Result<f64, String> {
    match value {
        Some(Value::String(text)) => text
            .parse()
            .map_err(|e| format!("bad sample value {text:?}: {e}")),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| format!("bad number {n}")),
        other => Err(format!("no sample value in {other:?}")),
    }
}

/// A `[timestamp, "value"]` pair's value.
fn pair_value(pair: Option<&Value>) -> Result<f64, String> {
    number(pair.and_then(Value::as_array).and_then(|pair| pair.get(1)))
}

fn parse_query_result(data: &Value) -> Result<Vec<Sample>, String> {
    let result = data.get("result");
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => result
            .and_then(Value::as_array)
            .ok_or_else(|| format!("no result in {data}"))?
            .iter()
            .map(|series| {
                Ok(Sample {
                    labels: labels(series.get("metric")),
                    value: pair_value(series.get("value"))?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: pair_value(result)?,
        }]),
        other => Err(format!(
            "result type {other:?} is not supported by this helper (use an instant vector or \
             scalar query): {data}"
        )),
    }
}

fn parse_exemplars(data: &Value) -> Result<Vec<Exemplar>, String> {
    let series = match data {
        Value::Null => return Ok(Vec::new()),
        Value::Array(series) => series,
        other => return Err(format!("unexpected exemplar data {other}")),
    };
    let mut out = Vec::new();
    for series in series {
        let series_labels = labels(series.get("seriesLabels"));
        for exemplar in series
            .get("exemplars")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(Exemplar {
                series_labels: series_labels.clone(),
                labels: labels(exemplar.get("labels")),
                value: number(exemplar.get("value"))?,
                timestamp: exemplar
                    .get("timestamp")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("no timestamp in exemplar {exemplar}"))?,
            });
        }
    }
    Ok(out)
}
