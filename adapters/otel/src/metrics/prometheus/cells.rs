//! The aggregation cells of one series: what a record updates and what both exporters read.
//!
//! One store feeds the Prometheus endpoint and the OTLP exporter (issue 16): the Prometheus
//! text and the OTLP data points are two readings of these cells, taken at scrape or export
//! time, so a record costs the same whichever exporters are configured.
//!
//! Hand-written rather than prometheus-client's `CounterWithExemplar`/`HistogramWithExemplars`:
//! those keep their counts and exemplars private (only their own text encoder reads them), and
//! take a write lock on every histogram observation. Here every value is an atomic; only an
//! exemplar takes a lock, with `try_lock`, so a record never waits: when two threads offer an
//! exemplar for the same slot at once, one of them is kept (an exemplar is a sample anyway).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use hyperion::{SpanId, TraceId};

/// A measurement's link to the span it was recorded under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// The measurement (a counter's increment, a histogram's value).
    pub(crate) value: f64,
    /// When it was recorded.
    pub(crate) time: SystemTime,
}

/// One exemplar, replaced by newer ones.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlot(Mutex<Option<Exemplar>>);

impl ExemplarSlot {
    /// Keeps `exemplar` unless another thread is writing this slot right now.
    #[inline]
    fn offer(&self, exemplar: Exemplar) {
        if let Ok(mut slot) = self.0.try_lock() {
            *slot = Some(exemplar);
        }
    }

    /// The latest exemplar.
    pub(crate) fn get(&self) -> Option<Exemplar> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A monotonic sum with its latest exemplar.
#[derive(Debug, Default)]
pub(crate) struct CounterCell {
    value: AtomicU64,
    exemplar: ExemplarSlot,
}

impl CounterCell {
    #[inline]
    pub(crate) fn add(&self, value: u64, exemplar: Option<Exemplar>) {
        self.value.fetch_add(value, Ordering::Relaxed);
        if let Some(e) = exemplar {
            self.exemplar.offer(e);
        }
    }

