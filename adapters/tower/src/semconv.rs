//! The HTTP semantic conventions this crate follows (stable since v1.23; the keys and rules
//! below are checked against the v1.37 text): attribute keys, the advised duration buckets, the
//! method rule and the `OTEL_SEMCONV_STABILITY_OPT_IN` switch.

use http::Method;

/// `http.server.request.duration`: seconds, with the advised boundaries below.
pub const SERVER_DURATION: &str = "http.server.request.duration";
/// `http.server.active_requests`: an up-down counter of requests in flight.
pub const SERVER_ACTIVE: &str = "http.server.active_requests";
/// The pre-stable duration histogram (milliseconds), emitted only in `http/dup` mode.
pub const OLD_SERVER_DURATION: &str = "http.server.duration";

/// The explicit bucket boundaries the conventions advise for HTTP durations, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The same boundaries in milliseconds, for the old histogram.
pub const OLD_DURATION_BUCKETS_MS: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

pub const METHOD: &str = "http.request.method";
pub const METHOD_ORIGINAL: &str = "http.request.method_original";
pub const ROUTE: &str = "http.route";
pub const STATUS_CODE: &str = "http.response.status_code";
pub const URL_PATH: &str = "url.path";
pub const URL_QUERY: &str = "url.query";
pub const URL_SCHEME: &str = "url.scheme";
pub const SERVER_ADDRESS: &str = "server.address";
pub const SERVER_PORT: &str = "server.port";
pub const CLIENT_ADDRESS: &str = "client.address";
pub const PEER_ADDRESS: &str = "network.peer.address";
pub const PEER_PORT: &str = "network.peer.port";
pub const PROTOCOL_VERSION: &str = "network.protocol.version";
pub const USER_AGENT: &str = "user_agent.original";
pub const ERROR_TYPE: &str = "error.type";

/// The pre-stable keys `http/dup` adds (semantic conventions v1.20 and before).
pub mod old {
    pub const METHOD: &str = "http.method";
    pub const STATUS_CODE: &str = "http.status_code";
    pub const TARGET: &str = "http.target";
    pub const SCHEME: &str = "http.scheme";
    pub const FLAVOR: &str = "http.flavor";
    pub const USER_AGENT: &str = "http.user_agent";
    pub const CLIENT_IP: &str = "http.client_ip";
    pub const HOST_NAME: &str = "net.host.name";
    pub const HOST_PORT: &str = "net.host.port";
    pub const SOCK_PEER_ADDR: &str = "net.sock.peer.addr";
}

/// `error.type` when the client went away before the response was fully sent.
pub const ABORTED: &str = "aborted";
/// `error.type` when no better class is known (the conventions' fallback).
pub const OTHER: &str = "_OTHER";

/// The method as `http.request.method` records it: one of the nine methods of RFC 9110 and
/// RFC 5789 as is, anything else `_OTHER` (the conventions keep the set closed for cardinality;
/// the original then goes to `http.request.method_original`).
pub fn known_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => return None,
    })
}

/// `network.protocol.version` for an HTTP version.
pub fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// The pre-stable `http.flavor` from the stable `network.protocol.version`: `2.0` and `3.0`
/// where the stable spelling is `2` and `3`.
pub fn old_flavor(stable: &'static str) -> &'static str {
    match stable {
        "2" => "2.0",
        "3" => "3.0",
        other => other,
    }
}

/// Whether `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list) asks for `http/dup`: the old
/// attribute keys and metric beside the stable ones. `http` alone, or nothing, means stable only.
pub fn dup_requested(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.split(',').any(|item| item.trim() == "http/dup"))
}

/// The variable the switch is read from.
pub const STABILITY_OPT_IN_ENV: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nine_methods_are_known_and_others_are_not() {
        for m in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            assert_eq!(
                known_method(&Method::from_bytes(m.as_bytes()).unwrap()),
                Some(m)
            );
        }
        assert_eq!(known_method(&Method::from_bytes(b"PURGE").unwrap()), None);
        assert_eq!(known_method(&Method::from_bytes(b"get").unwrap()), None);
    }

    #[test]
    fn dup_is_read_from_a_comma_separated_list() {
        assert!(dup_requested(Some("http/dup")));
        assert!(dup_requested(Some("database, http/dup")));
        assert!(!dup_requested(Some("http")));
        assert!(!dup_requested(Some("http/dupe")));
        assert!(!dup_requested(None));
    }

    #[test]
    fn old_buckets_are_the_stable_ones_in_milliseconds() {
        for (s, ms) in DURATION_BUCKETS.iter().zip(OLD_DURATION_BUCKETS_MS) {
            assert!((s * 1000.0 - ms).abs() < 1e-9);
        }
    }
}
