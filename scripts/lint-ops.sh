#!/usr/bin/env bash
# Static checks of the operating kit (deploy/prometheus, deploy/grafana), for .ci/run and developers:
#   - promtool check rules on the alerting rules (syntax, PromQL, templates);
#   - promtool test rules: the rules' unit tests (made-up series, the alerts that must fire);
#   - the dashboard is valid JSON with a datasource variable.
# That every sagewall_ metric the rules and the dashboard name is one `sagewall run` registers is
# TestOpsMetricsExist (go test ./cmd/sagewall), which needs only Go.
# promtool comes from PATH, else from Debian's prometheus package, unpacked (not installed: its
# maintainer scripts would start a Prometheus server on :9090) into the cache once.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

cache=$(cache_dir)
rules=$root/deploy/prometheus/sagewall-rules.yml
rule_tests=$root/deploy/prometheus/sagewall-rules.test.yml
dashboard=$root/deploy/grafana/sagewall-dashboard.json

# promtool_path prints a promtool to run, unpacking Debian's once when there is none.
promtool_path() {
	if command -v promtool >/dev/null; then
		command -v promtool
		return
	fi
	local dir=$cache/promtool
	if [ ! -x "$dir/usr/bin/promtool" ]; then
		[ "$(id -u)" = 0 ] || die "promtool missing: put it on PATH (Debian: apt-get install prometheus)"
		command -v dpkg-deb >/dev/null || die "promtool missing and no dpkg-deb to unpack Debian's"
		log "unpacking promtool from Debian's prometheus package into $dir (one-time)"
		if [ -z "${SAGEWALL_APT_UPDATED:-}" ]; then
			DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
			export SAGEWALL_APT_UPDATED=1
		fi
		local work
		work=$(mktemp -d)
		chmod 755 "$work" && chown _apt "$work" 2>/dev/null || true # apt downloads as _apt
		(cd "$work" && apt-get download -qq prometheus >&2) || die "apt-get download prometheus failed"
		rm -rf "$dir"
		mkdir -p "$dir"
		dpkg-deb -x "$work"/prometheus_*.deb "$dir"
		rm -rf "$work"
	fi
	echo "$dir/usr/bin/promtool"
}

start=$(date +%s)
promtool=$(promtool_path)
log "using $("$promtool" --version 2>&1 | head -1)"

log "== promtool check rules ${rules#"$root"/}"
"$promtool" check rules "$rules"

log "== promtool test rules ${rule_tests#"$root"/}"
(cd "$(dirname "$rule_tests")" && "$promtool" test rules "$(basename "$rule_tests")")

log "== dashboard JSON ${dashboard#"$root"/}"
python3 - "$dashboard" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [v["name"] for v in d["templating"]["list"]]
assert "datasource" in names, f"no datasource variable among {names}"
assert d["panels"], "no panels"
PY

log "all ops checks passed in $(($(date +%s) - start)) s"
