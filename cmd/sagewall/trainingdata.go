package main

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/sagewall/sagewall/etl/nslkdd"
)

// trainingLines tells lines of the bundled model's training data (the
// embedded KDDTrain+, of which KDDTrain+_20Percent is a subset) from others,
// by content: `eval` warns whenever most of its input is training data,
// whatever the file is called, shuffled, cut or recompressed.
type trainingLines map[uint64]struct{}

// loadTrainingLines hashes every line of the embedded KDDTrain+ (~126,000
// lines, ~80 ms, a few MB).
func loadTrainingLines() (trainingLines, error) {
	r, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		return nil, fmt.Errorf("reading the training data: %w", err)
	}
	defer r.Close()
	set := trainingLines{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		set[lineHash(sc.Bytes())] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the training data: %w", err)
	}
	return set, nil
}

// lineHash is a line's 64-bit FNV-1a hash, ignoring surrounding space and a
// CR: a collision between a test line and one of the ~126,000 training
// lines is a chance of about 1 in 10^14.
func lineHash(line []byte) uint64 {
	h := fnv.New64a()
	h.Write(bytes.TrimSpace(line))
	return h.Sum64()
}

// trainingLineCounter passes its input through and counts its non-blank
// lines and those that are training data.
type trainingLineCounter struct {
	r        io.Reader
	set      trainingLines
	partial  []byte // the current line's bytes so far
	lines    int
	training int
}

func (c *trainingLineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	data := p[:n]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			c.partial = append(c.partial, data...)
			break
		}
		c.count(append(c.partial, data[:i]...))
		c.partial = c.partial[:0]
		data = data[i+1:]
	}
	if err == io.EOF && len(c.partial) > 0 {
		c.count(c.partial)
		c.partial = c.partial[:0]
	}
	return n, err
}

func (c *trainingLineCounter) count(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	c.lines++
	if _, ok := c.set[lineHash(line)]; ok {
		c.training++
	}
}

// warning is eval's note when at least half of the lines are training data.
func (c *trainingLineCounter) warning() string {
	if c.lines == 0 || 2*c.training < c.lines {
		return ""
	}
	return fmt.Sprintf("%d of %d lines (%.1f %%) are the bundled model's training data (KDDTrain+); figures measured on them overstate real-world accuracy",
		c.training, c.lines, 100*float64(c.training)/float64(c.lines))
}
