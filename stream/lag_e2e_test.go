//go:build e2e

package stream

import (
	"testing"

	"github.com/sagewall/sagewall/internal/testenv"
)

// TestE2ELagMonitorReportsOwnedPartitions is TestLagMonitorReportsOwnedPartitions
// on a real broker, whose DescribeGroups answer the monitor relies on.
func TestE2ELagMonitorReportsOwnedPartitions(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	testLagOwnership(t, brokers, testenv.NewTopic(t, brokers, 4), testenv.UniqueName(t))
}
