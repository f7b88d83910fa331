package sinks

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
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
	explained := conn
	explained.Explanation = []scoring.Contribution{{Feature: "serror_rate", Why: "SYN errors"}, {Feature: "count", Why: "connections to the same host"}}
	for name, v := range map[string]Verdict{"record": plain, "connection": conn, "explained": explained} {
		b := AlertFormat{}.Append(nil, &v)
		var got Alert
		err := json.Unmarshal(b, &got)
		if err != nil {
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
		fast, ok := parseAlertLayout(b)
		if !ok {
			if !bytes.Contains(b, []byte{'\\'}) {
				t.Fatalf("%s: ParseAlert does not read AlertFormat's own layout directly: %s", name, b)
			}
			// An escape (here the sensor's quotes) is left to encoding/json.
			if fast, err = ParseAlert(b); err != nil {
				t.Fatal(err)
			}
		}
		if !fast.Time.Equal(want.Time) {
			t.Errorf("%s: ParseAlert: time %v, want %v", name, fast.Time, want.Time)
		}
		fast.Time = want.Time
		if fast != want {
			t.Errorf("%s: ParseAlert decoded %+v\nwant %+v", name, fast, want)
		}
	}
}

// alertLines are AlertFormat lines, and variants only encoding/json reads.
func alertLines(t testing.TB) []string {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.987654, Attack: true, Category: etl.DoS})
	v.Source = Source{Topic: "raw", Partition: 3, Offset: 42}
	v.Time = time.Date(2026, 12, 5, 15, 4, 5, 123456789, time.FixedZone("", 3600))
	conn := v
	conn.Conn.OrigAddr, conn.Conn.OrigPort = netip.MustParseAddr("2001:db8::1"), 51234
	conn.Conn.RespAddr, conn.Conn.RespPort = netip.MustParseAddr("10.0.0.7"), 443
	conn.Conn.Proto = "tcp"
	explained := conn
	explained.Explanation = []scoring.Contribution{{Feature: "serror_rate", Why: "SYN errors"}, {Feature: "count", Why: `"quoted" words`},
		{Feature: "src_bytes", Why: "bytes sent"}, {Feature: "flag=S0", Why: "not shown: the fourth"}}
	line := string(AlertFormat{}.Append(nil, &v))
	return []string{
		line,
		string(AlertFormat{}.Append(nil, &conn)),
		string(AlertFormat{}.Append(nil, &explained)),
		strings.Replace(line, `"score":0.987654`, `"score":0.9876540`, 1),   // not appendFloat's form
		strings.Replace(line, `"id":"raw/3/42"`, `"id":"raw\u002f3/42"`, 1), // an escape
		strings.Replace(line, `{"id"`, `{ "id"`, 1),                         // space
		strings.Replace(line, `"score"`, `"extra":[1,2],"score"`, 1),        // a key AlertFormat does not write
	}
}

// TestParseAlert: every line decodes as encoding/json decodes it, whether
// ParseAlert reads it directly or hands it to encoding/json; bad lines are
// errors.
func TestParseAlert(t *testing.T) {
	for _, line := range alertLines(t) {
		var want Alert
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			t.Fatal(err)
		}
		got, err := ParseAlert([]byte(line))
		if err != nil || !got.Time.Equal(want.Time) {
			t.Fatalf("%s: %+v, %v; want %+v", line, got, err, want)
		}
		got.Time = want.Time
		if got != want {
			t.Errorf("%s: %+v, want %+v", line, got, want)
		}
	}
	for _, bad := range []string{"", "{", "not json", `{"score":"high"}`} {
		if _, err := ParseAlert([]byte(bad)); err == nil || !strings.Contains(err.Error(), "decoding alert") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

// FuzzParseAlert: whatever the direct reader accepts, encoding/json decodes
// to the same Alert.
func FuzzParseAlert(f *testing.F) {
	for _, line := range alertLines(f) {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := parseAlertLayout(line)
		if !ok {
			return
		}
		var want Alert
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatalf("%q: read directly, but encoding/json says %v", line, err)
		}
		if !fast.Time.Equal(want.Time) {
			t.Fatalf("%q: time %v, encoding/json %v", line, fast.Time, want.Time)
		}
		fast.Time = want.Time
		if fast != want {
			t.Fatalf("%q: %+v, encoding/json %+v", line, fast, want)
		}
	})
}

// BenchmarkParseAlert compares ParseAlert with encoding/json on the lines
// the pipeline writes (one per alert the notifier reads).
func BenchmarkParseAlert(b *testing.B) {
	lines := alertLines(b)[:2]
	for _, decoder := range []struct {
		name   string
		decode func([]byte) error
	}{
		{"parse", func(l []byte) error { _, err := ParseAlert(l); return err }},
		{"encoding-json", func(l []byte) error { var a Alert; return json.Unmarshal(l, &a) }},
	} {
		b.Run("decoder="+decoder.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := decoder.decode([]byte(lines[i%len(lines)])); err != nil {
					b.Fatal(err)
				}
			}
		})
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

// TestAlertWhy: an explained alert carries its first three phrases, through
// the alert topic's line and into the SNS message's example.
func TestAlertWhy(t *testing.T) {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.99, Attack: true, Category: etl.DoS})
	v.Explanation = []scoring.Contribution{{Why: "SYN errors"}, {Why: `"quoted" words`}, {Why: "bytes sent"}, {Why: "the fourth"}}
	a, err := ParseAlert(AlertFormat{}.Append(nil, &v))
	if err != nil {
		t.Fatal(err)
	}
	if want := `SYN errors; "quoted" words; bytes sent`; a.Why != want || alertOf(&v).Why != want {
		t.Fatalf("why %q (alertOf %q), want %q", a.Why, alertOf(&v).Why, want)
	}
	s := &SNS{subject: "SAGEWALL ALERT"}
	agg := &aggregate{group: group{"dos", "private"}, count: 1, maxScore: a.Score, examples: []Alert{a}}
	if msg := aws.ToString(s.entry("0", agg).Message); !strings.Contains(msg, "    why: "+a.Why+"\n") {
		t.Errorf("SNS message lacks the why line:\n%s", msg)
	}
}
