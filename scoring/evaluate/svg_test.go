package evaluate

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// svgElements parses an SVG and counts its elements by name, failing on malformed XML.
func svgElements(t *testing.T, svg []byte) (map[string]int, string) {
	t.Helper()
	counts := map[string]int{}
	var text strings.Builder
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return counts, text.String()
		}
		if err != nil {
			t.Fatalf("malformed SVG: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			counts[tok.Name.Local]++
		case xml.CharData:
			text.Write(tok)
			text.WriteByte('|')
		}
	}
}

func TestWriteConfusionSVG(t *testing.T) {
	var buf bytes.Buffer
	err := WriteConfusionSVG(&buf, "5 < classes & more", []string{"normal", "dos", "u2r"},
		[][]int64{{90, 10, 0}, {5, 95, 0}, {0, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	counts, text := svgElements(t, buf.Bytes())
	if counts["svg"] != 1 || counts["rect"] != 1+9 {
		t.Errorf("elements = %v, want 1 svg and 10 rects (background + 9 cells)", counts)
	}
	for _, want := range []string{"5 < classes & more", "|90|", "|90.00%|", "|95|", "|0.00%|", "|u2r|"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
}

func TestWriteROCSVG(t *testing.T) {
	points := []Point{{0, 0, 2}}
	for i := 1; i <= 100000; i++ {
		v := float64(i) / 100000
		points = append(points, Point{FalseAlarmRate: v, Recall: min(1, 2*v)})
	}
	var buf bytes.Buffer
	if err := WriteROCSVG(&buf, "ROC", points, 0.75); err != nil {
		t.Fatal(err)
	}
	counts, text := svgElements(t, buf.Bytes())
	// Linear and log-scale panels, each with the curve and the diagonal of guessing.
	if counts["polyline"] != 4 {
		t.Errorf("elements = %v, want four polylines", counts)
	}
	if !strings.Contains(text, "ROC-AUC 0.75000") {
		t.Errorf("text %q lacks the AUC", text)
	}
	// Merging points closer than a pixel keeps the file small.
	if buf.Len() > 80000 { // unmerged, 100,000 points take over 2 MB
		t.Errorf("SVG of %d bytes, want < 80000", buf.Len())
	}
}
