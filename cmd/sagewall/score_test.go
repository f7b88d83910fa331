package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// verdictLine is one line of `sagewall score` output: the JSON verdict of
// `run` (sinks/verdict.schema.json), located by file and line.
type verdictLine struct {
	ID            string `json:"id"`
	SchemaVersion string `json:"schema_version"`
	Time          string `json:"time"`
	Source        struct {
		File string `json:"file"`
		Line int    `json:"line"`
	} `json:"source"`
	Score               *float32        `json:"score"`
	Attack              *bool           `json:"attack"`
	Category            string          `json:"category"`
	CategoryProbability *float32        `json:"category_probability"`
	Threshold           float64         `json:"threshold"`
	Model               scoring.Info    `json:"model"`
	FeaturesSource      string          `json:"features_source"`
	Label               string          `json:"label"`
	LabelCategory       string          `json:"label_category"`
	Connection          json.RawMessage `json:"connection"`
	Line                int             `json:"-"` // Source.Line
}

// runCommand runs a subcommand in-process and returns its stdout and stderr.
func runCommand(t *testing.T, run func(context.Context, []string, stdio) error, stdin *os.File, input string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := stdio{in: strings.NewReader(input), out: &out, err: &errOut}
	if stdin != nil {
		io.in = stdin
	}
	err := run(context.Background(), args, io)
	return out.String(), errOut.String(), err
}

func parseVerdicts(t *testing.T, out string) []verdictLine {
	t.Helper()
	var verdicts []verdictLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var v verdictLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if v.Score == nil || v.Attack == nil || v.CategoryProbability == nil || v.Category == "" || v.Source.File == "" {
			t.Fatalf("output line %q lacks a field", sc.Text())
		}
		v.Line = v.Source.Line
		verdicts = append(verdicts, v)
	}
	return verdicts
}

// outcomes is what score's verdicts decided, line by line, without what
// differs between runs of the same model (the time scored, the model's name).
func outcomes(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	for _, v := range parseVerdicts(t, out) {
		fmt.Fprintf(&b, "%d %v %v %s %v %s\n", v.Line, *v.Score, *v.Attack, v.Category, *v.CategoryProbability, v.Model.SHA256)
	}
	return b.String()
}

