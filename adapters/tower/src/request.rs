//! What the conventions want to know about a request, read from its head: the server's address
//! as the client named it, the client's address behind proxies, the scheme, and the query with
//! its secrets redacted.
//!
//! `Forwarded` (RFC 7239) is parsed by hand: only the first element's `for`, `host` and `proto`
//! are needed, and the crates that parse it whole pull in more than those few lines.

use http::HeaderMap;
use http::header::{FORWARDED, HOST};
use http::request::Parts;
use hyperion::semconv::http::SENSITIVE_QUERY_KEYS;

/// The first element of a `Forwarded` header: `for=…;host=…;proto=…`.
#[derive(Default)]
struct Forwarded<'a> {
    client: Option<&'a str>,
    host: Option<&'a str>,
    proto: Option<&'a str>,
}

fn forwarded(headers: &HeaderMap) -> Forwarded<'_> {
    let mut out = Forwarded::default();
    let Some(value) = headers.get(FORWARDED).and_then(|v| v.to_str().ok()) else {
        return out;
    };
    let first = value.split(',').next().unwrap_or("");
    for pair in first.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "for" => out.client = Some(value),
            "host" => out.host = Some(value),
            "proto" => out.proto = Some(value),
            _ => {}
        }
    }
    out
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Splits `host[:port]` or `[v6]:port` into the host (without brackets) and the port, if any.
pub fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        // A bare IPv6 address (more than one colon) has no port.
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (authority, None),
    }
}

/// `server.address` and `server.port`: the first of the `Forwarded` host, `X-Forwarded-Host`,
/// the request target's authority (HTTP/2's `:authority`) and `Host` (the conventions' order).
/// The port only when one is written: a missing port cannot be told from the local socket here.
pub fn server_address(parts: &Parts) -> Option<(&str, Option<u16>)> {
    let authority = forwarded(&parts.headers)
        .host
        .or_else(|| header(&parts.headers, "x-forwarded-host"))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .or_else(|| parts.headers.get(HOST).and_then(|v| v.to_str().ok()))?;
    let (host, port) = split_host_port(authority.trim());
    (!host.is_empty()).then_some((host, port))
}

/// `url.scheme`: the request target's scheme, else the proxy's `Forwarded` proto or
/// `X-Forwarded-Proto`, else `http` (a TLS terminator in this process would say otherwise in
/// the target).
pub fn scheme(parts: &Parts) -> &'static str {
    let named = parts
        .uri
        .scheme_str()
        .or_else(|| forwarded(&parts.headers).proto)
        .or_else(|| header(&parts.headers, "x-forwarded-proto"));
    match named {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// `client.address` as the proxies report it (`Forwarded` for, then the first
/// `X-Forwarded-For`), without port or brackets. `None` when no proxy said; the caller then
/// uses the peer's socket address.
pub fn forwarded_client(headers: &HeaderMap) -> Option<&str> {
    let named = forwarded(headers)
        .client
        .or_else(|| header(headers, "x-forwarded-for").and_then(|v| v.split(',').next()))?
        .trim();
    let (host, _) = split_host_port(named);
    (!host.is_empty() && !host.eq_ignore_ascii_case("unknown")).then_some(host)
}

/// The query with the value of every sensitive key replaced by `REDACTED`.
pub fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if SENSITIVE_QUERY_KEYS.contains(&key) => {
                out.push_str(key);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(build: http::request::Builder) -> Parts {
        build.body(()).unwrap().into_parts().0
    }

    #[test]
    fn host_and_port_split_for_names_and_both_ip_families() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:443"), ("::1", Some(443)));
        assert_eq!(split_host_port("[::1]"), ("::1", None));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert_eq!(split_host_port("10.0.0.1:x"), ("10.0.0.1", None));
    }

    #[test]
    fn server_address_prefers_the_proxy_then_the_target_then_host() {
        let p = parts(http::Request::get("/a").header("host", "svc:8081"));
        assert_eq!(server_address(&p), Some(("svc", Some(8081))));
        let p = parts(
            http::Request::get("/a")
                .header("host", "svc:8081")
                .header("x-forwarded-host", "api.example.com"),
        );
        assert_eq!(server_address(&p), Some(("api.example.com", None)));
        let p = parts(http::Request::get("/a").header("host", "svc:8081").header(
            "forwarded",
            "for=1.2.3.4;host=\"shop.example:8443\";proto=https",
        ));
        assert_eq!(server_address(&p), Some(("shop.example", Some(8443))));
        assert_eq!(scheme(&p), "https");
        let p = parts(http::Request::get("https://h2.example/a"));
        assert_eq!(server_address(&p), Some(("h2.example", None)));
        assert_eq!(scheme(&p), "https");
        assert_eq!(server_address(&parts(http::Request::get("/a"))), None);
    }

    #[test]
    fn client_address_comes_from_the_first_proxy_entry() {
        let p = parts(http::Request::get("/").header("x-forwarded-for", "203.0.113.7, 10.0.0.1"));
        assert_eq!(forwarded_client(&p.headers), Some("203.0.113.7"));
        let p = parts(
            http::Request::get("/")
                .header("forwarded", "for=\"[2001:db8::17]:4711\", for=10.0.0.2"),
        );
        assert_eq!(forwarded_client(&p.headers), Some("2001:db8::17"));
        let p = parts(http::Request::get("/").header("forwarded", "for=unknown"));
        assert_eq!(forwarded_client(&p.headers), None);
        assert_eq!(
            forwarded_client(&parts(http::Request::get("/")).headers),
            None
        );
    }

    #[test]
    fn sensitive_query_values_are_redacted_and_others_kept() {
        assert_eq!(
            redact_query("page=2&sig=abc&X-Goog-Signature=s&q"),
            "page=2&sig=REDACTED&X-Goog-Signature=REDACTED&q"
        );
        assert_eq!(redact_query("Signature=x"), "Signature=REDACTED");
        assert_eq!(redact_query(""), "");
    }
}
