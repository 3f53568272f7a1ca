//! The hyperion quickstart: a tiny "user service" whose calls are intercepted, recorded by the
//! in-memory module (no backend needed), then printed: the span tree, the metric points and the
//! log lines with their trace ids.
//!
//! Run it with `cargo run -p quickstart`. The configuration is `hyperion.yaml` beside this file
//! (embedded at build time); `HYPERION_*` and `OTEL_*` environment variables override it, e.g.
//! `HYPERION_LOGGING__LEVEL=info cargo run -p quickstart`.
//!
//! Swapping adapters is configuration, not code: both the `memory` and the `otel` modules are
//! registered, and the YAML picks `memory`. To send the same spans through OpenTelemetry and see
//! them as a console tree instead:
//! `HYPERION_TRACING__ADAPTER=otel HYPERION_TRACING__EXPORTER=console cargo run -p quickstart`
//! (or `HYPERION_TRACING__EXPORTER=otlp` with a collector on localhost:4317).

use std::collections::HashMap;
use std::time::Duration;

use hyperion::testing::MemoryModule;
use hyperion::{ConfigLoader, Context, SpanOptions, Telemetry, kv};
use hyperion_otel::OtelModule;

#[derive(Debug)]
struct User {
    name: &'static str,
}

#[derive(Debug)]
struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}

impl std::error::Error for NotFound {}

struct UserService {
    lookups: hyperion::Counter,
}

impl UserService {
    fn new(telemetry: &Telemetry) -> Self {
        let meter = telemetry.meter("quickstart");
        UserService {
            lookups: meter.counter("user.lookups").unit("{lookup}").build(),
        }
    }

    /// The three-line intercept: a span, the call counter and duration histogram, and logs.
    async fn get_user(&self, ctx: &Context, id: &str) -> Result<User, NotFound> {
        ctx.intercept("UserService", "GetUser", |ctx| async move {
            ctx.log().info("fetching user", &[kv("user.id", id)]);
            self.lookups.add(&ctx, 1, &[kv("method", "GetUser")]);
            self.find(&ctx, id).await
        })
        .await
    }

    async fn find(&self, ctx: &Context, id: &str) -> Result<User, NotFound> {
        let attrs = [kv("db.system", "postgresql"), kv("user.id", id)];
        let (_ctx, mut span) = ctx.start_span("db.query", SpanOptions::client().attributes(&attrs));
        tokio::time::sleep(Duration::from_millis(2)).await;
        let result = match id {
            "42" => Ok(User { name: "Ada" }),
            other => Err(NotFound(other.to_owned())),
        };
        if let Err(e) = &result {
            span.record_error(e);
        }
        span.end();
        result
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ConfigLoader::new()
        .yaml(include_str!("../hyperion.yaml"))
        .process_env()
        .load()?;
    let memory = MemoryModule::new();
    let store = memory.store();
    let telemetry = Telemetry::builder()
        .module(memory)
        .module(OtelModule::new())
        .config(config)
        .build()
        .await?;

    // An incoming request whose caller sent W3C trace context and baggage.
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    );
    headers.insert("baggage".to_owned(), "tenant=acme".to_owned());
    let ctx = telemetry.extract(&headers);

    let users = UserService::new(&telemetry);
    for id in ["42", "7"] {
        let (ctx, mut request) = ctx.start_span("GET /users/{id}", SpanOptions::server());
        request.set_attribute(kv("tenant", ctx.baggage().get("tenant").unwrap_or("-")));
        match users.get_user(&ctx, id).await {
            Ok(user) => println!("GET /users/{id} -> {}", user.name),
            Err(e) => println!("GET /users/{id} -> 404 ({e})"),
        }
        // What an outgoing call from here would carry.
        let mut outgoing = HashMap::new();
        ctx.inject(&mut outgoing);
        println!("  outgoing traceparent: {}", outgoing["traceparent"]);
        request.end();
    }

    telemetry.shutdown(Duration::from_secs(5)).await?;
    let snapshot = store.snapshot();

    match snapshot.spans.first() {
        Some(span) => {
            println!("\nspans (trace {}):", span.context.trace_id());
            print!("{}", snapshot.tree());
        }
        None => println!("\nspans: recorded by another module (see its exporter's output)"),
    }
    println!("\nmetric points:");
    for p in &snapshot.points {
        let attrs: Vec<String> = p
            .attributes
            .iter()
            .map(|a| format!("{}={}", a.key, a.value))
            .collect();
        let exemplar = p
            .exemplar
            .as_ref()
            .map(|sc| format!(" exemplar span={}", sc.span_id()))
            .unwrap_or_default();
        println!(
            "  {} {:?} {{{}}}{exemplar}",
            p.instrument.name,
            p.value,
            attrs.join(", ")
        );
    }
    println!("\nlogs:");
    for l in &snapshot.logs {
        let ids = match (l.trace_id, l.span_id) {
            (Some(t), Some(s)) => format!("trace_id={t} span_id={s}"),
            _ => String::from("(no span)"),
        };
        let attrs: Vec<String> = l
            .attributes
            .iter()
            .map(|a| format!("{}={}", a.key, a.value))
            .collect();
        println!(
            "  {:5} {} {{{}}} {ids}",
            l.level,
            l.message,
            attrs.join(", ")
        );
    }
    Ok(())
}
