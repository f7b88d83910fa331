//go:build e2e && chaos

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
)

// faultProxy forwards TCP connections to target while up; while down it
// closes every connection, open or new — SNS unreachable without touching
// moto, which other tests share.
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, up: true, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.set(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up := p.up
			if up {
				p.conns[c] = true
			}
			p.mu.Unlock()
			if !up {
				c.Close()
				continue
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *faultProxy) forward(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
}

// set turns the proxy up or down; down closes the open connections too.
func (p *faultProxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *faultProxy) url() string { return "http://" + p.ln.Addr().String() }

// TestChaosSNSOutage: with alerts on, SNS is unreachable for 60 s while
// `sagewall run` works through a backlog. The pipeline does not wait for SNS
// (every record is judged and committed during the outage), the process does
// not exit, /readyz is false meanwhile; when SNS is back every alert reaches
// the subscribed SQS queue, the notifier's group commits the whole alert
// topic, and SIGTERM exits 0.
func TestChaosSNSOutage(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	endpoint := testenv.AWSEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sub := newAlertSubscriber(ctx, t)
	proxy := newFaultProxy(t, strings.TrimPrefix(endpoint, "http://"))
	proxy.set(false)

	bin := buildSagewall(t)
	raw, verdicts, dead, alerts := testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 1), testenv.NewTopic(t, brokers, 2)
	const n = 20_000
	produceLines(t, brokers, raw, n)
	httpAddr := "127.0.0.1:19195"
	cmd := exec.Command(bin, "run", "--shutdown-timeout", "20s")
	cmd.Env = append(os.Environ(), "SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+raw, "SAGEWALL_INPUT_FORMAT=nslkdd",
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_ALERTS_SNS_TOPIC_ARN="+sub.topicARN, "SAGEWALL_ALERTS_TOPIC="+alerts,
		"SAGEWALL_ALERTS_ENDPOINT_URL="+proxy.url(), "SAGEWALL_ALERTS_WINDOW=1s",
		"SAGEWALL_HTTP_ADDR="+httpAddr, "SAGEWALL_LOG_LEVEL=info", "SAGEWALL_LOG_FORMAT=text")
	cmd.Stderr = os.Stderr
	sw := startSagewall(t, cmd)
	alive := sw.alive
	ready := func() bool { return readyz(httpAddr) }

	// SNS down: the pipeline still judges and commits everything.
	outageStart := time.Now()
	committed := groupCommitted(brokers, raw, raw)
	waitWithin(t, 45*time.Second, "every record committed with SNS down", func() bool {
		alive("with SNS down")
		return committed() == n
	})
	t.Logf("all %d records committed %s into the SNS outage", n, time.Since(outageStart).Round(time.Millisecond))
	sawUnready := false
	for time.Since(outageStart) < 60*time.Second {
		alive("with SNS down")
		sawUnready = sawUnready || !ready()
		time.Sleep(500 * time.Millisecond)
	}
	if !sawUnready {
		t.Error("/readyz never went false during the SNS outage")
	}
	alertCount := 0
	alertMessages := 0
	testenv.ScanTopic(t, brokers, alerts, func(m kafka.Message) { alertMessages++; alertCount += bytes.Count(m.Value, []byte{'\n'}) })
	notifierCommitted := groupCommitted(brokers, raw+".alerts", alerts)
	if got := notifierCommitted(); got != 0 {
		t.Fatalf("the notifier committed %d alerts with SNS down", got)
	}

	// SNS back: every alert arrives.
	proxy.set(true)
	delivered := sub.receive(ctx, t, alertCount, 90*time.Second, func() { alive("after SNS came back") })
	// At least once: a batch whose alerts SNS accepted in part is published
	// again whole (a FIFO topic drops such duplicates; this one is standard).
	if delivered < alertCount {
		t.Fatalf("%d alerts delivered to SQS, want the %d in the alert topic", delivered, alertCount)
	}
	waitWithin(t, 30*time.Second, "the notifier commits the alert topic", func() bool { return notifierCommitted() == int64(alertMessages) })
	waitWithin(t, 30*time.Second, "ready again", ready)
	t.Logf("%d alerts delivered after a 60 s SNS outage (%d duplicates)", alertCount, delivered-alertCount)

	sw.sigtermExits0()
}

// alertSubscriber is an SNS topic on moto with an SQS queue subscribed to
// it: where a test's alerts arrive.
type alertSubscriber struct {
	topicARN string
	queueURL string
	sqs      *sqs.Client
}

func newAlertSubscriber(ctx context.Context, t *testing.T) *alertSubscriber {
	t.Helper()
	cfg := testenv.AWSConfig(ctx, t)
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	name := testenv.UniqueName(t)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	queue, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatal(err)
	}
	return &alertSubscriber{topicARN: aws.ToString(topic.TopicArn), queueURL: aws.ToString(queue.QueueUrl), sqs: sqsc}
}

// receive counts the alerts that arrive (the count attribute of each
// aggregated SNS message) until at least want have and the queue is empty,
// or limit passes; each polls calls between receives.
func (a *alertSubscriber) receive(ctx context.Context, t *testing.T, want int, limit time.Duration, each func()) int {
	t.Helper()
	delivered := 0
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		out, err := a.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(a.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && delivered >= want {
			break // everything arrived, and nothing more is coming
		}
		for _, m := range out.Messages {
			var env struct {
				MessageAttributes map[string]struct{ Value string } `json:"MessageAttributes"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatalf("not an SNS envelope: %v", err)
			}
			c, err := strconv.Atoi(env.MessageAttributes["count"].Value)
			if err != nil {
				t.Fatalf("count attribute %v", env.MessageAttributes)
			}
			delivered += c
			_, _ = a.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(a.queueURL), ReceiptHandle: m.ReceiptHandle})
		}
		each()
	}
	return delivered
}
