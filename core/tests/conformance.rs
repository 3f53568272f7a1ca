//! The adapter conformance suite against the modules the core ships: `noop` and `memory`.

use hyperion::testing::conformance::{self, MemoryHarness, NoopHarness};

#[tokio::test]
async fn noop_module_conforms() {
    let report = conformance::run(&NoopHarness).await;
    report.assert_passed();
    assert_eq!(report.checks.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_module_conforms_on_a_multi_thread_runtime() {
    conformance::run(&MemoryHarness::default())
        .await
        .assert_passed();
}

#[tokio::test(flavor = "current_thread")]
async fn memory_module_conforms_on_a_current_thread_runtime() {
    conformance::run(&MemoryHarness::default())
        .await
        .assert_passed();
}

#[test]
#[should_panic(expected = "has no child named \"missing\"")]
fn span_tree_assertions_fail_with_the_tree() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let memory = hyperion::testing::MemoryModule::new();
        let store = memory.store();
        let t = hyperion::Telemetry::builder()
            .module(memory)
            .build()
            .await
            .unwrap();
        let (_, mut span) = t.context().start_span("root", hyperion::SpanOptions::new());
        span.end();
        t.flush(std::time::Duration::from_secs(1)).await.unwrap();
        store.snapshot().root("root").child("missing");
    });
}
