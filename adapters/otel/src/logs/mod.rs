//! Logs: the facade's [`hyperion::Logger`] (`logger`), the level [`Filter`] that runs before any
//! formatting, the [`LineWriter`] that turns one [`hyperion::Record`] into one JSON or pretty line
//! on stdout, stderr or a test sink, OTLP log records through the SDK, and the `tracing` bridge;
//! `OtelModule::logger` below builds the module's logger from its settings.
//!
//! - `logger`: `Logger::enabled` asks [`Filter::enabled`] (no allocation); `Logger::emit` calls
//!   [`LineWriter::write`] and, with `logging.otlp`, emits an SDK log record.
//! - `bridge`: [`crate::TracingBridge`], a `tracing-subscriber` layer that sends `tracing` events
//!   through the logger with the current intercepted call's ids.
//! - [`filter`]: the default level plus `RUST_LOG`-style per-target directives.
//! - [`line`](mod@line): the writer, its [`Output`]s and the count of failed writes.
//! - `json`: hand-written JSON escaping and value encoding.
//! - `time`: RFC 3339 UTC timestamps computed from [`std::time::SystemTime`].

pub(crate) mod bridge;
pub(crate) mod filter;
mod json;
pub(crate) mod line;
pub(crate) mod logger;
mod pretty;
mod time;

pub(crate) use filter::Filter;
pub(crate) use line::{LineWriter, Output};

use hyperion::config::ConfigError;
use hyperion::registry::ModuleError;

use crate::adapter_runtime::AdapterRuntime;
use crate::config::OtlpSignal;
use crate::exporter::{self, collector_exporter};
use crate::resource::resource;
use crate::{Configs, OtelModule, config, config_error};

impl OtelModule {
    pub(crate) async fn logger(
        &self,
        (config, settings): Configs<'_>,
        runtime: &mut Option<AdapterRuntime>,
    ) -> Result<logger::OtelLogger, ModuleError> {
        let l = &config.logging;
        // The builder adds where the value came from (the YAML file, `RUST_LOG`...).
        let filter = Filter::new(l.level.into(), l.directives.as_deref()).map_err(|e| {
            config_error(ConfigError::Invalid {
                key: "logging.directives".to_owned(),
                found: format!("{:?}", l.directives.as_deref().unwrap_or_default()),
                expected: e,
                origin: None,
            })
        })?;
        let output = self
            .log_output
            .clone()
            .unwrap_or(match settings.logging.output {
                config::LogOutput::Stdout => Output::Stdout,
                config::LogOutput::Stderr => Output::Stderr,
            });
        let service = config.service_name().map(str::to_owned);
        let lines = Some(LineWriter::new(settings.logging.format, output, service));
        let otlp = if settings.logging.otlp {
            let exporter =
                collector_exporter(settings, OtlpSignal::Logs, runtime, exporter::otlp_logs)
                    .await?;
            let batch = &settings.logging.batch;
            let processor = opentelemetry_sdk::logs::BatchLogProcessor::builder(exporter)
                .with_batch_config(
                    opentelemetry_sdk::logs::BatchConfigBuilder::default()
                        .with_max_queue_size(batch.max_queue_size)
                        .with_max_export_batch_size(batch.max_batch_size)
                        .with_scheduled_delay(batch.scheduled_delay)
                        .build(),
                )
                .build();
            let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
                .with_resource(resource(config))
                .with_log_processor(processor)
                .build();
            use opentelemetry::logs::LoggerProvider as _;
            let scope = opentelemetry::InstrumentationScope::builder("hyperion")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build();
            let logger = provider.logger_with_scope(scope);
            Some((provider, logger))
        } else {
            None
        };
        Ok(logger::OtelLogger {
            filter,
            lines,
            otlp,
        })
    }
}
