package sinks

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

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
