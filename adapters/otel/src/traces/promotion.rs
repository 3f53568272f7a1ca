//! Span promotion (`tracing.promotion`): a promotable span (every intercepted call) is recorded
//! without an SDK span — its ids, start time, attributes and events kept here — and decided
//! when it ends:
//!
//! - it **becomes a span**, with its original span id, parent and start time, marked
//!   `hyperion.promoted = true` and `hyperion.promotion.reason`, when it failed (`error`), took
//!   `threshold` or longer (`slow`), has a child that is a span (`child`: a span started under it,
//!   or a promotable child that was promoted), had its context injected into a carrier
//!   (`propagated`: another process may name it as parent), or outlived its parent
//!   (`outlived_parent`: there is nothing left to hold its event);
//! - otherwise it becomes an **event on its parent span** named after the call, with
//!   `hyperion.span_id` (the id its log lines and exemplars carry), `hyperion.duration_ms`,
//!   `hyperion.outcome` and its attributes, at its start time — or nothing
//!   (`fast_calls: none`).
//!
//! A span is promotable only under a sampled parent started in this process by this tracer
//! (the parent holds the event); any other span is an SDK span as usual.
//!
//! **No orphans.** A child promoted after its parent already ended as an event promotes the
//! parent late (and so on up): the parent's data is kept while it has children still open. The
//! late parent keeps the ids its children, logs and exemplars already name, which re-parenting
//! the child to the nearest exported ancestor would not; the price is that the parent also left
//! its event on the grandparent. A span *started* after its parent ended as an event (a task
//! that outlives the call it was spawned from) cannot revive it: start such work before the
//! call ends, or as its own trace.
//!
//! The SDK cannot be handed a span id (0.33 always asks its id generator), so the provider's id
//! generator is [`PresetIds`]: it gives the next span id from a thread-local when the promoter
//! has set one for the span it is about to build, and random ids otherwise.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use hyperion::trace::SpanRecorder;
use hyperion::{KeyValue, Span, SpanContext, SpanOptions, Status};
use opentelemetry as otel;
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer};

use super::tail::TailShared;
use super::tracer::OtelTracer;
use crate::config::{FastCalls, PromotionSettings};
use crate::convert;

/// The SDK's default span limits, applied while a deferred span records (the SDK applies its
/// own again when the span is built).
const MAX_ATTRIBUTES: usize = 128;
const MAX_EVENTS: usize = 128;
const MAX_LINKS: usize = 128;

thread_local! {
    static PRESET_SPAN_ID: Cell<Option<otel::trace::SpanId>> = const { Cell::new(None) };
}

/// The provider's id generator when promotion is on: random ids, except for a span the
/// promoter is building, which gets the id it was given at its start.
#[derive(Debug, Default)]
pub(crate) struct PresetIds(RandomIdGenerator);

impl IdGenerator for PresetIds {
    fn new_trace_id(&self) -> otel::trace::TraceId {
        self.0.new_trace_id()
    }

