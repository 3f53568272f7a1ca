//! The series of one instrument: a label set per series, a cardinality limit with one overflow
//! series, and a lookup that allocates nothing for a label set it has seen.
//!
//! A series is found by its *raw key*: the attributes as given, sorted by key, with each value
//! stringified and truncated to `max_label_value_length`. Lookups hash the borrowed attributes
//! (values are written straight into the hasher, through a truncating `fmt::Write`) and compare
//! them with the stored keys in place, so a record onto a known series allocates nothing.
//!
//! A raw key that is new is turned into *labels*: Prometheus label names (sanitized, sorted),
//! where attributes whose keys sanitize to the same name are joined with `;` (OpenTelemetry's
//! rule). Two raw keys with the same labels (`a.b` vs `a_b`, `42` vs `"42"`) share one series.
//! Past the cardinality limit, new label sets go to the overflow series, labelled only
//! `otel_metric_overflow="true"`, and are not remembered: memory stays bounded however many
//! distinct values arrive.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

// foldhash instead of std's SipHash: label sets are hashed on every record, and SipHash took
// about half of a counter add here (46 of 89 ns). Seeded per table, so still not predictable
// from outside.
use foldhash::fast::RandomState;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::LocalKey;

use hyperion::{KeyValue, Value};

use super::naming::{label_name, truncate};

/// Prometheus labels of a series: sanitized names, sorted, with their values.
pub(crate) type Labels = Vec<(String, String)>;

/// A raw key: attribute keys as given (sorted, deduplicated) with truncated string values.
/// Shared with the recording threads' caches.
type RawPairs = Arc<[(Box<str>, Box<str>)]>;

/// Slots of a thread's series cache, shared by every table of the thread (a power of two).
const CACHE_SLOTS: usize = 256;

/// Gives each table an id for the cache.
static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);

/// A recording thread's cache of the series it found, direct-mapped by table and label set
/// hash: a record onto a cached series takes no lock, so threads share no memory but the
/// series' cell (taking even a read lock writes the lock's word, and two threads doing so on
/// every record took turns with that cache line: 0.3x the throughput on two threads instead of
/// 2x). Series are never removed, so an entry never goes stale; an entry of a dropped table only
/// waits to be replaced. Used through `try_with`/`try_borrow`: during thread exit, or if a
/// record ever ran inside another, the table path is taken instead.
type SeriesCache<M> = RefCell<Vec<Option<CacheEntry<M>>>>;

/// One cached series.
pub(crate) struct CacheEntry<M> {
    table: u64,
    hash: u64,
    pairs: RawPairs,
    metric: Arc<M>,
}

/// A cell type with its own per-thread [`SeriesCache`] (a `thread_local!` cannot be generic;
/// one per type also spares a downcast on every hit).
pub(crate) trait Cached: Send + Sync + Sized + 'static {
    /// This thread's cache of series of this cell type.
    fn cache() -> &'static LocalKey<SeriesCache<Self>>;
}

macro_rules! cached {
    ($($cell:ty),*) => {$(
        impl Cached for $cell {
            fn cache() -> &'static LocalKey<SeriesCache<Self>> {
                thread_local! {
                    static CACHE: SeriesCache<$cell> = const { RefCell::new(Vec::new()) };
                }
                &CACHE
            }
        }
    )*};
}

cached!(
    super::cells::CounterCell,
    super::cells::UpDownCell,
    super::cells::HistogramCell,
    super::cells::GaugeCell,
    AtomicU64
);

/// Attribute slices up to this length are sorted on the stack; longer ones take the slow path.
const FAST_ATTRIBUTES: usize = 16;

const NO_NEXT: usize = usize::MAX;

