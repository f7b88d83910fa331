#!/usr/bin/env bash
# Runs the chaos suite: `sagewall run` through broker faults (down at start, kill -9 and
# restart on the same data, SIGSTOP for 60 s) against a Kafka broker of its own
# (127.0.0.1:19192, /tmp/sagewall-kafka-chaos), which the tests start, kill, freeze and
# stop through scripts/kafka.sh; the e2e suite's broker is never touched. ~5 minutes.
#
# usage: scripts/chaos.sh [go test arguments...]   (default: -run TestChaos ./cmd/sagewall/)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	set -- -run TestChaos ./cmd/sagewall/
fi
go test -tags 'e2e chaos' -count=1 -timeout 15m "$@"
