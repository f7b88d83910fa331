#!/usr/bin/env bash
# End-to-end benchmark of `sagewall run` against kcat and the original stack's Python consumer
# (internal/bench/python) on a real Apache Kafka broker (docs/pipeline.md, "Benchmark against
# kcat"). Bounded: every phase has a timeout and the run stops by itself.
#
# usage: scripts/bench-e2e.sh [flags of internal/bench/e2e, e.g. --records 500000 --paced-for 20s]
#        (--skip-python: without the Python consumer, and without making its venv)
#
# env: SAGEWALL_KAFKA_BROKERS  use this broker instead of starting one
#      SAGEWALL_KAFKA_PORT     port of the broker started here (29092, so that it does not
#                              collide with the e2e suite's 19092); SAGEWALL_KAFKA_RUN_DIR
#                              (/tmp/sagewall-bench-kafka)
#      SAGEWALL_KAFKA_HEAP     -Xmx of the broker started here (2g). With the test suite's 512m the
#                              broker's young GC paused every ~0.5 s for 4–28 ms under sagewall's
#                              ~190 MB/s of verdicts, about 1% of the time: the p99 was the broker's.
#                              Kafka's own guidance for production brokers is 6 GB.
#      SAGEWALL_BENCH_OUT      directory of the results (docs/bench): each run appends one line
#                              to its e2e.jsonl (the tables again: go run ./internal/bench/e2e
#                              --render docs/bench/e2e.jsonl --run <run id>)
#
# kcat is installed (Debian package kcat) when missing. The Python consumer runs in a venv
# under ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/venv-bench with internal/bench/python/
# requirements.txt, made anew when that file changes. The broker started here is stopped at
# the end; one given in SAGEWALL_KAFKA_BROKERS is left alone; a broker already running on
# the port is used and left running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

command -v kcat >/dev/null || apt_install kcat

python_flags=()
case " $* " in
*" --skip-python "* | *" --skip-python=true "*) ;;
*)
	venv=$(cache_dir)/venv-bench
	requirements=$repo/internal/bench/python/requirements.txt
	want=$(sha256sum "$requirements" | cut -d' ' -f1)
	if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
		log "creating $venv"
		rm -rf "$venv"
		python3 -m venv "$venv" >&2
		"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$requirements" >&2 ||
			die "installing $requirements failed"
		echo "$want" >"$venv/.requirements.sha256"
	fi
	python_flags=(--python "$venv/bin/python" --python-consumer "$repo/internal/bench/python/consumer.py")
	;;
esac

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
# The code measured; "-dirty" when it differs from the commit (the results appended to
# docs/bench/ do not count, or every run after the first would say so).
code=$(git -C "$repo" rev-parse --short HEAD)
if [ -n "$(git -C "$repo" status --porcelain -- . ':(exclude)docs/bench')" ]; then
	code=$code-dirty
fi
log "broker $brokers; kcat $(kcat -V | grep -m1 '^Version' | cut -d' ' -f1-2,6-7 | tr -d '('); code $code; results appended to $out/e2e.jsonl"
broker_flags=(--broker-storage unknown)
if [ -z "${SAGEWALL_KAFKA_BROKERS:-}" ]; then
	broker_flags=(--broker-storage "$(stat -f -c %T "${SAGEWALL_KAFKA_DATA_DIR:-$SAGEWALL_KAFKA_RUN_DIR/data}")"
		--broker-pid "$(cat "$SAGEWALL_KAFKA_RUN_DIR/kafka.pid")")
fi
"$work/bench-e2e" --brokers "$brokers" --sagewall "$work/sagewall" --kcat "$(command -v kcat)" --out "$out/e2e.jsonl" \
	--code "$code" "${broker_flags[@]}" "${python_flags[@]}" "$@"
