package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDashboardTokenRequiredBeyondLoopback(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, token, file string
		dashboard, pprof  bool
		want, wantErr     string
	}{
		{addr: "127.0.0.1:9090", dashboard: true},
		{addr: "[::1]:9090", dashboard: true},
		{addr: "localhost:9090", dashboard: true},
		{addr: ":9090", dashboard: false},
		{addr: ":9090", dashboard: true, wantErr: "set http.auth_token"},
		{addr: "10.0.0.5:9090", dashboard: true, wantErr: "set http.auth_token"},
		{addr: ":9090", dashboard: true, token: "t0ken", want: "t0ken"},
		{addr: ":9090", dashboard: true, file: file, want: "s3cret"},
		{addr: ":9090", dashboard: true, file: filepath.Join(t.TempDir(), "missing"), wantErr: "reading http.auth_token_file"},
		{addr: "127.0.0.1:9090", dashboard: true, token: "t0ken", file: file, wantErr: "http.auth_token and http.auth_token_file"},
		{addr: "127.0.0.1:9090", pprof: true},
		{addr: ":9090", pprof: true, wantErr: "http.pprof is on"},
		{addr: ":9090", pprof: true, token: "t0ken", want: "t0ken"},
	} {
		c := defaultRunConfig()
		c.HTTP.Addr, c.HTTP.Dashboard, c.HTTP.AuthToken, c.HTTP.AuthTokenFile = tc.addr, tc.dashboard, tc.token, tc.file
		c.HTTP.Pprof = tc.pprof
		got, err := dashboardToken(&c)
		var usage usageError
		switch {
		case tc.wantErr != "" && (err == nil || !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: err %v, want a usage error containing %q", tc, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%+v: token %q, err %v; want %q", tc, got, err, tc.want)
		}
	}
}

func TestRequireToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("inside")) })
	h := requireToken("t0ken", "/dashboard", ok)
	do := func(method, path string, header http.Header, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, tc := range []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		contains                 string
	}{
		{"API without a token", "GET", "/dashboard/api/live", "", nil, 401, "unauthorized"},
		{"API with a wrong token", "POST", "/dashboard/api/analyze", "", http.Header{"Authorization": {"Bearer nope"}}, 401, "unauthorized"},
		{"API with the token", "POST", "/dashboard/api/analyze", "", http.Header{"Authorization": {"Bearer t0ken"}}, 200, "inside"},
		{"page without a token", "GET", "/dashboard/", "", nil, 401, `action="/dashboard/login"`},
		{"page with the cookie", "GET", "/dashboard/", "", http.Header{"Cookie": {dashboardCookie + "=t0ken"}}, 200, "inside"},
		{"login with a wrong token", "POST", "/dashboard/login", "token=nope", form, 401, "Wrong token"},
		{"login with an oversized body", "POST", "/dashboard/login", "token=t0ken&pad=" + strings.Repeat("x", maxLoginBytes), form, 401, "Wrong token"},
		{"login with the token", "POST", "/dashboard/login", url.Values{"token": {"t0ken"}}.Encode(), form, 303, ""},
	} {
		rec := do(tc.method, tc.path, tc.header, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, rec.Code, rec.Body.String(), tc.status, tc.contains)
		}
		if tc.name == "login with the token" {
			c := rec.Result().Cookies()
			if len(c) != 1 || c[0].Value != "t0ken" || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/dashboard/" {
				t.Errorf("login cookie %+v", c)
			}
		}
	}
	rec := httptest.NewRecorder()
	requireToken("", "/dashboard", ok).ServeHTTP(rec, httptest.NewRequest("GET", "/dashboard/api/live", nil))
	if rec.Code != 200 {
		t.Errorf("without a token the dashboard is open (loopback only): %d", rec.Code)
	}
}

// TestPprofNeedsTheToken: with a token set, /debug/pprof answers only
// requests that carry it; /healthz stays open.
func TestPprofNeedsTheToken(t *testing.T) {
	cfg := defaultRunConfig()
	cfg.HTTP.Pprof = true
	s := &service{cfg: cfg, registry: prometheus.NewRegistry(), dashboardToken: "t0ken"}
	h := s.handler()
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/debug/pprof/", "", http.StatusUnauthorized},
		{"/debug/pprof/cmdline", "Bearer wrong", http.StatusUnauthorized},
		{"/debug/pprof/", "Bearer t0ken", http.StatusOK},
		{"/debug/pprof/cmdline", "Bearer t0ken", http.StatusOK},
		{"/healthz", "", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("GET %s (%q): %d, want %d", tc.path, tc.auth, rec.Code, tc.want)
		}
	}
}
