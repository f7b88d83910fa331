#!/usr/bin/env bash
# Runs moto's AWS emulation server (S3, SQS, SNS, SageMaker and the rest on one port) on
# 127.0.0.1 for the e2e tests.
#
# usage: scripts/moto.sh start|stop|status
#   start   installs moto[server] (pinned in scripts/moto/requirements.txt) into a cached
#           virtualenv once, starts moto_server, waits until an S3 ListBuckets call answers,
#           and prints the endpoint URL (http://127.0.0.1:PORT) on stdout.
#   stop    SIGTERM, up to 10 s, then SIGKILL.
#   status  prints the endpoint and exits 0 when running; exits 3 when stopped.
#
# Clients use region us-east-1 and the dummy credentials test/test (moto accepts any).
# env: SAGEWALL_MOTO_PORT (15000)
#      SAGEWALL_MOTO_RUN_DIR (/tmp/sagewall-moto: log and pid file)
#      SAGEWALL_MOTO_START_TIMEOUT (60 seconds)
#      XDG_CACHE_HOME (virtualenv under ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/moto/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

port=${SAGEWALL_MOTO_PORT:-15000}
endpoint=http://127.0.0.1:$port
run_dir=${SAGEWALL_MOTO_RUN_DIR:-/tmp/sagewall-moto}
start_timeout=${SAGEWALL_MOTO_START_TIMEOUT:-60}
pidfile=$run_dir/moto.pid
match="moto_server -H 127.0.0.1 -p $port" # identifies our server in /proc/PID/cmdline
requirements=$here/moto/requirements.txt

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1

# python_with_venv prints a python3 that can create virtualenvs, installing Debian's
# python3-venv when the module or its bundled pip is missing.
python_with_venv() {
	if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
		command -v python3
		return
	fi
	apt_install python3 python3-venv
	/usr/bin/python3 -c 'import venv, ensurepip' || die "python3 -m venv is still unavailable"
	printf '/usr/bin/python3'
}

# install creates the virtualenv once per (requirements, Python version); a marker file
# written last makes an interrupted install start over.
install() {
	local python pyver sum
	python=$(python_with_venv)
	pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	sum=$(sha256sum "$requirements" | cut -c1-12)
	venv=$(cache_dir)/moto/venv-py$pyver-$sum
	[ -f "$venv/.complete" ] && return
	log "installing moto[server] into $venv"
	rm -rf "$venv"
	mkdir -p "$(dirname "$venv")"
	"$python" -m venv "$venv" >&2 || die "creating the virtualenv failed"
	"$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2 ||
		die "pip install -r $requirements failed"
	touch "$venv/.complete"
	log "installed ($(du -sh "$venv" | cut -f1))"
}

# answers reports whether the server serves a real S3 ListBuckets call.
answers() {
	"$venv/bin/python" - "$endpoint" <<'PY' 2>/dev/null
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1]).list_buckets()
PY
}

wait_ready() {
	local deadline=$((SECONDS + start_timeout))
	while ((SECONDS < deadline)); do
		# By pid alone: until its exec the child is still named bash or nohup.
		if ! alive "$(cat "$pidfile")"; then
			tail -n 40 "$run_dir/moto.log" >&2
			die "moto_server exited during startup"
		fi
		answers && return
		sleep 0.3
	done
	tail -n 40 "$run_dir/moto.log" >&2
	stop_pid "$pidfile" 10
	die "moto_server at $endpoint not answering after ${start_timeout}s"
}

start() {
	install
	if pid_running "$pidfile" moto_server "$match"; then
		log "already running (pid $(cat "$pidfile"))"
		wait_ready
		echo "$endpoint"
		return
	fi
	! port_in_use "$port" || die "127.0.0.1:$port is in use by another process (set SAGEWALL_MOTO_PORT)"
	mkdir -p "$run_dir"
	rm -f "$pidfile"
	log "starting moto_server on $endpoint (log in $run_dir/moto.log)"
	nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$run_dir/moto.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	wait_ready
	log "ready after ${SECONDS}s"
	echo "$endpoint"
}

stop() {
	if pid_running "$pidfile" moto_server "$match"; then
		log "stopping pid $(cat "$pidfile")"
		stop_pid "$pidfile" 10
	else
		rm -f "$pidfile"
		log "not running"
	fi
}

status() {
	if pid_running "$pidfile" moto_server "$match"; then
		log "running (pid $(cat "$pidfile"), log in $run_dir/moto.log)"
		echo "$endpoint"
	else
		log "stopped"
		exit 3
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
