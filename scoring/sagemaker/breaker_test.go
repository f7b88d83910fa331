package sagemaker

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBreaker(2, time.Minute, func() time.Time { return now })
	steps := []struct {
		name      string
		advance   time.Duration
		do        string // allow, fail, succeed
		wantAllow bool
	}{
		{"closed", 0, "allow", true},
		{"first failure", 0, "fail", false},
		{"still closed", 0, "allow", true},
		{"second failure opens", 0, "fail", false},
		{"open rejects", 0, "allow", false},
		{"open until cooldown", 59 * time.Second, "allow", false},
		{"half-open probe", time.Second, "allow", true},
		{"one probe only", 0, "allow", false},
		{"probe fails: open again", 0, "fail", false},
		{"open after failed probe", 30 * time.Second, "allow", false},
		{"second probe", 30 * time.Second, "allow", true},
		{"probe succeeds", 0, "succeed", false},
		{"closed again", 0, "allow", true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		switch s.do {
		case "allow":
			if got := b.allow(); got != s.wantAllow {
				t.Fatalf("%s: allow() = %v, want %v", s.name, got, s.wantAllow)
			}
		case "fail":
			b.failure()
		case "succeed":
			b.success()
		}
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := newBreaker(0, time.Minute, time.Now)
	for range 10 {
		if b.failure() || !b.allow() {
			t.Fatal("a disabled breaker opened")
		}
	}
}
