package evaluate

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
)

// WriteConfusionSVG draws a confusion matrix (counts[truth][predicted]) as a
// heat map; each cell shows its count and its share of the true class's row,
// and is shaded by that share so small classes stay visible.
func WriteConfusionSVG(w io.Writer, title string, classes []string, counts [][]int64) error {
	const cell, left, top = 96, 120, 80
	n := len(classes)
	width, height := left+n*cell+30, top+n*cell+60
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="28" font-size="18" text-anchor="middle">%s</text>`+"\n", width/2, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="58" font-size="13" text-anchor="middle">predicted</text>`+"\n", left+n*cell/2)
	fmt.Fprintf(b, `<text x="18" y="%d" font-size="13" text-anchor="middle" transform="rotate(-90 18 %d)">true class</text>`+"\n", top+n*cell/2, top+n*cell/2)
	for i, name := range classes {
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" text-anchor="middle">%s</text>`+"\n", left+i*cell+cell/2, top-8, html.EscapeString(name))
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" text-anchor="end">%s</text>`+"\n", left-8, top+i*cell+cell/2+5, html.EscapeString(name))
	}
	for i, row := range counts {
		var total int64
		for _, c := range row {
			total += c
		}
		for j, c := range row {
			share := ratio(c, total)
			// White to dark blue by share of the row.
			r, g, bl := 255-int(share*(255-8)), 255-int(share*(255-48)), 255-int(share*(255-107))
			text := "black"
			if share > 0.5 {
				text = "white"
			}
			x, y := left+j*cell, top+i*cell
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="rgb(%d,%d,%d)" stroke="#888"/>`+"\n", x, y, cell, cell, r, g, bl)
			fmt.Fprintf(b, `<text x="%d" y="%d" font-size="15" text-anchor="middle" fill="%s">%d</text>`+"\n", x+cell/2, y+cell/2, text, c)
			fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="%s">%.2f%%</text>`+"\n", x+cell/2, y+cell/2+18, text, 100*share)
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="#555">cells: count and share of the true class</text>`+"\n", width/2, height-20)
	fmt.Fprintln(b, "</svg>")
	return b.Flush()
}

// WriteROCSVG draws a ROC curve with its area; points closer together than
// the pixel grid are merged so a curve of 100,000 thresholds stays small.
func WriteROCSVG(w io.Writer, title string, points []Point, auc float64) error {
	const size, left, top = 480, 70, 50
	width, height := left+size+30, top+size+60
	px := func(fpr float64) float64 { return left + fpr*size }
	py := func(tpr float64) float64 { return top + (1-tpr)*size }
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="28" font-size="18" text-anchor="middle">%s</text>`+"\n", width/2, html.EscapeString(title))
	for k := 0; k <= 10; k++ {
		v := float64(k) / 10
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px(v), top, px(v), top+size)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, py(v), left+size, py(v))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%.1f</text>`+"\n", px(v), top+size+16, v)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end">%.1f</text>`+"\n", left-6, py(v)+4, v)
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", left, top, size, size)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#aaa" stroke-dasharray="6 4"/>`+"\n", px(0), py(0), px(1), py(1))
	fmt.Fprintf(b, `<polyline fill="none" stroke="rgb(8,48,107)" stroke-width="2" points="`)
	lastX, lastY := math.Inf(-1), math.Inf(-1)
	for i, p := range points {
		x, y := px(p.FalseAlarmRate), py(p.Recall)
		if i > 0 && i < len(points)-1 && math.Abs(x-lastX) < 0.5 && math.Abs(y-lastY) < 0.5 {
			continue
		}
		fmt.Fprintf(b, "%.1f,%.1f ", x, y)
		lastX, lastY = x, y
	}
	fmt.Fprintln(b, `"/>`)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="15" text-anchor="end">ROC-AUC %.5f</text>`+"\n", px(1)-10, py(0)-14, auc)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">false-alarm rate (normal records flagged)</text>`+"\n", px(0.5), top+size+40)
	fmt.Fprintf(b, `<text x="18" y="%.1f" font-size="13" text-anchor="middle" transform="rotate(-90 18 %.1f)">detection rate (attacks flagged)</text>`+"\n", py(0.5), py(0.5))
	fmt.Fprintln(b, "</svg>")
	return b.Flush()
}
