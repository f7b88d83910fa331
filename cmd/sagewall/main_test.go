package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpGoesToStdout: help that was asked for is the answer (stdout, exit
// 0); usage printed for a mistake is a diagnostic (stderr, exit 2).
func TestHelpGoesToStdout(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		wantCode   int
		wantStdout string // in stdout; stderr must then be empty
		wantStderr string // in stderr; stdout must then be empty
	}{
		{[]string{"--help"}, 0, "commands:", ""},
		{[]string{"help"}, 0, "commands:", ""},
		{[]string{"run", "-h"}, 0, "-kafka-brokers", ""},
		{[]string{"demo", "--help"}, 0, "-records", ""},
		{[]string{"score", "-h"}, 0, "usage: sagewall score", ""},
		{nil, 2, "", "commands:"},
		{[]string{"nope"}, 2, "", "unknown command"},
		{[]string{"run", "--no-such-flag"}, 2, "", "no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, stdio{in: strings.NewReader(""), out: &stdout, err: &stderr})
		if code != tt.wantCode {
			t.Errorf("%v: exit %d, want %d", tt.args, code, tt.wantCode)
		}
		if tt.wantStdout != "" && (!strings.Contains(stdout.String(), tt.wantStdout) || stderr.Len() != 0) {
			t.Errorf("%v: stdout %q, stderr %q; want help on stdout", tt.args, stdout.String(), stderr.String())
		}
		if tt.wantStderr != "" && (!strings.Contains(stderr.String(), tt.wantStderr) || stdout.Len() != 0) {
			t.Errorf("%v: stdout %q, stderr %q; want the diagnostic on stderr", tt.args, stdout.String(), stderr.String())
		}
	}
}
