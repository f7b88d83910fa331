package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Every run's results are one line of one file (docs/bench/e2e.jsonl):
// compact JSON, in the order the runs were made. The printed tables are
// rendered from it (--render), so no run needs a file of its own.

// runIDLayout names a run by its UTC start time, e.g. 20261125-173258.
const runIDLayout = "20060102-150405"

// appendRecord appends v to path as one line of compact JSON.
func appendRecord(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing results to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing results to %s: %w", path, err)
	}
	return nil
}

// readRecord returns the results of run id in a JSON-lines file, or of
// its last line when id is empty.
func readRecord(r io.Reader, id string) (*results, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20) // a 60 s run's timelines make lines of a few hundred kB
	var last []byte
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if id == "" {
			last = append(last[:0], sc.Bytes()...)
			continue
		}
		var head struct {
			Run string `json:"run"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if head.Run == id {
			return decodeRecord(sc.Bytes())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if id != "" {
		return nil, fmt.Errorf("no run %s", id)
	}
	if last == nil {
		return nil, errors.New("no runs")
	}
	return decodeRecord(last)
}

func decodeRecord(data []byte) (*results, error) {
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("decoding results: %w", err)
	}
	return &res, nil
}

// UnmarshalJSON also reads the first harness's one run per system
// ({"seconds", "records_per_sec", "steady_records_per_sec", "outputs"}, up
// to run 20261125-155011) as a throughput of that one run.
func (t *throughput) UnmarshalJSON(data []byte) error {
	type plain throughput // without this method
	if err := json.Unmarshal(data, (*plain)(t)); err != nil {
		return err
	}
	if len(t.Runs) > 0 {
		return nil
	}
	var one throughputRun
	if err := json.Unmarshal(data, &one); err != nil {
		return err
	}
	if one.Seconds > 0 {
		t.Runs = []throughputRun{one}
	}
	return nil
}

// flagsOf returns the flags set on fs, except those in skip (where things
// are, not what is measured), as a command line would give them.
func flagsOf(fs *flag.FlagSet, skip ...string) string {
	var out []string
	fs.Visit(func(f *flag.Flag) {
		for _, s := range skip {
			if f.Name == s {
				return
			}
		}
		v := f.Value.String()
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if v == "true" {
				out = append(out, "--"+f.Name)
			} else {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		if v == "" || strings.ContainsAny(v, " \t\"'") {
			v = strconv.Quote(v)
		}
		out = append(out, "--"+f.Name+" "+v)
	})
	return strings.Join(out, " ")
}
