#!/usr/bin/env bash
# Runs a single-node Apache Kafka broker (KRaft: broker and controller in one JVM) on
# 127.0.0.1 for the e2e tests.
#
# usage: scripts/kafka.sh start|stop|status|kill|pause|resume
#   start   fetches the broker jars once (Maven, cached), formats fresh storage, starts the
#           broker, waits until a metadata request and a topic create/delete succeed, and
#           prints the bootstrap address (127.0.0.1:PORT) on stdout.
#           With SAGEWALL_KAFKA_KEEP_DATA=1 it restarts on the storage a killed broker left.
#   stop    SIGTERM, up to 30 s for a clean shutdown, then SIGKILL.
#   status  prints the address and exits 0 when running; exits 3 when stopped.
#   kill    SIGKILL (a crash: no shutdown, data kept), for the chaos tests.
#   pause   SIGSTOP (a frozen broker: connections open, no answers); resume: SIGCONT.
#
# env: SAGEWALL_KAFKA_PORT (19092; the controller listens on PORT+1)
#      SAGEWALL_KAFKA_RUN_DIR (/tmp/sagewall-kafka: data, logs, pid file)
#      SAGEWALL_KAFKA_DATA_DIR (RUN_DIR/data: the log and metadata directory; wiped at start,
#                               and at stop when it is not under RUN_DIR, e.g. on /dev/shm)
#      SAGEWALL_KAFKA_START_TIMEOUT (90 seconds)
#      SAGEWALL_KAFKA_HEAP (512m: the JVM heap, -Xms and -Xmx; the benchmark uses more, see scripts/bench-e2e.sh)
#      XDG_CACHE_HOME (jars go to ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/kafka-VERSION/libs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

port=${SAGEWALL_KAFKA_PORT:-19092}
controller_port=$((port + 1))
address=127.0.0.1:$port
run_dir=${SAGEWALL_KAFKA_RUN_DIR:-/tmp/sagewall-kafka}
start_timeout=${SAGEWALL_KAFKA_START_TIMEOUT:-90}
heap=${SAGEWALL_KAFKA_HEAP:-512m}
data_dir=${SAGEWALL_KAFKA_DATA_DIR:-$run_dir/data}
pidfile=$run_dir/kafka.pid
match="kafka.Kafka $run_dir/server.properties"  # identifies our JVM in /proc/PID/cmdline
pom=$here/kafka/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
home=$(cache_dir)/kafka-$version
libs=$home/libs

# java17 prints the path of a Java 17+ runtime, installing one when none is found.
java17() {
	find_java17 && return
	apt_install openjdk-17-jre-headless
	find_java17 || die "no Java 17+ runtime found after installing openjdk-17-jre-headless"
}

find_java17() {
	local candidate
	for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
		if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then continue; fi
		if "$candidate" -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
			printf '%s' "$candidate"
			return 0
		fi
	done
	return 1
}

# fetch copies the broker's runtime classpath into the cache once; a marker holding the
# pom's checksum makes an interrupted or outdated download start over.
fetch() {
	local sum
	sum=$(sha256sum "$pom" | cut -d' ' -f1)
	if [ "$(cat "$libs/.complete" 2>/dev/null)" = "$sum" ]; then
		return
	fi
	command -v mvn >/dev/null || apt_install maven
	log "fetching Apache Kafka $version with Maven into $libs"
	rm -rf "$libs" "$home/m2"
	mkdir -p "$home"
	# Maven runs on a copy of the pom with its own local repository so that the repo
	# stays clean and the cache folder holds everything; the repository is then dropped.
	cp "$pom" "$home/pom.xml"
	if ! mvn -B -Dstyle.color=never -f "$home/pom.xml" -Dmaven.repo.local="$home/m2" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" >"$home/mvn.log" 2>&1; then
		tail -n 40 "$home/mvn.log" >&2
		die "mvn dependency:copy-dependencies failed (full log: $home/mvn.log)"
	fi
	rm -rf "$home/m2" "$home/pom.xml" "$home/mvn.log"
	printf '%s' "$sum" >"$libs/.complete"
	log "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1))"
}

write_config() {
	cat >"$run_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data_dir
num.partitions=4
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.dedupe.buffer.size=16777216
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
PROPS
}

log_tail() {
	local f
	for f in "$run_dir/logs/stdout.log" "$run_dir/logs/server.log"; do
		[ -s "$f" ] || continue
		log "last lines of $f:"
		tail -n 40 "$f" >&2
	done
}

