package sinks

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// TestAlertFormatRoundTrips: what AlertFormat appends decodes, with
// encoding/json as the notifier does, to the Alert the SNS sink would have
// made of the verdict itself.
func TestAlertFormatRoundTrips(t *testing.T) {
	plain := testVerdict(t, neptuneLine, scoring.Result{Score: 0.987654, Attack: true, Category: etl.DoS})
	plain.Source = Source{Topic: "raw", Partition: 3, Offset: 42}
	plain.Time = time.Date(2026, 12, 5, 15, 4, 5, 123456789, time.UTC)
	conn := plain
	conn.Conn.OrigAddr, conn.Conn.OrigPort = netip.MustParseAddr("2001:db8::1"), 51234
	conn.Conn.RespAddr, conn.Conn.RespPort = netip.MustParseAddr("10.0.0.7"), 80
	conn.Conn.Proto, conn.Conn.Sensor = "tcp", "edge \"1\"\n"
	for name, v := range map[string]Verdict{"record": plain, "connection": conn} {
		b := AlertFormat{}.Append(nil, &v)
		var got Alert
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v: %s", name, err, b)
		}
		want := alertOf(&v)
		if !got.Time.Equal(want.Time) {
			t.Errorf("%s: time %v, want %v", name, got.Time, want.Time)
		}
		got.Time = want.Time
		if got != want {
			t.Errorf("%s: decoded %+v\nwant %+v", name, got, want)
		}
	}
}

// TestAlertTopicWritesJSONLines: a batch's alert-worthy verdicts go out as
// JSON lines in a few messages (one per 256 KB), none of the others.
func TestAlertTopicWritesJSONLines(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "alerts"))
	k := NewKafka(brokers, "alerts")
	defer k.Close()
	sink := NewAlertTopic(k, DefaultAlertThreshold)
	verdicts := makeVerdicts(t, 6000, 1, 0)
	for i := range verdicts {
		if i%2 == 1 {
			verdicts[i].Result.Score = 0.5
		}
	}
	done := make(chan error, 1)
	sink.Write(t.Context(), verdicts, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	messages, lines := 0, 0
	testenv.ScanTopic(t, brokers, "alerts", func(m kafka.Message) {
		messages++
		for _, line := range strings.Split(strings.TrimSuffix(string(m.Value), "\n"), "\n") {
			var a Alert
			if err := json.Unmarshal([]byte(line), &a); err != nil || a.Score < 0.9 {
				t.Fatalf("line %q: %v", line, err)
			}
			lines++
		}
	})
	if lines != 3000 || messages < 2 || messages > 4 {
		t.Errorf("%d alerts in %d messages, want 3000 in 2–4", lines, messages)
	}
}
