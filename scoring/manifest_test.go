package scoring

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/internal/testenv"
)

// bundledManifest is the part of a bundled manifest.json the agreement test reads.
type bundledManifest struct {
	Version string `json:"version"`
	Models  map[string]struct {
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
	} `json:"models"`
	OperatingPoint struct {
		Threshold        float64 `json:"threshold"`
		Rule             string  `json:"rule"`
		FalseAlarmBudget float64 `json:"false_alarm_budget"`
		OutOfFold        struct {
			NormalRows     int     `json:"normal_rows"`
			FalseAlarmRate float64 `json:"false_alarm_rate"`
		} `json:"out_of_fold"`
	} `json:"operating_point"`
}

// TestBundledManifestsAgree checks that each bundled model's manifest, files
// and threshold agree: the model files are the ones the manifest hashes, the
// detector uses the manifest's operating point, and that threshold is what
// the manifest's rule gives on the out-of-fold scores train.py wrote
// (testdata/<dir>/normal-oof.f32.gz): the lowest threshold, in steps of
// 1e-4, flagging at most the budget's share of normal rows.
func TestBundledManifestsAgree(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		load func(...Option) (*Detector, error)
	}{
		{"bundled", Bundled},
		{"bundled-connlog", BundledConnLog},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			var m bundledManifest
			data, err := os.ReadFile(filepath.Join(tc.dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			for _, role := range []string{"binary", "category"} {
				model := m.Models[role]
				if got := sha256.Sum256(testenv.Gunzip(t, filepath.Join(tc.dir, model.File))); hex.EncodeToString(got[:]) != model.SHA256 {
					t.Errorf("%s: sha256 %x, manifest says %s", model.File, got, model.SHA256)
				}
			}

			d, err := tc.load()
			if err != nil {
				t.Fatal(err)
			}
			op := m.OperatingPoint
			want := OperatingPoint{Threshold: op.Threshold, Source: "manifest", Rule: op.Rule}
			if d.OperatingPoint() != want || d.Info().Version != m.Version {
				t.Errorf("detector: %+v, version %s; manifest: %+v, version %s", d.OperatingPoint(), d.Info().Version, want, m.Version)
			}

			raw := testenv.Gunzip(t, filepath.Join("testdata", tc.dir, "normal-oof.f32.gz"))
			scores := make([]float32, len(raw)/4)
			if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, scores); err != nil {
				t.Fatal(err)
			}
			if len(scores) != op.OutOfFold.NormalRows {
				t.Fatalf("%d out-of-fold scores, manifest says %d normal rows", len(scores), op.OutOfFold.NormalRows)
			}
			allowed := int(math.Floor(op.FalseAlarmBudget * float64(len(scores))))
			flagged := func(threshold float64) int {
				n := 0
				for _, s := range scores {
					if float64(s) >= threshold {
						n++
					}
				}
				return n
			}
			at, below := flagged(op.Threshold), flagged(op.Threshold-1e-4)
			if at > allowed || below <= allowed {
				t.Errorf("threshold %v flags %d normal rows and %v flags %d; the budget %v allows %d: not the rule's threshold",
					op.Threshold, at, op.Threshold-1e-4, below, op.FalseAlarmBudget, allowed)
			}
			if got := float64(at) / float64(len(scores)); math.Abs(got-op.OutOfFold.FalseAlarmRate) > 1e-12 {
				t.Errorf("out-of-fold false-alarm rate %v, manifest says %v", got, op.OutOfFold.FalseAlarmRate)
			}
		})
	}
}

// TestManifestOperatingPoint loads a model directory with each kind of
// manifest operating point, with and without WithThreshold.
func TestManifestOperatingPoint(t *testing.T) {
	for _, tc := range []struct {
		name     string
		manifest string // the operating_point key and value, if any
		opts     []Option
		want     OperatingPoint
		wantErr  string
	}{
		{name: "none: the default", want: OperatingPoint{Threshold: DefaultThreshold, Source: "default"}},
		{name: "the manifest's", manifest: `"operating_point": {"threshold": 0.25, "rule": "r"}`,
			want: OperatingPoint{Threshold: 0.25, Source: "manifest", Rule: "r"}},
		{name: "the caller's over the manifest's", manifest: `"operating_point": {"threshold": 0.25, "rule": "r"}`,
			opts: []Option{WithThreshold(0.7)}, want: OperatingPoint{Threshold: 0.7, Source: "option"}},
		{name: "the caller's 0 (flag everything)", opts: []Option{WithThreshold(0)}, want: OperatingPoint{Threshold: 0, Source: "option"}},
		{name: "no threshold", manifest: `"operating_point": {"rule": "r"}`, wantErr: "operating_point: no threshold"},
		{name: "threshold 1", manifest: `"operating_point": {"threshold": 1}`, wantErr: "operating_point: threshold 1: want strictly between 0 and 1"},
		{name: "threshold 0", manifest: `"operating_point": {"threshold": 0}`, wantErr: "operating_point: threshold 0: want strictly between 0 and 1"},
		{name: "not an object", manifest: `"operating_point": 0.3`, wantErr: "decoding manifest.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Without the category model, whose classes a manifest must name.
			dir := modelDir(t, "manifest.json", "category.json.gz")
			manifest := `{"name": "m", "version": "1"`
			if tc.manifest != "" {
				manifest += ", " + tc.manifest
			}
			writeFile(t, filepath.Join(dir, "manifest.json"), []byte(manifest+"}"))
			d, err := LoadDetector(dir, tc.opts...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.OperatingPoint() != tc.want || d.Threshold() != tc.want.Threshold {
				t.Errorf("OperatingPoint() = %+v, Threshold() = %v, want %+v", d.OperatingPoint(), d.Threshold(), tc.want)
			}
		})
	}
}
