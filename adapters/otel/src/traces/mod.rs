//! Spans: the facade's tracer over the SDK's, the span processor pipeline (batching, counting,
//! the queue gate) and the exporters of their own (Zipkin, the console tree).
//!
//! - `tracer`: [`hyperion::Tracer`] over an SDK tracer.
//! - `promotion`: `tracing.promotion`, calls recorded without an SDK span until they end.
//! - `tail`: `tracing.tail_sampling`, the span processor that keeps or drops whole traces.
//! - `stats`: the counting exporter and the queue gate behind [`crate::SpanExportStats`].
//! - `zipkin`: Zipkin JSON v2, hand-written (upstream's exporter is deprecated).
//! - `console`: each finished trace as an indented tree.

pub(crate) mod console;
pub(crate) mod promotion;
pub(crate) mod stats;
pub(crate) mod tail;
pub(crate) mod tracer;
#[cfg(feature = "zipkin")]
mod zipkin;

use std::sync::Arc;

use hyperion::config::Sampler;
use hyperion::registry::ModuleError;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanProcessor, TracerProviderBuilder,
};

use crate::adapter_runtime::{AdapterRuntime, off_runtime};
use crate::config::{self, Exporter};
use crate::resource::resource;
use crate::{Configs, OtelModule, config_error, exporter, module_error};
use stats::{CountingExporter, GatedProcessor, Stats};
use tail::{TailSampler, TailShared};

/// Where the exporters' span processors go: straight into the provider, or, with tail
/// sampling, behind the [`TailSampler`].
struct Pipeline {
    builder: Option<TracerProviderBuilder>,
    tail: Option<Vec<Box<dyn SpanProcessor>>>,
}

impl Pipeline {
    fn add<P: SpanProcessor + 'static>(&mut self, processor: P) {
        match &mut self.tail {
            Some(inner) => inner.push(Box::new(processor)),
            None => {
                self.builder = self
                    .builder
                    .take()
                    .map(|b| b.with_span_processor(processor));
            }
        }
    }
}

impl OtelModule {
    pub(crate) async fn tracer_provider(
        &self,
        (config, settings): Configs<'_>,
        stats: &Arc<Stats>,
        runtime: &mut Option<AdapterRuntime>,
    ) -> Result<(SdkTracerProvider, Option<Arc<TailShared>>), ModuleError> {
        // The general collector settings with the spans' own (`tracing.traces`) over them.
        let tracing = &settings.tracing.for_signal(config::OtlpSignal::Traces);
        let target = exporter::resolve(tracing).map_err(config_error)?;
        if let Some(note) = target.as_ref().and_then(|t| t.note.as_ref()) {
            eprintln!("hyperion-otel: {note}");
        }
        if let Some(t) = &target {
            stats.set_target(t.url.clone());
        }
        let batch = || {
            BatchConfigBuilder::default()
                .with_max_export_batch_size(tracing.batch.max_batch_size)
                .with_scheduled_delay(tracing.batch.scheduled_delay)
                .with_max_queue_size(tracing.batch.max_queue_size)
                .build()
        };
        let resource = resource(config);
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler(config.tracing.sampler, config.tracing.sample_rate));
        if tracing.promotion.enabled {
            // Promoted spans are built with the span id they were given at their start.
            builder = builder.with_id_generator(promotion::PresetIds::default());
        }
        let mut pipeline = Pipeline {
            builder: Some(builder),
            tail: tracing.tail_sampling.enabled.then(Vec::new),
        };
        let capacity = tracing.batch.max_queue_size as u64;
        match (tracing.exporter, target) {
            (Exporter::None, _) => {}
            (Exporter::Console, _) => {
                let exporter = console::ConsoleExporter::new(self.console.clone());
                pipeline.add(batched(exporter, batch(), capacity, stats));
            }
            (Exporter::Zipkin, Some(target)) => {
                #[cfg(feature = "zipkin")]
                {
                    // The blocking HTTP client must not be built on a runtime thread.
                    let tracing = tracing.clone();
                    let exporter =
                        off_runtime(move || zipkin::ZipkinExporter::new(target.url, &tracing))
                            .await?;
                    pipeline.add(batched(exporter, batch(), capacity, stats));
                }
                #[cfg(not(feature = "zipkin"))]
                {
                    let _ = target;
                    return Err(module_error(
                        "invalid value for `tracing.exporter`: found \"zipkin\", but hyperion-otel \
                         was built without its `zipkin` cargo feature",
                    ));
                }
            }
            (Exporter::Otlp | Exporter::Jaeger, Some(target)) => {
                let exporter = if target.protocol == config::Protocol::Grpc {
                    // tonic connects lazily on the runtime it is built in: our own.
                    let handle = AdapterRuntime::get(runtime)?;
                    let _entered = handle.enter();
                    exporter::otlp(tracing, &target).map_err(module_error)?
                } else {
                    let tracing = tracing.clone();
                    off_runtime(move || exporter::otlp(&tracing, &target)).await?
                };
                pipeline.add(batched(exporter, batch(), capacity, stats));
            }
            // `resolve` gives every other exporter a target.
            (Exporter::Zipkin | Exporter::Otlp | Exporter::Jaeger, None) => {}
        }
        #[cfg(feature = "testing")]
        if let Some(extra) = &self.extra_exporter {
            // Behind its own batch processor, like a real exporter: the conformance suite then
            // checks batching, flush and shutdown too.
            pipeline.add(
                BatchSpanProcessor::builder(extra.clone())
                    .with_batch_config(batch())
                    .build(),
            );
        }
        let mut builder = pipeline.builder.expect("the pipeline keeps its builder");
        let mut tail = None;
        if let Some(mut inner) = pipeline.tail {
            // The provider gives its resource to its own processors only: these are the
            // sampler's.
            for processor in &mut inner {
                processor.set_resource(&resource);
            }
            let sampler = TailSampler::new(&tracing.tail_sampling, inner);
            tail = Some(sampler.shared().clone());
            builder = builder.with_span_processor(sampler);
        }
        Ok((builder.build(), tail))
    }
}

/// An exporter behind the SDK's batch processor, counted, behind the adapter's queue gate.
fn batched<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
    batch: opentelemetry_sdk::trace::BatchConfig,
    capacity: u64,
    stats: &Arc<Stats>,
) -> GatedProcessor<BatchSpanProcessor> {
    GatedProcessor {
        inner: BatchSpanProcessor::builder(CountingExporter {
            inner: exporter,
            stats: stats.clone(),
        })
        .with_batch_config(batch)
        .build(),
        capacity,
        stats: stats.clone(),
    }
}

fn sampler(kind: Sampler, rate: f64) -> opentelemetry_sdk::trace::Sampler {
    use opentelemetry_sdk::trace::Sampler as S;
    match kind {
        Sampler::AlwaysOn => S::AlwaysOn,
        Sampler::AlwaysOff => S::AlwaysOff,
        Sampler::TraceIdRatio => S::TraceIdRatioBased(rate),
        Sampler::ParentBasedAlwaysOn => S::ParentBased(Box::new(S::AlwaysOn)),
        Sampler::ParentBasedAlwaysOff => S::ParentBased(Box::new(S::AlwaysOff)),
        Sampler::ParentBasedTraceIdRatio => S::ParentBased(Box::new(S::TraceIdRatioBased(rate))),
    }
}
