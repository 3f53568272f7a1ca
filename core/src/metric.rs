//! Metrics: a [`Meter`] creates instruments — [`Counter`], [`UpDownCounter`], [`Histogram`],
//! [`Gauge`] — once; their handles are cheap to clone and take `&Context` on every record so that
//! an adapter can attach the context's span as an exemplar.
//!
//! A handle holds `Option<Arc<dyn …>>`: an instrument from a disabled meter is a branch.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::attr::KeyValue;
use crate::context::Context;

/// What an instrument is: the kind of instrument an adapter is asked to create.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InstrumentKind {
    /// A monotonic `u64` sum.
    Counter,
    /// An `i64` sum that goes up and down.
    UpDownCounter,
    /// A distribution of `f64` values in buckets.
    Histogram,
    /// The last `f64` value.
    Gauge,
}

/// The description of an instrument, as an adapter receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentDescriptor {
    /// The meter's scope name (usually the crate or component).
    pub scope: Cow<'static, str>,
    /// The instrument's name in dotted form, e.g. `hyperion.intercept.duration`.
    pub name: Cow<'static, str>,
    /// What the instrument is.
    pub kind: InstrumentKind,
    /// A human description.
    pub description: Cow<'static, str>,
    /// The UCUM unit, e.g. `s`, `By`, `{request}`.
    pub unit: Cow<'static, str>,
    /// Explicit histogram bucket boundaries (histograms only); `None` lets the adapter choose.
    pub boundaries: Option<Vec<f64>>,
}

/// Creates instrument recorders. Implemented by adapters.
pub trait MeterProvider: Send + Sync + 'static {
    /// A recorder for a counter; `None` disables it.
    fn counter(&self, descriptor: &InstrumentDescriptor) -> Option<Arc<dyn CounterRecorder>>;
    /// A recorder for an up-down counter; `None` disables it.
    fn up_down_counter(
        &self,
        descriptor: &InstrumentDescriptor,
    ) -> Option<Arc<dyn UpDownCounterRecorder>>;
    /// A recorder for a histogram; `None` disables it.
    fn histogram(&self, descriptor: &InstrumentDescriptor) -> Option<Arc<dyn HistogramRecorder>>;
    /// A recorder for a gauge; `None` disables it.
    fn gauge(&self, descriptor: &InstrumentDescriptor) -> Option<Arc<dyn GaugeRecorder>>;
}

/// Records counter increments. `ctx` carries the span an exemplar may point at.
pub trait CounterRecorder: Send + Sync + 'static {
    /// Adds `value`.
    fn add(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>]);

    /// Adds `value` measured at `at`, a time the caller read already: an adapter that stamps
    /// exemplars uses it instead of reading the clock again. By default, [`Self::add`].
    fn add_at(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>], at: SystemTime) {
        let _ = at;
        self.add(ctx, value, attributes);
    }
}

/// Records up-down counter changes.
pub trait UpDownCounterRecorder: Send + Sync + 'static {
    /// Adds `value` (negative to subtract).
    fn add(&self, ctx: &Context, value: i64, attributes: &[KeyValue<'_>]);
}

/// Records histogram values.
pub trait HistogramRecorder: Send + Sync + 'static {
    /// Records one value.
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]);

    /// Records one value measured at `at` (see [`CounterRecorder::add_at`]). By default,
    /// [`Self::record`].
    fn record_at(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>], at: SystemTime) {
        let _ = at;
        self.record(ctx, value, attributes);
    }
}

/// Records gauge values.
pub trait GaugeRecorder: Send + Sync + 'static {
    /// Sets the current value.
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]);
}

/// Creates instruments for one scope. Get one from [`crate::Telemetry::meter`].
///
/// ```
/// use hyperion::{kv, Context, Meter};
/// let meter = Meter::noop();
/// let lookups = meter.counter("user.lookups").description("User lookups").unit("{lookup}").build();
/// lookups.add(&Context::noop(), 1, &[kv("method", "GetUser")]);
/// ```
#[derive(Clone)]
pub struct Meter {
    provider: Option<Arc<dyn MeterProvider>>,
    scope: Cow<'static, str>,
}

impl Meter {
    /// A meter whose instruments record nothing.
    pub const fn noop() -> Self {
        Meter {
            provider: None,
            scope: Cow::Borrowed(""),
        }
    }

    /// A meter over an adapter's provider, for a scope.
    pub fn new(provider: Option<Arc<dyn MeterProvider>>, scope: Cow<'static, str>) -> Self {
        Meter { provider, scope }
    }

    /// Whether instruments from this meter record anything.
    pub fn is_enabled(&self) -> bool {
        self.provider.is_some()
    }

