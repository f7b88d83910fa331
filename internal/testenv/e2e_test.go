//go:build e2e

package testenv

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestE2EKafkaRoundTrip(t *testing.T) {
	kafkaRoundTrip(t, KafkaBrokers(t))
}

// s3Event is the part of an S3 event notification the S3 bridge reads. The first message
// on a newly configured queue is the s3:TestEvent, which has no Records.
type s3Event struct {
	Event   string `json:"Event"`
	Bucket  string `json:"Bucket"`
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		AWSRegion   string `json:"awsRegion"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

func TestE2ES3NotificationToSQS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg := AWSConfig(ctx, t)
	s3c := s3.NewFromConfig(cfg, S3PathStyle)
	sqsc := sqs.NewFromConfig(cfg)

	queueURL, queueARN := newQueue(ctx, t, sqsc)
	bucket := newBucket(ctx, t, s3c)
	_, err := s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{
			QueueConfigurations: []s3types.QueueConfiguration{{
				QueueArn: aws.String(queueARN),
				Events:   []s3types.Event{s3types.EventS3ObjectCreated},
			}},
		},
	})
	if err != nil {
		t.Fatalf("configuring notifications of bucket %s: %v", bucket, err)
	}

	const key = "incoming/2026/part 0001+a.csv"
	body := "0,tcp,http,SF,215,45076,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,normal,20\n"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("putting s3://%s/%s: %v", bucket, key, err)
	}

	msgs := receive(ctx, t, sqsc, queueURL, 2)
	events := make([]s3Event, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &events[i]); err != nil {
			t.Fatalf("message %d is not an S3 event: %v: %s", i, err, aws.ToString(m.Body))
		}
	}
	if events[0].Event != "s3:TestEvent" || events[0].Bucket != bucket {
		t.Errorf("first message: event %q for bucket %q, want s3:TestEvent for %q", events[0].Event, events[0].Bucket, bucket)
	}
	if len(events[1].Records) != 1 {
		t.Fatalf("second message has %d records, want 1: %s", len(events[1].Records), aws.ToString(msgs[1].Body))
	}
	rec := events[1].Records[0]
	if !strings.HasPrefix(rec.EventName, "ObjectCreated:") || rec.EventSource != "aws:s3" || rec.AWSRegion != AWSRegion {
		t.Errorf("record: event %q from %q in %q, want ObjectCreated:* from aws:s3 in %s", rec.EventName, rec.EventSource, rec.AWSRegion, AWSRegion)
	}
	// Event keys are URL-encoded (AWS writes a space as '+'; moto also escapes '/'), so
	// readers must unescape them before GetObject.
	gotKey, err := url.QueryUnescape(rec.S3.Object.Key)
	if err != nil {
		t.Fatalf("unescaping key %q: %v", rec.S3.Object.Key, err)
	}
	if rec.S3.Bucket.Name != bucket || gotKey != key || rec.S3.Object.Size != int64(len(body)) {
		t.Errorf("record names s3://%s/%s (%d bytes, raw key %q), want s3://%s/%s (%d bytes)",
			rec.S3.Bucket.Name, gotKey, rec.S3.Object.Size, rec.S3.Object.Key, bucket, key, len(body))
	}
}

// snsEnvelope is the JSON an SQS subscription without raw delivery receives.
type snsEnvelope struct {
	Type              string `json:"Type"`
	TopicArn          string `json:"TopicArn"`
	Subject           string `json:"Subject"`
	Message           string `json:"Message"`
	MessageAttributes map[string]struct {
		Type  string `json:"Type"`
		Value string `json:"Value"`
	} `json:"MessageAttributes"`
}

func TestE2ESNSToSQS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg := AWSConfig(ctx, t)
	snsc := sns.NewFromConfig(cfg)
	sqsc := sqs.NewFromConfig(cfg)

	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(UniqueName(t))})
	if err != nil {
		t.Fatalf("creating SNS topic: %v", err)
	}
	topicARN := aws.ToString(topic.TopicArn)
	t.Cleanup(func() {
		if _, err := snsc.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}); err != nil {
			t.Errorf("deleting SNS topic %s: %v", topicARN, err)
		}
	})
	rawURL, rawARN := newQueue(ctx, t, sqsc)
	envelopeURL, envelopeARN := newQueue(ctx, t, sqsc)
	for _, sub := range []struct {
		arn string
		raw string
	}{{rawARN, "true"}, {envelopeARN, "false"}} {
		_, err := snsc.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn:   topic.TopicArn,
			Protocol:   aws.String("sqs"),
			Endpoint:   aws.String(sub.arn),
			Attributes: map[string]string{"RawMessageDelivery": sub.raw},
		})
		if err != nil {
			t.Fatalf("subscribing %s (raw %s): %v", sub.arn, sub.raw, err)
		}
	}

	alert := `{"score":0.97,"category":"dos"}`
	_, err = snsc.Publish(ctx, &sns.PublishInput{
		TopicArn: topic.TopicArn,
		Subject:  aws.String("sagewall alert"),
		Message:  aws.String(alert),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"category": {DataType: aws.String("String"), StringValue: aws.String("dos")},
		},
	})
	if err != nil {
		t.Fatalf("publishing to %s: %v", topicARN, err)
	}
	batch := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}
	entries := make([]snstypes.PublishBatchRequestEntry, len(batch))
	for i, m := range batch {
		entries[i] = snstypes.PublishBatchRequestEntry{Id: aws.String(strings.Repeat("e", i+1)), Message: aws.String(m)}
	}
	out, err := snsc.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: topic.TopicArn, PublishBatchRequestEntries: entries})
	if err != nil {
		t.Fatalf("publishing a batch to %s: %v", topicARN, err)
	}
	if len(out.Successful) != len(batch) || len(out.Failed) != 0 {
		t.Fatalf("PublishBatch: %d successful, %d failed, want %d and 0", len(out.Successful), len(out.Failed), len(batch))
	}
	want := append([]string{alert}, batch...)
	slices.Sort(want)

	var raw []string
	for _, m := range receive(ctx, t, sqsc, rawURL, len(want)) {
		raw = append(raw, aws.ToString(m.Body))
	}
	slices.Sort(raw)
	if !slices.Equal(raw, want) {
		t.Errorf("raw delivery bodies %q, want %q", raw, want)
	}

	var enveloped []string
	for _, m := range receive(ctx, t, sqsc, envelopeURL, len(want)) {
		var env snsEnvelope
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
			t.Fatalf("envelope is not JSON: %v: %s", err, aws.ToString(m.Body))
		}
		if env.Type != "Notification" || env.TopicArn != topicARN {
			t.Errorf("envelope type %q from %q, want Notification from %s", env.Type, env.TopicArn, topicARN)
		}
		if env.Message == alert {
			if env.Subject != "sagewall alert" || env.MessageAttributes["category"].Value != "dos" {
				t.Errorf("alert envelope: subject %q, attributes %+v; want the published subject and category=dos", env.Subject, env.MessageAttributes)
			}
		}
		enveloped = append(enveloped, env.Message)
	}
	slices.Sort(enveloped)
	if !slices.Equal(enveloped, want) {
		t.Errorf("enveloped messages %q, want %q", enveloped, want)
	}
}

// newQueue creates an SQS queue deleted when the test ends and returns its URL and ARN.
func newQueue(ctx context.Context, t *testing.T, c *sqs.Client) (url, arn string) {
	t.Helper()
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(UniqueName(t))})
	if err != nil {
		t.Fatalf("creating SQS queue: %v", err)
	}
	url = aws.ToString(q.QueueUrl)
	t.Cleanup(func() {
		if _, err := c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}); err != nil {
			t.Errorf("deleting SQS queue %s: %v", url, err)
		}
	})
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("reading the ARN of queue %s: %v", url, err)
	}
	return url, attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// newBucket creates an S3 bucket that is emptied and deleted when the test ends.
func newBucket(ctx context.Context, t *testing.T, c *s3.Client) string {
	t.Helper()
	bucket := UniqueName(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Errorf("listing bucket %s: %v", bucket, err)
			return
		}
		for _, o := range list.Contents {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				t.Errorf("deleting s3://%s/%s: %v", bucket, aws.ToString(o.Key), err)
			}
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Errorf("deleting bucket %s: %v", bucket, err)
		}
	})
	return bucket
}

// receive long-polls queueURL until n messages arrived (deleting each), in arrival order,
// and fails the test when ctx ends first or more than n arrive.
func receive(ctx context.Context, t *testing.T, c *sqs.Client, queueURL string, n int) []sqstypes.Message {
	t.Helper()
	var got []sqstypes.Message
	for len(got) < n {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(queueURL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     1,
		})
		if err != nil {
			t.Fatalf("receiving from %s after %d of %d messages: %v", queueURL, len(got), n, err)
		}
		for _, m := range out.Messages {
			got = append(got, m)
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("deleting message %s: %v", aws.ToString(m.MessageId), err)
			}
		}
	}
	if len(got) > n {
		t.Fatalf("received %d messages from %s, want %d", len(got), queueURL, n)
	}
	return got
}
