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
	const cell, top = 96, 80
	n := len(classes)
	// Wide enough for the title at about 10 pixels a character, the grid centred.
	width, height := max(120+n*cell+30, 10*len(title)+40), top+n*cell+60
	left := max(120, (width-n*cell)/2)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="28" font-size="18" text-anchor="middle">%s</text>`+"\n", width/2, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="58" font-size="13" text-anchor="middle">predicted</text>`+"\n", left+n*cell/2)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" transform="rotate(-90 %d %d)">true class</text>`+"\n", left-100, top+n*cell/2, left-100, top+n*cell/2)
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

// WriteROCSVG draws a ROC curve with its area twice: on linear axes, and
// with the false-alarm rate on a log scale, where a good detector's curve
// is not just the top-left corner. Points closer together than a pixel are
// merged so a curve of 100,000 thresholds stays small.
func WriteROCSVG(w io.Writer, title string, points []Point, auc float64) error {
	const size, left, top, gap = 400, 70, 60, 90
	width, height := left+2*size+gap+30, top+size+70
	// The log panel starts at the smallest non-zero false-alarm rate (at
	// most 1e-1), rounded down to a power of ten.
	minFPR := 0.1
	for _, p := range points {
		if p.FalseAlarmRate > 0 {
			minFPR = min(minFPR, p.FalseAlarmRate)
		}
	}
	decades := int(math.Ceil(-math.Log10(minFPR)))
	linear := func(fpr float64) float64 { return left + fpr*size }
	logLeft := float64(left + size + gap)
	logX := func(fpr float64) float64 {
		if fpr <= 0 {
			return logLeft
		}
		return logLeft + (1+math.Log10(fpr)/float64(decades))*size
	}
	py := func(tpr float64) float64 { return top + (1-tpr)*size }

	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="26" font-size="18" text-anchor="middle">%s — ROC-AUC %.5f</text>`+"\n", width/2, html.EscapeString(title), auc)
	panels := []struct {
		x0    float64
		x     func(float64) float64
		ticks []float64
		label string
	}{
		{left, linear, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, "false-alarm rate"},
		{logLeft, logX, nil, "false-alarm rate (log scale)"},
	}
	for k := decades; k >= 0; k-- {
		panels[1].ticks = append(panels[1].ticks, math.Pow(10, -float64(k)))
	}
	for _, panel := range panels {
		for _, v := range panel.ticks {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", panel.x(v), top, panel.x(v), top+size)
			fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%g</text>`+"\n", panel.x(v), top+size+16, v)
		}
		for k := 0; k <= 5; k++ {
			v := float64(k) / 5
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", panel.x0, py(v), panel.x0+size, py(v))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%.1f</text>`+"\n", panel.x0-6, py(v)+4, v)
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", panel.x0, top, size, size)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>`+"\n", panel.x0+size/2, top+size+40, panel.label)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="13" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">detection rate</text>`+"\n", panel.x0-40, py(0.5), panel.x0-40, py(0.5))
		fmt.Fprintf(b, `<polyline fill="none" stroke="#aaa" stroke-dasharray="6 4" points="`)
		for k := 0; k <= 100; k++ {
			v := math.Pow(10, -float64(decades)*(1-float64(k)/100))
			if panel.x0 == left {
				v = float64(k) / 100
			}
			fmt.Fprintf(b, "%.1f,%.1f ", panel.x(v), py(v))
		}
		fmt.Fprintln(b, `"/>`)
		fmt.Fprintf(b, `<polyline fill="none" stroke="rgb(8,48,107)" stroke-width="2" points="`)
		lastX, lastY := math.Inf(-1), math.Inf(-1)
		for i, p := range points {
			x, y := panel.x(p.FalseAlarmRate), py(p.Recall)
			if i > 0 && i < len(points)-1 && math.Abs(x-lastX) < 0.5 && math.Abs(y-lastY) < 0.5 {
				continue
			}
			fmt.Fprintf(b, "%.1f,%.1f ", x, y)
			lastX, lastY = x, y
		}
		fmt.Fprintln(b, `"/>`)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="#555">dashed: a detector that guesses</text>`+"\n", width/2, height-8)
	fmt.Fprintln(b, "</svg>")
	return b.Flush()
}
