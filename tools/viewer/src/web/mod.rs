//! The web server: the pages (server-rendered HTML, a little JavaScript) and the JSON API
//! behind them.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the trace list: `?service=&min_duration=&error=&limit=` |
//! | `GET /traces/{id}` | a trace's waterfall; `#span-{id}` opens that span |
//! | `GET /search?q=` | a pasted trace id (or `traceparent`) redirects to its trace |
//! | `GET /metrics` | every metric series with its exemplars |
//! | `GET /logs` | the newest log records |
//! | `GET /api/traces` | the list as JSON ([`TraceList`](crate::store::TraceList)), same parameters |
//! | `GET /api/traces/{id}` | a trace as JSON ([`TraceDetail`](crate::view::TraceDetail)) |
//! | `GET /api/metrics` | the series as JSON ([`SeriesView`](crate::store::SeriesView)) |
//! | `GET /api/logs?limit=` | the newest log records as JSON |
//! | `GET /api/services` | the services of the stored traces |
//! | `GET /api/stats` | counts, evictions and limits ([`Stats`], [`Limits`]) |

mod format;
mod pages;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde::Serialize;

use crate::ids::TraceId;
use crate::store::{Limits, Stats, Store, TraceQuery};
use crate::view::{LogView, trace_detail};
use pages::{FilterForm, Nav};

const CSS: &str = include_str!("assets/viewer.css");
const JS: &str = include_str!("assets/viewer.js");

/// The most traces one list request returns.
pub const MAX_LIST_LIMIT: usize = 10_000;
/// How many traces the list shows unless told otherwise.
pub const DEFAULT_LIST_LIMIT: usize = 100;

type Params = Query<HashMap<String, String>>;

/// The web routes over `store`.
pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route("/", get(list_page))
        .route("/traces/{id}", get(trace_page))
        .route("/search", get(search))
        .route("/metrics", get(metrics_page))
        .route("/logs", get(logs_page))
        .route("/api/traces", get(api_traces))
        .route("/api/traces/{id}", get(api_trace))
        .route("/api/metrics", get(api_metrics))
        .route("/api/logs", get(api_logs))
        .route("/api/services", get(api_services))
        .route("/api/stats", get(api_stats))
        .route(
            "/static/viewer.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/static/viewer.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .with_state(store)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write JSON: {e}"),
        )
            .into_response(),
    }
}

fn json_error(status: StatusCode, message: String) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

fn html(status: StatusCode, title: &str, nav: Nav, store: &Store, body: maud::Markup) -> Response {
    (status, pages::layout(title, nav, &store.stats(), body)).into_response()
}

/// A list query from request parameters, and what was wrong with them (the rest still apply).
fn list_query(params: &HashMap<String, String>) -> (TraceQuery, Vec<String>) {
    let mut problems = Vec::new();
    let text = |key: &str| params.get(key).map(|s| s.trim()).unwrap_or("");
    let service = Some(text("service").to_owned()).filter(|s| !s.is_empty());
    let min_duration = format::parse_duration(text("min_duration")).unwrap_or_else(|e| {
        problems.push(e.to_string());
        None
    });
    let error = match text("error") {
        "" => None,
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        other => {
            problems.push(format!(
                "invalid `error`: found `{other}`, expected true (only traces with errors), \
                 false (only without) or nothing"
            ));
            None
        }
    };
    let limit = match text("limit") {
        "" => DEFAULT_LIST_LIMIT,
        n => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
            _ => {
                problems.push(format!(
                    "invalid `limit`: found `{n}`, expected a number from 1 to {MAX_LIST_LIMIT}"
                ));
                DEFAULT_LIST_LIMIT
            }
        },
    };
    let query = TraceQuery {
        service,
        min_duration,
        error,
        limit,
    };
    (query, problems)
}

fn render_list(store: &Store, params: &HashMap<String, String>, extra: Option<String>) -> Response {
    let (query, mut problems) = list_query(params);
    problems.extend(extra);
    let list = store.traces(&query);
    let text = |key: &str| params.get(key).map(|s| s.as_str()).unwrap_or("");
    let form = FilterForm {
        service: text("service"),
        min_duration: text("min_duration"),
        error: text("error"),
    };
    let more = (list.traces.len() < list.matched && query.limit < MAX_LIST_LIMIT).then(|| {
        let mut next: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k.as_str() != "limit" && k.as_str() != "q")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        next.sort();
        next.push((
            "limit".into(),
            (query.limit + 200).min(MAX_LIST_LIMIT).to_string(),
        ));
        let query: Vec<String> = next
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("/?{}", query.join("&"))
    });
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = pages::trace_list(&list, &form, &store.services(), problem.as_deref(), more);
    html(status, "Traces", Nav::Traces, store, body)
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn list_page(State(store): State<Store>, Query(params): Params) -> Response {
    render_list(&store, &params, None)
}

