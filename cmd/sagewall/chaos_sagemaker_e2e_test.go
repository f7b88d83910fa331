//go:build e2e && chaos

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/serve"
)

// TestChaosSageMakerOutage: `sagewall run --scorer sagemaker` with the
// endpoint failing (503) from the start. The endpoint is sagewall's own
// implementation of the SageMaker container API (serve.Handler) behind the
// runtime API's path, switched off and on. With sagemaker.fallback the local
// model judges every record meanwhile (verdicts name the fallback model);
// without it nothing is committed during the outage, the process stays up
// with /readyz false, and every record is judged once the endpoint is back.
// Either way SIGTERM exits 0.
func TestChaosSageMakerOutage(t *testing.T) {
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	inference := serve.NewHandler(det)
	var up atomic.Bool
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, `{"message":"endpoint unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/endpoints/nids/invocations" {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/invocations"
		inference.ServeHTTP(w, r2)
	}))
	defer endpoint.Close()
	brokers := testenv.KafkaBrokers(t)
	bin := buildSagewall(t)

	for _, fallback := range []bool{true, false} {
		t.Run("fallback="+strconv.FormatBool(fallback), func(t *testing.T) {
			up.Store(false)
			raw, verdicts, dead := testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 1)
			const n = 20_000
			produceLines(t, brokers, raw, n)
			httpAddr := "127.0.0.1:19196"
			cmd := exec.Command(bin, "run", "--shutdown-timeout", "20s")
			cmd.Env = append(os.Environ(), "SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
				"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+raw, "SAGEWALL_INPUT_FORMAT=nslkdd",
				"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
				"SAGEWALL_SCORER=sagemaker", "SAGEWALL_SAGEMAKER_ENDPOINT=nids", "SAGEWALL_SAGEMAKER_ENDPOINT_URL="+endpoint.URL,
				"SAGEWALL_SAGEMAKER_REGION=us-east-1", "SAGEWALL_SAGEMAKER_FALLBACK="+strconv.FormatBool(fallback),
				"SAGEWALL_HTTP_ADDR="+httpAddr, "SAGEWALL_LOG_LEVEL=warn")
			var logs bytes.Buffer
			cmd.Stderr = &logs
			t.Cleanup(func() { // after the process is gone: cleanups run last first
				if t.Failed() {
					t.Logf("sagewall's log:\n%s", logs.String())
				}
			})
			sw := startSagewall(t, cmd)
			alive := sw.alive
			ready := func() bool { return readyz(httpAddr) }
			committed := groupCommitted(brokers, raw, raw)
			if fallback {
				waitWithin(t, time.Minute, "every record judged by the fallback", func() bool {
					alive("with the endpoint down")
					return committed() == n
				})
			} else {
				sawUnready := false
				for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
					alive("with the endpoint down")
					sawUnready = sawUnready || !ready()
					if got := committed(); got != 0 {
						t.Fatalf("%d records committed with the endpoint down and no fallback", got)
					}
				}
				if !sawUnready {
					t.Error("/readyz never went false with the endpoint down")
				}
				up.Store(true)
				waitWithin(t, time.Minute, "every record judged once the endpoint is back", func() bool {
					alive("after the endpoint came back")
					return committed() == n
				})
			}
			fellBack := 0
			testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) {
				if bytes.Contains(m.Value, []byte("+fallback")) {
					fellBack++
				}
			})
			if fallback && fellBack == 0 || !fallback && fellBack != 0 {
				t.Errorf("fallback %v: %d verdicts name the fallback model", fallback, fellBack)
			}
			sw.sigtermExits0()
			t.Logf("fallback %v: %d records judged, %d by the fallback model", fallback, n, fellBack)
		})
	}
}
