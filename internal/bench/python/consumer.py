"""The end-to-end benchmark's Python peer: the original stack (pandas ETL + XGBoost) as a Kafka
consumer, at least once.

It consumes NSL-KDD CSV lines (41 features, label, difficulty) from --topic in the consumer group
--group, with auto-commit off, and for every batch of up to --batch records:

  1. builds a pandas DataFrame from the lines and one-hot encodes protocol_type, service and flag
     into the 122 columns of scoring/bundled/spec.json, in its order (a service outside the
     vocabulary counts as "other", as sagewall encodes it; an unknown protocol or flag is all
     zeros, where sagewall would dead-letter the line);
  2. scores them with the bundled binary XGBoost model and flags scores at or over the manifest's
     operating_point.threshold;
  3. produces one uncompressed JSON verdict per record to --out, keyed like sagewall's verdicts by
     the source's "topic/partition/offset", with acks=all;
  4. flushes the producer and, only once every delivery of the batch is confirmed, commits the
     batch's offsets synchronously. A failed delivery or commit stops it with exit status 1 and
     nothing committed for that batch, so the records are consumed again.

SIGTERM or SIGINT: it finishes the batch in hand (produce, flush, commit), leaves the group and
exits 0. With --exit-at-end it also exits once every assigned partition is at its end. The
benchmark (internal/bench/e2e) does not use that: it waits for the group's committed offsets, as
for sagewall, then sends SIGTERM.
"""

import argparse
import gzip
import io
import json
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

MODEL_DIR = Path(__file__).resolve().parents[3] / "scoring" / "bundled"
CATEGORICAL = ("protocol_type", "service", "flag")


class Model:
    """The bundled binary model, its feature layout and its operating point."""

    def __init__(self, model_dir):
        self.spec = json.loads((model_dir / "spec.json").read_text())
        manifest = json.loads((model_dir / "manifest.json").read_text())
        self.threshold = manifest["operating_point"]["threshold"]
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(gzip.decompress((model_dir / "binary.json.gz").read_bytes())))
        numeric = self.spec["numeric"]
        # File order: duration, the three categorical fields, the other 37 numeric ones.
        self.fields = numeric[:1] + list(CATEGORICAL) + numeric[1:]

    def frame(self, lines):
        """The DataFrame of the 41 features of CSV lines (a label and difficulty may follow)."""
        return pd.read_csv(io.BytesIO(b"\n".join(lines)), header=None, usecols=range(len(self.fields)),
                           names=self.fields + ["label", "difficulty"], dtype={c: str for c in CATEGORICAL})

    def features(self, df):
        """The (rows, 122) float32 matrix in spec.json's order: numeric, then each one-hot block."""
        blocks = [df[self.spec["numeric"]].to_numpy(np.float64).astype(np.float32)]
        for name in CATEGORICAL:
            vocab, column = self.spec[name], df[name]
            if name == "service":
                column = column.where(column.isin(vocab), "other")
            blocks.append(pd.get_dummies(pd.Categorical(column, categories=vocab)).to_numpy(np.float32))
        return np.hstack(blocks)

    def score(self, lines):
        """P(attack) of each line, and whether it is flagged."""
        scores = self.booster.inplace_predict(self.features(self.frame(lines)))
        return scores, scores >= self.threshold


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True, help="the raw topic (NSL-KDD CSV lines)")
    ap.add_argument("--group", required=True)
    ap.add_argument("--out", required=True, help="the verdict topic")
    ap.add_argument("--batch", type=int, default=1000, help="records per batch")
    ap.add_argument("--wait", type=float, default=0.1, help="seconds a batch waits to fill")
    ap.add_argument("--exit-at-end", action="store_true", help="exit once every assigned partition is at its end")
    ap.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    args = ap.parse_args()

    model = Model(args.model_dir)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": args.group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": args.exit_at_end})
    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all", "linger.ms": 5})
    consumer.subscribe([args.topic])
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(err)

    at_end, records = set(), 0
    while not stopping:
        messages = consumer.consume(num_messages=args.batch, timeout=args.wait)
        lines, keys, offsets = [], [], {}
        for m in messages:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add((m.topic(), m.partition()))
                    continue
                raise KafkaException(m.error())
            at_end.discard((m.topic(), m.partition()))
            lines.append(m.value())
            keys.append(f"{m.topic()}/{m.partition()}/{m.offset()}")
            offsets[(m.topic(), m.partition())] = m.offset() + 1
        if lines:
            scores, attacks = model.score(lines)
            for key, score, attack in zip(keys, scores.tolist(), attacks.tolist()):
                value = b'{"score":%.8g,"attack":%s}' % (score, b"true" if attack else b"false")
                while True:
                    try:
                        producer.produce(args.out, value=value, key=key, on_delivery=delivered)
                        break
                    except BufferError:  # the local queue is full: serve deliveries, then retry
                        producer.poll(0.05)
            if producer.flush(30) > 0 or failed:
                sys.exit(f"consumer.py: verdicts not delivered ({failed[:1] or 'flush timed out'}); batch not committed")
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
            records += len(lines)
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        if args.exit_at_end and assigned and assigned <= at_end:
            break
    consumer.close()
    print(f"consumer.py: {records} records committed", file=sys.stderr)


if __name__ == "__main__":
    main()
