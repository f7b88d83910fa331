package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagewall/sagewall/internal/dashboard"
	"github.com/sagewall/sagewall/scoring"
)

// TestHTTPServerDropsSlowBodies opens 200 connections that send a request
// body at one byte a second: the server closes each within its read
// timeout, and /healthz answers meanwhile.
func TestHTTPServerDropsSlowBodies(t *testing.T) {
	const readTimeout, clients = time.Second, 200
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /analyze", func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(mux, withReadTimeout(readTimeout))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	closedAfter := make(chan time.Duration, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			start := time.Now()
			fmt.Fprintf(conn, "POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
			for time.Since(start) < 5*readTimeout {
				if _, err := conn.Write([]byte("x")); err != nil {
					break // the server hung up
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Whatever the write side saw, the server's end is closed once a
			// read returns (an error page or EOF).
			_ = conn.SetReadDeadline(time.Now().Add(5 * readTimeout))
			_, _ = io.Copy(io.Discard, conn)
			closedAfter <- time.Since(start)
		}()
	}
	time.Sleep(readTimeout / 2)
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with %d slow clients: %v %v", clients, resp, err)
	}
	resp.Body.Close()
	wg.Wait()
	close(closedAfter)
	slowest := time.Duration(0)
	for d := range closedAfter {
		slowest = max(slowest, d)
	}
	// The read timeout plus a write tick and scheduling on two shared cores.
	if slowest > 2*readTimeout+time.Second {
		t.Errorf("the slowest of %d slow-body connections stayed open %s, read timeout %s", clients, slowest, readTimeout)
	}
}

// TestLiveStreamOutlivesTheWriteTimeout: the dashboard's live endpoint
// keeps streaming past the server's write timeout, which bounds one event.
func TestLiveStreamOutlivesTheWriteTimeout(t *testing.T) {
	det, err := scoring.Bundled(scoring.WithThreshold(0))
	if err != nil {
		t.Fatal(err)
	}
	h, err := dashboard.New(det, dashboard.WithUpdateInterval(50*time.Millisecond),
		dashboard.WithLive(dashboard.NewLive(), func() dashboard.PipelineStatus { return dashboard.PipelineStatus{} }))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mountDashboard(mux, h, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const writeTimeout = 300 * time.Millisecond
	srv := newHTTPServer(mux, withWriteTimeout(writeTimeout))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + dashboardPrefix + "/api/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	start, events := time.Now(), 0
	for time.Since(start) < 4*writeTimeout {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after %s and %d events (write timeout %s): %v", time.Since(start), events, writeTimeout, err)
		}
		if strings.HasPrefix(line, "event: summary") {
			events++
		}
	}
	if events < 5 {
		t.Errorf("%d events in %s", events, 4*writeTimeout)
	}
}
