//! The order-service alone (the compose stack runs each service in its own container).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hyperion_demo::run_service(hyperion_demo::settings::Service::Orders).await
}
