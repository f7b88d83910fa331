package evaluate

import (
	"math"
	"testing"
)

func TestConfusionRates(t *testing.T) {
	tests := []struct {
		name                                        string
		c                                           Confusion
		accuracy, precision, recall, falseAlarm, f1 float64
	}{
		// 8 attacks, 6 flagged; 12 normal, 2 flagged.
		{"mixed", Confusion{TN: 10, FP: 2, FN: 2, TP: 6}, 16.0 / 20, 6.0 / 8, 6.0 / 8, 2.0 / 12, 0.75},
		{"perfect", Confusion{TN: 3, TP: 5}, 1, 1, 1, 0, 1},
		{"nothing flagged", Confusion{TN: 4, FN: 1}, 0.8, 0, 0, 0, 0},
		{"only normal records", Confusion{TN: 4, FP: 1}, 0.8, 0, 0, 0.2, 0},
		{"empty", Confusion{}, 0, 0, 0, 0, 0},
		{"everything flagged", Confusion{FP: 1, TP: 3}, 0.75, 0.75, 1, 1, 6.0 / 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []struct {
				metric    string
				got, want float64
			}{
				{"accuracy", tt.c.Accuracy(), tt.accuracy},
				{"precision", tt.c.Precision(), tt.precision},
				{"recall", tt.c.Recall(), tt.recall},
				{"false alarm rate", tt.c.FalseAlarmRate(), tt.falseAlarm},
				{"f1", tt.c.F1(), tt.f1},
			} {
				if math.Abs(m.got-m.want) > 1e-12 {
					t.Errorf("%s = %v, want %v", m.metric, m.got, m.want)
				}
			}
		})
	}
}

func TestConfusionAdd(t *testing.T) {
	var c Confusion
	for _, r := range []struct{ attack, flagged bool }{
		{true, true}, {true, true}, {true, false}, {false, true}, {false, false}, {false, false}, {false, false},
	} {
		c.Add(r.attack, r.flagged)
	}
	if want := (Confusion{TN: 3, FP: 1, FN: 1, TP: 2}); c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c.Total() != 7 {
		t.Errorf("Total() = %d, want 7", c.Total())
	}
}

func scored(scores []float32, attacks []bool) []Scored {
	out := make([]Scored, len(scores))
	for i := range scores {
		out[i] = Scored{scores[i], attacks[i]}
	}
	return out
}

func TestROCAUC(t *testing.T) {
	tests := []struct {
		name    string
		scores  []float32
		attacks []bool
		want    float64
		ok      bool
	}{
		{"perfect", []float32{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1, true},
		{"inverted", []float32{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0, true},
		// Pairs (attack, normal): 0.8>0.1, 0.8>0.5, 0.4>0.1, 0.4<0.5 → 3 of 4.
		{"one swap", []float32{0.1, 0.5, 0.4, 0.8}, []bool{false, false, true, true}, 0.75, true},
		{"all tied", []float32{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5, true},
		// Pairs: a0.7 vs n0.7 tie (½), a0.7 vs n0.2 win, a0.2 vs n0.7 loss, a0.2 vs n0.2 tie (½) → 2 of 4.
		{"ties across classes", []float32{0.7, 0.2, 0.7, 0.2}, []bool{true, true, false, false}, 0.5, true},
		// 3 attacks × 2 normal = 6 pairs: a0.9 beats both (2), a0.6 ties n0.6 (½) beats n0.3 (1), a0.3 ties n0.3 (½) loses to n0.6 → 4 of 6.
		{"ties, unequal classes", []float32{0.9, 0.6, 0.3, 0.6, 0.3}, []bool{true, true, true, false, false}, 4.0 / 6, true},
		{"only attacks", []float32{0.1, 0.9}, []bool{true, true}, 0, false},
		{"only normal", []float32{0.1, 0.9}, []bool{false, false}, 0, false},
		{"empty", nil, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ROCAUC(scored(tt.scores, tt.attacks))
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("ROCAUC = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestROCCurve(t *testing.T) {
	records := scored([]float32{0.1, 0.5, 0.4, 0.8, 0.5}, []bool{false, false, true, true, true})
	got, err := ROCCurve(records)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{
		{0, 0, float32(math.Inf(1))},
		{0, 1.0 / 3, 0.8},
		{0.5, 2.0 / 3, 0.5}, // 0.5 is tied between an attack and a normal record
		{0.5, 1, 0.4},
		{1, 1, 0.1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points %v, want %v", len(got), got, want)
	}
	for i := range want {
		if math.Abs(got[i].FalseAlarmRate-want[i].FalseAlarmRate) > 1e-12 ||
			math.Abs(got[i].Recall-want[i].Recall) > 1e-12 || got[i].Threshold != want[i].Threshold {
			t.Errorf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// The trapezoids under the curve give the same area as ROCAUC.
	var area float64
	for i := 1; i < len(got); i++ {
		area += (got[i].FalseAlarmRate - got[i-1].FalseAlarmRate) * (got[i].Recall + got[i-1].Recall) / 2
	}
	if auc, _ := ROCAUC(records); math.Abs(area-auc) > 1e-12 {
		t.Errorf("area under curve %v != ROCAUC %v", area, auc)
	}

	if _, err := ROCCurve(scored([]float32{0.3}, []bool{true})); err != ErrOneClass {
		t.Errorf("one class: err = %v, want ErrOneClass", err)
	}
}

func TestMulticlass(t *testing.T) {
	m := NewMulticlass(3)
	for _, r := range [][2]int{{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 2}, {0, 0}} {
		m.Add(r[0], r[1])
	}
	if got, want := m.Accuracy(), 4.0/6; math.Abs(got-want) > 1e-12 {
		t.Errorf("Accuracy = %v, want %v", got, want)
	}
	tests := []struct {
		class int
		want  float64
		ok    bool
	}{{0, 0.75, true}, {1, 0.5, true}, {2, 0, false}}
	for _, tt := range tests {
		if got, ok := m.Recall(tt.class); ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Recall(%d) = %v, %v; want %v, %v", tt.class, got, ok, tt.want, tt.ok)
		}
	}
	if m.Counts[0][0] != 3 || m.Counts[1][2] != 1 {
		t.Errorf("Counts = %v", m.Counts)
	}
}
