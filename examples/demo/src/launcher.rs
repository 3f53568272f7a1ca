//! `demo up`: the three services as child processes of one command, on embedded defaults (a
//! SQLite file each unless `DATABASE_URL` is set), their output prefixed with their names, and
//! one Ctrl-C stopping them all cleanly.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::runtime::{BoxError, shutdown_signal};
use crate::settings::Service;

/// How long the services may take to answer `/health` after they start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long they may take to stop (their telemetry flush is bounded by 10 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where `demo up` runs things.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// The gateway's port.
    pub gateway_port: u16,
    /// The user service's port.
    pub user_port: u16,
    /// The order service's port.
    pub order_port: u16,
    /// Where the SQLite files go. Default: `hyperion-demo` in the system's temporary directory.
    pub data_dir: Option<PathBuf>,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            gateway_port: Service::Gateway.default_port(),
            user_port: Service::Users.default_port(),
            order_port: Service::Orders.default_port(),
            data_dir: None,
        }
    }
}

impl UpOptions {
    fn port(&self, service: Service) -> u16 {
        match service {
            Service::Gateway => self.gateway_port,
            Service::Users => self.user_port,
            Service::Orders => self.order_port,
        }
    }
}

struct Running {
    service: Service,
    child: Child,
}

/// Starts the three services, waits until each answers, prints where they are, and runs until
/// Ctrl-C or SIGTERM (passed on to every service) or until a service exits by itself.
///
/// # Errors
///
/// A service cannot be started, does not become ready, exits by itself, or does not stop
/// cleanly.
pub async fn up(options: UpOptions) -> Result<(), BoxError> {
    let exe = std::env::current_exe()?;
    let database = Databases::choose(&options)?;
    let url = |service: Service| format!("http://127.0.0.1:{}", options.port(service));
    let mut running = Vec::new();
    for service in Service::ALL {
        let mut command = Command::new(&exe);
        command
            .arg(service.name())
            .env(
                "DEMO_LISTEN",
                format!("127.0.0.1:{}", options.port(service)),
            )
            .env("USER_SERVICE_URL", url(Service::Users))
            .env("ORDER_SERVICE_URL", url(Service::Orders))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(url) = database.url(service) {
            command.env("DATABASE_URL", url);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {service}: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(prefix_lines(service, stdout));
        tokio::spawn(prefix_lines(service, stderr));
        running.push(Running { service, child });
    }

    if let Err(error) = wait_until_ready(&mut running, &url).await {
        stop(&mut running, "-TERM").await;
        return Err(error);
    }
    print_banner(&options, &database);

    let exited = tokio::select! {
        () = shutdown_signal() => None,
        exited = first_exit(&mut running) => Some(exited),
    };
    if let Some((service, status)) = exited {
        eprintln!("demo: {service} exited by itself ({status}); stopping the others");
        stop(&mut running, "-TERM").await;
        return Err(format!("{service} exited by itself ({status})").into());
    }
    eprintln!("demo: stopping the services (their telemetry is flushed first)");
    let clean = stop(&mut running, "-INT").await;
    if clean {
        eprintln!("demo: every service stopped cleanly");
        Ok(())
    } else {
        Err("a service did not stop cleanly".into())
    }
}

/// The database of each service: the `DATABASE_URL` given to the launcher (both services
/// share it; their tables differ), else a SQLite file each.
struct Databases {
    shared: Option<String>,
    dir: PathBuf,
}

impl Databases {
    fn choose(options: &UpOptions) -> Result<Databases, BoxError> {
        let shared = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty());
        let dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("hyperion-demo"));
        if shared.is_none() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
        }
        Ok(Databases { shared, dir })
    }

    fn url(&self, service: Service) -> Option<String> {
        let file = match service {
            Service::Gateway => return None,
            Service::Users => "users.db",
            Service::Orders => "orders.db",
        };
        Some(match &self.shared {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.dir.join(file).display()),
        })
    }

    fn describe(&self) -> String {
        match &self.shared {
            Some(url) => format!("DATABASE_URL ({})", crate::db::redact(url)),
            None => format!("SQLite files in {}", self.dir.display()),
        }
    }
}