/// The label of the overflow series (OpenTelemetry's rule).
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// The series of one instrument, each holding a metric `M`.
pub(crate) struct SeriesTable<M: Cached> {
    hasher: RandomState,
    limit: usize,
    max_value_len: usize,
    /// Raw keys remembered at most (aliases of known label sets included), to bound memory.
    max_keys: usize,
    make: Box<dyn Fn() -> M + Send + Sync>,
    overflowed: Arc<AtomicU64>,
    overflow_labels: Labels,
    overflow_attributes: [opentelemetry::KeyValue; 1],
    inner: RwLock<Table<M>>,
    /// This table's id in the threads' series caches.
    id: u64,
    /// Calls of the slow path, for tests.
    #[cfg(test)]
    slow_calls: AtomicU64,
    /// Lookups that missed the thread's cache and read the table, for tests.
    #[cfg(test)]
    table_reads: AtomicU64,
}

struct Table<M> {
    /// Hash of a raw key -> index of the newest raw key with that hash (chained by `next`).
    heads: HashMap<u64, usize, BuildHasherDefault<IdentityHasher>>,
    keys: Vec<RawKey>,
    by_labels: HashMap<Labels, usize>,
    series: Vec<Series<M>>,
    overflow: Option<Arc<M>>,
}

struct RawKey {
    pairs: RawPairs,
    series: usize,
    next: usize,
}

struct Series<M> {
    labels: Labels,
    /// The attributes of the record that made the series, for OTLP: keys as given, typed
    /// values (strings truncated), sorted by key, the last value of a repeated key kept.
    attributes: Box<[opentelemetry::KeyValue]>,
    metric: Arc<M>,
}

/// A series as readers see it.
pub(crate) struct SeriesRef<'a, M> {
    /// Its Prometheus labels.
    pub(crate) labels: &'a Labels,
    /// Its OTLP attributes.
    pub(crate) attributes: &'a [opentelemetry::KeyValue],
    /// A stable index within the table (the overflow series is [`OVERFLOW_INDEX`]).
    pub(crate) index: usize,
    pub(crate) metric: &'a M,
}

/// The index of the overflow series in [`SeriesRef::index`].
pub(crate) const OVERFLOW_INDEX: usize = usize::MAX;

/// The OTLP attribute of the overflow series (OpenTelemetry's rule).
pub(crate) const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

impl<M: Cached> SeriesTable<M> {
    /// A table keeping at most `limit` label sets; `make` creates the metric of a new series;
    /// every measurement folded into the overflow series adds one to `overflowed`.
    pub(crate) fn new(
        limit: usize,
        max_value_len: usize,
        overflowed: Arc<AtomicU64>,
        make: impl Fn() -> M + Send + Sync + 'static,
    ) -> Self {
        SeriesTable {
            hasher: RandomState::default(),
            limit,
            max_value_len,
            max_keys: limit.saturating_mul(2).saturating_add(64),
            make: Box::new(make),
            overflowed,
            overflow_labels: vec![(OVERFLOW_LABEL.to_owned(), "true".to_owned())],
            overflow_attributes: [opentelemetry::KeyValue::new(OVERFLOW_ATTRIBUTE, true)],
            inner: RwLock::new(Table {
                heads: HashMap::default(),
                keys: Vec::new(),
                by_labels: HashMap::new(),
                series: Vec::new(),
                overflow: None,
            }),
            id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
            #[cfg(test)]
            slow_calls: AtomicU64::new(0),
            #[cfg(test)]
            table_reads: AtomicU64::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Table<M>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table<M>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `f` with the metric of the series for `attributes`, creating it (or choosing the
    /// overflow series) when the label set is new.
    #[inline]
    pub(crate) fn record(&self, attributes: &[KeyValue<'_>], f: impl FnOnce(&M)) {
        let mut f = Some(f);
        let mut known_hash = None;
        if attributes.len() <= FAST_ATTRIBUTES {
            let mut order = [0u8; FAST_ATTRIBUTES];
            let order = &mut order[..attributes.len()];
            if sort_by_key(attributes, order) {
                let hash = self.hash_attributes(attributes, order);
                let slot = self.slot(hash);
                // A hit touches no reference count: `f` runs under the cache's shared borrow.
                let _ = M::cache().try_with(|cache| {
                    let Ok(cache) = cache.try_borrow() else {
                        return;
                    };
                    if let Some(Some(e)) = cache.get(slot) {
                        if e.table == self.id
                            && e.hash == hash
                            && self.matches(&e.pairs, attributes, order)
                        {
                            if let Some(f) = f.take() {
                                f(&e.metric);
                            }
                        }
                    }
                });
                let Some(g) = f.take() else { return };
                #[cfg(test)]
                self.table_reads.fetch_add(1, Ordering::Relaxed);
                let found = {
                    let table = self.read();
                    table
                        .find_key(hash, |pairs| self.matches(pairs, attributes, order))
                        .map(|key| {
                            (
                                Arc::clone(&key.pairs),
                                Arc::clone(&table.series[key.series].metric),
                            )
                        })
                };
                if let Some((pairs, metric)) = found {
                    g(&metric);
                    self.cache(slot, hash, pairs, metric);
                    return;
                }
                f = Some(g);
                known_hash = Some(hash);
            }
        }
        if let Some(f) = f {
            self.record_slow(attributes, known_hash, f);
        }
    }

    /// This table's slot for a label set's hash in the threads' caches.
    #[inline]
    fn slot(&self, hash: u64) -> usize {
        let mixed = hash ^ self.id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed as usize) & (CACHE_SLOTS - 1)
    }

    /// Remembers a series found in the table in this thread's cache.
    fn cache(&self, slot: usize, hash: u64, pairs: RawPairs, metric: Arc<M>) {
        let _ = M::cache().try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return;
            };
            if cache.is_empty() {
                cache.resize_with(CACHE_SLOTS, || None);
            }
            cache[slot] = Some(CacheEntry {
                table: self.id,
                hash,
                pairs,
                metric,
            });
        });
    }

