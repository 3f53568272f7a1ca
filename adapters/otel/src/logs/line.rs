//! The [`LineWriter`]: one [`Record`] in, one JSON or pretty line out.
//!
//! A line is formatted into a reusable per-thread buffer, then written with a single
//! `write_all` under the output's lock, so lines from concurrent threads never interleave and
//! a `Display` impl inside a message never runs while the lock is held. A failed write (closed
//! stdout, full disk) is counted ([`LineWriter::failed_writes`]) and otherwise ignored: logging
//! never fails or panics the application.

use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::config::LogFormat;
use hyperion::{Record, SpanContext};

use super::time::{Precision, write_rfc3339};
use super::{json, pretty};

/// Where lines go.
#[derive(Clone)]
#[allow(dead_code)] // `Buffer` and `Writer` are for tests.
pub(crate) enum Output {
    /// The process's standard output (line buffered by std: each line is flushed whole).
    Stdout,
    /// The process's standard error (unbuffered).
    Stderr,
    /// An in-memory buffer, for tests.
    Buffer(Arc<Mutex<Vec<u8>>>),
    /// Any writer, for tests (e.g. one that fails). Not flushed after each line.
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl Output {
    /// Writes one whole line under the output's lock.
    fn write_line(&self, line: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => write_whole(&mut io::stdout().lock(), line),
            Output::Stderr => write_whole(&mut io::stderr().lock(), line),
            Output::Buffer(buffer) => {
                lock(buffer).extend_from_slice(line);
                Ok(())
            }
            Output::Writer(writer) => write_whole(&mut *lock(writer), line),
        }
    }

    /// Flushes what the output buffers (a `BufWriter` given as a writer, stdout's line buffer).
    fn flush(&self) -> io::Result<()> {
        match self {
            Output::Stdout => io::stdout().lock().flush(),
            Output::Stderr => io::stderr().lock().flush(),
            Output::Buffer(_) => Ok(()),
            Output::Writer(writer) => lock(writer).flush(),
        }
    }
}

