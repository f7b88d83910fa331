package s3bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Object is one created S3 object named by a notification.
type Object struct {
	Bucket    string
	Key       string // decoded
	VersionID string // "" for an unversioned bucket
	ETag      string
	Size      int64
	Sequencer string // orders events on one key
}

// Version is what tells this object's content apart: the version ID, or the ETag.
func (o Object) Version() string {
	if o.VersionID != "" {
		return o.VersionID
	}
	return o.ETag
}

// ParseNotification reads the created objects of an SQS message body in any of
// the shapes S3 delivers: an S3 event notification sent straight to SQS, the
// same wrapped in an SNS envelope (raw delivery off), or an EventBridge
// "Object Created" event. It returns no objects (and no error) for the
// s3:TestEvent S3 sends when a notification is configured, and for events that
// are not creations.
func ParseNotification(body []byte) ([]Object, error) {
	var probe struct {
		Records    json.RawMessage `json:"Records"`
		Event      string          `json:"Event"`
		Type       string          `json:"Type"`
		Message    *string         `json:"Message"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("parsing notification: %w", err)
	}
	switch {
	case probe.Event == "s3:TestEvent":
		return nil, nil
	case probe.Records != nil:
		return parseS3Event(body)
	case probe.Type == "Notification" && probe.Message != nil:
		objects, err := ParseNotification([]byte(*probe.Message))
		if err != nil {
			return nil, fmt.Errorf("unwrapping SNS envelope: %w", err)
		}
		return objects, nil
	case probe.Source == "aws.s3" && probe.Detail != nil:
		if probe.DetailType != "Object Created" {
			return nil, nil
		}
		return parseEventBridge(probe.Detail)
	default:
		return nil, errors.New("parsing notification: neither an S3 event, an SNS envelope nor an EventBridge event")
	}
}

func parseS3Event(body []byte) ([]Object, error) {
	var event struct {
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key       string `json:"key"`
					Size      int64  `json:"size"`
					ETag      string `json:"eTag"`
					VersionID string `json:"versionId"`
					Sequencer string `json:"sequencer"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(body, &event); err != nil {
		return nil, fmt.Errorf("parsing S3 event: %w", err)
	}
	var objects []Object
	for i, r := range event.Records {
		if r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		// S3 event notifications form-URL-encode keys ("a b.csv" arrives as "a+b.csv").
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("parsing S3 event: record %d: key %q: %w", i, r.S3.Object.Key, err)
		}
		o := Object{Bucket: r.S3.Bucket.Name, Key: key, VersionID: r.S3.Object.VersionID,
			ETag: r.S3.Object.ETag, Size: r.S3.Object.Size, Sequencer: r.S3.Object.Sequencer}
		if err := o.validate(); err != nil {
			return nil, fmt.Errorf("parsing S3 event: record %d: %w", i, err)
		}
		objects = append(objects, o)
	}
	return objects, nil
}

func parseEventBridge(detail json.RawMessage) ([]Object, error) {
	var d struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"etag"`
			VersionID string `json:"version-id"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		return nil, fmt.Errorf("parsing EventBridge event: %w", err)
	}
	// EventBridge carries the key as is, not URL-encoded.
	o := Object{Bucket: d.Bucket.Name, Key: d.Object.Key, VersionID: d.Object.VersionID,
		ETag: d.Object.ETag, Size: d.Object.Size, Sequencer: d.Object.Sequencer}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("parsing EventBridge event: %w", err)
	}
	return []Object{o}, nil
}

func (o Object) validate() error {
	switch {
	case o.Bucket == "":
		return errors.New("no bucket name")
	case o.Key == "":
		return errors.New("no object key")
	case o.Size < 0:
		return fmt.Errorf("object %q: negative size %d", o.Key, o.Size)
	}
	return nil
}
