//! [`Rotel`]: the rotel OpenTelemetry collector as a child process.

use std::fmt;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Overrides where the `rotel-agent` binary is looked for.
/// (Not `HYPERION_*`: that prefix is the configuration's, and an unknown key there is an error.)
pub const ROTEL_AGENT_ENV: &str = "ROTEL_AGENT_BIN";

/// How long [`Rotel`] waits for both of its ports to accept connections.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The protocol rotel uses to forward what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardProtocol {
    /// OTLP/HTTP: gzip-compressed protobuf posted to `{forward_to}/v1/traces`.
    Http,
    /// OTLP/gRPC (gzip-compressed) to `forward_to`.
    Grpc,
}

impl ForwardProtocol {
    fn flag(self) -> &'static str {
        match self {
            ForwardProtocol::Http => "http",
            ForwardProtocol::Grpc => "grpc",
        }
    }
}

/// The path of the `rotel-agent` binary that `pip install rotel` put inside the `rotel` Python
/// package (the wheel puts no command on `PATH`), or the one `$ROTEL_AGENT_BIN` names.
/// `scripts/setup.sh` installs it into the virtualenv `.tools/venv` of the workspace, which is
/// tried first; then the `python3` on `PATH`.
///
/// Panics, telling to run `scripts/setup.sh`, when it cannot be found: tests that need rotel
/// fail rather than skip.
pub fn rotel_agent_path() -> PathBuf {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PATH.get_or_init(find_rotel_agent) {
        Ok(path) => path.clone(),
        Err(why) => panic!(
            "rotel-agent not found ({why}). Run scripts/setup.sh, which installs it with \
             `pip install rotel==0.0.1a15`, or set {ROTEL_AGENT_ENV} to the binary."
        ),
    }
}

fn find_rotel_agent() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ROTEL_AGENT_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "${ROTEL_AGENT_ENV} names {}, which is not a file",
                path.display()
            ))
        };
    }
    let mut tried = Vec::new();
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    let venv = venv.to_string_lossy().into_owned();
    for python in [venv.as_str(), "python3", "python"] {
        let output = Command::new(python)
            .args([
                "-c",
                "import os, rotel; print(os.path.dirname(rotel.__file__))",
            ])
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(out) if out.status.success() => {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                let path = Path::new(&dir).join("rotel-agent");
                if path.is_file() {
                    return Ok(path);
                }
                tried.push(format!("{python}: no rotel-agent in {dir}"));
            }
            Ok(out) => tried.push(format!(
                "{python}: {}",
                String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("failed")
            )),
            Err(e) => tried.push(format!("{python}: {e}")),
        }
    }
    Err(tried.join("; "))
}

/// A free TCP port on 127.0.0.1: binds port 0, reads the port and lets it go.
///
/// Another process could take it before it is used; on a test machine that is rare.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Two distinct free ports (both held while the second is chosen).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    let b = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    (
        a.local_addr().expect("local addr").port(),
        b.local_addr().expect("local addr").port(),
    )
}

/// Options for starting [`Rotel`]; from [`Rotel::builder`].
#[derive(Clone, Debug)]
pub struct RotelBuilder {
    forward_to: String,
    protocol: ForwardProtocol,
    ports: Option<(u16, u16)>,
    extra_args: Vec<String>,
    startup_timeout: Duration,
}

impl RotelBuilder {
    /// Listens on these ports (gRPC, HTTP) rather than on two fresh free ones.
    pub fn ports(mut self, grpc_port: u16, http_port: u16) -> Self {
        self.ports = Some((grpc_port, http_port));
        self
    }

    /// Adds an argument to `rotel-agent start` (after the harness's own), e.g.
    /// `.arg("--otlp-exporter-retry-initial-backoff").arg("100ms")`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// How long to wait for the ports to open (default [`STARTUP_TIMEOUT`]).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts rotel and waits until both of its ports accept connections.
    ///
    /// Panics with rotel's output if it exits or does not open its ports in time, and if the
    /// binary is missing (see [`rotel_agent_path`]).
    pub fn start(self) -> Rotel {
        Rotel::launch(self)
    }
}

/// The rotel collector, run as a child process in the foreground, receiving OTLP on gRPC and
/// HTTP on 127.0.0.1 and forwarding traces (batched, 200 ms) to one OTLP endpoint. Killed, and
/// waited for, on drop.
///
/// ```ignore
/// let rx = OtlpReceiver::start().await;
/// let rotel = Rotel::start(&rx.http_endpoint(), ForwardProtocol::Http);
/// // export to rotel.grpc_endpoint() or rotel.http_endpoint(); spans arrive at rx.
/// ```
pub struct Rotel {
    child: Child,
    grpc_port: u16,
    http_port: u16,
    dir: PathBuf,
}

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

