package main

import (
	"net/http"
	"time"
)

// httpLimits bounds what one client can hold on any of sagewall's HTTP
// listeners (run's and bridge's metrics and probes, the dashboard, serve):
// without them a client sending its body at a byte a second keeps a
// connection and a goroutine for as long as it likes.
type httpLimits struct {
	readHeader time.Duration // the request line and headers
	read       time.Duration // the whole request, body included
	write      time.Duration // the response; the dashboard's live stream extends it per event
	idle       time.Duration // a kept-alive connection between requests
	maxHeader  int
}

// httpOption adjusts the limits of one listener.
type httpOption func(*httpLimits)

// withReadTimeout sets how long a whole request may take to arrive.
func withReadTimeout(d time.Duration) httpOption { return func(l *httpLimits) { l.read = d } }

// withWriteTimeout sets how long a response may take to be written.
func withWriteTimeout(d time.Duration) httpOption { return func(l *httpLimits) { l.write = d } }

// newHTTPServer returns a server for h with the limits every listener
// shares: 5 s for the headers and 30 s for a whole request (the largest body
// any endpoint takes, a pasted batch or a 6 MB invocation, arrives in well
// under a second on any link a sensor network has), 60 s to write a
// response (a Prometheus scrape or a SageMaker-sized answer), 2 minutes of
// idle keep-alive (longer than Prometheus's scrape interval, so scrapes reuse
// connections), and 64 KiB of headers (Go's default is 1 MiB).
func newHTTPServer(h http.Handler, opts ...httpOption) *http.Server {
	l := httpLimits{
		readHeader: 5 * time.Second,
		read:       30 * time.Second,
		write:      60 * time.Second,
		idle:       2 * time.Minute,
		maxHeader:  64 << 10,
	}
	for _, o := range opts {
		o(&l)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(l.readHeader, l.read),
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeader,
	}
}
