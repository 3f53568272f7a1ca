//! The names and rules of the OpenTelemetry HTTP semantic conventions (stable, v1.23 and later)
//! that the middleware applies, and the old (v1.20) names `http/dup` adds back.

use http::{Method, StatusCode, Version};

/// The client request duration histogram (seconds).
pub const REQUEST_DURATION_METRIC: &str = "http.client.request.duration";

/// The old client duration histogram (milliseconds), recorded only with `http/dup`.
pub const OLD_DURATION_METRIC: &str = "http.client.duration";

/// The bucket boundaries the semantic conventions advise for
/// [`REQUEST_DURATION_METRIC`], in seconds.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The same boundaries in milliseconds, for [`OLD_DURATION_METRIC`].
pub(crate) const OLD_DURATION_BOUNDARIES: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The variable that lists the semantic-convention opt-ins, comma-separated.
pub(crate) const STABILITY_OPT_IN_VAR: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

// Stable attribute keys.
pub(crate) const HTTP_REQUEST_METHOD: &str = "http.request.method";
pub(crate) const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
pub(crate) const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
pub(crate) const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
pub(crate) const SERVER_ADDRESS: &str = "server.address";
pub(crate) const SERVER_PORT: &str = "server.port";
pub(crate) const URL_FULL: &str = "url.full";
pub(crate) const URL_SCHEME: &str = "url.scheme";
pub(crate) const URL_TEMPLATE: &str = "url.template";
pub(crate) const ERROR_TYPE: &str = "error.type";
pub(crate) const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";

// Old (v1.20) attribute keys, emitted next to the stable ones with `http/dup`.
pub(crate) const OLD_HTTP_METHOD: &str = "http.method";
pub(crate) const OLD_HTTP_URL: &str = "http.url";
pub(crate) const OLD_HTTP_STATUS_CODE: &str = "http.status_code";
pub(crate) const OLD_HTTP_RESEND_COUNT: &str = "http.resend_count";
pub(crate) const OLD_NET_PEER_NAME: &str = "net.peer.name";
pub(crate) const OLD_NET_PEER_PORT: &str = "net.peer.port";

/// The value of `http.request.method` and `error.type` for anything the conventions do not name.
pub(crate) const OTHER: &str = "_OTHER";

/// Whether an `OTEL_SEMCONV_STABILITY_OPT_IN` value asks for the old keys too (`http/dup`).
pub(crate) fn dup_requested(opt_in: Option<&str>) -> bool {
    opt_in.is_some_and(|list| list.split(',').any(|item| item.trim() == "http/dup"))
}

/// The method as `http.request.method` spells it: one of the nine methods of RFC 9110 and
/// RFC 5789, or `None` for any other (recorded as `_OTHER`).
pub(crate) fn known_method(method: &Method) -> Option<&'static str> {
    // Matched on the text: `Method`'s constants cannot be used as patterns.
    Some(match method.as_str() {
        "CONNECT" => "CONNECT",
        "DELETE" => "DELETE",
        "GET" => "GET",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "POST" => "POST",
        "PUT" => "PUT",
        "TRACE" => "TRACE",
        _ => return None,
    })
}

/// `network.protocol.version` for an HTTP version.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// Whether a response status is an error for a client: every 4xx and 5xx.
pub(crate) fn is_error_status(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// The `error.type` class of a transport error, checked from the most to the least specific
/// (a timeout while connecting is a timeout; a connect error is also a request error).
pub(crate) fn error_class(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect"
    } else if error.is_body() {
        "body"
    } else if error.is_decode() {
        "decode"
    } else if error.is_request() {
        "request"
    } else {
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dup_is_one_item_of_a_comma_separated_list() {
        assert!(dup_requested(Some("http/dup")));
        assert!(dup_requested(Some("database, http/dup ")));
        assert!(!dup_requested(Some("http")));
        assert!(!dup_requested(Some("http/dupe,database/dup")));
        assert!(!dup_requested(Some("")));
        assert!(!dup_requested(None));
    }

    #[test]
    fn nine_methods_are_known_others_are_not() {
        for m in [
            "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
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
    fn four_and_five_hundreds_are_errors() {
        assert!(!is_error_status(StatusCode::OK));
        assert!(!is_error_status(StatusCode::PERMANENT_REDIRECT));
        assert!(is_error_status(StatusCode::NOT_FOUND));
        assert!(is_error_status(StatusCode::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn durations_in_both_units_have_the_same_buckets() {
        for (s, ms) in DURATION_BOUNDARIES.iter().zip(OLD_DURATION_BOUNDARIES) {
            assert!((s * 1000.0 - ms).abs() < 1e-9);
        }
    }

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
    }
}
