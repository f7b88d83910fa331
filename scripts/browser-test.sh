#!/usr/bin/env bash
# Headless-browser test of the web dashboard (internal/dashboard/browser_test.go): builds
# sagewall, installs Debian's chromium if it is missing, and runs the test, which starts
# `sagewall demo`, drives the page in headless Chromium (paste, Analyze, live numbers, no
# request off 127.0.0.1) and saves screenshots. About a minute.
#
# usage: scripts/browser-test.sh [SCREENSHOT_DIR]   (default: .cache/browser-test)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	[ "$(id -u)" = 0 ] || die "no Chromium at $chromium; install it (apt-get install chromium) or set CHROMIUM"
	log "installing chromium with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 || die "apt-get install chromium failed"
fi

shots=${1:-.cache/browser-test}
mkdir -p "$shots"
shots=$(cd "$shots" && pwd) # go test runs in the package's directory
bin=$(mktemp -d)/sagewall
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/sagewall

log "screenshots go to $shots"
CHROMIUM=$chromium SAGEWALL_BIN=$bin SAGEWALL_SCREENSHOTS=$shots \
	go test -tags browser -run '^TestBrowser' -count=1 -v ./internal/dashboard/
