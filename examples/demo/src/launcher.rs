//! `demo up`: the three services as child processes of one command, on embedded defaults (a
//! SQLite file each unless `DATABASE_URL` is set), their output prefixed with their names, and
//! one Ctrl-C stopping them all cleanly.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::runtime::{BoxError, Signals};
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
    /// Where the SQLite files go. Default: `hyperion-demo-{user}` in the system's temporary
    /// directory, readable by its owner only.
    pub data_dir: Option<PathBuf>,
    /// The local viewer's ports (web page, OTLP/gRPC, OTLP/HTTP), or `None` for no viewer: the
    /// services then print their traces. Default: 16686, 4317, 4318.
    pub viewer: Option<[u16; 3]>,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            gateway_port: Service::Gateway.default_port(),
            user_port: Service::Users.default_port(),
            order_port: Service::Orders.default_port(),
            data_dir: None,
            viewer: Some([16686, 4317, 4318]),
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
    // From the start: a Ctrl-C while the services start stops them too.
    let mut signals = Signals::listen();
    let exe = std::env::current_exe()?;
    let database = Databases::choose(&options)?;
    let url = |service: Service| format!("http://127.0.0.1:{}", options.port(service));
    let viewer = start_viewer(&options).await;
    let mut running = Vec::new();
    let mut relays = Vec::new();
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
        // A group of its own: the terminal's Ctrl-C reaches the launcher alone, which stops
        // the services in order (the gateway first, so that no request it is still serving
        // finds a backend gone).
        #[cfg(unix)]
        command.process_group(0);
        if let Some(url) = database.url(service) {
            command.env("DATABASE_URL", url);
        }
        if let Some(viewer) = &viewer {
            // Every signal to the viewer: spans and log records over OTLP, and the viewer
            // scrapes each /metrics for the exemplars (OTLP metrics carry none yet).
            // The viewer's gRPC port, whatever the shell says of protocols and per-signal
            // endpoints (which would send the telemetry somewhere else).
            command
                .env("HYPERION_TRACING__EXPORTER", "otlp")
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", viewer.otlp_grpc_endpoint())
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
                .env("HYPERION_LOGGING__OTLP", "true");
            for signal in ["TRACES", "LOGS"] {
                for setting in ["ENDPOINT", "PROTOCOL"] {
                    command.env_remove(format!("OTEL_EXPORTER_OTLP_{signal}_{setting}"));
                }
            }
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                stop(&mut running, "-TERM").await;
                return Err(format!("cannot start {service}: {error}").into());
            }
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        relays.push(tokio::spawn(relay_lines(service, stdout)));
        relays.push(tokio::spawn(relay_lines(service, stderr)));
        running.push(Running { service, child });
    }

    let ready = tokio::select! {
        ready = wait_until_ready(&mut running, &url) => Some(ready),
        () = signals.recv() => None,
    };
    match ready {
        Some(Ok(())) => {}
        Some(Err(error)) => {
            stop(&mut running, "-TERM").await;
            finish_relays(relays).await;
            return Err(error);
        }
        None => {
            eprintln!("demo: stopping the services before they were all up");
            let clean = stop(&mut running, "-INT").await;
            finish_relays(relays).await;
            return if clean {
                Ok(())
            } else {
                Err("a service did not stop cleanly".into())
            };
        }
    }
    print_banner(&options, &database, viewer.as_ref());

    let exited = tokio::select! {
        () = signals.recv() => None,
        exited = first_exit(&mut running) => Some(exited),
    };
    if let Some((service, status)) = exited {
        eprintln!("demo: {service} exited by itself ({status}); stopping the others");
        stop(&mut running, "-TERM").await;
        finish_relays(relays).await;
        return Err(format!("{service} exited by itself ({status})").into());
    }
    eprintln!("demo: stopping the services (their telemetry is flushed first)");
    let clean = stop(&mut running, "-INT").await;
    // Everything the services wrote on their way out is printed before the launcher exits.
    finish_relays(relays).await;
    if let Some(viewer) = viewer
        && let Err(error) = viewer.shutdown().await
    {
        eprintln!("demo: the viewer did not stop cleanly: {error}");
    }
    if clean {
        eprintln!("demo: every service stopped cleanly");
        Ok(())
    } else {
        Err("a service did not stop cleanly".into())
    }
}

