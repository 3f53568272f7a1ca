//! The adapter's own runtime, where exports and scrapes run, and the helpers that keep blocking
//! constructors off the application's runtime.

use hyperion::registry::ModuleError;

use crate::module_error;

thread_local! {
    /// Set on the adapter runtime's threads, where exports and scrapes run, and on the OTLP
    /// metrics exporter's thread: the tracing bridge
    /// ignores events there (the transports log per frame; bridging them would loop).
    static EXPORT_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread belongs to the adapter's runtime (or is another thread of the adapter's
/// that exports, marked with [`mark_export_thread`]).
pub(crate) fn on_export_thread() -> bool {
    EXPORT_THREAD.try_with(|t| t.get()).unwrap_or(false)
}

/// Marks this thread as one that exports, whose transport events the tracing bridge ignores.
pub(crate) fn mark_export_thread() {
    let _ = EXPORT_THREAD.try_with(|t| t.set(true));
}

/// The adapter's own runtime, one worker thread: the gRPC exporters' connections and the
/// Prometheus listener live here, so that they never depend on the application's runtime being
/// free (a current-thread runtime that is blocked — say, in a shutdown guard's drop — would
/// otherwise stall every export and every scrape).
pub(crate) struct AdapterRuntime(pub(crate) Option<tokio::runtime::Runtime>);

impl AdapterRuntime {
    fn new() -> Result<Self, ModuleError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hyperion-otel")
            .on_thread_start(|| EXPORT_THREAD.with(|t| t.set(true)))
            .enable_all()
            .build()
            .map(|rt| AdapterRuntime(Some(rt)))
            .map_err(module_error)
    }

    /// The runtime in `slot`, started on first use.
    pub(crate) fn get(
        slot: &mut Option<AdapterRuntime>,
    ) -> Result<tokio::runtime::Handle, ModuleError> {
        if slot.is_none() {
            *slot = Some(AdapterRuntime::new()?);
        }
        Ok(slot
            .as_ref()
            .and_then(|rt| rt.0.as_ref())
            .expect("just started")
            .handle()
            .clone())
    }
}

impl Drop for AdapterRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; by the time this runs
        // the provider has shut down, so nothing is left to wait for.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs a constructor that builds a blocking HTTP client on a thread outside the runtime.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ModuleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(module_error)?
        .map_err(module_error)
}
