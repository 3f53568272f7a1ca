#!/usr/bin/env bash
# Issue 16's table in one command: the instruction count (callgrind; repeatable on a shared,
# noisy machine, where times are not) of every row and of its reference, side by side, from the
# bench binaries' `ir_case`s through scripts/bench-ir.sh. With --time, also the criterion times
# of the same groups and the two-thread throughput (benches/benches/threads.rs).
#   scripts/bench.sh            instruction counts (about 5 minutes once built)
#   scripts/bench.sh --time     and times (about 15 minutes more)
# Each bench file's header holds the latest results and the goals met or missed.
set -euo pipefail
cd "$(dirname "$0")/.."
ir=scripts/bench-ir.sh

echo "== spans: the facade through otel, the SDK's build_with_context and start, tracing-otel"
ITERS=2000 $ir otel \
  span_start_end/hyperion_otel span_start_end/otel_sdk_build_with_context span_start_end/otel_sdk_start \
  span_start_end/tracing_otel child_span/hyperion_otel child_span/otel_sdk_build_with_context \
  child_span/otel_sdk_remote_parent child_span/tracing_otel span_5_attributes/hyperion_otel \
  span_5_attributes/otel_sdk_build_with_context span_5_attributes/otel_sdk_start span_5_attributes/tracing_otel

echo "== metrics and the intercept: one store (prometheus, otlp, both), the SDK, prometheus-client"
ITERS=2000 $ir otel_metrics \
  counter_add_3_attributes/hyperion_prometheus counter_add_3_attributes/hyperion_otlp \
  counter_add_3_attributes/hyperion_both counter_add_3_attributes/otel_sdk_periodic_reader \
  counter_add_3_attributes/prometheus_client_family \
  histogram_record_with_exemplar/hyperion_prometheus histogram_record_with_exemplar/hyperion_otlp \
  histogram_record_with_exemplar/hyperion_both histogram_record_with_exemplar/prometheus_client_family_observe \
  histogram_record_with_exemplar/otel_sdk_no_exemplar \
  intercept/hyperion_prometheus intercept/hyperion_otlp intercept/hyperion_both intercept/hyperion_none \
  intercept/otel_sdk_all_parts

echo "== the no-op path and W3C propagation: the facade, tracing and metrics-rs, the SDK"
ITERS=20000 $ir core \
  noop_span/hyperion noop_span/tracing_no_subscriber noop_log/hyperion noop_log/hyperion_macro \
  noop_log/tracing_no_subscriber noop_counter/hyperion noop_counter/hyperion_macro \
  noop_counter/metrics_no_recorder noop_intercept/hyperion_sync \
  propagation_inject/hyperion/HashMap propagation_inject/otel_sdk/HashMap \
  propagation_extract/hyperion/HashMap propagation_extract/otel_sdk/HashMap

if [ "${1:-}" = --time ]; then
  cargo bench -p hyperion-bench --bench otel -- "span_start_end|child_span|span_5_attributes"
  cargo bench -p hyperion-bench --bench otel_metrics -- "counter_add_3_attributes|histogram_record_with_exemplar|intercept"
  cargo bench -p hyperion-bench --bench core -- "noop|propagation_inject/.*HashMap$|propagation_extract/.*HashMap$"
  cargo bench -p hyperion-bench --bench threads
fi