/// A trace id from what a person pastes: the id, or a whole `traceparent` value.
fn pasted_trace_id(text: &str) -> Result<TraceId, String> {
    let text = text.trim();
    let parts: Vec<&str> = text.split('-').collect();
    let candidate = if parts.len() == 4 && parts[1].len() == 32 {
        parts[1]
    } else {
        text
    };
    candidate.parse::<TraceId>().map_err(|e| e.to_string())
}

async fn search(State(store): State<Store>, Query(params): Params) -> Response {
    let q = params.get("q").map(String::as_str).unwrap_or("");
    match pasted_trace_id(q) {
        Ok(id) => Redirect::to(&format!("/traces/{id}")).into_response(),
        Err(e) => render_list(&store, &HashMap::new(), Some(e)),
    }
}

async fn trace_page(State(store): State<Store>, Path(id): Path<String>) -> Response {
    let parsed = match id.parse::<TraceId>() {
        Ok(parsed) => parsed,
        Err(e) => {
            let body = maud::html! { div.notice.error #problem { (e.to_string()) } };
            return html(
                StatusCode::BAD_REQUEST,
                "Bad trace id",
                Nav::None,
                &store,
                body,
            );
        }
    };
    match trace_detail(&store, parsed) {
        Some(detail) => {
            let title = format!("{} · {}", detail.summary.root_name, parsed);
            html(
                StatusCode::OK,
                &title,
                Nav::None,
                &store,
                pages::trace_page(&detail),
            )
        }
        None => {
            let body = pages::missing_trace(&id, store.stats().traces_evicted);
            html(
                StatusCode::NOT_FOUND,
                "Trace not stored",
                Nav::None,
                &store,
                body,
            )
        }
    }
}

async fn metrics_page(State(store): State<Store>) -> Response {
    let body = pages::metrics_page(&store.metric_series());
    html(StatusCode::OK, "Metrics", Nav::Metrics, &store, body)
}

async fn logs_page(State(store): State<Store>) -> Response {
    let logs: Vec<LogView> = store
        .recent_logs(500)
        .iter()
        .map(|l| LogView::new(l))
        .collect();
    html(
        StatusCode::OK,
        "Logs",
        Nav::Logs,
        &store,
        pages::logs_page(&logs),
    )
}

async fn api_traces(State(store): State<Store>, Query(params): Params) -> Response {
    let (query, problems) = list_query(&params);
    if !problems.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, problems.join("; "));
    }
    json(StatusCode::OK, &store.traces(&query))
}

async fn api_trace(State(store): State<Store>, Path(id): Path<String>) -> Response {
    let parsed = match id.parse::<TraceId>() {
        Ok(parsed) => parsed,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match trace_detail(&store, parsed) {
        Some(detail) => json(StatusCode::OK, &detail),
        None => json_error(
            StatusCode::NOT_FOUND,
            format!("trace {parsed} is not stored: never received, or evicted"),
        ),
    }
}

async fn api_metrics(State(store): State<Store>) -> Response {
    json(StatusCode::OK, &store.metric_series())
}

async fn api_logs(State(store): State<Store>, Query(params): Params) -> Response {
    let limit = match params.get("limit").map(|s| s.trim()).unwrap_or("") {
        "" => 500,
        n => match n.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid `limit`: found `{n}`, expected a number from 1"),
                );
            }
        },
    };
    let logs: Vec<LogView> = store
        .recent_logs(limit)
        .iter()
        .map(|l| LogView::new(l))
        .collect();
    json(StatusCode::OK, &logs)
}

async fn api_services(State(store): State<Store>) -> Response {
    json(StatusCode::OK, &store.services())
}

#[derive(Serialize)]
struct StatsBody {
    #[serde(flatten)]
    stats: Stats,
    limits: Limits,
}

async fn api_stats(State(store): State<Store>) -> Response {
    json(
        StatusCode::OK,
        &StatsBody {
            stats: store.stats(),
            limits: store.limits(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_ids_and_traceparents_are_found() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(pasted_trace_id(id).unwrap().to_string(), id);
        assert_eq!(
            pasted_trace_id(&format!(" 00-{id}-00f067aa0ba902b7-01 "))
                .unwrap()
                .to_string(),
            id
        );
        assert!(
            pasted_trace_id("nope")
                .unwrap_err()
                .contains("32 hex digits")
        );
    }

    #[test]
    fn list_parameters_are_checked_one_by_one() {
        let params: HashMap<String, String> = [
            ("service", "gateway"),
            ("min_duration", "forever"),
            ("error", "maybe"),
            ("limit", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (query, problems) = list_query(&params);
        assert_eq!(query.service.as_deref(), Some("gateway"));
        assert_eq!(query.limit, DEFAULT_LIST_LIMIT);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`min_duration`"));
        assert!(problems[1].contains("`error`"));
        assert!(problems[2].contains("`limit`"));
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