    /// A label set not seen yet (or duplicate keys, or very many attributes): build the raw key
    /// and the labels, then find, create or overflow under the write lock.
    #[inline(never)]
    fn record_slow(&self, attributes: &[KeyValue<'_>], hash: Option<u64>, f: impl FnOnce(&M)) {
        #[cfg(test)]
        self.slow_calls.fetch_add(1, Ordering::Relaxed);
        let pairs = raw_pairs(attributes, self.max_value_len);
        // Without repeated keys, the raw key hashes as the attributes did.
        let hash = hash.unwrap_or_else(|| self.hash_pairs(&pairs));
        let labels = labels(&pairs, self.max_value_len);
        {
            // Under the read lock first: past the limit, every new label set comes here, and
            // they should not queue on the write lock.
            let table = self.read();
            if let Some(i) = table.find(hash, |stored| *stored == *pairs) {
                f(&*table.series[i].metric);
                return;
            }
            match table.by_labels.get(&labels) {
                Some(&i) if table.keys.len() >= self.max_keys => {
                    f(&*table.series[i].metric);
                    return;
                }
                Some(_) => {} // remembered as an alias below
                None => {
                    if let (true, Some(overflow)) =
                        (table.series.len() >= self.limit, &table.overflow)
                    {
                        self.overflowed.fetch_add(1, Ordering::Relaxed);
                        f(overflow);
                        return;
                    }
                }
            }
        }
        let mut table = self.write();
        if let Some(i) = table.find(hash, |stored| *stored == *pairs) {
            f(&*table.series[i].metric);
            return;
        }
        if let Some(&i) = table.by_labels.get(&labels) {
            if table.keys.len() < self.max_keys {
                table.remember(hash, pairs, i);
            }
            f(&*table.series[i].metric);
            return;
        }
        if table.series.len() >= self.limit {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            let metric = table
                .overflow
                .get_or_insert_with(|| Arc::new((self.make)()));
            f(metric);
            return;
        }
        let i = table.series.len();
        table.series.push(Series {
            labels: labels.clone(),
            attributes: typed_attributes(attributes, self.max_value_len),
            metric: Arc::new((self.make)()),
        });
        table.by_labels.insert(labels, i);
        if table.keys.len() < self.max_keys {
            table.remember(hash, pairs, i);
        }
        f(&*table.series[i].metric);
    }

    fn hash_attributes(&self, attributes: &[KeyValue<'_>], order: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for &i in order {
            let kv = &attributes[usize::from(i)];
            h.write(kv.key.as_str().as_bytes());
            h.write_u8(0xff);
            // The value must reach the hasher in one piece, as in `hash_pairs` (foldhash, unlike
            // SipHash, hashes `ab` and `a`,`b` differently); other types are formatted on the
            // stack first. (Feeding the hasher fixed blocks instead of pieces was tried: 25 %
            // more instructions a record, the copies and the block's set-up cost more than the
            // writes they save.)
            match kv.value.as_str() {
                Some(s) => h.write(truncate(s, self.max_value_len).as_bytes()),
                None => {
                    let mut buf = StackText::default();
                    write_value(&mut buf, &kv.value, self.max_value_len);
                    h.write(&buf.0);
                }
            }
            h.write_u8(0xff);
        }
        h.finish()
    }

    /// The same hash as [`Self::hash_attributes`] for the raw key those attributes make.
    fn hash_pairs(&self, pairs: &[(Box<str>, Box<str>)]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for (key, value) in pairs {
            h.write(key.as_bytes());
            h.write_u8(0xff);
            h.write(value.as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }

    fn matches(
        &self,
        pairs: &[(Box<str>, Box<str>)],
        attributes: &[KeyValue<'_>],
        order: &[u8],
    ) -> bool {
        pairs.len() == order.len()
            && pairs.iter().zip(order).all(|((key, value), &i)| {
                let kv = &attributes[usize::from(i)];
                **key == *kv.key.as_str() && value_eq(&kv.value, value, self.max_value_len)
            })
    }

    /// Calls `f` for every series in creation order, then the overflow series if any. Records
    /// onto known series go on meanwhile (the read lock is held); new series wait.
    pub(crate) fn for_each(&self, mut f: impl FnMut(SeriesRef<'_, M>)) {
        let table = self.read();
        for (index, series) in table.series.iter().enumerate() {
            f(SeriesRef {
                labels: &series.labels,
                attributes: &series.attributes,
                index,
                metric: &*series.metric,
            });
        }
        if let Some(metric) = &table.overflow {
            f(SeriesRef {
                labels: &self.overflow_labels,
                attributes: &self.overflow_attributes,
                index: OVERFLOW_INDEX,
                metric,
            });
        }
    }

    /// The number of series, the overflow series included.
    pub(crate) fn len(&self) -> usize {
        let table = self.read();
        table.series.len() + usize::from(table.overflow.is_some())
    }

    /// The raw keys remembered (bounded by twice the limit plus 64).
    #[cfg(test)]
    pub(crate) fn remembered_keys(&self) -> usize {
        self.read().keys.len()
    }

    /// Whether the table has no series yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M> Table<M> {
    fn find(&self, hash: u64, eq: impl FnMut(&[(Box<str>, Box<str>)]) -> bool) -> Option<usize> {
        self.find_key(hash, eq).map(|key| key.series)
    }

    fn find_key(
        &self,
        hash: u64,
        mut eq: impl FnMut(&[(Box<str>, Box<str>)]) -> bool,
    ) -> Option<&RawKey> {
        let mut k = *self.heads.get(&hash)?;
        while k != NO_NEXT {
            let key = &self.keys[k];
            if eq(&key.pairs) {
                return Some(key);
            }
            k = key.next;
        }
        None
    }

    fn remember(&mut self, hash: u64, pairs: RawPairs, series: usize) {
        let next = self.heads.get(&hash).copied().unwrap_or(NO_NEXT);
        self.heads.insert(hash, self.keys.len());
        self.keys.push(RawKey {
            pairs,
            series,
            next,
        });
    }
}

/// Fills `order` with the indexes of `attributes` sorted by key; `false` when a key repeats.
/// An insertion sort that compares each pair once (attributes come in few and often sorted):
/// equal neighbours are found while sorting.
#[inline]
fn sort_by_key(attributes: &[KeyValue<'_>], order: &mut [u8]) -> bool {
    let key = |i: u8| attributes[usize::from(i)].key.as_str();
    for (i, o) in (0u8..).zip(order.iter_mut()) {
        *o = i;
    }
    let mut unique = true;
    for i in 1..order.len() {
        let mut j = i;
        while j > 0 {
            match key(order[j - 1]).cmp(key(order[j])) {
                std::cmp::Ordering::Greater => order.swap(j - 1, j),
                std::cmp::Ordering::Equal => {
                    unique = false;
                    break;
                }
                std::cmp::Ordering::Less => break,
            }
            j -= 1;
        }
    }
    unique
}

/// The raw key of `attributes`: sorted by key, the last value of a repeated key kept.
fn raw_pairs(attributes: &[KeyValue<'_>], max_value_len: usize) -> RawPairs {
    let mut order: Vec<(usize, &str)> = attributes
        .iter()
        .enumerate()
        .map(|(i, kv)| (i, kv.key.as_str()))
        .collect();
    // Equal keys: the last occurrence first, so that `dedup_by` keeps it.
    order.sort_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
    order.dedup_by(|a, b| a.1 == b.1);
    order
        .into_iter()
        .map(|(i, key)| {
            let mut value = String::new();
            write_value(&mut value, &attributes[i].value, max_value_len);
            (Box::from(key), value.into_boxed_str())
        })
        .collect()
}

/// The OTLP attributes of a new series: sorted by key, the last value of a repeated key kept,
/// string values truncated to `max_value_len` bytes.
fn typed_attributes(
    attributes: &[KeyValue<'_>],
    max_value_len: usize,
) -> Box<[opentelemetry::KeyValue]> {
    let mut order: Vec<usize> = (0..attributes.len()).collect();
    // Equal keys: the last occurrence first, so that `dedup_by` keeps it.
    order.sort_by(|&a, &b| {
        attributes[a]
            .key
            .as_str()
            .cmp(attributes[b].key.as_str())
            .then(b.cmp(&a))
    });
    order.dedup_by(|a, b| attributes[*a].key.as_str() == attributes[*b].key.as_str());
    order
        .into_iter()
        .map(|i| {
            let kv = &attributes[i];
            match kv.value.as_str() {
                Some(s) if s.len() > max_value_len => opentelemetry::KeyValue::new(
                    crate::convert::key(&kv.key),
                    truncate(s, max_value_len).to_owned(),
                ),
                _ => crate::convert::key_value(kv),
            }
        })
        .collect()
}

/// The Prometheus labels of a raw key: sanitized names, sorted; values of names that collide
/// joined with `;` in the order of the original keys; empty keys dropped.
fn labels(pairs: &[(Box<str>, Box<str>)], max_value_len: usize) -> Labels {
    let mut named: Labels = pairs
        .iter()
        .filter_map(|(key, value)| Some((label_name(key)?, value.to_string())))
        .collect();
    // A stable sort: colliding names stay in the order of their original keys.
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Labels = Vec::with_capacity(named.len());
    for (name, value) in named {
        match out.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(';');
                joined.push_str(&value);
                let keep = truncate(joined, max_value_len).len();
                joined.truncate(keep);
            }
            _ => out.push((name, value)),
        }
    }
    out
}

/// Writes a value's `Display` form cut to `max` bytes at a character boundary.
fn write_value<W: fmt::Write>(out: &mut W, value: &Value<'_>, max: usize) {
    // Writers here never fail (the hash and comparison sinks record a mismatch instead).
    let _ = match value.as_str() {
        Some(s) => out.write_str(truncate(s, max)),
        None => write!(
            Truncating {
                inner: out,
                remaining: max
            },
            "{value}"
        ),
    };
}

/// Whether `value`, stringified and truncated, is `expected` (without allocating).
fn value_eq(value: &Value<'_>, expected: &str, max: usize) -> bool {
    if let Some(s) = value.as_str() {
        return truncate(s, max) == expected;
    }
    let mut sink = EqSink {
        expected: expected.as_bytes(),
        pos: 0,
        equal: true,
    };
    write_value(&mut sink, value, max);
    sink.equal && sink.pos == expected.len()
}

/// A `fmt::Write` that passes on at most `remaining` bytes, cut at a character boundary: the
/// same text as truncating the whole output, whatever the chunks.
struct Truncating<'a, W> {
    inner: &'a mut W,
    remaining: usize,
}

impl<W: fmt::Write> fmt::Write for Truncating<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let cut = truncate(s, self.remaining);
        self.remaining = if cut.len() < s.len() {
            0
        } else {
            self.remaining - cut.len()
        };
        self.inner.write_str(cut)
    }
}

/// Text formatted on the stack (spills to the heap only past 64 bytes).
#[derive(Default)]
struct StackText(smallvec::SmallVec<[u8; 64]>);

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Compares text with `expected`, chunk by chunk.
struct EqSink<'a> {
    expected: &'a [u8],
    pos: usize,
    equal: bool,
}

impl fmt::Write for EqSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.pos + s.len();
        if self.equal && self.expected.get(self.pos..end) == Some(s.as_bytes()) {
            self.pos = end;
        } else {
            self.equal = false;
        }
        Ok(())
    }
}

