//! `demo`: the demo's one command. `demo up` runs the three services on embedded defaults,
//! `demo load` sends them traffic, and `demo gateway|user-service|order-service` runs one.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hyperion_demo::launcher::{self, UpOptions};
use hyperion_demo::load::{self, LoadOptions};
use hyperion_demo::run_service;
use hyperion_demo::settings::Service;

/// The hyperion demo: a gateway, a user service and an order service, traced across processes.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the three services (the default): SQLite files unless DATABASE_URL is set, NATS
    /// when NATS_URL is set, every signal to the local viewer (unless --no-viewer or
    /// OTEL_EXPORTER_OTLP_ENDPOINT), else as the YAML and OTEL_* variables say.
    Up {
        /// The gateway's port.
        #[arg(long, default_value_t = 8080)]
        gateway_port: u16,
        /// The user service's port.
        #[arg(long, default_value_t = 8081)]
        user_port: u16,
        /// The order service's port.
        #[arg(long, default_value_t = 8082)]
        order_port: u16,
        /// Where the SQLite files go [default: hyperion-demo-$USER in the temporary directory].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// No local viewer: the services print their traces as trees.
        #[arg(long)]
        no_viewer: bool,
        /// The viewer's web page port.
        #[arg(long, default_value_t = 16686)]
        viewer_port: u16,
        /// The viewer's OTLP/gRPC port.
        #[arg(long, default_value_t = 4317)]
        viewer_grpc_port: u16,
        /// The viewer's OTLP/HTTP port.
        #[arg(long, default_value_t = 4318)]
        viewer_http_port: u16,
    },
    /// Sends traffic to the gateway and summarizes it, with trace ids to look at.
    Load {
        /// How many requests in all.
        #[arg(long, short = 'n', default_value_t = 1000)]
        requests: u64,
        /// How many at once.
        #[arg(long, short = 'c', default_value_t = 8)]
        concurrency: usize,
        /// The gateway's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        gateway: String,
    },
    /// Runs the gateway alone.
    Gateway,
    /// Runs the user service alone.
    #[command(name = "user-service")]
    UserService,
    /// Runs the order service alone.
    #[command(name = "order-service")]
    OrderService,
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command.unwrap_or(Command::Up {
        gateway_port: 8080,
        user_port: 8081,
        order_port: 8082,
        data_dir: None,
        no_viewer: false,
        viewer_port: 16686,
        viewer_grpc_port: 4317,
        viewer_http_port: 4318,
    });
    match command {
        Command::Gateway => run_service(Service::Gateway).await,
        Command::UserService => run_service(Service::Users).await,
        Command::OrderService => run_service(Service::Orders).await,
        Command::Up {
            gateway_port,
            user_port,
            order_port,
            data_dir,
            no_viewer,
            viewer_port,
            viewer_grpc_port,
            viewer_http_port,
        } => {
            let options = UpOptions {
                gateway_port,
                user_port,
                order_port,
                data_dir,
                viewer: (!no_viewer).then_some([viewer_port, viewer_grpc_port, viewer_http_port]),
            };
            exit(launcher::up(options).await)
        }
        Command::Load {
            requests,
            concurrency,
            gateway,
        } => {
            let options = LoadOptions {
                requests,
                concurrency,
                gateway: gateway.trim_end_matches('/').to_owned(),
                progress: std::io::stderr().is_terminal(),
            };
            match load::run(&options).await {
                Ok(summary) => {
                    print!("{}", load::report(&summary, &options));
                    ExitCode::SUCCESS
                }
                Err(error) => exit(Err(error)),
            }
        }
    }
}

fn exit(result: Result<(), hyperion_demo::runtime::BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::FAILURE
        }
    }
}