impl Rotel {
    /// Starts rotel on two free ports, forwarding to `forward_to` (a base URL such as
    /// `http://127.0.0.1:4318`; for [`ForwardProtocol::Http`] rotel appends `/v1/traces`) with
    /// `protocol`, and waits until it listens.
    pub fn start(forward_to: &str, protocol: ForwardProtocol) -> Rotel {
        Rotel::builder(forward_to, protocol).start()
    }

    /// Like [`Rotel::start`], on the given ports (reserved earlier with [`free_port`], say).
    pub fn start_on(
        grpc_port: u16,
        http_port: u16,
        forward_to: &str,
        protocol: ForwardProtocol,
    ) -> Rotel {
        Rotel::builder(forward_to, protocol)
            .ports(grpc_port, http_port)
            .start()
    }

    /// A builder for rotel with more options (ports, extra arguments).
    pub fn builder(forward_to: &str, protocol: ForwardProtocol) -> RotelBuilder {
        RotelBuilder {
            forward_to: forward_to.to_owned(),
            protocol,
            ports: None,
            extra_args: Vec::new(),
            startup_timeout: STARTUP_TIMEOUT,
        }
    }

    /// Rotel's OTLP/gRPC endpoint, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Rotel's OTLP/HTTP base URL, `http://127.0.0.1:PORT` (traces go to `{base}/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Rotel's OTLP/HTTP traces URL, `http://127.0.0.1:PORT/v1/traces`.
    pub fn http_traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
    }

    /// The gRPC port.
    pub fn grpc_port(&self) -> u16 {
        self.grpc_port
    }

    /// The HTTP port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What rotel printed so far (stdout, stderr and its log file), for failure messages.
    pub fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let mut out = String::new();
        for (label, name) in [
            ("stdout", "stdout.log"),
            ("stderr", "stderr.log"),
            ("log file", "rotel.log"),
        ] {
            let text = read(name);
            if !text.trim().is_empty() {
                out.push_str(&format!("--- rotel {label} ---\n{}\n", text.trim_end()));
            }
        }
        if out.is_empty() {
            out.push_str("(rotel printed nothing)");
        }
        out
    }

    fn launch(options: RotelBuilder) -> Rotel {
        let agent = rotel_agent_path();
        let (grpc_port, http_port) = options.ports.unwrap_or_else(two_free_ports);
        // A port someone else holds would pass the readiness check below while rotel fails.
        for port in [grpc_port, http_port] {
            if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
                panic!("rotel: port 127.0.0.1:{port} is in use ({e})");
            }
        }
        let dir = std::env::temp_dir().join(format!(
            "hyperion-rotel-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create rotel's temp dir");
        let stdout = File::create(dir.join("stdout.log")).expect("create rotel's stdout log");
        let stderr = File::create(dir.join("stderr.log")).expect("create rotel's stderr log");

        let mut command = Command::new(&agent);
        command
            .arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", &options.forward_to])
            .args(["--otlp-exporter-protocol", options.protocol.flag()])
            .args(["--batch-timeout", "200ms"])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .args(&options.extra_args)
            // Without --daemon rotel stays in the foreground, so the child is rotel itself.
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("NO_COLOR", "1");
        // rotel reads every option from ROTEL_* variables too; keep the caller's out.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROTEL_") {
                command.env_remove(key);
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", agent.display()));
        let mut rotel = Rotel {
            child,
            grpc_port,
            http_port,
            dir,
        };
        rotel.wait_until_listening(options.startup_timeout);
        rotel
    }

    fn wait_until_listening(&mut self, timeout: Duration) {
        let addrs: [SocketAddr; 2] = [
            ([127, 0, 0, 1], self.grpc_port).into(),
            ([127, 0, 0, 1], self.http_port).into(),
        ];
        let deadline = Instant::now() + timeout;
        let mut open = [false, false];
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rotel exited during startup ({status}); ports grpc={} http={}\n{}",
                    self.grpc_port,
                    self.http_port,
                    self.output()
                );
            }
            for (addr, open) in addrs.iter().zip(open.iter_mut()) {
                if !*open {
                    *open = TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok();
                }
            }
            if open == [true, true] {
                return;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "rotel did not open its ports within {timeout:?} (grpc {} open: {}, http {} \
                     open: {})\n{}",
                    self.grpc_port,
                    open[0],
                    self.http_port,
                    open[1],
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl fmt::Debug for Rotel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotel")
            .field("pid", &self.child.id())
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .finish()
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
