package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/internal/testenv"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    func(t *testing.T) []string
		wantErr string
		wantOut string
	}{
		{
			name: "ready cluster",
			args: func(t *testing.T) []string {
				return []string{"-brokers", strings.Join(testenv.KFake(t), ","), "-timeout", "10s"}
			},
			wantOut: "ready: cluster kfake, 1 broker(s)",
		},
		{
			name: "nothing listening",
			args: func(t *testing.T) []string {
				return []string{"-brokers", "127.0.0.1:1", "-timeout", "300ms", "-interval", "50ms"}
			},
			wantErr: "waiting for 127.0.0.1:1: context deadline exceeded",
		},
		{
			name:    "bad flag",
			args:    func(t *testing.T) []string { return []string{"-timeout", "soon"} },
			wantErr: `invalid value "soon" for flag -timeout`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args(t), &stderr)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("run: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("run: error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(stderr.String(), tt.wantOut) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantOut)
			}
		})
	}
}
