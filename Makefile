# Developer entry points; .ci/run runs the same steps.
.PHONY: test e2e services-start services-stop services-status

# The README's test command: needs nothing but Go.
test:
	go vet ./... && go test ./...

# The e2e suite against a real Kafka broker and moto, started and stopped around it.
# Pass go test arguments with ARGS, e.g. make e2e ARGS='-v -run TestE2ESNSToSQS ./internal/testenv/'
e2e:
	scripts/e2e.sh $(ARGS)

# Keep the services running between manual e2e runs (docs/testing.md).
services-start:
	scripts/kafka.sh start
	scripts/moto.sh start

services-stop:
	scripts/kafka.sh stop
	scripts/moto.sh stop

services-status:
	-scripts/kafka.sh status
	-scripts/moto.sh status

# Static checks of deploy/ (Dockerfile, static binary, CloudFormation, Kubernetes); docs/deploy.md.
.PHONY: lint-deploy
lint-deploy:
	scripts/lint-deploy.sh

# promtool check/test rules on deploy/prometheus, the Grafana dashboard's JSON; docs/pipeline.md, Observability.
.PHONY: lint-ops
lint-ops:
	scripts/lint-ops.sh

# The dashboard in headless Chromium against sagewall demo (installs chromium if missing); docs/dashboard.md.
.PHONY: browser-test
browser-test:
	scripts/browser-test.sh

# End-to-end throughput, CPU and latency (quiet and with a CPU hog) of sagewall run against kcat
# and the original stack's Python consumer on a real broker (not in CI; starts its own broker on
# 29092, appends one line per run to docs/bench/e2e.jsonl); docs/pipeline.md.
.PHONY: bench-e2e
bench-e2e:
	scripts/bench-e2e.sh $(ARGS)
