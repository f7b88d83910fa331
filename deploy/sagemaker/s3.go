package sagemaker

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3URI is a parsed s3://bucket/key location.
type S3URI struct{ Bucket, Key string }

func (u S3URI) String() string { return "s3://" + u.Bucket + "/" + u.Key }

// ParseS3URI parses "s3://bucket/key"; the key may be empty (a bucket or prefix).
func ParseS3URI(s string) (S3URI, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return S3URI{}, fmt.Errorf("parsing S3 URI %q: want s3://bucket/key", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return S3URI{}, fmt.Errorf("parsing S3 URI %q: empty bucket", s)
	}
	return S3URI{Bucket: bucket, Key: key}, nil
}

// MinPartSize is S3's smallest allowed multipart part (except the last).
const MinPartSize = 5 << 20

// uploadStream copies r to s3 with a multipart upload, holding one part in
// memory at a time, so a training file of any size streams through.
// The upload is aborted on any error so no orphaned parts keep costing.
func uploadStream(ctx context.Context, client *s3.Client, dst S3URI, r io.Reader, partSize int) (written int64, err error) {
	if partSize < MinPartSize {
		partSize = MinPartSize
	}
	created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(dst.Bucket),
		Key:         aws.String(dst.Key),
		ContentType: aws.String("text/csv"),
	})
	if err != nil {
		return 0, fmt.Errorf("starting multipart upload to %s: %w", dst, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort with a fresh context: ctx may be the reason we failed.
		abortCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, abortErr := client.AbortMultipartUpload(abortCtx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(dst.Bucket), Key: aws.String(dst.Key), UploadId: created.UploadId,
		}); abortErr != nil {
			err = errors.Join(err, fmt.Errorf("aborting multipart upload to %s: %w", dst, abortErr))
		}
	}()

	buf := make([]byte, partSize)
	var parts []s3types.CompletedPart
	for partNumber := int32(1); ; partNumber++ {
		n, readErr := io.ReadFull(r, buf)
		if readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, io.ErrUnexpectedEOF) {
			return written, fmt.Errorf("reading part %d for %s: %w", partNumber, dst, readErr)
		}
		// S3 needs at least one part, so an empty input uploads one empty part.
		if n > 0 || partNumber == 1 {
			out, err := client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket:        aws.String(dst.Bucket),
				Key:           aws.String(dst.Key),
				UploadId:      created.UploadId,
				PartNumber:    aws.Int32(partNumber),
				Body:          bytes.NewReader(buf[:n]),
				ContentLength: aws.Int64(int64(n)),
			})
			if err != nil {
				return written, fmt.Errorf("uploading part %d to %s: %w", partNumber, dst, err)
			}
			parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(partNumber)})
			written += int64(n)
		}
		if readErr != nil { // EOF or short last part
			break
		}
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(dst.Bucket),
		Key:             aws.String(dst.Key),
		UploadId:        created.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return written, fmt.Errorf("completing multipart upload to %s: %w", dst, err)
	}
	return written, nil
}

// openSource opens a local path or an s3:// URI as a stream, decompressing
// gzip when the name ends in ".gz".
func openSource(ctx context.Context, client *s3.Client, src string) (io.ReadCloser, error) {
	var raw io.ReadCloser
	if strings.HasPrefix(src, "s3://") {
		uri, err := ParseS3URI(src)
		if err != nil {
			return nil, err
		}
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(uri.Bucket), Key: aws.String(uri.Key)})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", src, err)
		}
		raw = out.Body
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("opening training source: %w", err)
		}
		raw = f
	}
	if !strings.HasSuffix(src, ".gz") {
		return raw, nil
	}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("opening gzip stream %s: %w", src, err)
	}
	return gzipReadCloser{zr, raw}, nil
}

type gzipReadCloser struct {
	*gzip.Reader
	raw io.Closer
}

func (g gzipReadCloser) Close() error { return errors.Join(g.Reader.Close(), g.raw.Close()) }

// downloadObject streams an S3 object into a local file.
func downloadObject(ctx context.Context, client *s3.Client, src S3URI, path string) (int64, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(src.Key)})
	if err != nil {
		return 0, fmt.Errorf("downloading %s: %w", src, err)
	}
	defer out.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("downloading %s: %w", src, err)
	}
	n, err := io.Copy(f, out.Body)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return n, fmt.Errorf("downloading %s to %s: %w", src, path, err)
	}
	return n, nil
}
