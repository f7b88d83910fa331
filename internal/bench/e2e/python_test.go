package main

import (
	"testing"

	"github.com/sagewall/sagewall/scoring"
)

func TestCompareVerdict(t *testing.T) {
	const threshold = 0.5508
	tests := []struct {
		name   string
		score  float64
		attack bool
		want   scoring.Result
		ok     bool
	}{
		{"same", 0.99979979, true, scoring.Result{Score: 0.9997998, Attack: true}, true},
		{"within 1e-5", 0.013906, false, scoring.Result{Score: 0.0139064}, true},
		{"score off", 0.0140, false, scoring.Result{Score: 0.0139064}, false},
		{"flag differs", 0.9, false, scoring.Result{Score: 0.9, Attack: true}, false},
		{"flag differs at the threshold, within the tolerance", 0.550795, false, scoring.Result{Score: 0.5508, Attack: true}, true},
	}
	for _, tt := range tests {
		err := compareVerdict("raw/0/1", tt.score, tt.attack, tt.want, threshold)
		if (err == nil) != tt.ok {
			t.Errorf("%s: compareVerdict = %v, want ok %t", tt.name, err, tt.ok)
		}
	}
}

// scoreLines is sagewall's scoring of NSL-KDD lines, which the Python
// consumer's verdicts are checked against.
func TestScoreLines(t *testing.T) {
	lines := [][]byte{
		[]byte("0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20"),
		[]byte("0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"),
	}
	got, threshold, err := scoreLines([]string{"a", "b"}, lines)
	if err != nil {
		t.Fatal(err)
	}
	if threshold != 0.5508 {
		t.Errorf("threshold %v, want the bundled 0.5508", threshold)
	}
	// The first line of KDDTrain+ scores 0.0139064 (consumer.py and
	// scoring/testdata/bundled/predictions.f32.gz agree).
	if a := got["a"]; a.Attack || a.Score < 0.0139 || a.Score > 0.01391 {
		t.Errorf("normal line: %+v", a)
	}
	if b := got["b"]; !b.Attack {
		t.Errorf("neptune line: %+v", b)
	}
	if _, _, err := scoreLines([]string{"bad"}, [][]byte{[]byte("not,a,record")}); err == nil {
		t.Error("a bad line scored")
	}
}
