//! What the demo's end-to-end tests share: the three services as real processes, and the
//! machine's PostgreSQL and NATS.

#![allow(dead_code)]

pub mod dashboards;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The machine's PostgreSQL (trust auth), where the tests create databases of their own.
pub fn postgres_url(database: &str) -> String {
    let base = std::env::var("HYPERION_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    format!("{base}/{database}")
}

/// The machine's NATS with JetStream.
pub fn nats_url() -> String {
    std::env::var("HYPERION_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A name no other run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Two databases on the machine's PostgreSQL, dropped at the end.
pub struct Databases {
    pub users: String,
    pub orders: String,
}

impl Databases {
    pub async fn create() -> Databases {
        let admin = postgres_url("test");
        let pool = sqlx::PgPool::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {admin} ({e}); run scripts/setup.sh")
        });
        let (users, orders) = (unique("demo_users"), unique("demo_orders"));
        for name in [&users, &orders] {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap();
        }
        Databases { users, orders }
    }

    pub async fn drop_all(&self) {
        let pool = sqlx::PgPool::connect(&postgres_url("test")).await.unwrap();
        for name in [&self.users, &self.orders] {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&pool)
            .await;
        }
    }
}

/// One of the demo's processes, its output in a file.
pub struct Process {
    pub name: String,
    pub child: Child,
    pub output: PathBuf,
}

impl Process {
    /// Starts the `demo` binary with `args` and `env`, in a clean environment apart from
    /// `PATH` and `HOME` (no inherited `OTEL_*` or `DATABASE_URL`).
    pub fn start(name: &str, args: &[&str], env: &[(&str, String)], dir: &Path) -> Process {
        let output = dir.join(format!("{name}.log"));
        let file = File::create(&output).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        Process {
            name: name.to_owned(),
            child,
            output,
        }
    }

    /// What it printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits for the exit, at most `timeout`.
    pub fn stop(&mut self, signal: &str, timeout: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {} failed", self.name);
        self.wait(timeout)
    }

    /// Waits for the exit, at most `timeout`; kills it and panics past that.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {timeout:?}; its output:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client for the tests' own requests (no telemetry).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// Waits until `GET {base}/health` answers 200; panics with `processes`' output past
/// `timeout`.
pub async fn wait_healthy(base: &str, timeout: Duration, processes: &[&Process]) {
    let client = client();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(response) = client.get(format!("{base}/health")).send().await
            && response.status().is_success()
        {
            return;
        }
        if Instant::now() > deadline {
            let outputs: Vec<String> = processes
                .iter()
                .map(|p| format!("--- {} ---\n{}", p.name, p.output()))
                .collect();
            panic!(
                "{base} did not become healthy in {timeout:?}\n{}",
                outputs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The trace id in a `traceresponse` header.
pub fn trace_id(response: &reqwest::Response) -> String {
    let value = response
        .headers()
        .get("traceresponse")
        .unwrap_or_else(|| panic!("no traceresponse header in {response:?}"))
        .to_str()
        .unwrap();
    hyperion_demo::load::trace_id_of(value)
        .unwrap_or_else(|| panic!("malformed traceresponse {value:?}"))
}
