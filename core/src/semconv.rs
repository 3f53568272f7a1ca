//! The OpenTelemetry semantic conventions that integrations share: names and rules every HTTP
//! integration applies the same way, kept in one place so that the server layer and the client
//! middleware cannot drift apart. Strings and small functions only; no OpenTelemetry type.

/// The stable HTTP conventions (v1.23 and later).
pub mod http {
    use http::{Method, Version};

    /// The explicit bucket boundaries the conventions advise for `http.server.request.duration`
    /// and `http.client.request.duration`, in seconds.
    ///
    /// ```
    /// use hyperion::semconv::http::{DURATION_BUCKETS, DURATION_BUCKETS_MS};
    /// assert_eq!(DURATION_BUCKETS[0], 0.005);
    /// assert_eq!(DURATION_BUCKETS_MS[13], 10_000.0);
    /// ```
    pub const DURATION_BUCKETS: [f64; 14] = [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ];

    /// The same boundaries in milliseconds, for the pre-stable `http.*.duration` histograms
    /// that `http/dup` adds.
    pub const DURATION_BUCKETS_MS: [f64; 14] = [
        5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
        10000.0,
    ];

    /// `http.request.method` (and `error.type`) for anything outside the known set.
    pub const OTHER: &str = "_OTHER";

    /// The query keys whose values the conventions say to redact (`url.query`, `url.full`).
    pub const SENSITIVE_QUERY_KEYS: [&str; 4] =
        ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

    /// The variable that lists the semantic-convention opt-ins, comma-separated.
    pub const STABILITY_OPT_IN_ENV: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

    /// The method as `http.request.method` records it: one of the nine methods of RFC 9110 and
    /// RFC 5789 as is, `None` for any other (recorded as [`OTHER`], the original then going to
    /// `http.request.method_original`; the set is closed for cardinality).
    ///
    /// ```
    /// use hyperion::semconv::http::known_method;
    /// assert_eq!(known_method(&http::Method::GET), Some("GET"));
    /// assert_eq!(known_method(&http::Method::from_bytes(b"PURGE").unwrap()), None);
    /// ```
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

    /// `network.protocol.version` for an HTTP version (`1.1`, `2`, ...); `None` for a version
    /// the `http` crate may add later.
    pub fn protocol_version(version: Version) -> Option<&'static str> {
        Some(match version {
            Version::HTTP_09 => "0.9",
            Version::HTTP_10 => "1.0",
            Version::HTTP_11 => "1.1",
            Version::HTTP_2 => "2",
            Version::HTTP_3 => "3",
            _ => return None,
        })
    }

    /// Whether an `OTEL_SEMCONV_STABILITY_OPT_IN` value asks for `http/dup`: the pre-stable
    /// attribute keys and histograms beside the stable ones. `http` alone, or nothing, means
    /// stable only.
    ///
    /// ```
    /// use hyperion::semconv::http::dup_requested;
    /// assert!(dup_requested(Some("database, http/dup")));
    /// assert!(!dup_requested(Some("http")));
    /// ```
    pub fn dup_requested(opt_in: Option<&str>) -> bool {
        opt_in.is_some_and(|list| list.split(',').any(|item| item.trim() == "http/dup"))
    }

    /// [`dup_requested`] for the process's `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn dup_from_env() -> bool {
        dup_requested(std::env::var(STABILITY_OPT_IN_ENV).ok().as_deref())
    }

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
        fn dup_is_one_item_of_a_comma_separated_list() {
            assert!(dup_requested(Some("http/dup")));
            assert!(dup_requested(Some("database, http/dup ")));
            assert!(!dup_requested(Some("http")));
            assert!(!dup_requested(Some("http/dupe,database/dup")));
            assert!(!dup_requested(Some("")));
            assert!(!dup_requested(None));
        }

        #[test]
        fn the_millisecond_buckets_are_the_second_ones() {
            for (s, ms) in DURATION_BUCKETS.iter().zip(DURATION_BUCKETS_MS) {
                assert!((s * 1000.0 - ms).abs() < 1e-9);
            }
        }

        #[test]
        fn protocol_versions() {
            assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
            assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
            assert_eq!(protocol_version(Version::HTTP_3), Some("3"));
        }
    }
}
