#!/usr/bin/env bash
# End-to-end benchmark of `sagewall run` against kcat on a real Apache Kafka broker
# (docs/pipeline.md, "Benchmark against kcat"). Bounded: every phase has a timeout and
# the run stops by itself.
#
# usage: scripts/bench-e2e.sh [flags of internal/bench/e2e, e.g. --records 500000 --paced-for 20s]
#
# env: SAGEWALL_KAFKA_BROKERS  use this broker instead of starting one
#      SAGEWALL_KAFKA_PORT     port of the broker started here (29092, so that it does not
#                              collide with the e2e suite's 19092); SAGEWALL_KAFKA_RUN_DIR
#                              (/tmp/sagewall-bench-kafka)
#      SAGEWALL_KAFKA_HEAP     -Xmx of the broker started here (2g). With the test suite's 512m the
#                              broker's young GC paused every ~0.5 s for 4–28 ms under sagewall's
#                              ~190 MB/s of verdicts, about 1% of the time: the p99 was the broker's.
#                              Kafka's own guidance for production brokers is 6 GB.
#      SAGEWALL_BENCH_OUT      directory of the results (docs/bench): e2e-<UTC time>.json and .md
#
# kcat is installed (Debian package kcat) when missing. The broker started here is stopped
# at the end; one given in SAGEWALL_KAFKA_BROKERS is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

command -v kcat >/dev/null || apt_install kcat

work=$(mktemp -d)
started_broker=
cleanup() {
	if [ -n "$started_broker" ]; then
		"$here/kafka.sh" stop || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

log "building sagewall and the benchmark"
(cd "$repo" && go build -o "$work/sagewall" ./cmd/sagewall && go build -o "$work/bench-e2e" ./internal/bench/e2e) ||
	die "build failed"

brokers=${SAGEWALL_KAFKA_BROKERS:-}
if [ -z "$brokers" ]; then
	export SAGEWALL_KAFKA_PORT=${SAGEWALL_KAFKA_PORT:-29092}
	export SAGEWALL_KAFKA_RUN_DIR=${SAGEWALL_KAFKA_RUN_DIR:-/tmp/sagewall-bench-kafka}
	export SAGEWALL_KAFKA_HEAP=${SAGEWALL_KAFKA_HEAP:-2g}
	if ! "$here/kafka.sh" status >/dev/null 2>&1; then
		started_broker=1
	fi
	brokers=$("$here/kafka.sh" start)
fi

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l >= 1) }'; then
	log "warning: load average $load (others are using the machine); the figures will be low — better run when it is below 1"
fi

out=${SAGEWALL_BENCH_OUT:-$repo/docs/bench}
mkdir -p "$out"
name=$out/e2e-$(date -u +%Y%m%d-%H%M%S)
log "broker $brokers; kcat $(kcat -V | grep -m1 '^Version' | cut -d' ' -f1-2,6-7 | tr -d '('); results in $name.{json,md}"
broker_flags=(--broker-storage unknown)
if [ -z "${SAGEWALL_KAFKA_BROKERS:-}" ]; then
	broker_flags=(--broker-storage "$(stat -f -c %T "${SAGEWALL_KAFKA_DATA_DIR:-$SAGEWALL_KAFKA_RUN_DIR/data}")"
		--broker-pid "$(cat "$SAGEWALL_KAFKA_RUN_DIR/kafka.pid")")
fi
"$work/bench-e2e" --brokers "$brokers" --sagewall "$work/sagewall" --kcat "$(command -v kcat)" --out "$name.json" \
	"${broker_flags[@]}" "$@" |
	tee "$name.md"
