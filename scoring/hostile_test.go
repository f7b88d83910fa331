package scoring

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHostileModelsStayBounded loads hostile model files, each under 2 MB,
// in a child process and checks that each is refused with a clear error
// and that the child's peak resident memory stayed below 256 MB. Before the
// ratio cap, a 58 KB gzip of this kind took 2.4 GB.
func TestHostileModelsStayBounded(t *testing.T) {
	if path := os.Getenv("SAGEWALL_HOSTILE_MODEL"); path != "" {
		t.Skip("child process")
	}
	if raceDetector {
		t.Skip("RSS bounds do not hold under the race detector's shadow memory")
	}
	dense := func(n int) []byte {
		return []byte(`{"learner":{"x":[` + strings.Repeat("0,", n) + `0]}}`)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	tarGz := func(name string, b []byte) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
		tw.Close()
		return gz(buf.Bytes())
	}
	ubjsonHugeCount := []byte("{i\x07learner[$d#l\x7f\xff\xff\xff")
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"gzip bomb", "model.json.gz", gz(dense(30_000_000)), "decompression bomb"},
		{"tar.gz bomb", "model.tar.gz", tarGz("xgboost-model", dense(20_000_000)), "decompression bomb"},
		{"dense JSON under the ratio", "model.json.gz", gz(dense(9_000_000)), "more than 1500000 values"},
		{"dense JSON file of 2 MB", "model.json", dense(990_000), "missing field"},
		{"deep nesting", "model.json", []byte(`{"a":` + strings.Repeat("[", 990_000) + strings.Repeat("]", 990_000) + "}"), "decoding JSON model"},
		{"UBJSON huge count", "model.ubj", ubjsonHugeCount, "decoding UBJSON model"},
		{"legacy huge lengths", "model.bin", append([]byte("binf"), bytes.Repeat([]byte{0xff}, 2000)...), "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.data) >= 2<<20 {
				t.Fatalf("test file is %d bytes, want under 2 MB", len(tc.data))
			}
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileModelChild$", "-test.v")
			cmd.Env = append(os.Environ(), "SAGEWALL_HOSTILE_MODEL="+path)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var loadErr string
			peakKB := -1
			for _, line := range strings.Split(string(out), "\n") {
				if rest, ok := strings.CutPrefix(line, "LOAD_ERROR "); ok {
					loadErr = rest
				}
				if rest, ok := strings.CutPrefix(line, "PEAK_RSS_KB "); ok {
					peakKB, _ = strconv.Atoi(rest)
				}
			}
			if !strings.Contains(loadErr, tc.want) {
				t.Errorf("error %q, want one mentioning %q", loadErr, tc.want)
			}
			if peakKB < 0 || peakKB > 256<<10 {
				t.Errorf("peak RSS %d KB loading a %d-byte file, want below 256 MB", peakKB, len(tc.data))
			}
			t.Logf("%d bytes: refused at %d MB peak RSS: %s", len(tc.data), peakKB>>10, loadErr)
		})
	}
}

// TestHostileModelChild loads the model named by SAGEWALL_HOSTILE_MODEL and
// prints the error and its peak resident memory (run by the test above).
func TestHostileModelChild(t *testing.T) {
	path := os.Getenv("SAGEWALL_HOSTILE_MODEL")
	if path == "" {
		t.Skip("run by TestHostileModelsStayBounded")
	}
	_, err := LoadXGBoost(path)
	if err == nil {
		err = fmt.Errorf("loaded")
	}
	fmt.Printf("LOAD_ERROR %v\n", err)
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("PEAK_RSS_KB %s\n", strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
}