/// `write_all`, except that a line cut short by an error (a full disk) is ended with a newline
/// when possible, so that the next line starts on a line of its own and still parses.
fn write_whole(w: &mut dyn Write, line: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while written < line.len() {
        match w.write(&line[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if written > 0 {
                    let _ = w.write_all(b"\n");
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Stdout => "Stdout",
            Output::Stderr => "Stderr",
            Output::Buffer(_) => "Buffer",
            Output::Writer(_) => "Writer",
        })
    }
}

/// Locks `mutex` even if a thread panicked while holding it: a half-written line in a test
/// buffer is better than a panic in the application.
fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The JSON keys a line writes itself; a field with one of these names is written as
/// `field.<name>` so it cannot shadow or duplicate them.
const RESERVED: [&str; 8] = [
    "timestamp",
    "level",
    "severity_number",
    "target",
    "message",
    "trace_id",
    "span_id",
    "service",
];

/// A buffer that grew past this (one huge line) is dropped after use rather than kept per thread.
const KEEP_CAPACITY: usize = 16 * 1024;

thread_local! {
    /// The line being formatted on this thread, reused from line to line.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Formats records as lines and writes them to an [`Output`].
#[derive(Debug)]
pub(crate) struct LineWriter {
    format: LogFormat,
    output: Output,
    /// The service name, for the pretty format.
    service: Option<Box<str>>,
    /// `,"service":"<escaped name>"`, prepared once for JSON lines (empty without a service).
    service_json: Box<[u8]>,
    failed: AtomicU64,
}

impl LineWriter {
    /// A writer of `format` lines to `output`; `service` is added to every JSON line.
    pub(crate) fn new(format: LogFormat, output: Output, service: Option<String>) -> Self {
        let mut service_json = Vec::new();
        if let Some(name) = &service {
            service_json.extend_from_slice(b",\"service\":");
            json::push_str(&mut service_json, name);
        }
        LineWriter {
            format,
            output,
            service: service.map(String::into_boxed_str),
            service_json: service_json.into_boxed_slice(),
            failed: AtomicU64::new(0),
        }
    }

    /// Formats and writes one record as one line, stamped with the current time.
    ///
    /// Never panics; a failed write (closed stdout, full disk) is counted in
    /// [`failed_writes`](Self::failed_writes), not propagated.
    pub(crate) fn write(&self, record: &Record<'_>) {
        self.write_at(record, SystemTime::now());
    }

    /// How many lines could not be written.
    /// Flushes the output; a failure is counted like a failed write.
    pub(crate) fn flush(&self) {
        if self.output.flush().is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn failed_writes(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// [`write`](Self::write) with a given timestamp.
    pub(crate) fn write_at(&self, record: &Record<'_>, now: SystemTime) {
        // The thread's buffer, unless it is in use further up this thread's stack (a message's
        // `Display` impl that logs) or already destroyed (logging from a thread-local's
        // destructor): then a fresh one.
        let done = LINE.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut line) => {
                self.format_and_write(&mut line, record, now);
                if line.capacity() > KEEP_CAPACITY {
                    *line = Vec::new();
                }
                true
            }
            Err(_) => false,
        });
        if done != Ok(true) {
            self.format_and_write(&mut Vec::new(), record, now);
        }
    }

    fn format_and_write(&self, line: &mut Vec<u8>, record: &Record<'_>, now: SystemTime) {
        line.clear();
        match self.format {
            LogFormat::Json => self.format_json(line, record, now),
            LogFormat::Pretty => self.format_pretty(line, record, now),
        }
        line.push(b'\n');
        if self.output.write_line(line).is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `{"timestamp":…,"level":…,"severity_number":…,"target":…,"message":…[,"trace_id":…,
    /// "span_id":…][,"service":…][,fields…]}`
    fn format_json(&self, line: &mut Vec<u8>, record: &Record<'_>, now: SystemTime) {
        line.extend_from_slice(b"{\"timestamp\":\"");
        write_rfc3339(line, now, Precision::Nanos);
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(record.level.as_str().as_bytes());
        line.extend_from_slice(b"\",\"severity_number\":");
        push_small(line, record.level.severity_number());
        line.extend_from_slice(b",\"target\":");
        json::push_str(line, record.target);
        line.extend_from_slice(b",\"message\":\"");
        json::push_message(line, &record.message, json::escape_str);
        line.push(b'"');
        if record.span_context.is_valid() {
            push_ids(
                line,
                record.span_context,
                b",\"trace_id\":\"",
                b"\",\"span_id\":\"",
            );
            line.push(b'"');
        }
        line.extend_from_slice(&self.service_json);
        for attribute in record.attributes {
            let key = attribute.key.as_str();
            line.extend_from_slice(b",\"");
            if RESERVED.contains(&key) {
                line.extend_from_slice(b"field.");
            }
            json::escape_str(line, key);
            line.extend_from_slice(b"\":");
            json::push_value(line, &attribute.value);
        }
        line.push(b'}');
    }

    /// `2026-11-23T19:42:09.123Z  INFO target: message key=value … trace_id=… span_id=…`
    fn format_pretty(&self, line: &mut Vec<u8>, record: &Record<'_>, now: SystemTime) {
        write_rfc3339(line, now, Precision::Millis);
        line.push(b' ');
        let level = record.level.as_str().as_bytes();
        line.extend(std::iter::repeat_n(
            b' ',
            5usize.saturating_sub(level.len()),
        ));
        line.extend_from_slice(level);
        line.push(b' ');
        if !record.target.is_empty() {
            pretty::escape_text(line, record.target);
            line.extend_from_slice(b": ");
        }
        json::push_message(line, &record.message, pretty::escape_text);
        for attribute in record.attributes {
            line.push(b' ');
            pretty::escape_text(line, attribute.key.as_str());
            line.push(b'=');
            pretty::push_value(line, &attribute.value, false);
        }
        if record.span_context.is_valid() {
            push_ids(line, record.span_context, b" trace_id=", b" span_id=");
        }
        if let Some(service) = &self.service {
            line.extend_from_slice(b" service=");
            pretty::push_value(line, &hyperion::Value::from(&**service), false);
        }
    }
}

/// Appends `before_trace`, the trace id, `before_span` and the span id, as lowercase hex.
fn push_ids(line: &mut Vec<u8>, context: &SpanContext, before_trace: &[u8], before_span: &[u8]) {
    let mut trace = [0u8; 32];
    let mut span = [0u8; 16];
    line.extend_from_slice(before_trace);
    line.extend_from_slice(context.trace_id().encode_hex(&mut trace).as_bytes());
    line.extend_from_slice(before_span);
    line.extend_from_slice(context.span_id().encode_hex(&mut span).as_bytes());
}

/// Appends a number below 100 (a severity number) without the formatting machinery.
fn push_small(line: &mut Vec<u8>, n: u8) {
    if n >= 10 {
        line.push(b'0' + n / 10);
    }
    line.push(b'0' + n % 10);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperion::{Level, SpanId, TraceFlags, TraceId, TraceState, Value, kv};
    use serde_json::Value as Json;
    use std::fmt;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2026-11-23T19:42:09.123456789Z
    fn fixed_time() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_795_462_929, 123_456_789)
    }

    fn span() -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes([
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36,
            ]),
            SpanId::from_bytes([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    }

    fn buffered(format: LogFormat, service: Option<&str>) -> (LineWriter, Arc<Mutex<Vec<u8>>>) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LineWriter::new(
            format,
            Output::Buffer(buffer.clone()),
            service.map(str::to_owned),
        );
        (writer, buffer)
    }

    /// The lines written so far (each must end with a newline), emptying the buffer.
    fn take_lines(buffer: &Mutex<Vec<u8>>) -> Vec<String> {
        let bytes = std::mem::take(&mut *buffer.lock().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
        text.lines().map(str::to_owned).collect()
    }

    /// Parses one JSON line, after checking it holds no raw control character or U+2028/9.
    fn parse(line: &str) -> serde_json::Map<String, Json> {
        assert!(
            !line
                .chars()
                .any(|c| (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}'),
            "raw control character in {line:?}"
        );
        match serde_json::from_str(line) {
            Ok(Json::Object(map)) => map,
            other => panic!("not a JSON object: {line:?}: {other:?}"),
        }
    }

    /// Writes one record through a fresh JSON writer and parses the line.
    fn json_line(
        message: fmt::Arguments<'_>,
        attributes: &[hyperion::KeyValue<'_>],
        span_context: &SpanContext,
    ) -> (String, serde_json::Map<String, Json>) {
        let (writer, buffer) = buffered(LogFormat::Json, Some("users"));
        writer.write_at(
            &Record {
                level: Level::Info,
                target: "my_app::db",
                message,
                attributes,
                span_context,
            },
            fixed_time(),
        );
        let lines = take_lines(&buffer);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let map = parse(&lines[0]);
        (lines[0].clone(), map)
    }

    #[test]
    fn json_line_has_the_keys_in_order_with_their_types() {
        let (line, map) = json_line(
            format_args!("fetched {} rows", 3),
            &[
                kv("user.id", "42"),
                kv("retry", 2),
                kv("ok", true),
                kv("ratio", 0.5),
                kv(
                    "tags",
                    Value::from(vec![Value::from("a"), Value::from("b")]),
                ),
            ],
            &span(),
        );
        assert_eq!(
            line,
            r#"{"timestamp":"2026-11-23T19:42:09.123456789Z","level":"INFO","severity_number":9,"target":"my_app::db","message":"fetched 3 rows","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","service":"users","user.id":"42","retry":2,"ok":true,"ratio":0.5,"tags":["a","b"]}"#
        );
        assert_eq!(map["retry"], Json::from(2));
        assert_eq!(map["ratio"], Json::from(0.5));
        assert_eq!(map["ok"], Json::Bool(true));
        assert_eq!(map["user.id"], Json::from("42"));
    }

    #[test]
    fn every_level_has_its_severity_number() {
        let (writer, buffer) = buffered(LogFormat::Json, None);
        let levels = [
            (Level::Trace, 1),
            (Level::Debug, 5),
            (Level::Info, 9),
            (Level::Warn, 13),
            (Level::Error, 17),
            (Level::Fatal, 21),
        ];
        for (level, _) in levels {
            writer.write(&Record {
                level,
                target: "t",
                message: format_args!("m"),
                attributes: &[],
                span_context: &SpanContext::INVALID,
            });
        }
        let lines = take_lines(&buffer);
        for ((level, number), line) in levels.iter().zip(&lines) {
            let map = parse(line);
            assert_eq!(map["level"], Json::from(level.as_str()));
            assert_eq!(map["severity_number"], Json::from(*number));
            assert!(!map.contains_key("service"));
            // A real clock: a plausible RFC 3339 timestamp.
            let ts = map["timestamp"].as_str().unwrap();
            assert_eq!(ts.len(), 30, "{ts}");
            assert!(ts.starts_with("20") && ts.ends_with('Z'), "{ts}");
        }
    }

    #[test]
    fn trace_ids_only_with_a_valid_span_context() {
        let (_, with) = json_line(format_args!("m"), &[], &span());
        assert_eq!(with["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(with["span_id"], "00f067aa0ba902b7");
        let (line, without) = json_line(format_args!("m"), &[], &SpanContext::INVALID);
        assert!(!without.contains_key("trace_id"), "{line}");
        assert!(!without.contains_key("span_id"), "{line}");
        assert!(!line.contains("trace_id"), "{line}");
    }

    #[test]
    fn fields_named_like_reserved_keys_are_prefixed() {
        let attributes: Vec<_> = RESERVED.iter().map(|&k| kv(k, "field")).collect();
        let (line, map) = json_line(format_args!("real message"), &attributes, &span());
        for key in RESERVED {
            assert_eq!(map[&format!("field.{key}")], "field", "{key}: {line}");
        }
        assert_eq!(map["level"], "INFO");
        assert_eq!(map["message"], "real message");
        assert_eq!(map["service"], "users");
        assert_eq!(map["target"], "my_app::db");
        assert_eq!(map["timestamp"], "2026-11-23T19:42:09.123456789Z");
        // No key appears twice in the raw line.
        assert_eq!(line.matches("\"level\":").count(), 1, "{line}");
        assert_eq!(map.len(), 8 + RESERVED.len(), "{line}");
    }

    #[test]
    fn bad_input_everywhere_still_parses() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        let lossy = String::from_utf8_lossy(b"bytes \xff\xc3(");
        let nasty = format!("q\"b\\n\nt\t{controls}l\u{2028}p\u{2029}r\u{fffd}");
        let key = format!("k\"{controls}\u{2028}");
        let attributes = [
            kv("nasty", nasty.as_str()),
            kv("lossy", &*lossy),
            hyperion::KeyValue::new(key.clone(), "v"),
            kv("arr", Value::from(vec![Value::from(nasty.clone())])),
        ];
        let (writer, buffer) = buffered(LogFormat::Json, Some("svc\"\n\u{2028}"));
        // Literal message (`as_str`), formatted message, and a nasty target.
        writer.write_at(
            &Record {
                level: Level::Warn,
                target: "tar\"get\n",
                message: format_args!("literal \" \\ \n \t \u{0} \u{1f} \u{2028} \u{fffd}"),
                attributes: &attributes,
                span_context: &span(),
            },
            fixed_time(),
        );
        writer.write_at(
            &Record {
                level: Level::Warn,
                target: "t",
                message: format_args!("{nasty}{lossy}"),
                attributes: &attributes,
                span_context: &span(),
            },
            fixed_time(),
        );
        let lines = take_lines(&buffer);
        assert_eq!(lines.len(), 2);
        let first = parse(&lines[0]);
        assert_eq!(
            first["message"],
            "literal \" \\ \n \t \u{0} \u{1f} \u{2028} \u{fffd}"
        );
        assert_eq!(first["target"], "tar\"get\n");
        assert_eq!(first["service"], "svc\"\n\u{2028}");
        assert_eq!(first["nasty"], nasty.as_str());
        assert_eq!(first["lossy"], "bytes \u{fffd}\u{fffd}(");
        assert_eq!(first[&key], "v");
        assert_eq!(first["arr"][0], nasty.as_str());
        let second = parse(&lines[1]);
        assert_eq!(second["message"], format!("{nasty}{lossy}"));
    }

    #[test]
    fn pretty_line_shape() {
        let (writer, buffer) = buffered(LogFormat::Pretty, None);
        for (level, span_context) in [(Level::Info, span()), (Level::Error, SpanContext::INVALID)] {
            writer.write_at(
                &Record {
                    level,
                    target: "my_app::db",
                    message: format_args!("fetched {} rows", 3),
                    attributes: &[kv("user.id", "42"), kv("retry", 2), kv("note", "two words")],
                    span_context: &span_context,
                },
                fixed_time(),
            );
        }
        writer.write_at(
            &Record {
                level: Level::Warn,
                target: "",
                message: format_args!("line\nbreak \u{1b}[31mred"),
                attributes: &[],
                span_context: &SpanContext::INVALID,
            },
            fixed_time(),
        );
        assert_eq!(
            take_lines(&buffer),
            [
                "2026-11-23T19:42:09.123Z  INFO my_app::db: fetched 3 rows user.id=42 retry=2 \
                 note=\"two words\" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 \
                 span_id=00f067aa0ba902b7",
                "2026-11-23T19:42:09.123Z ERROR my_app::db: fetched 3 rows user.id=42 retry=2 \
                 note=\"two words\"",
                r"2026-11-23T19:42:09.123Z  WARN line\nbreak \u{1b}[31mred",
            ]
        );
        let (writer, buffer) = buffered(LogFormat::Pretty, Some("users api"));
        writer.write_at(
            &Record {
                level: Level::Debug,
                target: "t",
                message: format_args!("m"),
                attributes: &[],
                span_context: &SpanContext::INVALID,
            },
            fixed_time(),
        );
        assert_eq!(
            take_lines(&buffer),
            ["2026-11-23T19:42:09.123Z DEBUG t: m service=\"users api\""]
        );
    }

    /// A writer whose every write fails, as a closed pipe or a full disk does.
    struct Failing {
        attempts: usize,
    }

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            self.attempts += 1;
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer that takes a few bytes and then reports the disk full.
    struct FullAfter(usize);

    impl Write for FullAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.0 {
                0 => Err(io::Error::new(io::ErrorKind::StorageFull, "full")),
                room => {
                    let n = room.min(buf.len());
                    self.0 -= n;
                    Ok(n)
                }
            }
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failed_writes_are_counted_not_propagated() {
        let failing = Arc::new(Mutex::new(Failing { attempts: 0 }));
        for format in [LogFormat::Json, LogFormat::Pretty] {
            let writer = LineWriter::new(format, Output::Writer(failing.clone()), None);
            assert_eq!(writer.failed_writes(), 0);
            for _ in 0..3 {
                writer.write(&Record {
                    level: Level::Error,
                    target: "t",
                    message: format_args!("lost"),
                    attributes: &[],
                    span_context: &SpanContext::INVALID,
                });
            }
            assert_eq!(writer.failed_writes(), 3);
        }
        assert_eq!(failing.lock().unwrap().attempts, 6);

        let writer = LineWriter::new(
            LogFormat::Json,
            Output::Writer(Arc::new(Mutex::new(FullAfter(10)))),
            None,
        );
        let record = Record {
            level: Level::Info,
            target: "t",
            message: format_args!("partly written"),
            attributes: &[],
            span_context: &SpanContext::INVALID,
        };
        writer.write(&record);
        writer.write(&record);
        assert_eq!(writer.failed_writes(), 2);
    }

    #[test]
    fn a_poisoned_buffer_is_still_written() {
        let (writer, buffer) = buffered(LogFormat::Json, None);
        let poisoner = buffer.clone();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison the buffer");
        })
        .join();
        assert!(buffer.is_poisoned());
        writer.write(&Record {
            level: Level::Info,
            target: "t",
            message: format_args!("still here"),
            attributes: &[],
            span_context: &SpanContext::INVALID,
        });
        assert_eq!(writer.failed_writes(), 0);
        let bytes = std::mem::take(&mut *buffer.lock().unwrap_or_else(PoisonError::into_inner));
        let line = String::from_utf8(bytes).unwrap();
        assert_eq!(parse(line.trim_end())["message"], "still here");
    }

    /// A message argument whose `Display` logs through the same writer (on the same thread,
    /// while the thread's buffer is in use).
    struct LogsWhileFormatted<'a>(&'a LineWriter);

    impl fmt::Display for LogsWhileFormatted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.write(&Record {
                level: Level::Debug,
                target: "inner",
                message: format_args!("inner line"),
                attributes: &[],
                span_context: &SpanContext::INVALID,
            });
            f.write_str("outer value")
        }
    }

    #[test]
    fn logging_while_formatting_a_message_writes_both_lines() {
        let (writer, buffer) = buffered(LogFormat::Json, None);
        writer.write(&Record {
            level: Level::Info,
            target: "outer",
            message: format_args!("{}", LogsWhileFormatted(&writer)),
            attributes: &[],
            span_context: &SpanContext::INVALID,
        });
        let lines = take_lines(&buffer);
        let messages: Vec<_> = lines.iter().map(|l| parse(l)["message"].clone()).collect();
        assert_eq!(messages, ["inner line", "outer value"]);
    }

    #[test]
    fn a_huge_line_is_written_whole_and_the_buffer_shrinks_back() {
        let (writer, buffer) = buffered(LogFormat::Json, None);
        let big = "x".repeat(100_000);
        writer.write(&Record {
            level: Level::Info,
            target: "t",
            message: format_args!("{big}"),
            attributes: &[],
            span_context: &SpanContext::INVALID,
        });
        assert_eq!(parse(&take_lines(&buffer)[0])["message"], big.as_str());
        LINE.with(|line| assert!(line.borrow().capacity() <= KEEP_CAPACITY));
    }

    #[test]
    fn threads_never_interleave_lines() {
        const THREADS: usize = 8;
        const LINES: usize = 1000;
        let (writer, buffer) = buffered(LogFormat::Json, Some("users"));
        let ids = span();
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let (writer, ids) = (&writer, &ids);
                scope.spawn(move || {
                    // Long enough that a torn write would show.
                    let padding = "p".repeat(200 + thread * 50);
                    for n in 0..LINES {
                        writer.write(&Record {
                            level: Level::Info,
                            target: "load",
                            message: format_args!("thread {thread} line {n} {padding}"),
                            attributes: &[
                                kv("thread", thread as i64),
                                kv("n", n as i64),
                                kv("quote", "\"\n"),
                            ],
                            span_context: ids,
                        });
                    }
                });
            }
        });
        let lines = take_lines(&buffer);
        assert_eq!(lines.len(), THREADS * LINES);
        let mut next = [0i64; THREADS];
        for line in &lines {
            let map = parse(line);
            let thread = map["thread"].as_i64().unwrap() as usize;
            assert_eq!(map["n"].as_i64().unwrap(), next[thread], "out of order");
            next[thread] += 1;
            assert_eq!(map["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(map["quote"], "\"\n");
        }
        assert_eq!(next, [LINES as i64; THREADS]);
        assert_eq!(writer.failed_writes(), 0);
    }
}
