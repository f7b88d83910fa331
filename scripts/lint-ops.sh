#!/usr/bin/env bash
# Static checks of the operating kit (deploy/prometheus, deploy/grafana), for .ci/run and developers:
#   - promtool check rules on the alerting rules (syntax, PromQL, templates);
#   - promtool test rules: the rules' unit tests (made-up series, the alerts that must fire);
#   - the dashboard is valid JSON with a datasource variable, and promtool parses each of its queries.
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
		local debs
		debs=$(mktemp -d)
		chmod 755 "$debs" && chown _apt "$debs" 2>/dev/null || true # apt downloads as _apt
		(cd "$debs" && apt-get download -qq prometheus >&2) || die "apt-get download prometheus failed"
		rm -rf "$dir"
		mkdir -p "$dir"
		dpkg-deb -x "$debs"/prometheus_*.deb "$dir"
		rm -rf "$debs"
	fi
	echo "$dir/usr/bin/promtool"
}

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
promtool=$(promtool_path)
log "using $("$promtool" --version 2>&1 | head -1)"

log "== promtool check rules ${rules#"$root"/}"
"$promtool" check rules "$rules"

log "== promtool test rules ${rule_tests#"$root"/}"
(cd "$(dirname "$rule_tests")" && "$promtool" test rules "$(basename "$rule_tests")")

log "== dashboard ${dashboard#"$root"/}: JSON, datasource variable, PromQL (promtool check rules)"
# Each panel's and variable's query becomes a recording rule, Grafana's variables replaced by
# values, so promtool parses every expression the dashboard sends.
python3 - "$dashboard" "$work/dashboard-rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [v["name"] for v in d["templating"]["list"]]
assert "datasource" in names, f"no datasource variable among {names}"
assert d["panels"], "no panels"
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
for v in d["templating"]["list"]:
    q = v.get("definition", "")
    if q.startswith("label_values("):  # label_values(METRIC{...}, label): check the selector
        exprs.append(q[len("label_values("):q.rindex(",")])
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".*", "$instance": ".*"}
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        for k, v in subst.items():
            e = e.replace(k, v)
        assert "$" not in e, f"unknown Grafana variable in {e}"
        out.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(exprs)} queries", file=sys.stderr)
PY
"$promtool" check rules "$work/dashboard-rules.yml"

log "all ops checks passed in $(($(date +%s) - start)) s"
