//! Scraping Prometheus endpoints for exemplars.
//!
//! A service may export metrics to Prometheus only (hyperion's `metrics.exporter: prometheus`,
//! the default), and the OpenTelemetry Rust SDK's OTLP metrics carry no exemplars yet
//! (opentelemetry-rust issue 3369), while hyperion's Prometheus endpoint serves them in
//! OpenMetrics text. So the viewer can also scrape such endpoints (`--scrape gateway=http://127.0.0.1:8080/metrics`):
//! every counter, gauge and histogram becomes a series of the named service, and every exemplar
//! a link to its trace. Plain HTTP only; this is a development tool on the developer's machine.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::ids::{SpanId, TraceId};
use crate::store::{
    Exemplar, IncomingPoint, MetricKind, PointValue, SeriesInfo, Store, StoredPoint,
};

/// The largest scrape body read: 16 MiB.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A Prometheus endpoint to scrape, and the service name its series are shown under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeTarget {
    /// The service name (for `NAME=URL`), else the URL's `host:port`.
    pub service: String,
    /// The endpoint, `http://host:port/path`.
    pub url: Uri,
}

/// Why a scrape target is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid scrape target `{text}`: {why}; expected URL or NAME=URL, e.g. gateway=http://127.0.0.1:8080/metrics"
)]
pub struct ScrapeTargetError {
    text: String,
    why: String,
}

impl std::str::FromStr for ScrapeTarget {
    type Err = ScrapeTargetError;

    fn from_str(text: &str) -> Result<Self, ScrapeTargetError> {
        let error = |why: &str| ScrapeTargetError {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let (name, url) = match text.split_once('=') {
            Some((name, url)) if !name.contains("://") => (Some(name.trim()), url.trim()),
            _ => (None, text.trim()),
        };
        let url: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| error(&e.to_string()))?;
        if url.scheme_str() != Some("http") {
            return Err(error("only http:// URLs can be scraped"));
        }
        let authority = url
            .authority()
            .ok_or_else(|| error("the URL has no host"))?
            .to_string();
        let service = match name {
            Some("") => return Err(error("the name before `=` is empty")),
            Some(name) => name.to_owned(),
            None => authority,
        };
        Ok(ScrapeTarget { service, url })
    }
}

impl fmt::Display for ScrapeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.service, self.url)
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Consecutive failures of a target that has never answered before one is reported: targets
/// started together with the viewer get a few scrapes' time to come up.
const QUIET_FAILURES: u32 = 3;

/// Scrapes every target every `interval` into `store`, until the task is dropped. A failing
/// target is reported on stderr when it starts failing and when it recovers, not every time.
pub(crate) async fn run(store: Store, targets: Vec<ScrapeTarget>, interval: Duration) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    // Per target: consecutive failures, whether it ever answered, whether a failure was reported.
    let mut state: Vec<(u32, bool, bool)> = vec![(0, false, false); targets.len()];
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (target, (failures, answered, reported)) in targets.iter().zip(&mut state) {
            let result = tokio::time::timeout(Duration::from_secs(5), scrape(&client, target))
                .await
                .unwrap_or_else(|_| Err("no answer within 5 s".to_owned()));
            match result {
                Ok(text) => {
                    if std::mem::take(reported) {
                        eprintln!("hyperion-viewer: scraping {target} works again");
                    }
                    (*failures, *answered) = (0, true);
                    let service = Arc::from(target.service.as_str());
                    store.ingest_points(parse(&text, &service, now_nanos()));
                }
                Err(e) => {
                    *failures += 1;
                    if !*reported && (*answered || *failures >= QUIET_FAILURES) {
                        *reported = true;
                        eprintln!("hyperion-viewer: cannot scrape {target}: {e}");
                    }
                }
            }
        }
    }
}

async fn scrape(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    target: &ScrapeTarget,
) -> Result<String, String> {
    let request = http::Request::get(target.url.clone())
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the body is not UTF-8".to_owned())
}

/// Label names and values, in the order written.
type Labels = Vec<(String, String)>;

/// An exemplar as written after a sample: its labels, value and time (seconds), if given.
type RawExemplar = (Labels, f64, Option<f64>);

/// One sample line: name, labels, value and the exemplar after it.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    exemplar: Option<RawExemplar>,
}

/// Parses `{a="x",b="y"}` from the start of `text`; returns the labels and the rest.
fn parse_labels(text: &str) -> Option<(Labels, &str)> {
    let mut rest = text.strip_prefix('{')?;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((out, after));
        }
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.push((name, value));
        rest = &rest[end + 1..];
    }
}

fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..name_end].to_owned();
    let (labels, rest) = match line[name_end..].starts_with('{') {
        true => parse_labels(&line[name_end..])?,
        false => (Vec::new(), &line[name_end..]),
    };
    let (main, exemplar) = match rest.split_once(" # ") {
        Some((main, exemplar)) => (main, Some(exemplar)),
        None => (rest, None),
    };
    let value = number(main.split_whitespace().next()?)?;
    let exemplar = exemplar.and_then(|text| {
        let (ex_labels, rest) = parse_labels(text.trim_start())?;
        let mut parts = rest.split_whitespace();
        let value = number(parts.next()?)?;
        let time = parts.next().and_then(number);
        Some((ex_labels, value, time))
    });
    Some(Sample {
        name,
        labels,
        value,
        exemplar,
    })
}

fn to_exemplar(exemplar: &RawExemplar, now: u64) -> Option<Exemplar> {
    let (labels, value, time) = exemplar;
    let get = |key: &str| {
        labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    Some(Exemplar {
        trace_id: get("trace_id")?.parse::<TraceId>().ok()?,
        span_id: get("span_id").and_then(|s| s.parse::<SpanId>().ok()),
        value: *value,
        time_unix_nano: time.map_or(now, |t| (t * 1e9) as u64),
    })
}

#[derive(Default)]
struct Family {
    kind: String,
    help: String,
    unit: String,
}

#[derive(Default)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
    exemplars: Vec<Exemplar>,
}

