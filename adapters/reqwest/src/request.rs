//! One request as the semantic conventions describe it: its [`Target`] (method, URL, template)
//! before it is sent, its [`Outcome`] after, and the span and metric attributes of both.

use std::borrow::Cow;
use std::error::Error as _;

use http::{Method, StatusCode, Version};
use hyperion::{KeyValue, kv};
use reqwest::Url;

use crate::redact;
use crate::semconv::{self as sc, OTHER};

/// What the middleware records about a request before sending it. Owns a copy of the URL: the
/// request itself moves down the middleware chain.
pub(crate) struct Target {
    method: Method,
    /// The method's `http.request.method` spelling, `None` for `_OTHER`.
    known_method: Option<&'static str>,
    url: Url,
    template: Option<Cow<'static, str>>,
}

impl Target {
    pub(crate) fn new(method: &Method, url: &Url, template: Option<Cow<'static, str>>) -> Self {
        Target {
            method: method.clone(),
            known_method: sc::known_method(method),
            url: url.clone(),
            template,
        }
    }

    /// `{method}` or `{method} {template}`, where an unknown method is `HTTP`, as the
    /// conventions name spans of methods they do not know.
    pub(crate) fn span_name(&self) -> Cow<'static, str> {
        let method = self.known_method.unwrap_or("HTTP");
        match &self.template {
            None => Cow::Borrowed(method),
            Some(template) => Cow::Owned(format!("{method} {template}")),
        }
    }

    fn method_attribute(&self) -> &'static str {
        self.known_method.unwrap_or(OTHER)
    }

    fn server_address(&self) -> Option<&str> {
        redact::host(&self.url)
    }

    /// The port, also when it is the scheme's default.
    fn server_port(&self) -> Option<u16> {
        self.url.port_or_known_default()
    }

    /// The attributes a CLIENT span starts with. `url_full` is the redacted URL.
    pub(crate) fn span_attributes<'a>(&'a self, url_full: &'a str, dup: bool) -> Vec<KeyValue<'a>> {
        let mut attributes = Vec::with_capacity(if dup { 12 } else { 7 });
        attributes.push(kv(sc::HTTP_REQUEST_METHOD, self.method_attribute()));
        if self.known_method.is_none() {
            attributes.push(kv(sc::HTTP_REQUEST_METHOD_ORIGINAL, self.method.as_str()));
        }
        if let Some(address) = self.server_address() {
            attributes.push(kv(sc::SERVER_ADDRESS, address));
        }
        if let Some(port) = self.server_port() {
            attributes.push(kv(sc::SERVER_PORT, port));
        }
        attributes.push(kv(sc::URL_FULL, url_full));
        attributes.push(kv(sc::URL_SCHEME, self.url.scheme()));
        if let Some(template) = &self.template {
            attributes.push(kv(sc::URL_TEMPLATE, template.as_ref()));
        }
        if dup {
            self.push_old_attributes(&mut attributes);
            attributes.push(kv(sc::OLD_HTTP_URL, url_full));
        }
        attributes
    }

    /// The old keys that the span and the old histogram share.
    fn push_old_attributes<'a>(&'a self, attributes: &mut Vec<KeyValue<'a>>) {
        attributes.push(kv(sc::OLD_HTTP_METHOD, self.method.as_str()));
        if let Some(address) = self.server_address() {
            attributes.push(kv(sc::OLD_NET_PEER_NAME, address));
        }
        if let Some(port) = self.server_port() {
            attributes.push(kv(sc::OLD_NET_PEER_PORT, port));
        }
    }

    /// The attributes of `http.client.request.duration`.
    pub(crate) fn metric_attributes<'a>(&'a self, outcome: &'a Outcome) -> Vec<KeyValue<'a>> {
        let mut attributes = Vec::with_capacity(8);
        attributes.push(kv(sc::HTTP_REQUEST_METHOD, self.method_attribute()));
        if let Some(address) = self.server_address() {
            attributes.push(kv(sc::SERVER_ADDRESS, address));
        }
        if let Some(port) = self.server_port() {
            attributes.push(kv(sc::SERVER_PORT, port));
        }
        attributes.push(kv(sc::URL_SCHEME, self.url.scheme()));
        if let Some(template) = &self.template {
            attributes.push(kv(sc::URL_TEMPLATE, template.as_ref()));
        }
        outcome.push_attributes(&mut attributes);
        attributes
    }

    /// The attributes of the old `http.client.duration`.
    pub(crate) fn old_metric_attributes(&self, outcome: &Outcome) -> Vec<KeyValue<'_>> {
        let mut attributes = Vec::with_capacity(4);
        self.push_old_attributes(&mut attributes);
        if let Outcome::Response { status, .. } = outcome {
            attributes.push(kv(sc::OLD_HTTP_STATUS_CODE, status.as_u16()));
        }
        attributes
    }
}

