package sagemaker

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
)

func FuzzParseS3URI(f *testing.F) {
	for _, s := range []string{"s3://bucket/key", "s3://b", "s3:///k", "s3://b/a/b/c.gz", "http://x/y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseS3URI(s)
		if err != nil {
			return
		}
		if u.Bucket == "" || strings.Contains(u.Bucket, "/") {
			t.Fatalf("ParseS3URI(%q) = %+v: bad bucket", s, u)
		}
		again, err := ParseS3URI(u.String())
		if err != nil || again != u {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, again, err, u)
		}
	})
}

// FuzzWriteTrainingCSV checks that any input either fails with an error or
// yields rows of exactly 1+width fields with a 0/1 label, one per record.
func FuzzWriteTrainingCSV(f *testing.F) {
	f.Add(neptuneLine + "\n" + normalLine + "\n")
	f.Add(strings.Replace(normalLine, "normal", "smurf", 1))
	f.Add(normalLine[:strings.LastIndex(normalLine, ",normal")])
	f.Add("\n\n")
	spec := etl.DefaultSpec()
	f.Fuzz(func(t *testing.T, input string) {
		var out bytes.Buffer
		stats, err := WriteTrainingCSV(context.Background(), strings.NewReader(input), &out, spec)
		if err != nil {
			return
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if int64(len(lines)) != stats.Rows || stats.Bytes != int64(out.Len()) {
			t.Fatalf("stats %+v for %d lines, %d bytes", stats, len(lines), out.Len())
		}
		var attacks int64
		for i, line := range lines {
			fields := strings.Split(line, ",")
			if len(fields) != 1+spec.Width() || (fields[0] != "0" && fields[0] != "1") {
				t.Fatalf("row %d: %d fields, label %q", i+1, len(fields), fields[0])
			}
			if fields[0] == "1" {
				attacks++
			}
		}
		if attacks != stats.Attacks {
			t.Fatalf("attacks %d, stats say %d", attacks, stats.Attacks)
		}
	})
}