    pub(crate) fn value(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub(crate) fn exemplar(&self) -> Option<Exemplar> {
        self.exemplar.get()
    }
}

/// A sum that goes up and down.
#[derive(Debug, Default)]
pub(crate) struct UpDownCell(AtomicI64);

impl UpDownCell {
    #[inline]
    pub(crate) fn add(&self, value: i64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    pub(crate) fn value(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The last value recorded (`f64` bits).
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    #[inline]
    pub(crate) fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn value(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// An explicit-bucket histogram: a count per bucket, the sum, and the latest exemplar of each
/// bucket. The count is the sum of the buckets, so a reading's count always equals its `+Inf`
/// bucket; the sum is a separate atomic and may be one record ahead of or behind the buckets
/// in a reading taken while another thread records (as in the Prometheus Go client without its
/// hot/cold swap).
#[derive(Debug)]
pub(crate) struct HistogramCell {
    bounds: Arc<[f64]>,
    /// `bounds.len() + 1` counts: bucket `i` holds values `<= bounds[i]` (and above the bound
    /// before it); the last one everything above the last bound.
    buckets: Box<[AtomicU64]>,
    /// `f64` bits.
    sum: AtomicU64,
    /// The smallest and largest values recorded (`f64` bits; infinities while empty).
    min: AtomicU64,
    max: AtomicU64,
    /// One slot per bucket, allocated with the first exemplar.
    exemplars: std::sync::OnceLock<Box<[ExemplarSlot]>>,
}

/// A consistent-enough reading of a histogram.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HistogramReading {
    /// Per bucket, not cumulative; `bounds.len() + 1` of them.
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    /// `None` while empty.
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
}

impl HistogramCell {
    /// An empty histogram over `bounds` (sorted, finite, without duplicates).
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        HistogramCell {
            bounds,
            buckets,
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            exemplars: std::sync::OnceLock::new(),
        }
    }

    /// Records a finite `value`.
    #[inline]
    pub(crate) fn record(&self, value: f64, exemplar: Option<Exemplar>) {
        // The first bound not below the value: `le` bounds are inclusive.
        let i = self.bounds.partition_point(|b| *b < value);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let mut current = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match self.sum.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        // Extremes: a load and a compare, a write only for a new extreme.
        extreme(&self.min, value, |new, old| new < old);
        extreme(&self.max, value, |new, old| new > old);
        if let Some(e) = exemplar {
            let slots = self.exemplars.get_or_init(|| {
                (0..self.buckets.len())
                    .map(|_| ExemplarSlot::default())
                    .collect()
            });
            slots[i].offer(e);
        }
    }

    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    pub(crate) fn read(&self) -> HistogramReading {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count = buckets.iter().sum();
        let bound = |a: &AtomicU64| {
            let v = f64::from_bits(a.load(Ordering::Relaxed));
            (count > 0 && v.is_finite()).then_some(v)
        };
        HistogramReading {
            count,
            buckets,
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
            min: bound(&self.min),
            max: bound(&self.max),
        }
    }

    /// The latest exemplar of each bucket, by bucket index.
    pub(crate) fn exemplars(&self) -> impl Iterator<Item = (usize, Exemplar)> + '_ {
        self.exemplars
            .get()
            .into_iter()
            .flat_map(|slots| slots.iter().enumerate())
            .filter_map(|(i, slot)| Some((i, slot.get()?)))
    }
}

/// Moves `cell` to `value` while `better(value, current)`.
#[inline]
fn extreme(cell: &AtomicU64, value: f64, better: impl Fn(f64, f64) -> bool) {
    let mut current = cell.load(Ordering::Relaxed);
    while better(value, f64::from_bits(current)) {
        match cell.compare_exchange_weak(
            current,
            value.to_bits(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exemplar(value: f64) -> Exemplar {
        Exemplar {
            trace_id: TraceId::from_bytes([1; 16]),
            span_id: SpanId::from_bytes([2; 8]),
            value,
            time: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let h = HistogramCell::new(Arc::from([1.0, 2.0]));
        for v in [0.5, 1.0, 1.5, 2.0, 2.5, -3.0] {
            h.record(v, None);
        }
        let r = h.read();
        assert_eq!(r.buckets, [3, 2, 1]);
        assert_eq!(r.count, 6);
        assert_eq!(r.sum, 4.5);
        assert_eq!((r.min, r.max), (Some(-3.0), Some(2.5)));
        assert_eq!(HistogramCell::new(Arc::from([1.0])).read().min, None);
        assert_eq!(h.exemplars().count(), 0, "no slots until an exemplar comes");
        h.record(1.5, Some(exemplar(1.5)));
        h.record(9.0, Some(exemplar(9.0)));
        let e: Vec<_> = h.exemplars().map(|(i, e)| (i, e.value)).collect();
        assert_eq!(e, [(1, 1.5), (2, 9.0)]);
    }

    #[test]
    fn counter_keeps_its_latest_exemplar() {
        let c = CounterCell::default();
        c.add(2, Some(exemplar(2.0)));
        c.add(3, None);
        assert_eq!(c.value(), 5);
        assert_eq!(c.exemplar().map(|e| e.value), Some(2.0));
        c.add(4, Some(exemplar(4.0)));
        assert_eq!(c.exemplar().map(|e| e.value), Some(4.0));
    }

    #[test]
    fn concurrent_records_lose_nothing() {
        let h = HistogramCell::new(Arc::from([10.0]));
        let c = CounterCell::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        h.record(1.0, Some(exemplar(1.0)));
                        c.add(1, Some(exemplar(1.0)));
                    }
                });
            }
        });
        let r = h.read();
        assert_eq!((r.count, r.sum), (40_000, 40_000.0));
        assert_eq!(c.value(), 40_000);
    }
}