    fn builder<T>(
        &self,
        name: Cow<'static, str>,
        kind: InstrumentKind,
    ) -> InstrumentBuilder<'_, T> {
        InstrumentBuilder {
            meter: self,
            descriptor: InstrumentDescriptor {
                scope: self.scope.clone(),
                name,
                kind,
                description: Cow::Borrowed(""),
                unit: Cow::Borrowed(""),
                boundaries: None,
            },
            _kind: std::marker::PhantomData,
        }
    }

    /// Starts building a counter (monotonic, `u64`).
    pub fn counter(&self, name: impl Into<Cow<'static, str>>) -> InstrumentBuilder<'_, Counter> {
        self.builder(name.into(), InstrumentKind::Counter)
    }

    /// Starts building an up-down counter (`i64`).
    pub fn up_down_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, UpDownCounter> {
        self.builder(name.into(), InstrumentKind::UpDownCounter)
    }

    /// Starts building a histogram (`f64`).
    pub fn histogram(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, Histogram> {
        self.builder(name.into(), InstrumentKind::Histogram)
    }

    /// Starts building a gauge (`f64`, last value).
    pub fn gauge(&self, name: impl Into<Cow<'static, str>>) -> InstrumentBuilder<'_, Gauge> {
        self.builder(name.into(), InstrumentKind::Gauge)
    }
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("scope", &self.scope)
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// Builds an instrument: name, description, unit and (for histograms) bucket boundaries.
#[must_use = "call .build() to create the instrument"]
pub struct InstrumentBuilder<'m, T> {
    meter: &'m Meter,
    descriptor: InstrumentDescriptor,
    _kind: std::marker::PhantomData<fn() -> T>,
}

impl<T> InstrumentBuilder<'_, T> {
    /// Sets the description.
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.descriptor.description = description.into();
        self
    }

    /// Sets the UCUM unit (`s`, `ms`, `By`, `{request}`...).
    pub fn unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        self.descriptor.unit = unit.into();
        self
    }
}

impl InstrumentBuilder<'_, Histogram> {
    /// Sets explicit bucket boundaries (ascending upper bounds).
    pub fn boundaries(mut self, boundaries: impl Into<Vec<f64>>) -> Self {
        self.descriptor.boundaries = Some(boundaries.into());
        self
    }
}

macro_rules! instrument {
    ($(#[$doc:meta])* $name:ident, $recorder:ident, $create:ident, $method:ident, $value:ty) => {
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct $name(Option<Arc<dyn $recorder>>);

        impl $name {
            /// An instrument that records nothing.
            pub const fn noop() -> Self {
                $name(None)
            }

            /// An instrument over an adapter's recorder.
            pub fn new(recorder: Arc<dyn $recorder>) -> Self {
                $name(Some(recorder))
            }

            /// Whether this instrument records anything.
            #[inline]
            pub fn is_enabled(&self) -> bool {
                self.0.is_some()
            }

            #[doc = concat!("Records `value` with attributes; `ctx`'s span may become the exemplar.")]
            #[inline]
            pub fn $method(&self, ctx: &Context, value: $value, attributes: &[KeyValue<'_>]) {
                if let Some(r) = &self.0 {
                    r.$method(ctx, value, attributes);
                }
            }
        }

        impl InstrumentBuilder<'_, $name> {
            /// Creates the instrument.
            pub fn build(self) -> $name {
                $name(self.meter.provider.as_ref().and_then(|p| p.$create(&self.descriptor)))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("enabled", &self.is_enabled()).finish()
            }
        }
    };
}

instrument!(
    /// A monotonic counter of `u64` increments, such as requests served.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use hyperion::{kv, Telemetry};
    /// use hyperion::testing::{MemoryModule, PointValue};
    ///
    /// let memory = MemoryModule::new();
    /// let store = memory.store();
    /// let telemetry = Telemetry::builder().module(memory).build().await?;
    /// let requests = telemetry.meter("my-crate").counter("requests").unit("{request}").build();
    /// requests.add(&telemetry.context(), 1, &[kv("method", "GET")]);
    /// telemetry.flush(Duration::from_secs(1)).await?;
    /// assert_eq!(store.snapshot().points("requests")[0].value, PointValue::U64(1));
    /// # Ok(()) }
    /// ```
    Counter,
    CounterRecorder,
    counter,
    add,
    u64
);
impl Counter {
    /// [`Counter::add`] for a value measured at `at`, a wall-clock time the caller read already
    /// (the end of a call, say): an exemplar is stamped with it rather than with a second
    /// clock read.
    ///
    /// ```
    /// # fn demo(telemetry: &hyperion::Telemetry) {
    /// let calls = telemetry.meter("my-crate").counter("calls").build();
    /// let ended = std::time::SystemTime::now();
    /// calls.add_at(&telemetry.context(), 1, &[], ended);
    /// # }
    /// ```
    #[inline]
    pub fn add_at(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>], at: SystemTime) {
        if let Some(r) = &self.0 {
            r.add_at(ctx, value, attributes, at);
        }
    }
}

