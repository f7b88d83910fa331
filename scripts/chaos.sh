#!/usr/bin/env bash
# Runs the chaos suite (build tags e2e and chaos, ~6 minutes):
#   TestChaosBroker     `sagewall run` through broker faults (down at start, kill -9 and restart
#                       on the same data, SIGSTOP for 60 s) against a broker of its own
#                       (127.0.0.1:19192, /tmp/sagewall-kafka-chaos) that it starts, kills, freezes
#                       and stops through scripts/kafka.sh;
#   TestChaosSNSOutage  alerts on, SNS unreachable for 60 s (a proxy in front of moto);
#   TestChaosSageMakerOutage  scorer sagemaker, the endpoint answering 503, with and without fallback;
# through scripts/e2e.sh, which provides the shared broker and moto for the second.
#
# usage: scripts/chaos.sh [go test arguments...]   (default: -run TestChaos ./cmd/sagewall/)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	set -- -run TestChaos ./cmd/sagewall/
fi
exec scripts/e2e.sh -tags 'e2e chaos' -timeout 15m "$@"
