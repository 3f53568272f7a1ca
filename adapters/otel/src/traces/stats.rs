//! Export statistics: spans exported, failed and dropped, counted exactly.
//!
//! The SDK's batch processor keeps its drop count private, so the adapter bounds the queue itself:
//! a span that would overflow `tracing.batch.max_queue_size` (counting spans still being exported)
//! is dropped and counted before it reaches the SDK, whose own queue therefore never overflows.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

/// A snapshot of the span export counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanExportStats {
    /// Spans the backend accepted.
    pub exported: u64,
    /// Spans in batches the backend refused or never answered for (after retries).
    pub failed: u64,
    /// Spans dropped because the queue was full (the application never waits).
    pub dropped: u64,
}

/// Shared counters, readable through [`crate::OtelModule::span_stats`].
#[derive(Default)]
pub(crate) struct Stats {
    queued: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    failing: AtomicBool,
    /// Set when shutdown has settled the accounts: nothing is counted or printed after.
    closed: AtomicBool,
    /// Held while an export's outcome is counted and while the accounts are closed, so that a
    /// batch is never both counted and closed out.
    accounts: std::sync::Mutex<()>,
    counter: std::sync::OnceLock<hyperion::Counter>,
    target: std::sync::OnceLock<String>,
}

impl Stats {
    pub(crate) fn snapshot(&self) -> SpanExportStats {
        SpanExportStats {
            exported: self.exported.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Settles the accounts at shutdown: every span still queued or being exported is counted
    /// as dropped, so that exported + failed + dropped = every span ended; exports that finish
    /// later are neither counted nor reported (nothing is printed after shutdown).
    pub(crate) fn close(&self) {
        let _accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let done = self.exported.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        let pending = self.queued.load(Ordering::Relaxed).saturating_sub(done);
        if pending > 0 {
            self.count(&self.dropped, "dropped", pending);
        }
    }

    pub(crate) fn set_target(&self, target: String) {
        let _ = self.target.set(target);
    }

    /// Publishes the counters as `hyperion.exporter.spans{outcome}` through the facade meter.
    pub(crate) fn publish_to(&self, telemetry: &hyperion::Telemetry) {
        let meter = telemetry.meter("hyperion-otel");
        if !meter.is_enabled() {
            return;
        }
        let counter = meter
            .counter("hyperion.exporter.spans")
            .description("Spans handled by the exporter, by outcome (exported, failed, dropped)")
            .unit("{span}")
            .build();
        // Only the counter is kept, not the telemetry: the telemetry owns this module, and
        // holding it here would keep it alive forever.
        let _ = self.counter.set(counter);
    }

    fn count(&self, cell: &AtomicU64, outcome: &'static str, n: u64) {
        cell.fetch_add(n, Ordering::Relaxed);
        if let Some(counter) = self.counter.get() {
            counter.add(
                &hyperion::Context::noop(),
                n,
                &[hyperion::kv(
                    "outcome",
                    hyperion::Value::from_static_str(outcome),
                )],
            );
        }
    }

    /// Takes a place in the queue, or says there is none. A compare-and-swap, so that spans
    /// ending at the same time on several threads cannot overshoot the capacity together.
    fn reserve(&self, capacity: u64) -> bool {
        let done = self.exported.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        self.queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                (queued.saturating_sub(done) < capacity).then_some(queued + 1)
            })
            .is_ok()
    }

    fn export_result(&self, n: u64, result: &OTelSdkResult) {
        let _accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let target = self
            .target
            .get()
            .map(String::as_str)
            .unwrap_or("the backend");
        match result {
            Ok(()) => {
                self.count(&self.exported, "exported", n);
                if self.failing.swap(false, Ordering::Relaxed) {
                    eprintln!("hyperion-otel: span export to {target} recovered");
                }
            }
            Err(e) => {
                self.count(&self.failed, "failed", n);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "hyperion-otel: span export to {target} failed ({e}); spans are dropped \
                         and counted until it recovers"
                    );
                }
            }
        }
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

/// Wraps an exporter to count what it exported and what failed.
#[derive(Debug)]
pub(crate) struct CountingExporter<E> {
    pub(crate) inner: E,
    pub(crate) stats: Arc<Stats>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let n = batch.len() as u64;
        let export = self.inner.export(batch);
        async move {
            let result = export.await;
            self.stats.export_result(n, &result);
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// Bounds the queue in front of the SDK's batch processor and counts what it drops.
#[derive(Debug)]
pub(crate) struct GatedProcessor<P> {
    pub(crate) inner: P,
    pub(crate) capacity: u64,
    pub(crate) stats: Arc<Stats>,
}

impl<P: SpanProcessor> SpanProcessor for GatedProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !self.stats.closed.load(Ordering::Acquire) && self.stats.reserve(self.capacity) {
            self.inner.on_end(span);
        } else {
            self.stats.count(&self.stats.dropped, "dropped", 1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}
