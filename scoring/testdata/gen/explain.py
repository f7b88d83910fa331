"""Generate the TreeSHAP goldens of package scoring (scoring/testdata/explain).

Run by explain.sh under the pinned XGBoost (the bundled models' 3.2.0):

  explain.py ROOT   -- for scoring/bundled and scoring/bundled-connlog, the binary
                       model's pred_contribs and margin on the test rows

The rows are the first ROWS lines of KDDTrain+ encoded as the Go encoder (and
deploy/train/train.py) encode them, with the connection-log model's zeroed
features at 0, followed by NAN_ROWS copies of the first rows in which numeric
column j of copy k is missing (NaN) iff (k + j) % 3 == 0, so that every
default direction gets used. scoring/explain_test.go builds the same rows.

Each golden, <model>.f32.gz, is little-endian: a uint32 count C of the
columns whose contribution is not 0 on some row (the model's split features),
C uint32 column indices, then per row C + 2 float32: those columns'
contributions, the bias, then the margin (output_margin=True). Every other
column's contribution is 0 on every row.
"""

import gzip
import json
import os
import sys

import numpy as np
import xgboost as xgb

ROWS = 2000
NAN_ROWS = 200
NUMERIC = 38  # the numeric columns come first
CATEGORICAL = ((1, "protocol_type"), (2, "service"), (3, "flag"))  # field index, spec key


def encode(lines, spec):
    numeric_fields = [i for i in range(41) if i not in (1, 2, 3)]
    width = NUMERIC + sum(len(spec[key]) for _, key in CATEGORICAL)
    x = np.zeros((len(lines), width), dtype=np.float32)
    for r, line in enumerate(lines):
        fields = line.split(",")
        # Parse as float64 then round once to float32, as the Go encoder does.
        x[r, :NUMERIC] = np.array([float(fields[i]) for i in numeric_fields], dtype=np.float64)
        offset = NUMERIC
        for i, key in CATEGORICAL:
            x[r, offset + spec[key].index(fields[i])] = 1.0
            offset += len(spec[key])
    return x


def main(root):
    with gzip.open(os.path.join(root, "etl", "nslkdd", "KDDTrain+.txt.gz"), "rt") as f:
        lines = [next(f).rstrip("\n") for _ in range(ROWS)]
    out = os.path.join(root, "scoring", "testdata", "explain")
    os.makedirs(out, exist_ok=True)
    for model in ("bundled", "bundled-connlog"):
        model_dir = os.path.join(root, "scoring", model)
        with open(os.path.join(model_dir, "spec.json")) as f:
            spec = json.load(f)
        with open(os.path.join(model_dir, "manifest.json")) as f:
            manifest = json.load(f)
        x = encode(lines, spec)
        for name in manifest.get("zeroed_features", []):
            x[:, spec["numeric"].index(name)] = 0.0
        missing = x[:NAN_ROWS].copy()
        for k in range(NAN_ROWS):
            for j in range(NUMERIC):
                if (k + j) % 3 == 0:
                    missing[k, j] = np.nan
        x = np.vstack([x, missing])
        with gzip.open(os.path.join(model_dir, "binary.json.gz"), "rb") as f:
            booster = xgb.Booster(model_file=bytearray(f.read()))
        matrix = xgb.DMatrix(x, missing=np.nan)
        contribs = booster.predict(matrix, pred_contribs=True)
        margin = booster.predict(matrix, output_margin=True)
        if contribs.dtype != np.float32 or contribs.shape != (len(x), x.shape[1] + 1):
            raise SystemExit(f"{model}: pred_contribs gave {contribs.dtype} {contribs.shape}")
        columns = np.flatnonzero(np.any(contribs[:, :-1] != 0, axis=0)).astype("<u4")
        values = np.hstack([contribs[:, columns], contribs[:, -1:], margin.reshape(-1, 1)]).astype("<f4")
        golden = np.uint32(len(columns)).astype("<u4").tobytes() + columns.tobytes() + values.tobytes()
        path = os.path.join(out, model + ".f32.gz")
        with open(path, "wb") as f:
            # mtime=0 keeps regenerated goldens byte-identical.
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=9) as gz:
                gz.write(golden)
        print(f"{path}: {len(x)} rows, {len(columns)} columns, xgboost {xgb.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
