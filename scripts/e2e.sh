#!/usr/bin/env bash
# Runs the e2e suite: starts the Kafka broker and moto (unless they already run), runs
# `go test -tags e2e -count=1` with SAGEWALL_KAFKA_BROKERS and SAGEWALL_AWS_ENDPOINT set,
# and stops the services it started, whether the tests pass or not. Services that were
# already running (someone's `scripts/kafka.sh start`) are used and left running.
#
# usage: scripts/e2e.sh [go test arguments...]   (default: ./...)
#   e.g. scripts/e2e.sh -v -run TestE2ESNSToSQS ./internal/testenv/
set -euo pipefail
cd "$(dirname "$0")/.."

started=()
stop_started() {
	local s
	for s in "${started[@]}"; do
		scripts/"$s".sh stop || true
	done
}
trap stop_started EXIT

if brokers=$(scripts/kafka.sh status 2>/dev/null); then
	echo "e2e.sh: using the Kafka broker already running at $brokers" >&2
else
	started+=(kafka)
	brokers=$(scripts/kafka.sh start)
fi
if endpoint=$(scripts/moto.sh status 2>/dev/null); then
	echo "e2e.sh: using moto already running at $endpoint" >&2
else
	started+=(moto)
	endpoint=$(scripts/moto.sh start)
fi

export SAGEWALL_KAFKA_BROKERS=$brokers SAGEWALL_AWS_ENDPOINT=$endpoint
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
echo "e2e.sh: SAGEWALL_KAFKA_BROKERS=$brokers SAGEWALL_AWS_ENDPOINT=$endpoint" >&2
if [ $# -eq 0 ]; then
	set -- ./...
fi
go test -tags e2e -count=1 "$@"
