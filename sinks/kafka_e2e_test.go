//go:build e2e

package sinks

import (
	"testing"

	"github.com/sagewall/sagewall/internal/testenv"
)

// TestE2EKafkaSinkCodecs writes verdicts with every codec to the real
// broker, which decompresses each batch to validate it (the producer
// encodes lz4 and snappy batches itself), and reads them back.
func TestE2EKafkaSinkCodecs(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	checkCodecsRoundTrip(t, func(t *testing.T) ([]string, string) {
		return brokers, testenv.NewTopic(t, brokers, 2)
	})
}