/// Turns one scrape's OpenMetrics (or classic Prometheus) text into points of `service`.
pub(crate) fn parse(text: &str, service: &Arc<str>, now: u64) -> Vec<IncomingPoint> {
    let mut families: HashMap<String, Family> = HashMap::new();
    let mut histograms: Vec<((String, Labels), Histogram)> = Vec::new();
    let mut out = Vec::new();
    let info = |family: &str, meta: Option<&Family>, kind, labels: Vec<(String, String)>| {
        let mut attributes = labels;
        attributes.sort();
        SeriesInfo {
            service: service.clone(),
            name: family.to_owned(),
            description: meta.map(|m| m.help.clone()).unwrap_or_default(),
            unit: meta.map(|m| m.unit.clone()).unwrap_or_default(),
            kind,
            temporality: if kind == MetricKind::Gauge {
                ""
            } else {
                "cumulative"
            },
            attributes,
        }
    };
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (Some(what), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let rest = parts.next().unwrap_or("").to_owned();
            let family = families.entry(name.to_owned()).or_default();
            match what {
                "TYPE" => family.kind = rest,
                "HELP" => family.help = rest,
                "UNIT" => family.unit = rest,
                _ => {}
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(sample) = sample(line) else {
            continue;
        };
        // The family: the name itself, or the name without its sample suffix.
        let (family, suffix) = if families.contains_key(&sample.name) {
            (sample.name.clone(), "")
        } else {
            ["_total", "_bucket", "_sum", "_count", "_created"]
                .iter()
                .find_map(|s| {
                    let base = sample.name.strip_suffix(s)?;
                    families.contains_key(base).then(|| (base.to_owned(), *s))
                })
                .unwrap_or_else(|| (sample.name.clone(), ""))
        };
        let meta = families.get(&family);
        let kind = meta.map(|m| m.kind.as_str()).unwrap_or("");
        match (kind, suffix) {
            (_, "_created") => {}
            ("histogram", _) | ("summary", _) => {
                if sample.labels.iter().any(|(k, _)| k == "quantile") {
                    continue;
                }
                let mut labels = sample.labels.clone();
                let le = labels
                    .iter()
                    .position(|(k, _)| k == "le")
                    .map(|i| labels.remove(i).1);
                let key = (family.clone(), labels);
                let at = match histograms.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        histograms.push((key, Histogram::default()));
                        histograms.len() - 1
                    }
                };
                let h = &mut histograms[at].1;
                match suffix {
                    "_bucket" => {
                        if let Some(le) = le.as_deref().and_then(number) {
                            h.buckets.push((le, sample.value));
                        }
                    }
                    "_sum" => h.sum = Some(sample.value),
                    "_count" => h.count = Some(sample.value),
                    _ => {}
                }
                h.exemplars
                    .extend(sample.exemplar.as_ref().and_then(|e| to_exemplar(e, now)));
            }
            _ => {
                let kind = match kind {
                    "counter" => MetricKind::Counter,
                    _ => MetricKind::Gauge,
                };
                out.push(IncomingPoint {
                    info: info(&family, meta, kind, sample.labels),
                    point: StoredPoint {
                        time_unix_nano: now,
                        value: PointValue::Number(sample.value),
                        exemplars: sample
                            .exemplar
                            .as_ref()
                            .and_then(|e| to_exemplar(e, now))
                            .into_iter()
                            .collect(),
                    },
                });
            }
        }
    }
    for ((family, labels), mut h) in histograms {
        let meta = families.get(&family);
        let kind = if meta.is_some_and(|m| m.kind == "summary") {
            MetricKind::Summary
        } else {
            MetricKind::Histogram
        };
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut bounds = Vec::new();
        let mut counts = Vec::new();
        let mut previous = 0.0;
        for (le, cumulative) in &h.buckets {
            if le.is_finite() {
                bounds.push(*le);
            }
            counts.push((cumulative - previous).max(0.0) as u64);
            previous = *cumulative;
        }
        let count = h
            .count
            .or_else(|| h.buckets.last().map(|b| b.1))
            .unwrap_or(0.0) as u64;
        out.push(IncomingPoint {
            info: info(&family, meta, kind, labels),
            point: StoredPoint {
                time_unix_nano: now,
                value: PointValue::Histogram {
                    count,
                    sum: h.sum,
                    bounds,
                    counts,
                },
                exemplars: h.exemplars,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE http_server_request_duration_seconds histogram
# UNIT http_server_request_duration_seconds seconds
# HELP http_server_request_duration_seconds Duration of HTTP server requests.
http_server_request_duration_seconds_bucket{http_route="/orders",le="0.005"} 1
http_server_request_duration_seconds_bucket{http_route="/orders",le="0.01"} 3 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.007 1700000000.5
http_server_request_duration_seconds_bucket{http_route="/orders",le="+Inf"} 4
http_server_request_duration_seconds_sum{http_route="/orders"} 0.05
http_server_request_duration_seconds_count{http_route="/orders"} 4
# TYPE shop_lookups counter
shop_lookups_total{method="Get \"x\", y"} 7 # {trace_id="0af7651916cd43dd8448eb211c80319c",span_id="b7ad6b7169203331"} 1
shop_lookups_created{method="Get"} 1700000000
# TYPE up gauge
up 1
# EOF
"#;

    #[test]
    fn openmetrics_becomes_series_with_exemplars() {
        let points = parse(TEXT, &Arc::from("gateway"), 42);
        assert_eq!(
            points.len(),
            3,
            "{:?}",
            points.iter().map(|p| &p.info.name).collect::<Vec<_>>()
        );
        let counter = points
            .iter()
            .find(|p| p.info.name == "shop_lookups")
            .unwrap();
        assert_eq!(counter.info.kind, MetricKind::Counter);
        assert_eq!(
            counter.info.attributes,
            vec![("method".into(), "Get \"x\", y".into())]
        );
        assert_eq!(counter.point.value, PointValue::Number(7.0));
        assert_eq!(
            counter.point.exemplars[0].trace_id.to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let h = points
            .iter()
            .find(|p| p.info.kind == MetricKind::Histogram)
            .unwrap();
        assert_eq!(h.info.unit, "seconds");
        assert_eq!(h.info.service.as_ref(), "gateway");
        assert_eq!(
            h.point.value,
            PointValue::Histogram {
                count: 4,
                sum: Some(0.05),
                bounds: vec![0.005, 0.01],
                counts: vec![1, 2, 1]
            }
        );
        let e = &h.point.exemplars[0];
        assert_eq!(e.span_id.unwrap().to_string(), "00f067aa0ba902b7");
        assert_eq!(e.value, 0.007);
        assert_eq!(e.time_unix_nano, 1_700_000_000_500_000_000);
        let up = points.iter().find(|p| p.info.name == "up").unwrap();
        assert_eq!(up.info.kind, MetricKind::Gauge);
        assert_eq!(up.point.time_unix_nano, 42);
    }

    #[test]
    fn targets_parse() {
        let t: ScrapeTarget = "gateway=http://127.0.0.1:8080/metrics".parse().unwrap();
        assert_eq!(t.service, "gateway");
        let t: ScrapeTarget = "http://127.0.0.1:9464/metrics".parse().unwrap();
        assert_eq!(t.service, "127.0.0.1:9464");
        let e = "https://x/metrics".parse::<ScrapeTarget>().unwrap_err();
        assert!(e.to_string().contains("only http://"), "{e}");
        assert!("=http://x/".parse::<ScrapeTarget>().is_err());
    }
}