instrument!(
    /// A sum that goes up and down (`i64`), such as requests in flight.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::time::Duration;
    /// # use hyperion::testing::{MemoryModule, PointValue};
    /// # let memory = MemoryModule::new();
    /// # let store = memory.store();
    /// # let telemetry = hyperion::Telemetry::builder().module(memory).build().await?;
    /// # let meter = telemetry.meter("my-crate");
    /// # let ctx = telemetry.context();
    /// let in_flight = meter.up_down_counter("requests.in_flight").build();
    /// in_flight.add(&ctx, 1, &[]);
    /// in_flight.add(&ctx, -1, &[]);
    /// # telemetry.flush(Duration::from_secs(1)).await?;
    /// let snapshot = store.snapshot();
    /// let changes: Vec<_> = snapshot.points("requests.in_flight").iter().map(|p| p.value).collect();
    /// assert_eq!(changes, [PointValue::I64(1), PointValue::I64(-1)]);
    /// # Ok(()) }
    /// ```
    UpDownCounter,
    UpDownCounterRecorder,
    up_down_counter,
    add,
    i64
);
instrument!(
    /// A distribution of `f64` values, such as request durations in seconds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::time::Duration;
    /// # use hyperion::testing::{MemoryModule, PointValue};
    /// # let memory = MemoryModule::new();
    /// # let store = memory.store();
    /// # let telemetry = hyperion::Telemetry::builder().module(memory).build().await?;
    /// # let meter = telemetry.meter("my-crate");
    /// # let ctx = telemetry.context();
    /// let latency = meter.histogram("request.duration").unit("s").boundaries([0.1, 0.5, 1.0]).build();
    /// latency.record(&ctx, 0.25, &[]);
    /// # telemetry.flush(Duration::from_secs(1)).await?;
    /// assert_eq!(store.snapshot().points("request.duration")[0].value, PointValue::F64(0.25));
    /// # Ok(()) }
    /// ```
    Histogram,
    HistogramRecorder,
    histogram,
    record,
    f64
);

impl Histogram {
    /// [`Histogram::record`] for a value measured at `at` (see [`Counter::add_at`]).
    #[inline]
    pub fn record_at(
        &self,
        ctx: &Context,
        value: f64,
        attributes: &[KeyValue<'_>],
        at: SystemTime,
    ) {
        if let Some(r) = &self.0 {
            r.record_at(ctx, value, attributes, at);
        }
    }
}
instrument!(
    /// The last `f64` value, such as a queue length or a temperature.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::time::Duration;
    /// # use hyperion::testing::{MemoryModule, PointValue};
    /// # let memory = MemoryModule::new();
    /// # let store = memory.store();
    /// # let telemetry = hyperion::Telemetry::builder().module(memory).build().await?;
    /// # let meter = telemetry.meter("my-crate");
    /// # let ctx = telemetry.context();
    /// let queue = meter.gauge("queue.length").build();
    /// queue.record(&ctx, 12.0, &[]);
    /// # telemetry.flush(Duration::from_secs(1)).await?;
    /// assert_eq!(store.snapshot().points("queue.length")[0].value, PointValue::F64(12.0));
    /// # Ok(()) }
    /// ```
    Gauge,
    GaugeRecorder,
    gauge,
    record,
    f64
);
/// Adds to a [`Counter`] or [`UpDownCounter`], checking that it records before building the
/// attributes: on a no-op instrument the attributes' values are not even evaluated. Keys are
/// dotted names (`http.route = route`).
///
/// ```
/// use hyperion::{Context, Meter};
/// let calls = Meter::noop().counter("app.calls").build();
/// hyperion::add!(calls, Context::noop(), 1, component = "users", outcome = "ok");
/// ```
#[macro_export]
macro_rules! add {
    ($instrument:expr, $ctx:expr, $value:expr $(, $($key:ident).+ = $attr:expr)* $(,)?) => {
        match (&$instrument, &$ctx) {
            (instrument, ctx) => {
                if instrument.is_enabled() {
                    instrument.add(
                        ctx,
                        $value,
                        &[$($crate::kv(stringify!($($key).+), $attr)),*],
                    );
                }
            }
        }
    };
}

/// Records into a [`Histogram`] or [`Gauge`], checking that it records before building the
/// attributes (see [`add!`](crate::add!)).
///
/// ```
/// use hyperion::{Context, Meter};
/// let latency = Meter::noop().histogram("app.latency").unit("s").build();
/// hyperion::record!(latency, Context::noop(), 0.042, http.route = "/users/{id}");
/// ```
#[macro_export]
macro_rules! record {
    ($instrument:expr, $ctx:expr, $value:expr $(, $($key:ident).+ = $attr:expr)* $(,)?) => {
        match (&$instrument, &$ctx) {
            (instrument, ctx) => {
                if instrument.is_enabled() {
                    instrument.record(
                        ctx,
                        $value,
                        &[$($crate::kv(stringify!($($key).+), $attr)),*],
                    );
                }
            }
        }
    };
}
