// Package stream is the pipeline: it consumes raw records from Kafka, encodes
// them with etl, micro-batches and scores them, hands the verdicts to sinks and
// commits each source offset only once every output of its record has been
// acknowledged (at-least-once).
package stream

import (
	"context"

	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// Scorer scores len(out) rows laid out flat in rows
// (len(rows) == len(out) * the feature width). scoring.Detector and the
// SageMaker scorer satisfy it. Score is called from one goroutine at a time.
type Scorer interface {
	Score(ctx context.Context, rows []float32, out []scoring.Result) error
}

// FallbackScorer is a Scorer that may score some rows on a fallback model
// (the SageMaker scorer falls back to the local model when the endpoint
// fails). ScoreWithSource sets fellBack[i] for each row the fallback scored
// (len(fellBack) == len(out)); the pipeline puts FallbackInfo instead of
// the WithModel info on those rows' verdicts.
type FallbackScorer interface {
	Scorer
	ScoreWithSource(ctx context.Context, rows []float32, out []scoring.Result, fellBack []bool) error
	FallbackInfo() scoring.Info
}

// Sink accepts the verdicts of one batch, in source order, and calls done
// exactly once when it has durably accepted all of them (or with the error
// that stopped it). Write must not block for long: it is called from the
// pipeline's scoring goroutine, which is where ordering comes from. The
// verdicts slice is valid only until done is called; a sink that keeps data
// past Write must copy what it needs. A non-nil error is taken for an
// outage: the pipeline writes the same batch again, with backoff, until it
// is accepted (so a sink must not fail for a batch it can never accept), and
// the batch's offsets stay uncommitted meanwhile. A sink that implements
// Name() string is reported under that name (sagewall_dependency_up).
type Sink interface {
	Write(ctx context.Context, verdicts []sinks.Verdict, done func(error))
}

// DeadLetterSink accepts records that could not be encoded, with the same
// acknowledgement contract as Sink.
type DeadLetterSink interface {
	WriteDeadLetters(ctx context.Context, letters []sinks.DeadLetter, done func(error))
}
