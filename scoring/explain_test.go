package scoring

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
)

// Test rows of the TreeSHAP goldens (scoring/testdata/gen/explain.py).
const (
	explainGoldenRows = 2000 // the first KDDTrain+ lines
	explainNaNRows    = 200  // then copies of the first rows with missing values
)

// explainGolden is XGBoost's pred_contribs output for the golden rows.
type explainGolden struct {
	columns []int     // the columns whose contribution is not always 0
	values  []float32 // per row: those columns' contributions, the bias, the margin
}

func readExplainGolden(t *testing.T, model string) explainGolden {
	t.Helper()
	data := testenv.Gunzip(t, "testdata/explain/"+model+".f32.gz")
	if len(data) < 4 {
		t.Fatal("golden: truncated")
	}
	c := int(binary.LittleEndian.Uint32(data))
	if len(data) < 4+4*c {
		t.Fatal("golden: truncated column list")
	}
	var g explainGolden
	for k := range c {
		g.columns = append(g.columns, int(binary.LittleEndian.Uint32(data[4+4*k:])))
	}
	data = data[4+4*c:]
	if len(data) != 4*(c+2)*(explainGoldenRows+explainNaNRows) {
		t.Fatalf("golden: %d bytes of values, want %d rows of %d float32", len(data), explainGoldenRows+explainNaNRows, c+2)
	}
	g.values = make([]float32, len(data)/4)
	for i := range g.values {
		g.values[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return g
}

// explainRows builds the golden rows as explain.py does: the first KDDTrain+
// lines encoded with the detector's spec and its zeroed features at 0, then
// copies of the first rows where numeric column j of copy k is NaN iff
// (k + j) % 3 == 0.
func explainRows(t testing.TB, d *Detector) [][]float32 {
	t.Helper()
	flat, _ := encodeTrain(t, d.Spec(), explainGoldenRows)
	for _, name := range d.ZeroedFeatures() {
		col := slices.Index(d.spec.Numeric, name)
		for r := 0; r < len(flat); r += d.width {
			flat[r+col] = 0
		}
	}
	var rows [][]float32
	for r := 0; r < len(flat); r += d.width {
		rows = append(rows, flat[r:r+d.width])
	}
	for k := range explainNaNRows {
		row := slices.Clone(rows[k])
		for j := range len(d.spec.Numeric) {
			if (k+j)%3 == 0 {
				row[j] = float32(math.NaN())
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// margin is the binary forest's margin for row, summed as Predict sums it.
func margin(f *Forest, row []float32) float32 {
	m := f.baseMargin[0]
	for _, root := range f.roots {
		m += f.leaf(root, row)
	}
	return m
}

// TestExplainMatchesXGBoost checks the contributions of both bundled binary
// models against XGBoost's own pred_contribs (scoring/testdata/explain, made
// by scoring/testdata/gen/explain.sh) on 2,000 KDDTrain+ rows and 200 rows
// with missing values: every contribution and the bias within 1e-5 in margin
// space, and contributions plus bias equal to the margin (XGBoost's and the
// evaluator's) within 1e-5.
func TestExplainMatchesXGBoost(t *testing.T) {
	for model, load := range map[string]func(...Option) (*Detector, error){"bundled": Bundled, "bundled-connlog": BundledConnLog} {
		t.Run(model, func(t *testing.T) {
			d, err := load()
			if err != nil {
				t.Fatal(err)
			}
			golden := readExplainGolden(t, model)
			fast, err := d.binary.forest.NewExplainer()
			if err != nil {
				t.Fatal(err)
			}
			if fast.tables == nil {
				t.Fatal("no leaf tables: the fast path is not tested")
			}
			exact := fast.Clone()
			exact.tables = nil
			for _, e := range []*Explainer{fast, exact} {
				explainMatches(t, d, e, golden)
			}
		})
	}
}

func explainMatches(t *testing.T, d *Detector, e *Explainer, golden explainGolden) {
	path := "leaf tables"
	if e.tables == nil {
		path = "exact walk"
	}
	const tolerance = 1e-5
	width := e.NumFeature()
	phi := make([]float32, width+1)
	stride := len(golden.columns) + 2
	var worst, worstSum float64
	failures := 0
	fail := func(format string, args ...any) {
		if failures++; failures <= 10 {
			t.Errorf(format, args...)
		}
	}
	for r, row := range explainRows(t, d) {
		want := golden.values[r*stride : (r+1)*stride]
		e.Explain(row, phi)
		wantPhi := make([]float32, width+1)
		for k, col := range golden.columns {
			wantPhi[col] = want[k]
		}
		wantPhi[width] = want[len(golden.columns)]
		for j := range phi {
			diff := math.Abs(float64(phi[j]) - float64(wantPhi[j]))
			worst = max(worst, diff)
			if !(diff <= tolerance) {
				fail("%s: row %d: column %d: contribution %v, XGBoost %v", path, r, j, phi[j], wantPhi[j])
			}
		}
		var sum float64
		for _, v := range phi {
			sum += float64(v)
		}
		wantMargin := float64(want[len(golden.columns)+1])
		for _, m := range []float64{wantMargin, float64(margin(d.binary.forest, row))} {
			diff := math.Abs(sum - m)
			worstSum = max(worstSum, diff)
			if !(diff <= tolerance) {
				fail("%s: row %d: contributions + bias = %v, margin %v", path, r, sum, m)
			}
		}
	}
	t.Logf("%s, %d rows: largest difference from XGBoost %.3g, of the sum from the margin %.3g", path, explainGoldenRows+explainNaNRows, worst, worstSum)
}

// TestExplainRefuses checks the models that cannot be explained say why.
func TestExplainRefuses(t *testing.T) {
	noCover := `{"version":[3,2,0],"learner":{"learner_model_param":{"num_feature":"2","num_class":"0","base_score":"5E-1"},
		"objective":{"name":"binary:logistic"},"gradient_booster":{"name":"gbtree","model":{"tree_info":[0],"trees":[
		{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],"split_conditions":[0.5,-1,1],"default_left":[1,0,0]}]}}}}`
	zeroCover := `{"version":[3,2,0],"learner":{"learner_model_param":{"num_feature":"2","num_class":"0","base_score":"5E-1"},
		"objective":{"name":"binary:logistic"},"gradient_booster":{"name":"gbtree","model":{"tree_info":[0],"trees":[
		{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],"split_conditions":[0.5,-1,1],"default_left":[1,0,0],
		"sum_hessian":[0,1,1]}]}}}}`
	for _, tc := range []struct {
		name, model string
		is          error
	}{
		{"no sum_hessian", noCover, errNoCover},
		{"zero cover", zeroCover, nil},
		{"multi-class", "testdata/xgb/tiny-3.2.0-multi.json", errUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *Forest
			var err error
			if tc.model[0] == '{' {
				f, err = ParseXGBoost([]byte(tc.model))
			} else {
				f, err = LoadXGBoost(tc.model)
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := f.NewExplainer()
			if err == nil {
				t.Fatalf("NewExplainer = %v, want an error", e)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q: want one wrapping %q", err, tc.is)
			}
			t.Log(err)
		})
	}
}

// TestExplainFormats checks every fixture format that records covers (JSON,
// UBJSON, legacy binary, model.tar.gz) explains a row to a sum equal to its
// margin, and that each format of one model gives the same contributions.
func TestExplainFormats(t *testing.T) {
	rows := testRows(t)
	for _, group := range [][]string{
		{"xgb-1.7.4-binary.json.gz", "xgb-1.7.4-binary.ubj.gz", "xgb-1.7.4-binary.bin.gz", "xgb-1.7.4-binary.model.tar.gz"},
		{"xgb-3.2.0-binary.json.gz", "xgb-3.2.0-binary.ubj.gz", "xgb-3.2.0-binary.model.tar.gz"},
		{"xgb-1.5.2-sagemaker.model.tar.gz"},
		{"tiny-1.7.4-binary.bin", "tiny-1.7.4-binary.json", "tiny-1.7.4-binary.ubj"},
		{"tiny-3.2.0-binary.json", "tiny-3.2.0-binary.ubj"},
	} {
		var first [][]float32
		for _, name := range group {
			f, err := LoadXGBoost("testdata/xgb/" + name)
			if err != nil {
				t.Fatal(err)
			}
			e, err := f.NewExplainer()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var all [][]float32
			for r, row := range rows {
				phi := make([]float32, e.NumFeature()+1)
				e.Explain(row, phi)
				var sum float64
				for _, v := range phi {
					sum += float64(v)
				}
				if m := margin(f, row); math.Abs(sum-float64(m)) > 1e-4 {
					t.Errorf("%s: row %d: contributions + bias = %v, margin %v", name, r, sum, m)
				}
				all = append(all, phi)
			}
			if first == nil {
				first = all
				continue
			}
			for r := range all {
				if !slices.Equal(all[r], first[r]) {
					t.Errorf("%s: row %d: contributions differ from %s's", name, r, group[0])
					break
				}
			}
		}
	}
}

// TestExplainShortRow checks a short row explains as if padded with NaN,
// and that explaining does not allocate.
func TestExplainShortRow(t *testing.T) {
	d := bundled(t)
	e, err := d.binary.forest.NewExplainer()
	if err != nil {
		t.Fatal(err)
	}
	rows := explainRows(t, d)
	short := rows[0][:50]
	padded := slices.Clone(short)
	for len(padded) < e.NumFeature() {
		padded = append(padded, float32(math.NaN()))
	}
	got := make([]float32, e.NumFeature()+1)
	want := make([]float32, e.NumFeature()+1)
	e.Explain(short, got)
	e.Explain(padded, want)
	if !slices.Equal(got, want) {
		t.Errorf("short row: %v\npadded row: %v", got, want)
	}
	if n := testing.AllocsPerRun(10, func() { e.Explain(short, got); e.Explain(rows[1], got) }); n != 0 {
		t.Errorf("Explain allocates %v times per call", n)
	}
}

// BenchmarkExplain measures one explained row against scoring it alone, on
// the bundled binary model over the golden rows.
func BenchmarkExplain(b *testing.B) {
	d := bundled(b)
	rows := explainRows(b, d)[:explainGoldenRows]
	e, err := d.binary.forest.NewExplainer()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("score", func(b *testing.B) {
		out := make([]float32, 1)
		for i := 0; b.Loop(); i++ {
			d.binary.forest.Predict(rows[i%len(rows)], out)
		}
	})
	exact := e.Clone()
	exact.tables = nil
	for _, tc := range []struct {
		name string
		e    *Explainer
	}{{"explain", e}, {"explain-exact", exact}} {
		b.Run(tc.name, func(b *testing.B) {
			phi := make([]float32, e.NumFeature()+1)
			for i := 0; b.Loop(); i++ {
				tc.e.Explain(rows[i%len(rows)], phi)
			}
		})
	}
	b.Run("top5", func(b *testing.B) {
		dst := make([]Contribution, 0, 5)
		for i := 0; b.Loop(); i++ {
			dst = e.Top(rows[i%len(rows)], 5, dst)
		}
	})
}

// TestExplainWords checks the plain words of each feature family, and that
// every column of the bundled spec has words of its own.
func TestExplainWords(t *testing.T) {
	for _, tc := range []struct{ column, why, whyNot string }{
		{"src_bytes", "bytes sent", "bytes sent"},
		{"count", "connections to the same host in the last 2 s", ""},
		{"srv_count", "connections to the same service in the last 2 s", ""},
		{"serror_rate", "SYN errors among connections to the same host in the last 2 s", ""},
		{"srv_serror_rate", "SYN errors among connections to the same service in the last 2 s", ""},
		{"dst_host_serror_rate", "SYN errors among the last 100 connections to this host", ""},
		{"dst_host_srv_serror_rate", "SYN errors among the last 100 connections to this service", ""},
		{"same_srv_rate", "connections to the same service among connections to the same host in the last 2 s", ""},
		{"dst_host_same_srv_rate", "connections to the same service among the last 100 connections to this host", ""},
		{"dst_host_srv_diff_host_rate", "connections to different hosts among the last 100 connections to this service", ""},
		{"dst_host_same_src_port_rate", "connections from the same source port among the last 100 connections to this host", ""},
		{"dst_host_count", "connections to this host among the last 100 connections", ""},
		{"rerror_rate", "rejected connections among connections to the same host in the last 2 s", ""},
		{"flag=S0", "connection attempts without reply (flag S0)", "not connection attempts without reply (flag S0)"},
		{"flag=REJ", "connection attempts rejected (flag REJ)", ""},
		{"service=private", "service private", "not service private"},
		{"protocol_type=icmp", "protocol icmp", "not protocol icmp"},
	} {
		t.Run(tc.column, func(t *testing.T) {
			cols := specColumns(etl.DefaultSpec())
			i := slices.IndexFunc(cols, func(c column) bool { return c.feature == tc.column })
			if i < 0 {
				t.Fatalf("no column %q", tc.column)
			}
			if cols[i].why != tc.why {
				t.Errorf("why %q, want %q", cols[i].why, tc.why)
			}
			if tc.whyNot != "" && cols[i].whyNot != tc.whyNot {
				t.Errorf("whyNot %q, want %q", cols[i].whyNot, tc.whyNot)
			}
		})
	}
	seen := map[string]string{}
	for _, c := range specColumns(etl.DefaultSpec()) {
		if c.why == c.feature || c.why == "" {
			t.Errorf("column %s: no words", c.feature)
		}
		if other, ok := seen[c.why]; ok {
			t.Errorf("columns %s and %s share the words %q", other, c.feature, c.why)
		}
		seen[c.why] = c.feature
	}
}

// TestExplainTop checks Top against a sort of all contributions, on rows
// of both kinds (attack and normal), and for k beyond the contributing
// columns.
func TestExplainTop(t *testing.T) {
	d := bundled(t)
	e, err := d.NewExplainer()
	if err != nil {
		t.Fatal(err)
	}
	rows := explainRows(t, d)
	names := d.Spec().ColumnNames()
	for _, tc := range []struct {
		name string
		row  int
		k    int
	}{
		{"normal row, top 5", 0, 5},
		{"neptune row, top 5", 2, 5},
		{"top 1", 2, 1},
		{"top 0", 2, 0},
		{"all", 3, 200},
		{"missing values", explainGoldenRows + 1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := rows[tc.row]
			phi := make([]float32, e.NumFeature()+1)
			e.Explain(row, phi)
			var want []int
			for j, c := range phi[:e.NumFeature()] {
				if c != 0 {
					want = append(want, j)
				}
			}
			slices.SortStableFunc(want, func(a, b int) int {
				return cmpFloat(abs32(phi[b]), abs32(phi[a]))
			})
			want = want[:min(tc.k, len(want))]
			got := e.Top(row, tc.k, nil)
			if len(got) != len(want) {
				t.Fatalf("%d contributions, want %d", len(got), len(want))
			}
			for i, j := range want {
				feature := names[j]
				for _, field := range []string{"protocol_type", "service", "flag"} {
					if value, ok := strings.CutPrefix(feature, field+"_"); ok && j >= len(d.spec.Numeric) {
						feature = field + "=" + value
					}
				}
				c := got[i]
				if c.Feature != feature || c.Contribution != phi[j] || !(c.Value == row[j] || (c.Value != c.Value && row[j] != row[j])) || c.Why == "" {
					t.Errorf("%d: %+v, want %s = %v contributing %v", i, c, feature, row[j], phi[j])
				}
			}
			if tc.k > 0 && tc.k <= 5 {
				t.Logf("%+v", got)
			}
		})
	}
	dst := make([]Contribution, 0, 5)
	if n := testing.AllocsPerRun(10, func() { dst = e.Top(rows[2], 5, dst) }); n != 0 {
		t.Errorf("Top allocates %v times per call", n)
	}
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
