package main

import (
	"crypto/subtle"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"strings"
)

// dashboardCookie carries the dashboard token in a browser, which cannot
// add an Authorization header to a page load or an EventSource.
const dashboardCookie = "sagewall_dashboard_token"

// maxLoginBytes bounds the login form's body: one token field.
const maxLoginBytes = 4 << 10

// isLoopback reports whether a listen address only accepts this machine's
// connections ("127.0.0.1:9090", "[::1]:0", "localhost:9090").
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dashboardToken returns the token http.auth_token or http.auth_token_file
// sets ("" for none), and refuses a dashboard or /debug/pprof reachable
// beyond loopback without one: the dashboard's analyze and live APIs show
// verdicts and addresses, and so do heap profiles.
func dashboardToken(c *runConfig) (string, error) {
	token := c.HTTP.AuthToken
	if token != "" && c.HTTP.AuthTokenFile != "" {
		// One would silently win: a token the operator believes in would be refused.
		return "", usageError{fmt.Errorf("http.auth_token and http.auth_token_file (%s) are both set: set one", c.HTTP.AuthTokenFile)}
	}
	if c.HTTP.AuthTokenFile != "" {
		b, err := os.ReadFile(c.HTTP.AuthTokenFile)
		if err != nil {
			return "", usageError{fmt.Errorf("reading http.auth_token_file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", usageError{fmt.Errorf("http.auth_token_file %s is empty", c.HTTP.AuthTokenFile)}
		}
	}
	if token == "" && c.HTTP.Dashboard && !isLoopback(c.HTTP.Addr) {
		return "", usageError{fmt.Errorf("http.addr %s is reachable beyond this machine and http.dashboard is on: "+
			"set http.auth_token or http.auth_token_file, listen on loopback, or turn http.dashboard off", c.HTTP.Addr)}
	}
	if token == "" && c.HTTP.Pprof && !isLoopback(c.HTTP.Addr) {
		// Profiles show memory (verdicts, addresses) and cost CPU to take.
		return "", usageError{fmt.Errorf("http.addr %s is reachable beyond this machine and http.pprof is on: "+
			"set http.auth_token or http.auth_token_file, listen on loopback, or turn http.pprof off", c.HTTP.Addr)}
	}
	return token, nil
}

// requireToken guards the dashboard with token (none: next as it is). A
// request passes with "Authorization: Bearer <token>" or the cookie that
// the login form sets; otherwise an API call gets 401 and a page load the
// login form, which posts the token to /login and gets the cookie
// (HttpOnly, SameSite=Strict, scoped to the dashboard) back.
func requireToken(token, prefix string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	valid := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix+"/login" && r.Method == http.MethodPost {
			// Anyone may post here; ParseForm alone would read 10 MB.
			r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
			if err := r.ParseForm(); err != nil || !valid(r.PostForm.Get("token")) {
				w.WriteHeader(http.StatusUnauthorized)
				loginForm(w, prefix, "Wrong token.")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: dashboardCookie, Value: token, Path: prefix + "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			http.Redirect(w, r, prefix+"/", http.StatusSeeOther)
			return
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && valid(bearer) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(dashboardCookie); err == nil && valid(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="sagewall dashboard"`)
		if strings.HasPrefix(r.URL.Path, prefix+"/api/") {
			http.Error(w, `{"error":"unauthorized: send Authorization: Bearer <http.auth_token>"}`, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		loginForm(w, prefix, "")
	})
}

func loginForm(w http.ResponseWriter, prefix, message string) {
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>sagewall dashboard</title>
<form method="post" action="%s/login"><p>%s</p><label>Dashboard token (http.auth_token)
<input type="password" name="token" autofocus></label> <button>Open</button></form>`,
		html.EscapeString(prefix), html.EscapeString(message))
}
