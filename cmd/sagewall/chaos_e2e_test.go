//go:build e2e && chaos

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
)

// chaosBroker is a broker of the chaos suite's own (port 19192, its own
// run directory), which the test kills, freezes and restarts; the e2e
// suite's shared broker is never touched.
type chaosBroker struct {
	t      *testing.T
	script string
	env    []string
	addr   string
}

func newChaosBroker(t *testing.T) *chaosBroker {
	_, file, _, _ := runtime.Caller(0)
	b := &chaosBroker{t: t, script: filepath.Join(filepath.Dir(file), "..", "..", "scripts", "kafka.sh"),
		env:  append(os.Environ(), "SAGEWALL_KAFKA_PORT=19192", "SAGEWALL_KAFKA_RUN_DIR=/tmp/sagewall-kafka-chaos"),
		addr: "127.0.0.1:19192"}
	t.Cleanup(func() { b.run("resume", false); b.run("stop", false) })
	return b
}

// run runs kafka.sh command; keep restarts on the storage left behind.
func (b *chaosBroker) run(command string, keep bool) {
	cmd := exec.Command("bash", b.script, command)
	cmd.Env = b.env
	if keep {
		cmd.Env = append(cmd.Env, "SAGEWALL_KAFKA_KEEP_DATA=1")
	}
	out, err := cmd.CombinedOutput()
	b.t.Logf("kafka.sh %s: %s", command, strings.TrimSpace(string(out)))
	if err != nil && command != "resume" && command != "stop" {
		b.t.Fatalf("kafka.sh %s: %v", command, err)
	}
}

// TestChaosBroker runs one `sagewall run` through three broker faults in a
// row — down at start for 20 s, kill -9 and restart on the same data after
// 20 s, SIGSTOP for 60 s — and checks after each that the process never
// exited, /readyz went false during the fault and true after, and every
// record produced so far was judged and committed; then SIGTERM exits 0,
// every input offset has a verdict, RSS stayed bounded, and the duplicates
// each fault cost are reported.
func TestChaosBroker(t *testing.T) {
	broker := newChaosBroker(t)
	broker.run("stop", false)
	bin := buildSagewall(t)
	brokers := []string{broker.addr}
	const raw, verdicts, dead, group, httpAddr = "chaos.raw", "chaos.verdicts", "chaos.dlq", "chaos", "127.0.0.1:19194"

	cmd := exec.Command(bin, "run", "--shutdown-timeout", "20s")
	cmd.Env = append(os.Environ(), "SAGEWALL_KAFKA_BROKERS="+broker.addr,
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+group, "SAGEWALL_INPUT_FORMAT=nslkdd",
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_HTTP_ADDR="+httpAddr, "SAGEWALL_LOG_LEVEL=info", "SAGEWALL_LOG_FORMAT=text")
	logs, err := os.Create(filepath.Join(t.TempDir(), "sagewall.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	t.Cleanup(func() { // after the process is gone: cleanups run last first
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("sagewall's log:\n%s", out)
		}
	})
	sw := startSagewall(t, cmd)
	peakRSS := 0
	alive := func(during string) {
		sw.alive(during)
		peakRSS = max(peakRSS, rssMB(cmd.Process.Pid))
	}
	ready := func() bool { return readyz(httpAddr) }
	// hold waits d through a fault, checking the process lives and is not ready.
	hold := func(fault string, d time.Duration) {
		sawUnready := false
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			alive(fault)
			sawUnready = sawUnready || !ready()
		}
		if !sawUnready {
			t.Errorf("%s: /readyz never went false", fault)
		}
	}
	produced := 0
	committed := groupCommitted(brokers, group, raw)
	catchUp := func(after string) {
		waitWithin(t, 3*time.Minute, after+": every record committed", func() bool {
			alive(after)
			return committed() == int64(produced)
		})
		waitWithin(t, time.Minute, after+": ready again", ready)
		t.Logf("%s: %d records committed", after, produced)
	}

	// 1. The broker is down when sagewall starts.
	hold("broker down at start", 20*time.Second)
	broker.run("start", false)
	createTopic := &kafka.Client{Addr: kafka.TCP(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := createTopic.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: raw, NumPartitions: 4, ReplicationFactor: 1}}}); err != nil || resp.Errors[raw] != nil {
		t.Fatalf("creating %s: %v %v", raw, err, resp)
	}
	produceLines(t, brokers, raw, 100_000)
	produced = 100_000
	catchUp("broker started 20 s late")

	// 2. kill -9 mid-stream, restart on the same data 20 s later.
	produceLines(t, brokers, raw, 300_000)
	produced += 300_000
	waitWithin(t, time.Minute, "processing resumed", func() bool { return committed() > 150_000 })
	broker.run("kill", false)
	hold("broker killed", 20*time.Second)
	broker.run("start", true)
	catchUp("broker killed and restarted")

	// 3. The broker frozen (SIGSTOP) for 60 s mid-stream.
	produceLines(t, brokers, raw, 300_000)
	produced += 300_000
	waitWithin(t, time.Minute, "processing resumed", func() bool { return committed() > 450_000 })
	broker.run("pause", false)
	hold("broker frozen", 60*time.Second)
	broker.run("resume", false)
	catchUp("broker frozen 60 s")

	sw.sigtermExits0()
	counts := map[string]int{}
	testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) { counts[string(m.Key)]++ })
	duplicates := 0
	for _, c := range counts {
		duplicates += c - 1
	}
	out, _ := os.ReadFile(logs.Name())
	t.Logf("%d records, %d with verdicts, %d duplicates; peak RSS %d MB; %d log lines",
		produced, len(counts), duplicates, peakRSS, strings.Count(string(out), "\n"))
	if len(counts) != produced {
		t.Fatalf("%d records have verdicts, want %d", len(counts), produced)
	}
	if peakRSS > 600 {
		t.Errorf("peak RSS %d MB, want at most 600", peakRSS)
	}
	if lines := strings.Count(string(out), "\n"); lines > 400 {
		t.Errorf("%d log lines over three outages, want at most 400 (one per state change, deduplicated reader errors)", lines)
	}
	fmt.Fprintln(os.Stderr, "chaos: sagewall's log follows\n"+string(out))
}

// readyz reports whether sagewall's /readyz on addr answers 200.
func readyz(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// runningSagewall is a `sagewall run` process a chaos test watches.
type runningSagewall struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, once done is closed
}

// startSagewall starts cmd. When the test ends the process is killed and
// reaped, before the cleanups the test registered earlier (its log dumps).
func startSagewall(t *testing.T, cmd *exec.Cmd) *runningSagewall {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &runningSagewall{t: t, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

// alive fails the test if the process has exited; when says in what phase.
func (s *runningSagewall) alive(when string) {
	s.t.Helper()
	select {
	case <-s.done:
		s.t.Fatalf("sagewall exited (%v) %s", s.err, when)
	default:
	}
}

// sigtermExits0 sends SIGTERM and fails the test unless the process exits 0
// within the shutdown timeout.
func (s *runningSagewall) sigtermExits0() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			s.t.Fatalf("after SIGTERM: %v, want exit 0", s.err)
		}
	case <-time.After(25 * time.Second):
		s.t.Fatal("no exit within the shutdown timeout")
	}
}