/// How a request ended, as far as the middleware can see: response headers received, or an
/// error.
pub(crate) enum Outcome {
    /// A response arrived (whatever its status).
    Response {
        /// Its status.
        status: StatusCode,
        /// Its HTTP version.
        version: Version,
    },
    /// No response: `error.type` is `class`.
    Failed {
        /// One of `timeout`, `connect`, `redirect`, `body`, `decode`, `request` or `_OTHER`.
        class: &'static str,
    },
}

impl Outcome {
    pub(crate) fn of(result: &reqwest_middleware::Result<reqwest::Response>) -> Outcome {
        match result {
            Ok(response) => Outcome::Response {
                status: response.status(),
                version: response.version(),
            },
            Err(reqwest_middleware::Error::Reqwest(error)) => Outcome::Failed {
                class: sc::error_class(error),
            },
            Err(reqwest_middleware::Error::Middleware(_)) => Outcome::Failed { class: OTHER },
        }
    }

    /// `error.type`: the status code of a 4xx or 5xx response, or the failure's class.
    pub(crate) fn error_type(&self) -> Option<&str> {
        match self {
            Outcome::Response { status, .. } if sc::is_error_status(*status) => {
                Some(status.as_str())
            }
            Outcome::Response { .. } => None,
            Outcome::Failed { class } => Some(class),
        }
    }

    /// `http.response.status_code`, `network.protocol.version` and `error.type`, as they apply.
    pub(crate) fn push_attributes<'a>(&'a self, attributes: &mut Vec<KeyValue<'a>>) {
        if let Outcome::Response { status, version } = self {
            attributes.push(kv(sc::HTTP_RESPONSE_STATUS_CODE, status.as_u16()));
            if let Some(version) = sc::protocol_version(*version) {
                attributes.push(kv(sc::NETWORK_PROTOCOL_VERSION, version));
            }
        }
        if let Some(error_type) = self.error_type() {
            attributes.push(kv(sc::ERROR_TYPE, error_type));
        }
    }
}

/// The message to record for a transport error: reqwest's own message, with the URL it names
/// redacted like `url.full`, followed by its causes (reqwest's message alone does not say *why*,
/// e.g. "connection refused").
pub(crate) fn error_message(error: &mut reqwest::Error, full_query: bool) -> String {
    // reqwest writes the URL as sent, credentials and query included: swap in the redacted one
    // while formatting, then put the caller's back.
    let redacted = match error.url() {
        Some(url) => match redact::redacted_url(url, full_query) {
            Cow::Owned(redacted) => Some(redacted),
            Cow::Borrowed(_) => None,
        },
        None => None,
    };
    let original = match (redacted, error.url_mut()) {
        (Some(redacted), Some(url)) => Some(std::mem::replace(url, redacted)),
        _ => None,
    };
    let mut message = error.to_string();
    if let (Some(original), Some(url)) = (original, error.url_mut()) {
        *url = original;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: &str, url: &str, template: Option<&'static str>) -> Target {
        Target::new(
            &Method::from_bytes(method.as_bytes()).unwrap(),
            &Url::parse(url).unwrap(),
            template.map(Cow::Borrowed),
        )
    }

    #[test]
    fn span_names() {
        assert_eq!(target("GET", "http://a/", None).span_name(), "GET");
        assert_eq!(
            target("POST", "http://a/", Some("/users/{id}")).span_name(),
            "POST /users/{id}"
        );
        assert_eq!(target("PURGE", "http://a/", None).span_name(), "HTTP");
        assert_eq!(
            target("PURGE", "http://a/", Some("/x")).span_name(),
            "HTTP /x"
        );
    }

    #[test]
    fn default_ports_are_recorded() {
        let t = target("GET", "https://example.com/", None);
        let attributes = t.span_attributes("https://example.com/", false);
        assert!(attributes.contains(&kv(sc::SERVER_PORT, 443)));
        let t = target("GET", "http://example.com/", None);
        let attributes = t.metric_attributes(&Outcome::Failed { class: "connect" });
        assert!(attributes.contains(&kv(sc::SERVER_PORT, 80)));
        assert!(attributes.contains(&kv(sc::ERROR_TYPE, "connect")));
    }
}
