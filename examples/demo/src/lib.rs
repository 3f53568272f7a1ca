//! The hyperion demo: three services written against the facade — an API gateway, a user
//! service and an order service — traced across processes with one trace per request, with
//! metrics whose exemplars lead to those traces and logs that carry their ids.
//!
//! Each service is an axum router behind [`hyperion_tower::HttpServerLayer`], calls the others
//! through [`hyperion_reqwest::HttpClientMiddleware`], reaches its database through
//! [`hyperion_sqlx::TracedPool`] and NATS through [`hyperion_nats::TracedClient`], and wraps
//! every handler in the three-line `intercept`. Its telemetry is picked by YAML
//! (`examples/demo/config/`, embedded as the default) and the usual `HYPERION_*`/`OTEL_*`
//! variables: the same binaries print trace trees locally and export OTLP in the compose stack.
//!
//! `demo up` runs all three on embedded defaults; `demo load` sends them traffic. See the
//! demo's README.

pub mod api;
pub mod db;
pub mod gateway;
pub mod launcher;
pub mod load;
pub mod orders;
pub mod runtime;
pub mod settings;
pub mod users;

use settings::{Service, Settings};

/// Runs one service from its environment until Ctrl-C or SIGTERM; what each binary's `main`
/// calls. Returns the process's exit code (errors are printed).
pub async fn run_service(service: Service) -> std::process::ExitCode {
    let result = match Settings::from_env(service) {
        Ok(settings) => match service {
            Service::Gateway => gateway::run(settings).await,
            Service::Users => users::run(settings).await,
            Service::Orders => orders::run(settings).await,
        },
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{service}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