/// The hash map of raw keys is keyed by a (foldhash) hash of the key already: no second hash.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use hyperion::kv;

    use super::*;

    fn table(limit: usize, max_len: usize) -> (SeriesTable<AtomicU64>, Arc<AtomicU64>) {
        let overflowed = Arc::new(AtomicU64::new(0));
        let t = SeriesTable::new(limit, max_len, overflowed.clone(), || AtomicU64::new(0));
        (t, overflowed)
    }

    fn add(t: &SeriesTable<AtomicU64>, attrs: &[KeyValue<'_>]) {
        t.record(attrs, |m| {
            m.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn dump(t: &SeriesTable<AtomicU64>) -> Vec<(Labels, u64)> {
        let mut out = Vec::new();
        t.for_each(|s| out.push((s.labels.clone(), s.metric.load(Ordering::Relaxed))));
        out
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn attribute_order_makes_one_series() {
        let (t, _) = table(10, 256);
        add(&t, &[kv("b", "2"), kv("a", "1"), kv("c", "3")]);
        add(&t, &[kv("c", "3"), kv("b", "2"), kv("a", "1")]);
        add(&t, &[kv("a", "1"), kv("b", "2"), kv("c", "3")]);
        assert_eq!(dump(&t), [(l(&[("a", "1"), ("b", "2"), ("c", "3")]), 3)]);
    }

    #[test]
    fn keys_are_sanitized_and_colliding_names_joined() {
        let (t, _) = table(10, 256);
        add(&t, &[kv("http.method", "GET")]);
        // `http_method` and `http.method` are one label set: one series.
        add(&t, &[kv("http_method", "GET")]);
        // Both at once: joined with `;` in the order of the original keys.
        add(&t, &[kv("x_y", "2"), kv("x.y", "1")]);
        add(&t, &[kv("", "dropped"), kv("9", "n")]);
        assert_eq!(
            dump(&t),
            [
                (l(&[("http_method", "GET")]), 2),
                (l(&[("x_y", "1;2")]), 1),
                (l(&[("key_9", "n")]), 1),
            ]
        );
    }

    #[test]
    fn repeated_key_keeps_the_last_value() {
        let (t, _) = table(10, 256);
        add(&t, &[kv("a", "1"), kv("a", "2")]);
        add(&t, &[kv("a", "2")]);
        add(&t, &[kv("a", "1"), kv("a", "2")]);
        assert_eq!(dump(&t), [(l(&[("a", "2")]), 3)]);
    }

    #[test]
    fn values_of_other_types_are_stringified() {
        let (t, _) = table(10, 256);
        add(&t, &[kv("n", 42), kv("ok", true), kv("f", 1.5)]);
        add(&t, &[kv("n", "42"), kv("ok", "true"), kv("f", "1.5")]);
        let arr = [Value::from(1), Value::from(2)];
        add(&t, &[kv("arr", &arr[..])]);
        assert_eq!(
            dump(&t),
            [
                (l(&[("f", "1.5"), ("n", "42"), ("ok", "true")]), 2),
                (l(&[("arr", "[1,2]")]), 1),
            ]
        );
    }

    #[test]
    fn fast_hash_equals_slow_hash() {
        let (t, _) = table(10, 4);
        let attrs = [kv("z", 123456), kv("a", "héllo"), kv("m", 2.5)];
        let mut order = [0u8; 3];
        assert!(sort_by_key(&attrs, &mut order));
        let pairs = raw_pairs(&attrs, 4);
        assert_eq!(t.hash_attributes(&attrs, &order), t.hash_pairs(&pairs));
        assert!(t.matches(&pairs, &attrs, &order));
        assert_eq!(&*pairs[0].1, "hél");
        assert_eq!(&*pairs[2].1, "1234");
    }

    #[test]
    fn sorting_finds_repeated_keys() {
        fn check(keys: &[&'static str]) -> (bool, Vec<&'static str>) {
            let attrs: Vec<KeyValue<'_>> = keys.iter().map(|k| kv(*k, 1)).collect();
            let mut order = vec![0u8; attrs.len()];
            let unique = sort_by_key(&attrs, &mut order);
            let sorted: Vec<&str> = order.iter().map(|&i| keys[usize::from(i)]).collect();
            (unique, sorted)
        }
        assert_eq!(check(&["c", "a", "b"]), (true, vec!["a", "b", "c"]));
        assert_eq!(check(&["a", "b", "c"]), (true, vec!["a", "b", "c"]));
        assert!(!check(&["b", "a", "b"]).0);
        assert!(!check(&["a", "c", "b", "c"]).0);
        assert!(!check(&["x", "x"]).0);
    }

    #[test]
    fn long_label_sets_hash_the_same_both_ways() {
        // Long keys and values, of several types.
        let (t, _) = table(10, 1000);
        let long = "v".repeat(300);
        let attrs = [
            kv("k".repeat(200), long.as_str()),
            kv("a", 7),
            kv("z", "end"),
        ];
        let mut order = [0u8; 3];
        assert!(sort_by_key(&attrs, &mut order));
        let pairs = raw_pairs(&attrs, 1000);
        assert_eq!(t.hash_attributes(&attrs, &order), t.hash_pairs(&pairs));
    }

    #[test]
    fn known_label_sets_take_the_fast_path() {
        let (t, _) = table(10, 256);
        let slow = || t.slow_calls.load(Ordering::Relaxed);
        add(&t, &[kv("n.x", 7), kv("s", "x")]);
        assert_eq!(slow(), 1);
        add(&t, &[kv("s", "x"), kv("n.x", 7)]);
        // `"7"` stringifies as `7` does: the same raw key.
        add(&t, &[kv("n.x", "7"), kv("s", "x")]);
        assert_eq!(
            slow(),
            1,
            "a known label set, in any order, is found without allocating"
        );
        // An alias of the same labels (`n_x` for `n.x`) is remembered after one slow call.
        add(&t, &[kv("n_x", 7), kv("s", "x")]);
        add(&t, &[kv("n_x", 7), kv("s", "x")]);
        assert_eq!(slow(), 2);
        assert_eq!(dump(&t), [(l(&[("n_x", "7"), ("s", "x")]), 5)]);
    }

    #[test]
    fn threads_with_their_own_caches_lose_no_record() {
        // More label sets than a thread's cache has slots, recorded from four threads at once:
        // every record lands in its series, whether found in a cache, the table or created.
        let (t, _) = table(CACHE_SLOTS * 4, 256);
        let values: Vec<String> = (0..CACHE_SLOTS).map(|i| i.to_string()).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for round in 0..500 {
                        for v in &values {
                            add(&t, &[kv("v", v.as_str()), kv("round", round % 2)]);
                        }
                    }
                });
            }
        });
        let d = dump(&t);
        assert_eq!(d.len(), CACHE_SLOTS * 2);
        assert!(d.iter().all(|(_, n)| *n == 4 * 250), "{d:?}");
    }

    #[test]
    fn a_known_series_is_found_in_the_threads_cache_without_the_table() {
        let (t, overflowed) = table(2, 256);
        let reads = || t.table_reads.load(Ordering::Relaxed);
        add(&t, &[kv("a", "1"), kv("b", "x")]);
        add(&t, &[kv("b", "x"), kv("a", "1")]);
        let after_two = reads();
        for _ in 0..100 {
            add(&t, &[kv("b", "x"), kv("a", "1")]);
        }
        assert_eq!(reads(), after_two, "a cached series reads no table");
        // Another table with the same label set has its own entries.
        let (other, _) = table(2, 256);
        add(&other, &[kv("a", "1"), kv("b", "x")]);
        assert_eq!(dump(&other)[0].1, 1);
        // Past the limit, new label sets go to the overflow series every time: they are not
        // remembered, so not cached either.
        add(&t, &[kv("a", "2")]);
        for i in 0..5 {
            add(&t, &[kv("a", i + 10)]);
        }
        assert_eq!(overflowed.load(Ordering::Relaxed), 5);
        assert_eq!(dump(&t).len(), 3);
        assert_eq!(dump(&t)[0].1, 102);
    }

    #[test]
    fn sorting_finds_repeated_keys_in_every_order() {
        // Every sequence of up to six keys over a three-letter alphabet (repeats included).
        let alphabet = ["a", "b", "c"];
        for len in 0..=6u32 {
            for code in 0..3usize.pow(len) {
                let keys: Vec<&str> = (0..len)
                    .map(|i| alphabet[code / 3usize.pow(i) % 3])
                    .collect();
                let attrs: Vec<KeyValue<'_>> = keys.iter().map(|k| kv(*k, 1)).collect();
                let mut order = vec![0u8; attrs.len()];
                let unique = sort_by_key(&attrs, &mut order);
                let mut distinct = keys.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(unique, distinct.len() == keys.len(), "{keys:?}");
                if unique {
                    let sorted: Vec<&str> = order.iter().map(|&i| keys[usize::from(i)]).collect();
                    assert_eq!(sorted, distinct, "{keys:?}");
                }
            }
        }
    }

    #[test]
    fn long_values_are_truncated_at_a_char_boundary() {
        let (t, _) = table(10, 5);
        // "ab" + "日" (3 bytes) = 5 bytes; the next "本" does not fit.
        add(&t, &[kv("k", "ab日本語")]);
        add(&t, &[kv("k", "ab日本")]);
        // Non-string values are cut the same way.
        add(&t, &[kv("k", 1234567)]);
        assert_eq!(
            dump(&t),
            [(l(&[("k", "ab日")]), 2), (l(&[("k", "12345")]), 1)]
        );
    }

    #[test]
    fn overflow_past_the_limit() {
        let (t, overflowed) = table(2, 256);
        for i in 0..5 {
            add(&t, &[kv("i", i)]);
        }
        add(&t, &[kv("i", 0)]);
        add(&t, &[kv("i", 4)]);
        assert_eq!(
            dump(&t),
            [
                (l(&[("i", "0")]), 2),
                (l(&[("i", "1")]), 1),
                (l(&[(OVERFLOW_LABEL, "true")]), 4),
            ]
        );
        assert_eq!(overflowed.load(Ordering::Relaxed), 4);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn many_attributes_and_empty_sets() {
        let (t, _) = table(10, 256);
        let many: Vec<KeyValue<'_>> = (0..20).map(|i| kv(format!("k{i:02}"), i)).collect();
        add(&t, &many);
        add(&t, &many);
        add(&t, &[]);
        add(&t, &[]);
        let d = dump(&t);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].0.len(), d[0].1), (20, 2));
        assert_eq!(d[1], (Labels::new(), 2));
    }
}