// trainLines returns the first n lines of KDDTrain+.
func trainLines(t *testing.T, n int) []string {
	t.Helper()
	r, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var lines []string
	sc := bufio.NewScanner(r)
	for len(lines) < n && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// expectedResult scores one line directly with the bundled detector.
func expectedResult(t *testing.T, d *scoring.Detector, line string) scoring.Result {
	t.Helper()
	row := make([]float32, d.Spec().Width())
	var rec etl.Record
	if err := etl.NewEncoder(d.Spec()).Encode([]byte(line), &rec, row); err != nil {
		t.Fatal(err)
	}
	out := make([]scoring.Result, 1)
	if err := d.Score(context.Background(), row, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestScoreFormats(t *testing.T) {
	d, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	train := trainLines(t, 3)
	csvLabelled := train[2] // neptune
	fields := strings.Split(csvLabelled, ",")
	csvUnlabelled := strings.Join(fields[:etl.NumFields], ",")
	names := etl.FieldNames()
	members := make([]string, etl.NumFields)
	for i, name := range names {
		value := fields[i]
		if i >= 1 && i <= 3 {
			value = `"` + value + `"`
		}
		members[i] = fmt.Sprintf("%q:%s", name, value)
	}
	jsonLine := "{" + strings.Join(members, ",") + `,"label":"neptune"}`
	vector := make([]string, d.Spec().Width())
	row := make([]float32, d.Spec().Width())
	if err := etl.NewEncoder(d.Spec()).Encode([]byte(train[0]), &etl.Record{}, row); err != nil {
		t.Fatal(err)
	}
	for i, v := range row {
		vector[i] = fmt.Sprint(v)
	}
	vectorLine := strings.Join(vector, ",")

	input := strings.Join([]string{
		csvLabelled,   // 1
		"",            // 2: blank, skipped
		csvUnlabelled, // 3
		"0,tcp,http,XX" + strings.Repeat(",0", etl.NumFields-4), // 4: unknown flag
		jsonLine,                   // 5
		vectorLine,                 // 6
		"not,a,record",             // 7
		strings.Repeat("9", 10000), // 8: too long
		train[1],                   // 9
	}, "\n")
	out, stderr, err := runCommand(t, runScore, nil, input, "-")
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	verdicts := parseVerdicts(t, out)
	want := []struct {
		line   int
		source string
		label  string
	}{{1, csvLabelled, "neptune"}, {3, csvUnlabelled, ""}, {5, jsonLine, "neptune"}, {6, vectorLine, ""}, {9, train[1], "normal"}}
	if len(verdicts) != len(want) {
		t.Fatalf("%d verdicts, want %d:\n%s", len(verdicts), len(want), out)
	}
	for i, w := range want {
		v := verdicts[i]
		r := expectedResult(t, d, w.source)
		if v.Line != w.line || *v.Score != r.Score || *v.Attack != r.Attack || v.Category != r.Category.String() ||
			*v.CategoryProbability != r.CategoryProb || v.Label != w.label {
			t.Errorf("verdict %d = %+v (score %v), want line %d, label %q, result %+v", i, v, *v.Score, w.line, w.label, r)
		}
	}
	if verdicts[0].LabelCategory != "dos" || verdicts[4].LabelCategory != "normal" || verdicts[1].LabelCategory != "" {
		t.Errorf("label categories %q, %q, %q", verdicts[0].LabelCategory, verdicts[4].LabelCategory, verdicts[1].LabelCategory)
	}
	for _, wantErr := range []string{
		`stdin: line 4: field "flag": value "XX"`,
		"stdin: line 7: ",
		"stdin: line 8: ",
		"5 records scored", "3 bad lines", "1 blank lines",
	} {
		if !strings.Contains(stderr, wantErr) {
			t.Errorf("stderr lacks %q:\n%s", wantErr, stderr)
		}
	}
	if n := strings.Count(stderr, "\n"); n != 4 {
		t.Errorf("stderr has %d lines, want 3 errors and the summary:\n%s", n, stderr)
	}
}

// TestScoreKeepsOrderAcrossBatches feeds more lines than one batch holds,
// with bad lines among them.
func TestScoreKeepsOrderAcrossBatches(t *testing.T) {
	lines := trainLines(t, 2*scoreBatchRows+500)
	for _, bad := range []int{0, scoreBatchRows - 1, scoreBatchRows, 2000} {
		lines[bad] = "bad line"
	}
	out, stderr, err := runCommand(t, runScore, nil, strings.Join(lines, "\n")+"\n")
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	verdicts := parseVerdicts(t, out)
	if len(verdicts) != len(lines)-4 {
		t.Fatalf("%d verdicts, want %d", len(verdicts), len(lines)-4)
	}
	want := 1
	for _, v := range verdicts {
		for strings.HasPrefix(lines[want-1], "bad") {
			want++
		}
		if v.Line != want {
			t.Fatalf("verdict for line %d, want line %d", v.Line, want)
		}
		if wantLabel := strings.Split(lines[want-1], ",")[etl.NumFields]; v.Label != wantLabel {
			t.Fatalf("line %d: label %q, want %q", v.Line, v.Label, wantLabel)
		}
		want++
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d records scored", len(lines)-4)) || !strings.Contains(stderr, "line 1025: ") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestScoreThresholdAndModel(t *testing.T) {
	lines := strings.Join(trainLines(t, 200), "\n")
	count := func(out string) (attacks int) {
		for _, v := range parseVerdicts(t, out) {
			if *v.Attack {
				attacks++
			}
		}
		return attacks
	}
	def, _, err := runCommand(t, runScore, nil, lines)
	if err != nil {
		t.Fatal(err)
	}
	strict, _, err := runCommand(t, runScore, nil, lines, "--threshold", "0.999")
	if err != nil {
		t.Fatal(err)
	}
	if count(strict) >= count(def) || count(def) == 0 {
		t.Errorf("threshold 0.999 flags %d, default flags %d", count(strict), count(def))
	}
	// The bundled files loaded as a directory give the same verdicts.
	fromDir, stderr, err := runCommand(t, runScore, nil, lines, "--model", "../../scoring/bundled")
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	if got, want := outcomes(t, fromDir), outcomes(t, def); got != want {
		t.Errorf("--model scoring/bundled differs from the bundled model:\n%s\nwant\n%s", got, want)
	}
}

func TestScoreErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		args    []string
		usage   bool
		wantErr string
	}{
		{"threshold out of range", "", []string{"--threshold", "2"}, true, "--threshold 2"},
		{"unknown flag", "", []string{"--nope"}, true, "nope"},
		{"two files", "", []string{"a", "b"}, true, "at most one FILE"},
		{"missing file", "", []string{"/nonexistent/records.csv"}, false, "no such file"},
		{"missing model", "", []string{"--model", "/nonexistent/model"}, false, "no such file"},
		{"nothing valid", "bad\nworse\n", nil, false, "no record could be read"},
		{"empty input", "", nil, false, "no record could be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCommand(t, runScore, nil, tt.input, tt.args...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &ue) != tt.usage {
				t.Fatalf("err = %v (usage error %v), want %q (usage error %v)", err, errors.As(err, &ue), tt.wantErr, tt.usage)
			}
		})
	}
}

