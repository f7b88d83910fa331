# shellcheck shell=bash
# Shared helpers for the service scripts (sourced, not executed).
# Progress goes to stderr so that stdout carries only the address a script prints.

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# cache_dir is where downloads live across runs and clones.
cache_dir() { printf '%s/sagewall' "${XDG_CACHE_HOME:-$HOME/.cache}"; }

# apt_install installs Debian packages when running as root; otherwise it says what is missing.
apt_install() {
	if [ "$(id -u)" != 0 ]; then
		die "missing $*; install it (apt-get install $*) or run as root"
	fi
	log "installing $* with apt-get"
	if [ -z "${SAGEWALL_APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		export SAGEWALL_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}

# pid_running reports whether our service runs: the pid in file $1 is alive, its process
# name (/proc/PID/comm) is $2 and its command line contains $3. When the pid file is stale
# or lost, a live process matching both is adopted and the pid file rewritten, so an
# orphan left by a crashed script is found rather than colliding on the port.
pid_running() {
	local pid
	if [ -s "$1" ]; then
		pid=$(cat "$1")
		if is_service "$pid" "$2" "$3"; then
			return 0
		fi
	fi
	for pid in /proc/[0-9]*; do
		pid=${pid#/proc/}
		if is_service "$pid" "$2" "$3"; then
			mkdir -p "$(dirname "$1")"
			echo "$pid" >"$1"
			return 0
		fi
	done
	return 1
}

is_service() {
	local comm
	read -r comm 2>/dev/null <"/proc/$1/comm" || return 1
	[ "$comm" = "$2" ] && alive "$1" &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$3"
}

# alive reports whether pid $1 exists and is not a zombie (an unreaped child still answers kill -0).
alive() {
	local stat
	read -r -a stat 2>/dev/null <"/proc/$1/stat" || return 1
	[ "${stat[2]:-Z}" != Z ]
}

# stop_pid sends SIGTERM to the pid in file $1, waits up to $2 seconds, then sends SIGKILL.
stop_pid() {
	local pidfile=$1 grace=$2 pid i
	pid=$(cat "$pidfile")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		alive "$pid" || { rm -f "$pidfile"; return 0; }
		sleep 0.1
	done
	log "pid $pid still running after ${grace}s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	while alive "$pid"; do sleep 0.1; done
	rm -f "$pidfile"
}

# port_in_use reports whether something listens on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
