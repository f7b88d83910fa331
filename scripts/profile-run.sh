#!/usr/bin/env bash
# CPU profile of `sagewall run` at full speed on a real broker, attributed to the pipeline's
# steps (docs/pipeline.md, "Where the CPU goes"). Bounded: one backlog, one run, then it stops.
#
# usage: scripts/profile-run.sh [--records N] [--zeek | --zeek-tsv] [--sagewall BINARY] [-- extra flags of sagewall run]
#   --records   backlog of bundled KDDTrain+ lines, cycled (1000000)
#   --zeek      the backlog is the bundled labelled Zeek capture instead, as the S3 bridge writes it
#               (JSON keyed by destination host, internal/bench/zeeklines), run with --input-format zeek
#   --zeek-tsv  the same connections as Zeek wrote them, TSV keyed by destination host, the capture's
#               header lines first in every partition
#   --sagewall  the binary to profile (default: built from this checkout), e.g. one built from
#               an older commit, for a before/after in the same conditions
#
# env: SAGEWALL_KAFKA_BROKERS  use this broker instead of starting one (29092, as bench-e2e.sh)
#      SAGEWALL_PROFILE_OUT    directory of the profile (a temporary one by default)
#
# Prints the run's CPU time per record (from /proc, start to the last commit), its peak RSS, and
# the profile's breakdown (internal/bench/profile/breakdown.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

records=1000000
binary=
zeek=
while [ $# -gt 0 ]; do
	case "$1" in
	--records) records=$2; shift 2 ;;
	--zeek) zeek=json; shift ;;
	--zeek-tsv) zeek=tsv; shift ;;
	--sagewall) binary=$2; shift 2 ;;
	--) shift; break ;;
	*) die "unknown argument $1" ;;
	esac
done

command -v kcat >/dev/null || apt_install kcat
work=$(mktemp -d)
out=${SAGEWALL_PROFILE_OUT:-$work}
mkdir -p "$out"
pid=
started_broker=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	if [ -n "$started_broker" ]; then "$here/kafka.sh" stop || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$binary" ]; then
	(cd "$repo" && go build -o "$work/sagewall" ./cmd/sagewall) || die "build failed"
	binary=$work/sagewall
fi
brokers=${SAGEWALL_KAFKA_BROKERS:-}
if [ -z "$brokers" ]; then
	export SAGEWALL_KAFKA_PORT=${SAGEWALL_KAFKA_PORT:-29092}
	export SAGEWALL_KAFKA_RUN_DIR=${SAGEWALL_KAFKA_RUN_DIR:-/tmp/sagewall-bench-kafka}
	export SAGEWALL_KAFKA_HEAP=${SAGEWALL_KAFKA_HEAP:-2g}
	"$here/kafka.sh" status >/dev/null 2>&1 || started_broker=1
	brokers=$("$here/kafka.sh" start)
fi

run=profile-$(date -u +%H%M%S)
input=()
if [ -n "$zeek" ]; then
	log "filling $run-raw with $records Zeek connections ($zeek keyed by destination host, 4 partitions)"
	(cd "$repo" && go run ./internal/bench/zeeklines -format "$zeek" -n "$records") >"$work/backlog.txt"
	if [ "$zeek" = tsv ]; then
		(cd "$repo" && go run ./internal/bench/zeeklines -format tsv -header) >"$work/header.txt"
		for p in 0 1 2 3; do timeout 60 kcat -P -b "$brokers" -t "$run-raw" -p "$p" -l "$work/header.txt"; done
	fi
	timeout 300 kcat -P -b "$brokers" -t "$run-raw" -X linger.ms=20 -K$'\t' -l "$work/backlog.txt"
	input=(--input-format zeek --input-hold-time 100ms) # as bench-e2e.sh --zeek runs it
else
	log "filling $run-raw with $records records (uncompressed, 4 partitions by the broker's default)"
	zcat "$repo/etl/nslkdd/KDDTrain+.txt.gz" |
		awk -v n="$records" '{ line[NR] = $0 } END { for (i = 0; i < n; i++) print line[i % NR + 1] }' >"$work/backlog.txt"
	timeout 300 kcat -P -b "$brokers" -t "$run-raw" -X linger.ms=20 -l "$work/backlog.txt"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$binary" run --kafka-brokers "$brokers" --input-topic "$run-raw" --input-group "$run" --output-topic "$run-verdicts" \
	--output-dead-letter-topic "$run-dead-letters" --http-addr "127.0.0.1:$port" --http-pprof --log-level warn "${input[@]}" "$@" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
start=$(date +%s.%N)
seconds=$((records / 100000 + 2))
curl -sf -o "$out/cpu.pprof" "http://127.0.0.1:$port/debug/pprof/profile?seconds=$seconds" &
curl_pid=$!
done_at=
for _ in $(seq 1200); do
	n=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^sagewall_(verdicts|records_rejected)_total/ {s += $2} END {printf "%d", s}')
	if [ "${n:-0}" -ge "$records" ]; then done_at=$(date +%s.%N); break; fi
	sleep 0.1
done
[ -n "$done_at" ] || die "not all $records records judged within 120 s"
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
wait "$curl_pid" || die "fetching the CPU profile failed"
kill -TERM "$pid"; wait "$pid" || true; pid=
awk -v n="$records" -v u="$utime" -v s="$stime" -v t0="$start" -v t1="$done_at" -v kb="$peak" 'BEGIN {
	printf "%d records in %.2f s (%.0f records/s), CPU %.2f µs/record (user %.2f, system %.2f), peak RSS %.0f MB\n", n, t1 - t0, n / (t1 - t0), (u + s) / 100 * 1e6 / n, u / 100 * 1e6 / n, s / 100 * 1e6 / n, kb / 1024 }'
log "profile: $out/cpu.pprof ($seconds s, covering the run)"
python3 "$repo/internal/bench/profile/breakdown.py" "$out/cpu.pprof" "$records"
