//! The viewer in a real browser: headless Chromium (Debian's `chromium`) driven over WebDriver
//! (`chromedriver`, Debian's `chromium-driver`), both installed by `scripts/setup.sh`. A
//! three-service trace with logs and an exemplar is sent over OTLP; the test opens the list,
//! clicks the trace, checks the waterfall bar by bar, opens a span, and follows the exemplar
//! from the metrics page back to the trace. It saves the trace page as `docs/trace.png`, the
//! README's screenshot.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value as Json, json};
use support::*;

const WAIT: Duration = Duration::from_secs(15);

/// A binary on PATH (or at its Debian path), or a panic saying how to install it.
fn tool(name: &str, package: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    on_path
        .or_else(|| Some(PathBuf::from("/usr/bin").join(name)).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed (Debian package `{package}`): run scripts/setup.sh, \
                 which installs chromium and chromium-driver; the browser test never skips"
            )
        })
}

/// chromedriver on a free loopback port, killed when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start() -> Self {
        let binary = tool("chromedriver", "chromium-driver");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; run scripts/setup.sh",
                    binary.display()
                )
            });
        let driver = ChromeDriver { child, port };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port} within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &ChromeDriver) -> Client {
    let chromium = tool("chromium", "chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,860", "--hide-scrollbars", "--force-device-scale-factor=1"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start {}: {e}", chromium.display()))
}

async fn wait_for_path(client: &Client, path: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = client.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the browser is at {url}, not {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_service_trace_is_drawn_clicked_through_and_reached_from_its_exemplar() {
    let driver = ChromeDriver::start();
    let viewer = viewer().await;
    let id = trace_id(42);
    let trace = hex(&id);
    // Some other traces first, so the list has rows to pick from.
    for seed in 0..3 {
        let other = trace_id(500 + seed);
        send_traces(
            &viewer,
            Transport::Grpc,
            three_service_trace(&other, 1000 * seed).remove(1),
        )
        .await;
    }
    for request in three_service_trace(&id, 10_000) {
        send_traces(&viewer, Transport::Grpc, request).await;
    }
    let mut logs = trace_logs(&id);
    for group in &mut logs.resource_logs {
        for record in &mut group.scope_logs[0].log_records {
            record.time_unix_nano += 10_000 * MS;
        }
    }
    send_logs(&viewer, Transport::HttpProtobuf, logs).await;
    send_metrics(&viewer, Transport::HttpJson, trace_metrics(&id)).await;
    wait_for_trace(&viewer, &trace, 6, WAIT).await;

    let client = browser(&driver).await;
    // Run the checks on a task of their own, so that a failing one still closes the browser.
    let outcome = tokio::spawn({
        let client = client.clone();
        let ui = viewer.ui_url();
        async move { run(&client, &ui, &trace).await }
    })
    .await;
    let _ = client.close().await;
    viewer.shutdown().await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run(client: &Client, ui: &str, trace: &str) {
    // The list: the newest trace first; click its row.
    client.goto(ui).await.unwrap();
    let first = client.find(Locator::Css("#traces tbody tr")).await.unwrap();
    assert_eq!(
        first.attr("data-trace-id").await.unwrap().as_deref(),
        Some(trace)
    );
    let row_text = first.text().await.unwrap();
    for expected in [
        "GET /orders/{id}",
        "gateway",
        "user-service",
        "order-service",
        "100 ms",
        "error",
    ] {
        assert!(
            row_text.contains(expected),
            "the row lacks {expected:?}: {row_text}"
        );
    }
    first
        .find(Locator::Css("td.spans"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(client, &format!("/traces/{trace}")).await;

    // The waterfall: one bar per span, in tree order, placed and sized by start and duration.
    let bars: Json = client
        .execute(
            "return Array.from(document.querySelectorAll('#waterfall .span')).map(function (s) {
                var bar = s.querySelector('.bar').getBoundingClientRect();
                var track = s.querySelector('.track').getBoundingClientRect();
                return { id: s.dataset.spanId, name: s.querySelector('.name').textContent,
                         depth: +s.dataset.depth, left: bar.left - track.left, width: bar.width,
                         track: track.width, colour: getComputedStyle(s.querySelector('.bar')).backgroundColor };
            });",
            vec![],
        )
        .await
        .unwrap();
    let bars = bars.as_array().unwrap();
    assert_eq!(bars.len(), WATERFALL.len(), "{bars:?}");
    let starts = [0.0, 5.0, 10.0, 40.0, 45.0, 50.0];
    for (i, (bar, (name, _service, depth, ms))) in bars.iter().zip(WATERFALL).enumerate() {
        assert_eq!(bar["name"], name, "bar {i}: {bars:?}");
        assert_eq!(bar["depth"], depth, "bar {i}");
        let track = bar["track"].as_f64().unwrap();
        assert!(track > 300.0, "the track is {track}px wide");
        let want_width = track * ms as f64 / 100.0;
        let want_left = track * starts[i] / 100.0;
        let (width, left) = (
            bar["width"].as_f64().unwrap(),
            bar["left"].as_f64().unwrap(),
        );
        assert!(
            (width - want_width).abs() <= 1.5,
            "bar {i} ({name}) is {width}px wide, want {want_width}"
        );
        assert!(
            (left - want_left).abs() <= 1.5,
            "bar {i} ({name}) starts at {left}px, want {want_left}"
        );
    }
    // Coloured by service: the gateway's three bars alike, the three services apart.
    let colour = |i: usize| bars[i]["colour"].as_str().unwrap().to_owned();
    assert_eq!(colour(0), colour(1));
    assert_eq!(colour(0), colour(3));
    assert_eq!(colour(4), colour(5));
    assert!(colour(0) != colour(2) && colour(0) != colour(4) && colour(2) != colour(4));

    // Each span's log lines under it; the trace's other log below.
    let user_span = format!("#span-{}", hex(&span_id(3)));
    let user_logs = text_of(client, &format!("{user_span} > .span-logs")).await;
    assert!(
        user_logs.contains("fetching user 42") && user_logs.contains("user 42 found in cache"),
        "{user_logs}"
    );
    let other = text_of(client, "#other-logs").await;
    assert!(other.contains("slow request"), "{other}");

    // Click a span: its attributes, status, events, resource and its log line.
    let insert = format!("#span-{}", hex(&span_id(6)));
    let detail = client
        .find(Locator::Css(&format!("{insert} > .detail")))
        .await
        .unwrap();
    assert!(
        !detail.is_displayed().await.unwrap(),
        "details are closed until clicked"
    );
    client
        .find(Locator::Css(&format!("{insert} > .row")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        detail.is_displayed().await.unwrap(),
        "a click opens the span's details"
    );
    let text = detail.text().await.unwrap();
    for expected in [
        "http.route",
        "INSERT orders",
        "span.number",
        "duplicate key value violates unique constraint",
        "exception",
        "service.name",
        "order-service",
        "deployment.environment.name",
    ] {
        assert!(
            text.contains(expected),
            "the details lack {expected:?}:\n{text}"
        );
    }
    let insert_logs = text_of(client, &format!("{insert} > .span-logs")).await;
    assert!(
        insert_logs.contains("ERROR") && insert_logs.contains("insert failed: duplicate key"),
        "{insert_logs}"
    );

    // The README's screenshot: this page, with that span open.
    client
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() < 300_000, "the screenshot is {} bytes", png.len());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/trace.png");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &png).unwrap();

    // The metrics page: the histogram's exemplar links to this trace, at its span.
    client
        .find(Locator::Css("header nav a[href='/metrics']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(client, "/metrics").await;
    let series = text_of(
        client,
        "tr.series-row[data-metric='http.server.request.duration']",
    )
    .await;
    assert!(
        series.contains("order-service") && series.contains("count 3"),
        "{series}"
    );
    let exemplar = client
        .find(Locator::Css(&format!(
            "a.exemplar[data-trace-id='{trace}']"
        )))
        .await
        .unwrap();
    exemplar.click().await.unwrap();
    wait_for_path(client, &format!("/traces/{trace}")).await;
    let url = client.current_url().await.unwrap();
    assert_eq!(
        url.fragment(),
        Some(format!("span-{}", hex(&span_id(5)))).as_deref()
    );
    let opened = client
        .find(Locator::Css(&format!(
            "#span-{} > .detail",
            hex(&span_id(5))
        )))
        .await
        .unwrap();
    assert!(
        opened.is_displayed().await.unwrap(),
        "the exemplar's span is opened"
    );
    assert_eq!(
        text_of(client, "#trace-title").await.trim_end_matches(" ✖"),
        "GET /orders/{id}"
    );

    // A trace id pasted into the search box opens that trace.
    client.goto(&format!("{ui}/metrics")).await.unwrap();
    let search = client.find(Locator::Css("#search")).await.unwrap();
    search.send_keys(&format!("{trace}\u{E007}")).await.unwrap(); // U+E007: WebDriver's Enter
    wait_for_path(client, &format!("/traces/{trace}")).await;
    assert_eq!(text_of(client, "#trace-id").await, trace);
}