# wait_ready polls with kafkaready (a metadata request plus a topic create/delete through
# kafka-go) until it succeeds, the JVM exits or the timeout passes.
wait_ready() {
	local deadline ready=$run_dir/kafkaready
	# Built while the JVM boots; on a cold Go build cache this takes a while, so the
	# timeout starts after it.
	(cd "$repo" && go build -o "$ready" ./internal/testenv/cmd/kafkaready) || die "building kafkaready failed"
	deadline=$((SECONDS + start_timeout))
	while ((SECONDS < deadline)); do
		# By pid alone: until its exec the child is still named bash or nohup, not java.
		alive "$(cat "$pidfile")" || { log_tail; die "broker exited during startup"; }
		if "$ready" -brokers "$address" -timeout 5s 2>"$run_dir/logs/kafkaready.log"; then
			return
		fi
	done
	cat "$run_dir/logs/kafkaready.log" >&2
	log_tail
	stop_pid "$pidfile" 30
	die "broker at $address not ready after ${start_timeout}s"
}

start() {
	if pid_running "$pidfile" java "$match"; then
		log "already running (pid $(cat "$pidfile"))"
		wait_ready
		echo "$address"
		return
	fi
	local p
	for p in "$port" "$controller_port"; do
		! port_in_use "$p" || die "127.0.0.1:$p is in use by another process (set SAGEWALL_KAFKA_PORT)"
	done
	local java
	java=$(java17)
	fetch
	local keep=
	if [ "${SAGEWALL_KAFKA_KEEP_DATA:-}" = 1 ] && [ -s "$data_dir/meta.properties" ]; then
		keep=1
		rm -f "$pidfile"
	else
		# Test data is disposable: whatever a crashed run left behind is wiped and reformatted.
		rm -rf "$run_dir/data" "$data_dir" "$run_dir/logs" "$pidfile"
	fi
	mkdir -p "$data_dir" "$run_dir/logs"
	write_config
	local jvm=("-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
		"-Dlog4j2.configurationFile=$here/kafka/log4j2.properties" "-Dkafka.logs.dir=$run_dir/logs")
	if [ -z "$keep" ]; then
		local cluster_id
		cluster_id=$("$java" "${jvm[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>>"$run_dir/logs/format.log") ||
			{ cat "$run_dir/logs/format.log" >&2; die "generating a cluster id failed"; }
		"$java" "${jvm[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$cluster_id" \
			-c "$run_dir/server.properties" --standalone >>"$run_dir/logs/format.log" 2>&1 ||
			{ cat "$run_dir/logs/format.log" >&2; die "formatting KRaft storage failed"; }
	fi
	log "starting Apache Kafka $version on $address (logs in $run_dir/logs)"
	# The broker's GC pauses stall every client at once; the log shows them when latency is in question.
	nohup "$java" "${jvm[@]}" "-Xlog:gc:file=$run_dir/logs/gc.log:uptime,level" -cp "$libs/*" kafka.Kafka "$run_dir/server.properties" \
		>"$run_dir/logs/stdout.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	wait_ready
	log "ready after ${SECONDS}s"
	echo "$address"
}

stop() {
	if pid_running "$pidfile" java "$match"; then
		log "stopping pid $(cat "$pidfile")"
		stop_pid "$pidfile" 30
	else
		rm -f "$pidfile"
		log "not running"
	fi
	# A data directory elsewhere may be memory (tmpfs): do not leave GBs in it.
	case "$data_dir" in
	"$run_dir"/*) ;;
	*) rm -rf "$data_dir" ;;
	esac
}

status() {
	if pid_running "$pidfile" java "$match"; then
		log "running (pid $(cat "$pidfile"), logs in $run_dir/logs)"
		echo "$address"
	else
		log "stopped"
		exit 3
	fi
}

# signal sends $1 to the running broker.
signal() {
	pid_running "$pidfile" java "$match" || die "not running"
	kill "-$1" "$(cat "$pidfile")"
	if [ "$1" = KILL ]; then
		while alive "$(cat "$pidfile")"; do sleep 0.1; done
		rm -f "$pidfile"
	fi
	log "sent SIG$1"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
kill) signal KILL ;;
pause) signal STOP ;;
resume) signal CONT ;;
*)
	echo "usage: $0 start|stop|status|kill|pause|resume" >&2
	exit 2
	;;
esac