    fn new_span_id(&self) -> otel::trace::SpanId {
        PRESET_SPAN_ID
            .take()
            .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Why a deferred span became a span (`hyperion.promotion.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Error,
    Slow,
    Child,
    Propagated,
    OutlivedParent,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Error => "error",
            Reason::Slow => "slow",
            Reason::Child => "child",
            Reason::Propagated => "propagated",
            Reason::OutlivedParent => "outlived_parent",
        }
    }
}

/// A span started under promotion, deferred or not: what its children and the `injected` hook
/// need to reach it, found by span id in the promoter's registry of open spans.
pub(crate) struct Node {
    span_id: hyperion::SpanId,
    parent: Option<Arc<Node>>,
    state: Mutex<NodeState>,
}

#[derive(Default)]
struct NodeState {
    /// An SDK span exists (or will, being built): a child under it is never an orphan.
    exported: bool,
    ended: bool,
    /// Asked to become a span before it ended.
    promote: Option<Reason>,
    open_children: u32,
    /// Events of children that stayed events, added to this span when it ends.
    inbox: Vec<otel::trace::Event>,
    /// A deferred span's data: recorded into while it is open; after it ended as an event,
    /// kept only while children are open, so that one promoted later can promote it late.
    data: Option<Deferred>,
    /// Ended as an event with children open: it still counts as open in its parent until its
    /// last child ends, so that the whole chain of data up to an exported span stays.
    pinned: bool,
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a child started under this node; false when the node has already ended.
    fn attach(&self) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        state.open_children += 1;
        true
    }

    /// Stops counting a child; frees the data kept for a late promotion once no child is left
    /// to ask for one.
    /// Returns true when that was the last child of a node that ended as an event while
    /// children were open: it kept counting as open in its own parent (so that the parent's
    /// data stayed for a late promotion too), which the caller must now release in turn.
    fn release(&self) -> bool {
        let mut state = self.lock();
        state.open_children = state.open_children.saturating_sub(1);
        if state.ended && state.open_children == 0 {
            if !state.exported {
                state.data = None;
            }
            if state.pinned {
                state.pinned = false;
                return true;
            }
        }
        false
    }
}

/// Releases `node` as a child's parent, and its ancestors as far as they were kept open only
/// for it (see [`Node::release`]); one lock at a time.
fn release_chain(node: &Arc<Node>) {
    let mut current = node.clone();
    while current.release() {
        match &current.parent {
            Some(parent) => current = parent.clone(),
            None => return,
        }
    }
}

/// The open spans started under promotion, by span id, sharded so that threads seldom meet on
/// one lock: how a child finds its parent's node (the facade hands a tracer only the parent's
/// span context, also when an integration rebuilt it from the bridge's thread-local) and how
/// an injection finds the span it writes. Only with promotion on: the plain span path stays
/// as it was.
struct Registry {
    shards: Box<[Mutex<Shard>]>,
}

type Shard = HashMap<u64, Arc<Node>, foldhash::fast::RandomState>;

const SHARDS: usize = 16;

impl Registry {
    fn new() -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, id: hyperion::SpanId) -> (u64, MutexGuard<'_, Shard>) {
        let key = u64::from_ne_bytes(id.to_bytes());
        let shard = &self.shards[(key as usize) % SHARDS];
        (key, shard.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn get(&self, id: hyperion::SpanId) -> Option<Arc<Node>> {
        let (key, shard) = self.shard(id);
        shard.get(&key).cloned()
    }

    fn insert(&self, id: hyperion::SpanId, node: Arc<Node>) {
        let (key, mut shard) = self.shard(id);
        shard.insert(key, node);
    }

    fn remove(&self, id: hyperion::SpanId) {
        let (key, mut shard) = self.shard(id);
        shard.remove(&key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// Decides deferred spans: builds the promoted ones through the SDK, hands the others to their
/// parent as events.
pub(crate) struct Promoter {
    tracer: SdkTracer,
    threshold: Duration,
    fast_calls: FastCalls,
    ids: RandomIdGenerator,
    open: Registry,
    /// With tail sampling on: a deferred span holds its trace open there (it is no SDK span the
    /// sampler sees start) until it has ended and, if promoted, been exported.
    tail: Option<Arc<TailShared>>,
}

impl std::fmt::Debug for Promoter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Promoter")
            .field("threshold", &self.threshold)
            .field("fast_calls", &self.fast_calls)
            .finish_non_exhaustive()
    }
}

impl Promoter {
    pub(crate) fn new(
        tracer: SdkTracer,
        settings: &PromotionSettings,
        tail: Option<Arc<TailShared>>,
    ) -> Self {
        Promoter {
            tracer,
            threshold: settings.threshold,
            fast_calls: settings.fast_calls,
            ids: RandomIdGenerator::default(),
            open: Registry::new(),
            tail,
        }
    }

    /// The node of a local parent started under promotion and still open.
    fn parent_node(&self, sc: &SpanContext) -> Option<Arc<Node>> {
        (sc.is_valid() && !sc.is_remote())
            .then(|| self.open.get(sc.span_id()))
            .flatten()
    }

    /// Starts a span under promotion: deferred when it may be, an SDK span tracked as a node
    /// otherwise.
    pub(crate) fn start(
        self: &Arc<Self>,
        tracer: &OtelTracer,
        parent_sc: &SpanContext,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
    ) -> Span {
        let parent = if options.new_root {
            None
        } else {
            self.parent_node(parent_sc)
        };
        if options.promotable
            && parent_sc.is_sampled()
            && let Some(parent) = &parent
            && parent.attach()
        {
            return self.defer(parent.clone(), parent_sc, name, options);
        }
        tracer.build(parent_sc, name, options, |span_id| {
            if let Some(parent) = &parent {
                // A span under it: the parent must be exported, or this one is an orphan.
                let attached = parent.attach();
                self.ensure_exported(parent.clone(), Reason::Child);
                if !attached {
                    return None;
                }
            }
            let node = Arc::new(Node {
                span_id,
                parent,
                state: Mutex::new(NodeState {
                    exported: true,
                    ..NodeState::default()
                }),
            });
            self.open.insert(span_id, node.clone());
            Some((self.clone(), node))
        })
    }

    fn defer(
        self: &Arc<Self>,
        parent: Arc<Node>,
        parent_sc: &SpanContext,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
    ) -> Span {
        let span_id = self.ids.new_span_id();
        // What the SDK would give the child of a sampled local parent: its trace, flags and
        // state (every built-in sampler samples it), a new span id.
        let context = SpanContext::new(
            parent_sc.trace_id(),
            hyperion::SpanId::from_bytes(span_id.to_bytes()),
            parent_sc.trace_flags(),
            false,
            parent_sc.trace_state().clone(),
        );
        let start = options.start_time.unwrap_or_else(SystemTime::now);
        let mut attributes = convert::key_values(options.attributes);
        attributes.truncate(MAX_ATTRIBUTES);
        let links = options
            .links
            .iter()
            .take(MAX_LINKS)
            .map(|l| {
                otel::trace::Link::new(
                    convert::to_otel_span_context(&l.context),
                    convert::key_values(l.attributes),
                    0,
                )
            })
            .collect();
        let data = Deferred {
            name,
            kind: convert::span_kind(options.kind),
            parent: convert::to_otel_span_context(parent_sc),
            span_id,
            start,
            end: start,
            attributes,
            events: Vec::new(),
            links,
            status: otel::trace::Status::Unset,
        };
        let trace = u128::from_be_bytes(context.trace_id().to_bytes());
        let held = self.tail.as_ref().is_some_and(|tail| tail.hold(trace));
        let node = Arc::new(Node {
            span_id: context.span_id(),
            parent: Some(parent),
            state: Mutex::new(NodeState {
                data: Some(data),
                ..NodeState::default()
            }),
        });
        self.open.insert(context.span_id(), node.clone());
        Span::new(
            context,
            DeferredSpan {
                promoter: self.clone(),
                node,
                held: held.then_some(trace),
            },
        )
    }

    /// The context of `span` was injected into a carrier: it must be exported.
    pub(crate) fn injected(&self, span: &SpanContext) {
        if let Some(node) = self.parent_node(span) {
            self.ensure_exported(node, Reason::Propagated);
        }
    }

    /// Makes sure `node` is (or will be) a span: an open one is asked to promote itself at its
    /// end; one that ended as an event is promoted now, and its parents after it.
    fn ensure_exported(&self, mut node: Arc<Node>, mut reason: Reason) {
        loop {
            let data = {
                let mut state = node.lock();
                if state.exported {
                    return;
                }
                if !state.ended {
                    state.promote.get_or_insert(reason);
                    return;
                }
                match state.data.take() {
                    Some(data) => {
                        state.exported = true;
                        data
                    }
                    // Its data is gone: no child was open when it ended.
                    None => return,
                }
            };
            self.export(data, reason);
            match &node.parent {
                Some(parent) => node = parent.clone(),
                None => return,
            }
            reason = Reason::Child;
        }
    }

    /// Builds the SDK span of a deferred one, with its own span id, parent and times.
    fn export(&self, data: Deferred, reason: Reason) {
        let Deferred {
            name,
            kind,
            parent,
            span_id,
            start,
            end,
            mut attributes,
            events,
            links,
            status,
        } = data;
        // First, so that the SDK's attribute limit (whatever `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`
        // says) cuts the call's own attributes rather than the markers.
        attributes.splice(
            0..0,
            [
                otel::KeyValue::new("hyperion.promoted", true),
                otel::KeyValue::new("hyperion.promotion.reason", reason.as_str()),
            ],
        );
        let builder = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_start_time(start)
            .with_attributes(attributes)
            .with_events(events)
            .with_links(links);
        let parent_cx = otel::Context::new().with_remote_span_context(parent);
        PRESET_SPAN_ID.set(Some(span_id));
        let mut span = self.tracer.build_with_context(builder, &parent_cx);
        // Unused when the provider is shut down (the SDK then asks for no id).
        PRESET_SPAN_ID.set(None);
        span.set_status(status);
        span.end_with_timestamp(end);
    }

    /// A tracked SDK span ended: its parent stops counting it; the events of its children that
    /// stayed events are handed back to be added to it.
    pub(crate) fn sdk_span_ended(&self, node: &Node) -> Vec<otel::trace::Event> {
        let inbox = {
            let mut state = node.lock();
            state.ended = true;
            std::mem::take(&mut state.inbox)
        };
        self.open.remove(node.span_id);
        if let Some(parent) = &node.parent {
            release_chain(parent);
        }
        inbox
    }
}

/// A deferred span's data: enough to build the SDK span, or the event on its parent.
struct Deferred {
    name: Cow<'static, str>,
    kind: otel::trace::SpanKind,
    parent: otel::trace::SpanContext,
    span_id: otel::trace::SpanId,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<otel::KeyValue>,
    events: Vec<otel::trace::Event>,
    links: Vec<otel::trace::Link>,
    status: otel::trace::Status,
}

impl Deferred {
    /// The event this call leaves on its parent, its data kept.
    fn event(&self) -> otel::trace::Event {
        let mut attributes = self.event_attributes(self.attributes.len());
        attributes.extend(self.attributes.iter().cloned());
        otel::trace::Event::new(self.name.clone(), self.start, attributes, 0)
    }

    /// The event this call leaves on its parent, made of its data.
    fn into_event(self) -> otel::trace::Event {
        let mut attributes = self.event_attributes(self.attributes.len());
        attributes.extend(self.attributes);
        otel::trace::Event::new(self.name, self.start, attributes, 0)
    }

    /// `hyperion.span_id`, `hyperion.duration_ms`, `hyperion.outcome`, with room for `more`.
    fn event_attributes(&self, more: usize) -> Vec<otel::KeyValue> {
        let took = self.end.duration_since(self.start).unwrap_or_default();
        let mut hex = [0u8; 16];
        let span_id = hyperion::SpanId::from_bytes(self.span_id.to_bytes());
        let mut attributes = Vec::with_capacity(more + 3);
        attributes.push(otel::KeyValue::new(
            "hyperion.span_id",
            span_id.encode_hex(&mut hex).to_owned(),
        ));
        attributes.push(otel::KeyValue::new(
            "hyperion.duration_ms",
            took.as_secs_f64() * 1e3,
        ));
        let outcome = match self.status {
            otel::trace::Status::Ok => "ok",
            _ => "unset",
        };
        attributes.push(otel::KeyValue::new("hyperion.outcome", outcome));
        attributes
    }
}

/// The recorder of a deferred span: its data lives in its node, which children and the
/// `injected` hook reach through the registry.
struct DeferredSpan {
    promoter: Arc<Promoter>,
    node: Arc<Node>,
    /// The trace it holds open in the tail sampler, if it does.
    held: Option<u128>,
}

impl DeferredSpan {
    /// The data while the span is open.
    fn with_data(&self, f: impl FnOnce(&mut Deferred)) {
        let mut state = self.node.lock();
        if !state.ended
            && let Some(data) = &mut state.data
        {
            f(data);
        }
    }
}

impl SpanRecorder for DeferredSpan {
    fn set_attribute(&mut self, attribute: &KeyValue<'_>) {
        let attribute = convert::key_value(attribute);
        self.with_data(|data| {
            let len = data.attributes.len();
            match data.attributes.iter_mut().find(|a| a.key == attribute.key) {
                Some(existing) => *existing = attribute,
                None if len < MAX_ATTRIBUTES => data.attributes.push(attribute),
                None => {}
            }
        });
    }

    fn add_event(
        &mut self,
        name: Cow<'static, str>,
        attributes: &[KeyValue<'_>],
        timestamp: Option<SystemTime>,
    ) {
        let at = timestamp.unwrap_or_else(SystemTime::now);
        let attributes = convert::key_values(attributes);
        self.with_data(|data| {
            if data.events.len() < MAX_EVENTS {
                data.events
                    .push(otel::trace::Event::new(name, at, attributes, 0));
            }
        });
    }

    fn set_status(&mut self, status: Status) {
        let status = convert::status(status);
        self.with_data(|data| data.status = status);
    }

    fn add_link(&mut self, context: SpanContext, attributes: &[KeyValue<'_>]) {
        let link = otel::trace::Link::new(
            convert::to_otel_span_context(&context),
            convert::key_values(attributes),
            0,
        );
        self.with_data(|data| {
            if data.links.len() < MAX_LINKS {
                data.links.push(link);
            }
        });
    }

    fn update_name(&mut self, name: Cow<'static, str>) {
        self.with_data(|data| data.name = name);
    }

    fn end(&mut self, timestamp: Option<SystemTime>) {
        let end = timestamp.unwrap_or_else(SystemTime::now);
        let promoter = &self.promoter;
        let node = &self.node;
        let parent = node.parent.as_ref().expect("a deferred span has a parent");
        promoter.open.remove(node.span_id);
        let promoted = {
            let mut guard = node.lock();
            let state = &mut *guard;
            if state.ended {
                return;
            }
            state.ended = true;
            let Some(data) = state.data.as_mut() else {
                return;
            };
            data.end = end;
            let took = end.duration_since(data.start).unwrap_or_default();
            let own = if matches!(data.status, otel::trace::Status::Error { .. }) {
                Some(Reason::Error)
            } else if took >= promoter.threshold {
                Some(Reason::Slow)
            } else {
                None
            };
            match own.or(state.promote) {
                Some(reason) => {
                    state.exported = true;
                    let inbox = std::mem::take(&mut state.inbox);
                    let mut data = state.data.take().expect("checked above");
                    data.events.extend(inbox);
                    Some((data, reason))
                }
                None => {
                    // Its children's events go with it: it is no span to hold them.
                    state.inbox = Vec::new();
                    None
                }
            }
        };
        match promoted {
            Some((data, reason)) => {
                promoter.export(data, reason);
                // While the parent still counts this child, so that its data is still there if
                // it must be promoted late.
                promoter.ensure_exported(parent.clone(), Reason::Child);
                release_chain(parent);
            }
            None => self.leave_event(parent),
        }
        // After the export: a promoted span has started and ended in the sampler by now.
        if let (Some(tail), Some(trace)) = (&promoter.tail, self.held.take()) {
            tail.unhold(trace);
        }
    }
}

impl Drop for DeferredSpan {
    /// Lets go of the trace in the tail sampler if `end` did not (it always runs first: the
    /// span's own drop ends it).
    fn drop(&mut self) {
        if let (Some(tail), Some(trace)) = (&self.promoter.tail, self.held.take()) {
            tail.unhold(trace);
        }
    }
}

impl DeferredSpan {
    /// Leaves this call's event on its parent, or, if the parent has ended, makes it a span.
    /// Decided under the parent's lock (and then this node's: the one place that holds two,
    /// always the parent first), so that the parent cannot end between the look and the event.
    fn leave_event(&self, parent: &Arc<Node>) {
        let promoter = &self.promoter;
        let outlived = {
            let mut parent_state = parent.lock();
            if parent_state.ended {
                true
            } else {
                let (event, pinned) = {
                    let mut state = self.node.lock();
                    let wanted = promoter.fast_calls == FastCalls::Event;
                    if state.exported {
                        // A child of its own promoted it in the meantime: a span, no event.
                        (None, false)
                    } else if state.open_children == 0 {
                        // Nothing can promote it any more: its data goes into the event.
                        let event = state.data.take().filter(|_| wanted);
                        (event.map(Deferred::into_event), false)
                    } else {
                        // Kept, and kept counting in the parent, while a child may still
                        // promote it late (and so the parent).
                        state.pinned = true;
                        (
                            state.data.as_ref().filter(|_| wanted).map(Deferred::event),
                            true,
                        )
                    }
                };
                if !pinned {
                    parent_state.open_children = parent_state.open_children.saturating_sub(1);
                }
                if let Some(event) = event
                    && parent_state.inbox.len() < MAX_EVENTS
                {
                    parent_state.inbox.push(event);
                }
                false
            }
        };
        if outlived {
            // Nothing holds the event: the call becomes a span, under its parent (promoted late
            // if it was an event), before the parent stops counting it.
            promoter.ensure_exported(self.node.clone(), Reason::OutlivedParent);
            release_chain(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_ids_hand_out_the_preset_span_id_once() {
        let ids = PresetIds::default();
        let preset = otel::trace::SpanId::from_bytes([7; 8]);
        PRESET_SPAN_ID.set(Some(preset));
        assert_eq!(ids.new_span_id(), preset);
        let next = ids.new_span_id();
        assert_ne!(next, preset);
        assert_ne!(next, otel::trace::SpanId::INVALID);
    }

    #[test]
    fn the_registry_finds_what_it_holds_until_removed() {
        let registry = Registry::new();
        let id = hyperion::SpanId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
        registry.insert(
            id,
            Arc::new(Node {
                span_id: id,
                parent: None,
                state: Mutex::default(),
            }),
        );
        assert!(registry.get(id).is_some());
        assert!(registry.get(hyperion::SpanId::from_bytes([8; 8])).is_none());
        assert_eq!(registry.len(), 1);
        registry.remove(id);
        assert!(registry.get(id).is_none());
        assert_eq!(registry.len(), 0);
    }
}
