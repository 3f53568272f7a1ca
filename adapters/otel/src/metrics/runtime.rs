//! Process and tokio runtime metrics (`metrics.collect_runtime: true`), recorded through the
//! facade's own gauges so they reach every configured sink:
//!
//! | instrument | unit | what |
//! |---|---|---|
//! | `process.cpu.time` | `s` | user + system CPU time used so far |
//! | `process.memory.usage` | `By` | resident set size |
//! | `process.open_file_descriptor.count` | `{file_descriptor}` | open file descriptors |
//! | `process.thread.count` | `{thread}` | threads |
//! | `tokio.workers` | `{thread}` | worker threads of the runtime telemetry was built on |
//! | `tokio.alive_tasks` | `{task}` | tasks alive on it |
//! | `tokio.global_queue_depth` | `{task}` | tasks waiting in its global queue |
//!
//! The process values are read from `/proc/self` (Linux); elsewhere they are simply not recorded.
//! Values are sampled when Prometheus scrapes and every few seconds in the background.

use std::time::Duration;

use hyperion::{Context, Gauge, Telemetry};

/// The instruments, and the runtime they describe.
pub(crate) struct RuntimeMetrics {
    cpu: Gauge,
    memory: Gauge,
    fds: Gauge,
    threads: Gauge,
    tokio: Option<(tokio::runtime::Handle, Gauge, Gauge, Gauge)>,
}

/// How often the values are sampled in the background (scrapes sample too).
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The kernel's USER_HZ, the unit of the CPU times in `/proc/self/stat`: 100 on every Linux
/// architecture that matters here (it is fixed by the ABI, unlike the scheduler's HZ).
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ProcessSample {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_bytes: Option<f64>,
    pub(crate) open_fds: Option<f64>,
    pub(crate) threads: Option<f64>,
}

impl ProcessSample {
    /// Reads `/proc/self`; any value it cannot read is `None`.
    pub(crate) fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        ProcessSample {
            cpu_seconds: cpu_seconds(&stat),
            resident_bytes: status_kib(&status, "VmRSS:").map(|kib| kib * 1024.0),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64),
            threads: status_kib(&status, "Threads:"),
        }
    }
}

/// utime + stime from `/proc/self/stat`: fields 14 and 15, counted after the `)` that ends the
/// command name (which may itself contain spaces and parentheses).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime is field 14.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// The number after `key` in `/proc/self/status` (kB for memory lines, a count for `Threads:`).
fn status_kib(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl RuntimeMetrics {
    /// Creates the instruments on the telemetry's meter; `runtime` is the tokio runtime to
    /// describe (the one telemetry was built on), if any.
    pub(crate) fn new(telemetry: &Telemetry, runtime: Option<tokio::runtime::Handle>) -> Self {
        let meter = telemetry.meter("hyperion-otel.runtime");
        let gauge = |name: &'static str, unit: &'static str, description: &'static str| {
            meter
                .gauge(name)
                .unit(unit)
                .description(description)
                .build()
        };
        RuntimeMetrics {
            cpu: gauge("process.cpu.time", "s", "CPU time used by the process"),
            memory: gauge("process.memory.usage", "By", "Resident set size"),
            fds: gauge(
                "process.open_file_descriptor.count",
                "{file_descriptor}",
                "Open file descriptors",
            ),
            threads: gauge("process.thread.count", "{thread}", "Threads of the process"),
            tokio: runtime.map(|handle| {
                (
                    handle,
                    gauge(
                        "tokio.workers",
                        "{thread}",
                        "Worker threads of the tokio runtime",
                    ),
                    gauge(
                        "tokio.alive_tasks",
                        "{task}",
                        "Tasks alive on the tokio runtime",
                    ),
                    gauge(
                        "tokio.global_queue_depth",
                        "{task}",
                        "Tasks waiting in the runtime's global queue",
                    ),
                )
            }),
        }
    }

    /// Samples every value now.
    pub(crate) fn collect(&self) {
        let ctx = Context::noop();
        let sample = ProcessSample::read();
        for (gauge, value) in [
            (&self.cpu, sample.cpu_seconds),
            (&self.memory, sample.resident_bytes),
            (&self.fds, sample.open_fds),
            (&self.threads, sample.threads),
        ] {
            if let Some(v) = value {
                gauge.record(&ctx, v, &[]);
            }
        }
        if let Some((handle, workers, alive, queue)) = &self.tokio {
            let m = handle.metrics();
            workers.record(&ctx, m.num_workers() as f64, &[]);
            alive.record(&ctx, m.num_alive_tasks() as f64, &[]);
            queue.record(&ctx, m.global_queue_depth() as f64, &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A command name with spaces and a ')' must not shift the fields.
        let stat = "1234 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 4 0 100";
        assert_eq!(cpu_seconds(stat), Some(4.0));
        assert_eq!(cpu_seconds("garbage"), None);
    }

    #[test]
    fn status_values_are_parsed() {
        let status = "Name:\tx\nVmRSS:\t  2048 kB\nThreads:\t7\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(2048.0));
        assert_eq!(status_kib(status, "Threads:"), Some(7.0));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_is_visible() {
        let s = ProcessSample::read();
        assert!(s.resident_bytes.unwrap() > 1024.0 * 1024.0, "{s:?}");
        assert!(s.threads.unwrap() >= 1.0);
        assert!(s.open_fds.unwrap() >= 3.0);
        assert!(s.cpu_seconds.unwrap() >= 0.0);
    }
}
