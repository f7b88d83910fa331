package captures

import (
	"bufio"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		name      string
		firstLine string
		lines     int
	}{
		{"ctu-normal-40-day1.conn.log.labeled.gz", "#separator \\x09", 5671},
		{"android-mischief-rat01.conn.log.gz", "#separator \\x09", 370},
		{"scripts.base.protocols.ftp.ftp-ipv6.conn.log.gz", "### BTest baseline", 16},
		{"README.md", "# Real Zeek conn.logs", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := Open(tt.name)
			if !Stratosphere && isStratosphere(tt.name) {
				if err == nil || !strings.Contains(err.Error(), "nogpl") {
					t.Fatalf("-tags nogpl: %v, want the capture left out, saying why", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			sc := bufio.NewScanner(rc)
			n := 0
			for sc.Scan() {
				if n == 0 && !strings.HasPrefix(sc.Text(), tt.firstLine) {
					t.Errorf("first line %q, want prefix %q", sc.Text(), tt.firstLine)
				}
				n++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if tt.lines != 0 && n != tt.lines {
				t.Errorf("%d lines, want %d", n, tt.lines)
			}
		})
	}
}

func TestZeekHasLicences(t *testing.T) {
	names, err := fs.Glob(Zeek(), "*")
	if err != nil {
		t.Fatal(err)
	}
	have := strings.Join(names, " ")
	want, logs := []string{"COPYING-zeek-BSD", "README.md"}, 6 // Zeek's baselines
	if Stratosphere {
		want, logs = append(want, "LICENSE-stratosphere-GPL-2.0"), logs+3
	}
	for _, w := range want {
		if !strings.Contains(have, w) {
			t.Errorf("zeek/ lacks %s (has %s)", w, have)
		}
	}
	if got, _ := fs.Glob(Zeek(), "*.conn.log*.gz"); len(got) != logs {
		t.Errorf("%d conn logs, want %d", len(got), logs)
	}
	if !Stratosphere && strings.Contains(have, "ctu-") {
		t.Errorf("-tags nogpl embeds a Stratosphere capture: %s", have)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open("nope.gz"); err == nil {
		t.Fatal("no error for a missing capture")
	}
}

func TestConnsAndReplaySpan(t *testing.T) {
	if !Stratosphere {
		t.Skip("-tags nogpl: the labelled capture is left out")
	}
	conns, err := Conns("ctu-normal-40-day1.conn.log.labeled.gz")
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 5663 {
		t.Fatalf("%d connections, want 5663", len(conns))
	}
	span := ReplaySpan(conns)
	for _, c := range conns {
		if d := c.Start.Sub(conns[0].Start); d >= span-time.Hour+time.Nanosecond || d <= -(span-time.Hour+time.Nanosecond) {
			t.Fatalf("connection at %v is %v from the first, beyond the span %v less its hour", c.Start, d, span)
		}
	}
	if _, err := Conns("nope.gz"); err == nil {
		t.Error("no error for a missing capture")
	}
}
