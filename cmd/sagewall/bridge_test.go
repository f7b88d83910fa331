package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestBridgeFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no queue", nil, "--queue-url is required"},
		{"empty brokers", []string{"--queue-url", "http://q", "--brokers", " , "}, "--brokers and --topic must not be empty"},
		{"stray argument", []string{"--queue-url", "http://q", "extra"}, "unexpected arguments"},
		{"bad visibility", []string{"--queue-url", "http://q", "--visibility", "1s", "--region", "us-east-1"}, "visibility 1s must be at least 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := runBridge(context.Background(), tt.args, stdio{err: &stderr})
			var usageErr usageError
			if !errors.As(err, &usageErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
}

func TestSplitBrokerList(t *testing.T) {
	got := splitBrokerList(" a:9092, ,b:9092,")
	if len(got) != 2 || got[0] != "a:9092" || got[1] != "b:9092" {
		t.Fatalf("got %q", got)
	}
}