/// Starts the local viewer when it is wanted: not with `--no-viewer`, and not when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` sends the telemetry elsewhere. A viewer that cannot start (a
/// port taken) is reported, and the services print their traces instead.
async fn start_viewer(options: &UpOptions) -> Option<hyperion_viewer::Viewer> {
    let [ui_port, grpc_port, http_port] = options.viewer?;
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty()) {
        return None;
    }
    let scrape = [Service::Gateway, Service::Users, Service::Orders]
        .into_iter()
        .filter_map(|service| {
            format!(
                "{service}=http://127.0.0.1:{}/metrics",
                options.port(service)
            )
            .parse()
            .ok()
        })
        .collect();
    let config = hyperion_viewer::ViewerConfig {
        ui_port,
        grpc_port,
        http_port,
        scrape,
        ..hyperion_viewer::ViewerConfig::default()
    };
    match hyperion_viewer::Viewer::start(config).await {
        Ok(viewer) => Some(viewer),
        Err(error) => {
            eprintln!(
                "demo: the viewer did not start ({error}); the services print their traces \
                 instead (--viewer-port and friends choose other ports)"
            );
            None
        }
    }
}

/// Waits for the relays to print what the exited services wrote last (their pipes close when
/// they exit), at most a few seconds.
async fn finish_relays(relays: Vec<tokio::task::JoinHandle<()>>) {
    let all = futures_util::future::join_all(relays);
    if tokio::time::timeout(Duration::from_secs(5), all)
        .await
        .is_err()
    {
        eprintln!("demo: some service output may be missing (still open after 5 s)");
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
        let dir = options.data_dir.clone().unwrap_or_else(default_data_dir);
        if shared.is_none() {
            create_private_dir(&dir)
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

/// `hyperion-demo-{user}` in the temporary directory: one per user, as the directory is shared.
fn default_data_dir() -> PathBuf {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or_else(|| "user".to_owned());
    std::env::temp_dir().join(format!("hyperion-demo-{user}"))
}

/// Creates the directory (and its parents) readable by its owner only.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Prints a service's output line by line, prefixed with its name, until the service closes
/// it: bytes that are not UTF-8 are replaced, and a closed stdout (`demo up | head`) stops the
/// printing, never the reading, so that the service never blocks on a full pipe.
async fn relay_lines(service: Service, stream: impl AsyncRead + Unpin) {
    use std::io::Write;

    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut printing = true;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if printing {
            let text = String::from_utf8_lossy(&line);
            let mut out = std::io::stdout().lock();
            printing = writeln!(
                out,
                "{:>13} | {}",
                service.name(),
                text.trim_end_matches(['\n', '\r'])
            )
            .and_then(|()| out.flush())
            .is_ok();
        }
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

fn print_banner(
    options: &UpOptions,
    database: &Databases,
    viewer: Option<&hyperion_viewer::Viewer>,
) {
    let redacted = |name: &str| {
        std::env::var(name)
            .map(|url| crate::db::redact(&url))
            .unwrap_or_default()
    };
    let (nats, otlp) = (
        redacted("NATS_URL"),
        redacted("OTEL_EXPORTER_OTLP_ENDPOINT"),
    );
    let telemetry = match viewer {
        Some(viewer) => format!(
            "open {} (traces, their logs, metrics with exemplars); JSON logs below",
            viewer.ui_url()
        ),
        None if otlp.is_empty() => {
            "trace trees and JSON logs (with trace_id) below, metrics with exemplars at each \
             /metrics"
                .to_owned()
        }
        None => format!(
            "OTLP to {otlp} (when HYPERION_TRACING__EXPORTER=otlp), metrics at each /metrics"
        ),
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

/// Stops the services, the gateway first (waiting for it) and then the others: sends `signal`
/// to each still running, waits for it (killing it after [`STOP_TIMEOUT`]), and says whether
/// all exited with success.
async fn stop(running: &mut [Running], signal: &str) -> bool {
    let (front, back): (Vec<&mut Running>, Vec<&mut Running>) = running
        .iter_mut()
        .partition(|entry| entry.service == Service::Gateway);
    let mut clean = true;
    for mut wave in [front, back] {
        for entry in wave.iter_mut() {
            send(entry, signal).await;
        }
        clean &= wait_all(&mut wave).await;
    }
    clean
}

/// Sends `signal` to a service that is still running.
async fn send(entry: &mut Running, signal: &str) {
    let Some(pid) = entry.child.id() else {
        return;
    };
    // `kill(1)` rather than libc: the crate forbids `unsafe`, and this runs once per service.
    match Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .await
    {
        Ok(status) if status.success() => {}
        // Gone already (it exited between the check and the signal): nothing to stop.
        Ok(_) if matches!(entry.child.try_wait(), Ok(Some(_))) => {}
        Ok(status) => eprintln!(
            "demo: kill {signal} {pid} ({}) failed: {status}",
            entry.service
        ),
        Err(error) => eprintln!("demo: cannot run kill to stop {}: {error}", entry.service),
    }
}

/// Waits for each service to exit, killing one that takes longer than [`STOP_TIMEOUT`].
async fn wait_all(running: &mut [&mut Running]) -> bool {
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
