//go:build browser

package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestBrowser drives the page served by a real `sagewall demo` in headless
// Chromium: it pastes records, clicks Analyze, reads the verdicts, watches
// the live numbers move, checks that no request left 127.0.0.1, and saves
// screenshots. scripts/browser-test.sh runs it (make browser-test).
//
// Environment: SAGEWALL_BIN (a built sagewall; built here when empty),
// CHROMIUM (default /usr/bin/chromium), SAGEWALL_SCREENSHOTS (directory for
// the PNGs; default a temporary one), SAGEWALL_DEMO_RATE and
// SAGEWALL_DEMO_RECORDS (the demo's --rate and --records).
func TestBrowser(t *testing.T) {
	chromium := envOr("CHROMIUM", "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no Chromium at %s (%v): run scripts/browser-test.sh, which installs Debian's chromium, or set CHROMIUM", chromium, err)
	}
	shots := os.Getenv("SAGEWALL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()

	base := startDemo(t, ctx, sagewallBinary(t, ctx))

	var (
		mu       sync.Mutex
		requests []string
		problems []string
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	}))
	defer cancelBrowser()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", path)
	}

	step("loading the page", chromedp.Navigate(base+"/dashboard/"), chromedp.WaitVisible(chromedp.ID("live")))

	// The live numbers move.
	var verdicts []int
	for len(verdicts) < 3 {
		time.Sleep(time.Second)
		n, err := strconv.Atoi(strings.ReplaceAll(text("#kpi-verdicts"), ",", ""))
		if err == nil {
			verdicts = append(verdicts, n)
		}
	}
	if !(verdicts[0] < verdicts[1] && verdicts[1] < verdicts[2]) {
		t.Errorf("live verdict count did not grow: %v", verdicts)
	}
	if rate := text("#kpi-rps"); rate == "–" || rate == "0" {
		t.Errorf("records per second shows %q", rate)
	}
	// How smoothly the page runs while summaries arrive: the longest gap
	// between animation frames over three seconds (reported, not asserted:
	// it depends on the machine).
	gap, err := chromedp.Run(browser, chromedp.Evaluate[float64](`new Promise((resolve) => {
		let last = performance.now(), worst = 0;
		const start = last;
		const frame = (now) => {
			worst = Math.max(worst, now - last);
			last = now;
			if (now - start < 3000) requestAnimationFrame(frame); else resolve(worst);
		};
		requestAnimationFrame(frame);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live view at %s records/s: longest gap between frames %.0f ms, %d summaries a second", text("#kpi-rps"), gap, int(time.Second/DefaultUpdateInterval))

	// One-click sample: an attack.
	step("analyzing the sample attack",
		chromedp.Click(chromedp.ID("sample-attack")),
		chromedp.Click(chromedp.ID("analyze-btn")),
		chromedp.WaitVisible(chromedp.CSS("#verdicts tbody tr .verdict")))
	if row := text("#verdicts tbody tr"); !strings.Contains(row, "ATTACK") || !strings.Contains(row, "DoS") || !strings.Contains(row, "neptune") {
		t.Errorf("sample attack row: %q", row)
	}

	// A pasted mix with a bad line: verdicts for the good ones, the bad
	// line named with its field, and the raw model response on request.
	pasted := strings.Join([]string{
		"0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19",
		"0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01,normal,21",
		"0,icmp,eco_i,SF,18,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,1,16,1.00,0.00,1.00,1.00,0.00,0.00,0.00,0.00,ipsweep,18",
		"0,tcp,ftp_data,XX,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20",
		"0,tcp,telnet,RSTO,125,179,0,0,0,1,1,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,1.00,1.00,1.00,0.00,0.00,4,4,1.00,0.00,0.25,0.00,0.25,0.25,0.75,0.75,guess_passwd,13",
		"0,udp,private,SF,105,105,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,254,1.00,0.01,0.00,0.00,0.00,0.00,0.00,0.00,normal,21",
	}, "\n")
	step("analyzing pasted records",
		chromedp.SetValue(chromedp.ID("records"), pasted),
		chromedp.Click(chromedp.ID("analyze-btn")),
		chromedp.WaitVisible(chromedp.CSS(`.line-error[data-line="4"]`)))
	if msg := text(`.line-error[data-line="4"]`); !strings.Contains(msg, "Line 4") || !strings.Contains(msg, "flag") || !strings.Contains(msg, "XX") {
		t.Errorf("bad line message: %q", msg)
	}
	// Colours come through the CSSOM (the page's policy forbids inline
	// styles): the first score bar is filled.
	fill, err := chromedp.Run(browser, chromedp.Evaluate[float64](`(() => { const b = document.querySelector("#verdicts .scorebar span"); return b.getBoundingClientRect().width / b.parentElement.getBoundingClientRect().width })()`))
	if err != nil || fill < 0.9 {
		t.Errorf("score bar of the neptune record filled to %.2f (%v)", fill, err)
	}
	rows, err := chromedp.Run(browser, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#verdicts tbody tr")].map(r => r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || !strings.Contains(rows[0], "ATTACK") || !strings.Contains(rows[1], "NORMAL") {
		t.Errorf("verdict rows: %q", rows)
	}
	step("showing the raw response", chromedp.Click(chromedp.ID("raw-toggle")), chromedp.WaitVisible(chromedp.CSS("pre.raw")))
	if raw := text("pre.raw"); !strings.Contains(raw, `"features"`) || !strings.Contains(raw, `"score"`) {
		t.Errorf("raw response: %q", raw)
	}
	screenshot("dashboard-raw.png")
	step("hiding the raw response", chromedp.Click(chromedp.ID("raw-toggle")), chromedp.WaitNotPresent(chromedp.CSS("pre.raw")))

	// Let the chart and the alert table fill a little more, then the picture.
	time.Sleep(40 * time.Second)
	if alerts := text("#alerts tbody"); strings.Contains(alerts, "No alert yet") {
		t.Errorf("no alert in the live table after the replay ran: %q", alerts)
	}
	if acc := text("#kpi-accuracy"); !strings.HasSuffix(acc, "%") {
		t.Errorf("accuracy shows %q", acc)
	}
	step("scrolling to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	screenshot("dashboard.png")

	mu.Lock()
	defer mu.Unlock()
	if len(requests) == 0 {
		t.Fatal("no request seen: the network listener is not working")
	}
	for _, raw := range requests {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "data" && u.Hostname() != "127.0.0.1") {
			t.Errorf("request left 127.0.0.1: %s", raw)
		}
	}
	t.Logf("%d requests, all to 127.0.0.1", len(requests))
	for _, p := range problems {
		t.Errorf("JavaScript exception: %s", p)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// sagewallBinary returns SAGEWALL_BIN or builds the command.
func sagewallBinary(t *testing.T, ctx context.Context) string {
	if bin := os.Getenv("SAGEWALL_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "sagewall")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sagewall/sagewall/cmd/sagewall").CombinedOutput()
	if err != nil {
		t.Fatalf("building sagewall: %v\n%s", err, out)
	}
	return bin
}

// startDemo starts `sagewall demo` at a moderate rate on a free port and
// returns its base URL once the dashboard is announced.
func startDemo(t *testing.T, ctx context.Context, bin string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// 3000 records/s for 200 000 records outlasts the test; it is stopped at
	// the end. SAGEWALL_DEMO_RATE=0 replays as fast as the machine goes (then
	// give more records with SAGEWALL_DEMO_RECORDS).
	cmd := exec.Command(bin, "demo", "--records", envOr("SAGEWALL_DEMO_RECORDS", "200000"),
		"--rate", envOr("SAGEWALL_DEMO_RATE", "3000"), "--bad-every", "2000", "--http-addr", addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	announced := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "dashboard on "); ok {
				select {
				case announced <- strings.TrimSuffix(strings.TrimSpace(u), "/dashboard/"):
				default:
				}
			}
		}
	}()
	select {
	case base := <-announced:
		if base != "http://"+addr {
			t.Fatalf("demo announced %s, want http://%s", base, addr)
		}
		return base
	case <-ctx.Done():
		t.Fatal("sagewall demo did not announce its dashboard")
	case <-time.After(30 * time.Second):
		t.Fatalf("sagewall demo did not announce its dashboard on %s within 30 s", addr)
	}
	return ""
}