async fn prefix_lines(service: Service, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{:>13} | {line}", service.name());
    }
}

async fn wait_until_ready(
    running: &mut [Running],
    url: &impl Fn(Service) -> String,
) -> Result<(), BoxError> {
    let client = crate::load::plain_client()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    for entry in running.iter_mut() {
        let health = format!("{}/health", url(entry.service));
        loop {
            if let Some(status) = entry.child.try_wait()? {
                return Err(format!("{} exited while starting ({status})", entry.service).into());
            }
            if let Ok(response) = client.get(&health).send().await
                && response.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer {health} within {READY_TIMEOUT:?}",
                    entry.service
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn print_banner(options: &UpOptions, database: &Databases) {
    let nats = std::env::var("NATS_URL").unwrap_or_default();
    let otlp = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    let telemetry = if otlp.is_empty() {
        "trace trees and JSON logs (with trace_id) below, metrics with exemplars at each /metrics"
            .to_owned()
    } else {
        format!("OTLP to {otlp} (when HYPERION_TRACING__EXPORTER=otlp), metrics at each /metrics")
    };
    let gateway = options.gateway_port;
    eprintln!(
        "\n\
         demo: the three services are up\n\
         \x20 gateway        http://127.0.0.1:{gateway}   (metrics: /metrics)\n\
         \x20 user-service   http://127.0.0.1:{}   (metrics: /metrics)\n\
         \x20 order-service  http://127.0.0.1:{}   (metrics: /metrics)\n\
         \x20 database       {}\n\
         \x20 NATS           {}\n\
         \x20 telemetry      {telemetry}\n\
         \n\
         send traffic:\n\
         \x20 curl http://127.0.0.1:{gateway}/users/1\n\
         \x20 curl http://127.0.0.1:{gateway}/users/1/orders\n\
         \x20 curl -X POST http://127.0.0.1:{gateway}/orders -H 'content-type: application/json' \\\n\
         \x20      -d '{{\"user_id\": 1, \"item\": \"book\", \"quantity\": 2}}'\n\
         \x20 cargo run -p hyperion-demo -- load --requests 500 --gateway http://127.0.0.1:{gateway}\n\
         \n\
         Ctrl-C stops every service (telemetry flushed first).\n",
        options.user_port,
        options.order_port,
        database.describe(),
        if nats.is_empty() {
            "off (set NATS_URL to announce orders and count them per user)".to_owned()
        } else {
            nats
        },
    );
}

/// The first service to exit, and how.
async fn first_exit(running: &mut [Running]) -> (Service, ExitStatus) {
    let waits = running.iter_mut().map(|entry| {
        let service = entry.service;
        Box::pin(async move {
            let status = entry.child.wait().await;
            (service, status)
        })
    });
    let ((service, status), _, _) = futures_util::future::select_all(waits).await;
    match status {
        Ok(status) => (service, status),
        Err(error) => {
            eprintln!("demo: cannot wait for {service}: {error}");
            (service, ExitStatus::default())
        }
    }
}

/// Sends `signal` to every service still running, waits for each (killing it after
/// [`STOP_TIMEOUT`]), and says whether all exited with success.
async fn stop(running: &mut [Running], signal: &str) -> bool {
    for entry in running.iter() {
        if let Some(pid) = entry.child.id() {
            // `kill(1)` rather than libc: the crate forbids `unsafe`, and this runs once.
            let _ = Command::new("kill")
                .arg(signal)
                .arg(pid.to_string())
                .status()
                .await;
        }
    }
    let mut clean = true;
    for entry in running.iter_mut() {
        match tokio::time::timeout(STOP_TIMEOUT, entry.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => {
                eprintln!("demo: {} exited with {status}", entry.service);
                clean = false;
            }
            Ok(Err(error)) => {
                eprintln!("demo: cannot wait for {}: {error}", entry.service);
                clean = false;
            }
            Err(_) => {
                eprintln!(
                    "demo: {} did not stop within {STOP_TIMEOUT:?}; killing it",
                    entry.service
                );
                let _ = entry.child.kill().await;
                clean = false;
            }
        }
    }
    clean
}
