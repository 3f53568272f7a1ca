//! `url.full` as the semantic conventions allow it to be recorded: credentials always replaced by
//! `REDACTED:REDACTED`, query values replaced by `REDACTED` (all of them by default, or only the
//! known signature keys with `full_query`).

use std::borrow::Cow;

use reqwest::Url;

/// What replaces a redacted part.
pub(crate) const REDACTED: &str = "REDACTED";

/// The query keys whose values the semantic conventions always redact (they carry signatures
/// and access keys).
pub(crate) use hyperion::semconv::http::SENSITIVE_QUERY_KEYS;

/// The URL to record: borrowed as is when there is nothing to redact (the common case), else a
/// redacted copy.
pub(crate) fn redacted_url(url: &Url, full_query: bool) -> Cow<'_, Url> {
    let credentials = !url.username().is_empty() || url.password().is_some();
    let query = url.query().and_then(|q| redacted_query(q, full_query));
    if !credentials && query.is_none() {
        return Cow::Borrowed(url);
    }
    let mut copy = url.clone();
    if credentials {
        // Both fail only for URLs that cannot carry credentials, which this one did.
        let _ = copy.set_username(REDACTED);
        let _ = copy.set_password(Some(REDACTED));
    }
    if let Some(query) = query {
        copy.set_query(Some(&query));
    }
    Cow::Owned(copy)
}

/// The query with values redacted, or `None` if nothing changed. Written by hand rather than with
/// a form-urlencoded parser: the keys and the order stay byte for byte as sent, and a key without
/// `=` (a flag) is kept as it is.
fn redacted_query(query: &str, full_query: bool) -> Option<String> {
    let mut out = String::with_capacity(query.len());
    let mut changed = false;
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, value)) if value != REDACTED && must_redact(key, full_query) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
                changed = true;
            }
            _ => out.push_str(pair),
        }
    }
    changed.then_some(out)
}

fn must_redact(key: &str, full_query: bool) -> bool {
    !full_query || SENSITIVE_QUERY_KEYS.contains(&key)
}

/// The host as `server.address` records it: IPv6 addresses without their URL brackets.
pub(crate) fn host(url: &Url) -> Option<&str> {
    let host = url.host_str()?;
    Some(
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(url: &str, full_query: bool) -> String {
        redacted_url(&Url::parse(url).unwrap(), full_query).to_string()
    }

    #[test]
    fn nothing_to_redact_is_borrowed() {
        let url = Url::parse("https://example.com/a/b#frag").unwrap();
        assert!(matches!(redacted_url(&url, false), Cow::Borrowed(_)));
        let url = Url::parse("https://example.com/?q=1").unwrap();
        assert!(matches!(redacted_url(&url, true), Cow::Borrowed(_)));
    }

    #[test]
    fn credentials_are_always_redacted() {
        assert_eq!(
            full("https://user:pass@example.com/x", true),
            "https://REDACTED:REDACTED@example.com/x"
        );
        assert_eq!(
            full("https://user@example.com/x", true),
            "https://REDACTED:REDACTED@example.com/x"
        );
        assert_eq!(
            full("https://:pass@example.com/x", true),
            "https://REDACTED:REDACTED@example.com/x"
        );
    }

    #[test]
    fn every_query_value_is_redacted_by_default() {
        assert_eq!(
            full(
                "https://example.com/s?q=rust&page=2&flag&empty=&a=b=c",
                false
            ),
            "https://example.com/s?q=REDACTED&page=REDACTED&flag&empty=REDACTED&a=REDACTED"
        );
        assert_eq!(
            full("https://example.com/s?", false),
            "https://example.com/s?"
        );
    }

    #[test]
    fn full_query_redacts_only_signature_keys() {
        assert_eq!(
            full(
                "https://s3.example.com/o?AWSAccessKeyId=AK&Signature=s&sig=x&X-Goog-Signature=g&q=1&signature=kept",
                true
            ),
            "https://s3.example.com/o?AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&q=1&signature=kept"
        );
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        assert_eq!(
            host(&Url::parse("http://[::1]:8080/").unwrap()),
            Some("::1")
        );
        assert_eq!(
            host(&Url::parse("http://Example.COM/").unwrap()),
            Some("example.com")
        );
    }
}
