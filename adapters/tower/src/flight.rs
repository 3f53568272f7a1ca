//! A request in flight: its span, its start time and what the response said, finished exactly
//! once — when the body has been sent, or when whatever holds it is dropped early (the client
//! went away), which is why finishing lives in `Drop`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use hyperion::{Context, KeyValue, Span, Status, Value, kv};

use crate::layer::Shared;
use crate::semconv;

/// How the exchange ended, as far as the layer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Still running: dropping now means the client or the server gave up.
    Pending,
    /// The response and its body went out.
    Complete,
    /// The service failed or the body failed; `error.type` is already set.
    Failed,
}

pub(crate) struct InFlight {
    pub(crate) ctx: Context,
    span: Span,
    start: Instant,
    shared: Arc<Shared>,
    method: &'static str,
    scheme: &'static str,
    version: &'static str,
    route: Option<Box<str>>,
    status: Option<u16>,
    error_type: Option<Cow<'static, str>>,
    end: End,
}

impl InFlight {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: Context,
        span: Span,
        start: Instant,
        shared: Arc<Shared>,
        method: &'static str,
        scheme: &'static str,
        version: &'static str,
        route: Option<Box<str>>,
    ) -> Self {
        InFlight {
            ctx,
            span,
            start,
            shared,
            method,
            scheme,
            version,
            route,
            status: None,
            error_type: None,
            end: End::Pending,
        }
    }

    /// The response head is ready: record its status (5xx is a server error; 4xx is the
    /// client's and leaves the server span's status unset, as the conventions say).
    pub(crate) fn response(&mut self, status: u16) {
        self.status = Some(status);
        self.span
            .set_attribute(kv(semconv::STATUS_CODE, i64::from(status)));
        if self.shared.dup {
            self.span
                .set_attribute(kv(semconv::old::STATUS_CODE, i64::from(status)));
        }
        if status >= 500 {
            self.error_type = Some(Cow::Owned(status.to_string()));
            if !self.span.status().is_error() {
                self.span.set_status(Status::error(""));
            }
        }
    }

    /// The service returned an error instead of a response.
    pub(crate) fn service_error(&mut self, class: &'static str, message: &dyn std::fmt::Display) {
        self.span.record_exception(class, message);
        self.error_type = Some(Cow::Borrowed(class));
        self.end = End::Failed;
    }

    /// The handler panicked; the layer answers 500.
    pub(crate) fn panicked(&mut self, message: &str) {
        self.span.record_exception("panic", &message);
        self.ctx
            .log()
            .error("request handler panicked", &[kv("panic.message", message)]);
        self.response(500);
    }

    /// The response body failed while being sent.
    pub(crate) fn body_error(&mut self, message: &dyn std::fmt::Display) {
        self.span.record_exception("body", message);
        self.error_type = Some(Cow::Borrowed("body"));
        self.end = End::Failed;
    }

    /// Everything was sent.
    pub(crate) fn complete(&mut self) {
        if self.end == End::Pending {
            self.end = End::Complete;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.end == End::Pending {
            // Dropped before the body ended: the connection closed under us.
            self.error_type = Some(Cow::Borrowed(semconv::ABORTED));
            self.span.add_event("aborted", &[]);
            self.span.set_status(Status::error("the client went away"));
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        if let Some(error) = &self.error_type {
            self.span
                .set_attribute(kv(semconv::ERROR_TYPE, error.as_ref()));
        }
        let shared = &*self.shared;
        if shared.duration.is_enabled() || shared.old_duration.is_enabled() {
            let mut attrs: [KeyValue<'_>; 6] = [
                KeyValue::from_static(semconv::METHOD, self.method),
                KeyValue::from_static(semconv::URL_SCHEME, self.scheme),
                KeyValue::from_static(semconv::PROTOCOL_VERSION, self.version),
                kv(semconv::STATUS_CODE, Value::I64(0)),
                kv(semconv::ROUTE, Value::from_static_str("")),
                kv(semconv::ERROR_TYPE, Value::from_static_str("")),
            ];
            let mut n = 3;
            if let Some(status) = self.status {
                attrs[n] = kv(semconv::STATUS_CODE, i64::from(status));
                n += 1;
            }
            if let Some(route) = &self.route {
                attrs[n] = kv(semconv::ROUTE, route.as_ref());
                n += 1;
            }
            if let Some(error) = &self.error_type {
                attrs[n] = kv(semconv::ERROR_TYPE, error.as_ref());
                n += 1;
            }
            // Recorded under the server span's context, before it ends: the exemplar.
            shared.duration.record(&self.ctx, elapsed, &attrs[..n]);
            if shared.old_duration.is_enabled() {
                let mut old: Vec<KeyValue<'_>> = Vec::with_capacity(5);
                old.push(KeyValue::from_static(semconv::old::METHOD, self.method));
                old.push(KeyValue::from_static(semconv::old::SCHEME, self.scheme));
                old.push(KeyValue::from_static(
                    semconv::old::FLAVOR,
                    semconv::old_flavor(self.version),
                ));
                if let Some(status) = self.status {
                    old.push(kv(semconv::old::STATUS_CODE, i64::from(status)));
                }
                if let Some(route) = &self.route {
                    old.push(kv(semconv::ROUTE, route.as_ref()));
                }
                shared
                    .old_duration
                    .record(&self.ctx, elapsed * 1000.0, &old);
            }
        }
        shared.active.add(
            &self.ctx,
            -1,
            &[
                KeyValue::from_static(semconv::METHOD, self.method),
                KeyValue::from_static(semconv::URL_SCHEME, self.scheme),
            ],
        );
        self.span.end();
    }
}
