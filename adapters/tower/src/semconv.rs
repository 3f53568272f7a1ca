//! The HTTP semantic conventions this crate follows (stable since v1.23; the keys and rules
//! below are checked against the v1.37 text): attribute keys, the advised duration buckets, the
//! method rule and the `OTEL_SEMCONV_STABILITY_OPT_IN` switch.

/// `http.server.request.duration`: seconds, with the advised boundaries below.
pub const SERVER_DURATION: &str = "http.server.request.duration";
/// `http.server.active_requests`: an up-down counter of requests in flight.
pub const SERVER_ACTIVE: &str = "http.server.active_requests";
/// The pre-stable duration histogram (milliseconds), emitted only in `http/dup` mode.
pub const OLD_SERVER_DURATION: &str = "http.server.duration";

pub use hyperion::semconv::http::{
    DURATION_BUCKETS, DURATION_BUCKETS_MS as OLD_DURATION_BUCKETS_MS, OTHER, known_method,
};

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

/// `network.protocol.version` for an HTTP version. (`http::Version` has only the five versions
/// the shared table knows; a later one would be reported as `1.1` rather than left out, because
/// the layer records the version on every request.)
pub fn protocol_version(version: http::Version) -> &'static str {
    hyperion::semconv::http::protocol_version(version).unwrap_or("1.1")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_flavor_spells_http_2_and_3_with_a_minor_version() {
        assert_eq!(old_flavor(protocol_version(http::Version::HTTP_2)), "2.0");
        assert_eq!(old_flavor(protocol_version(http::Version::HTTP_3)), "3.0");
        assert_eq!(old_flavor(protocol_version(http::Version::HTTP_11)), "1.1");
    }
}
