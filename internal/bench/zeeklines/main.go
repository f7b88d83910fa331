// Command zeeklines prints the bundled labelled Zeek capture as the S3
// bridge writes it to Kafka, one "key<TAB>JSON" line per connection (key:
// the destination host), cycled to N lines; each pass is shifted forward by
// the capture's span so that event time keeps moving. scripts/profile-run.sh
// --zeek feeds it to kcat -K'\t'.
//
//	go run ./internal/bench/zeeklines -n 1000000 > backlog.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/captures"
)

func main() {
	n := flag.Int("n", 1_000_000, "lines to print")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "zeeklines:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	conns, err := captures.Conns("ctu-normal-40-day1.conn.log.labeled.gz")
	if err != nil {
		return err
	}
	span := captures.ReplaySpan(conns)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	var buf []byte
	for i := range n {
		c := conns[i%len(conns)]
		if pass := i / len(conns); pass > 0 {
			c.Start = c.Start.Add(time.Duration(pass) * span)
			c.UID += "-" + strconv.Itoa(pass)
		}
		buf = c.RespAddr.AppendTo(buf[:0])
		buf = append(buf, '\t')
		buf = append(connlog.AppendZeekJSON(buf, &c), '\n')
		if _, err := out.Write(buf); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	return out.Flush()
}
