//! The names and rules of the OpenTelemetry HTTP semantic conventions (stable, v1.23 and later)
//! that the middleware applies, and the old (v1.20) names `http/dup` adds back.

use http::StatusCode;

pub(crate) use hyperion::semconv::http::{known_method, protocol_version};

/// The client request duration histogram (seconds).
pub const REQUEST_DURATION_METRIC: &str = "http.client.request.duration";

/// The old client duration histogram (milliseconds), recorded only with `http/dup`.
pub const OLD_DURATION_METRIC: &str = "http.client.duration";

/// The bucket boundaries the semantic conventions advise for
/// [`REQUEST_DURATION_METRIC`], in seconds.
pub const DURATION_BOUNDARIES: [f64; 14] = hyperion::semconv::http::DURATION_BUCKETS;

/// The same boundaries in milliseconds, for [`OLD_DURATION_METRIC`].
pub(crate) const OLD_DURATION_BOUNDARIES: [f64; 14] = hyperion::semconv::http::DURATION_BUCKETS_MS;

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
pub(crate) use hyperion::semconv::http::OTHER;

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
    fn four_and_five_hundreds_are_errors() {
        assert!(!is_error_status(StatusCode::OK));
        assert!(!is_error_status(StatusCode::PERMANENT_REDIRECT));
        assert!(is_error_status(StatusCode::NOT_FOUND));
        assert!(is_error_status(StatusCode::INTERNAL_SERVER_ERROR));
    }
}