// TestScoreSample runs `sagewall score` with no FILE and a character device
// on stdin, as a person at a terminal does: it scores the bundled samples.
func TestScoreSample(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runScore(context.Background(), nil, stdio{in: strings.NewReader(""), inIsTTY: true, out: &out, err: &errOut})
	stderr := errOut.String()
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	verdicts := parseVerdicts(t, out.String())
	if want := bytes.Count(sampleRecords, []byte("\n")); len(verdicts) != want {
		t.Fatalf("%d verdicts, want %d", len(verdicts), want)
	}
	var normal, attacks int
	for _, v := range verdicts {
		if v.Label == "normal" {
			normal++
		} else {
			attacks++
		}
	}
	if normal == 0 || attacks == 0 || !strings.Contains(stderr, "bundled sample records") {
		t.Errorf("%d normal and %d attack samples; stderr:\n%s", normal, attacks, stderr)
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var buf bytes.Buffer
		p := newProgress(stdio{err: &buf, errIsTTY: tty}, "scored")
		p.start = p.start.Add(-3 * progressDelay)
		p.next = p.start
		p.update(5000)
		p.done()
		if got := strings.Contains(buf.String(), "scored 5000 lines"); got != tty {
			t.Errorf("terminal %v: progress %q", tty, buf.String())
		}
	}
}

// FuzzScoreLines feeds arbitrary bytes to the line reader and encoder: every
// line is either scored or reported, in order, and nothing panics.
func FuzzScoreLines(f *testing.F) {
	f.Add(sampleRecords)
	f.Add([]byte("\n\r\n" + strings.Repeat("x", maxReadLine+10) + "\n0,tcp"))
	f.Add([]byte(`{"duration":0}` + "\n"))
	d, err := scoring.Bundled()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		last := 0
		seen := map[int]bool{}
		next := func(line int) {
			if line <= last || seen[line] {
				t.Fatalf("line %d after line %d", line, last)
			}
			seen[line], last = true, line
		}
		stats, err := scoreLines(context.Background(), bytes.NewReader(input), d, lineInput{}, func(int) {},
			func(s *scoredRecord) error { next(s.line); return nil },
			func(e etl.LineError) { next(e.Line) })
		if err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Count(input, []byte("\n")) + 1; len(seen)+stats.blank > lines {
			t.Fatalf("%d outcomes and %d blank lines for %d lines", len(seen), stats.blank, lines)
		}
	})
}

// TestScoreEmbeddedAndFlagsAfterFile: score reads the embedded training
// data by name, and takes its flags after the file as before it.
func TestScoreEmbeddedAndFlagsAfterFile(t *testing.T) {
	out, stderr, err := runCommand(t, runScore, nil, "", "embedded:train20", "--threshold", "0.99")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "(threshold 0.99)") {
		t.Errorf("the threshold after the file was not applied: %s", stderr)
	}
	lines := strings.Count(out, "\n")
	if lines != 25192 {
		t.Fatalf("%d verdicts, want 25192 (KDDTrain+_20Percent)", lines)
	}
	if !strings.Contains(out, `"attack":false`) || !strings.Contains(out, `"attack":true`) {
		t.Fatalf("no mix of verdicts at threshold 0.99: %.300s", out)
	}
}

// TestScoreVerdictIsRunsVerdict: score prints the verdict run writes, valid
// against its JSON Schema, for NSL-KDD CSV and JSON (naming its connection)
// and for a Zeek line; only the source (file and line) and time differ.
func TestScoreVerdictIsRunsVerdict(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sinks.VerdictSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("verdict.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("verdict.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	lines := trainLines(t, 2)
	// The second line as a JSON record that names its connection.
	var rec etl.Record
	if err := etl.NewEncoder(etl.DefaultSpec()).Encode([]byte(lines[1]), &rec, make([]float32, etl.DefaultSpec().Width())); err != nil {
		t.Fatal(err)
	}
	record := `{"src_ip":"10.0.0.5","dst_ip":"10.0.0.9","dst_port":80,` + string(rec.AppendJSONFields(nil)) + `}`
	zeek := `{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","service":"dns","duration":0.06685185432434082,"orig_bytes":62,"resp_bytes":141,"conn_state":"SF","missed_bytes":0,"history":"Dd","orig_pkts":2,"orig_ip_bytes":118,"resp_pkts":2,"resp_ip_bytes":197}`
	out, stderr, err := runCommand(t, runScore, nil, lines[0]+"\n"+record+"\n"+zeek+"\n", "--format", "auto")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	verdicts := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(verdicts) != 3 {
		t.Fatalf("%d verdicts, want 3:\n%s", len(verdicts), out)
	}
	for i, v := range verdicts {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(v))
		if err != nil {
			t.Fatalf("verdict %d not JSON: %v", i+1, err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("verdict %d: %v\n%s", i+1, err, v)
		}
	}
	for i, want := range []string{
		`"id":"stdin:1",`,
		`"source":{"file":"stdin","line":2}`,
		`"connection":{"src_ip":"10.0.0.5","src_port":0,"dst_ip":"10.0.0.9","dst_port":80}`,
		`"features_source":"zeek"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check %d: no %s in\n%s", i+1, want, out)
		}
	}
}
