package s3bridge

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const s3Event = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put",
"s3":{"s3SchemaVersion":"1.0","bucket":{"name":"drop","arn":"arn:aws:s3:::drop"},
"object":{"key":"nsl+kdd/day%3D1/KDDTest%2B.txt.gz","size":1024,"eTag":"abc123","versionId":"v7","sequencer":"0055AED6DCD90281E5"}}}]}`

func TestParseNotification(t *testing.T) {
	want := Object{Bucket: "drop", Key: "nsl kdd/day=1/KDDTest+.txt.gz", VersionID: "v7", ETag: "abc123", Size: 1024, Sequencer: "0055AED6DCD90281E5"}
	snsEnvelope, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": s3Event})
	snsTest, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"drop"}`})
	tests := []struct {
		name    string
		body    string
		want    []Object
		wantErr string
	}{
		{"s3 to sqs", s3Event, []Object{want}, ""},
		{"s3 to sns to sqs", string(snsEnvelope), []Object{want}, ""},
		{"eventbridge", `{"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"drop"},
			"object":{"key":"nsl kdd/day=1/KDDTest+.txt.gz","size":1024,"etag":"abc123","version-id":"v7","sequencer":"0055AED6DCD90281E5"}}}`, []Object{want}, ""},
		{"eventbridge deletion", `{"detail-type":"Object Deleted","source":"aws.s3","detail":{"bucket":{"name":"drop"},"object":{"key":"k"}}}`, nil, ""},
		{"test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T12:00:00.000Z","Bucket":"drop","RequestId":"r","HostId":"h"}`, nil, ""},
		{"test event via sns", string(snsTest), nil, ""},
		{"removal skipped", strings.Replace(s3Event, "ObjectCreated:Put", "ObjectRemoved:Delete", 1), nil, ""},
		{"two records", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a","size":1}}},
			{"eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"b"},"object":{"key":"c%20d","size":2}}}]}`,
			[]Object{{Bucket: "b", Key: "a", Size: 1}, {Bucket: "b", Key: "c d", Size: 2}}, ""},
		{"not json", `hello`, nil, "parsing notification"},
		{"unknown shape", `{"foo":1}`, nil, "neither an S3 event"},
		{"bad sns message", `{"Type":"Notification","Message":"nope"}`, nil, "unwrapping SNS envelope"},
		{"bad key escape", strings.Replace(s3Event, "%3D", "%zz", 1), nil, `key "nsl+kdd/day%zz1`},
		{"no bucket", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":""},"object":{"key":"a"}}}]}`, nil, "no bucket name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNotification([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("object %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(s3Event))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"Records\":[]}"}`))
	f.Add([]byte(`{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		objects, err := ParseNotification(body)
		if err != nil {
			return
		}
		for _, o := range objects {
			if o.Bucket == "" || o.Key == "" || o.Size < 0 {
				t.Fatalf("invalid object accepted: %+v", o)
			}
		}
	})
}

func TestDedupeForgetsOldest(t *testing.T) {
	d := newDedupe(2)
	a, b, c := Object{Bucket: "x", Key: "a", ETag: "1"}, Object{Bucket: "x", Key: "b", ETag: "1"}, Object{Bucket: "x", Key: "c", ETag: "1"}
	d.add(a)
	d.add(b)
	d.add(b)
	if !d.contains(a) || !d.contains(b) {
		t.Fatal("recent objects forgotten")
	}
	d.add(c)
	if d.contains(a) || !d.contains(b) || !d.contains(c) {
		t.Fatalf("want a forgotten and b, c remembered: %v", d.seen)
	}
	changed := b
	changed.ETag = "2"
	if d.contains(changed) {
		t.Error("a new version of b counts as a duplicate")
	}
}

func TestDedupeClaimSerialisesConcurrentProducers(t *testing.T) {
	ctx := context.Background()
	d := newDedupe(10)
	o := Object{Bucket: "x", Key: "a", ETag: "1"}

	first, skip, err := d.claim(ctx, o)
	if err != nil || skip {
		t.Fatalf("first claim: skip=%v err=%v", skip, err)
	}
	type outcome struct {
		done func(bool)
		skip bool
	}
	second := make(chan outcome, 1)
	go func() {
		done, skip, _ := d.claim(ctx, o)
		second <- outcome{done, skip}
	}()
	select {
	case <-second:
		t.Fatal("a duplicate claimed the object while its producer was still running")
	case <-time.After(50 * time.Millisecond):
	}

	// The first producer fails: the waiting duplicate must produce the object itself.
	first(false)
	got := <-second
	if got.skip || got.done == nil {
		t.Fatal("after a failed producer the duplicate was told to skip")
	}
	got.done(true)

	if _, skip, _ := d.claim(ctx, o); !skip {
		t.Error("a produced object was claimed again")
	}

	cancelled, cancel := context.WithCancel(ctx)
	other := Object{Bucket: "x", Key: "b"}
	hold, _, _ := d.claim(ctx, other)
	cancel()
	if _, _, err := d.claim(cancelled, other); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting claim after cancel: err = %v, want context.Canceled", err)
	}
	hold(true)
}
