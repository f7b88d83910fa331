"""Generate the XGBoost and LightGBM test fixtures of package scoring.

Run by gen.sh; each step runs under a specific XGBoost:

  gen.py train   OUT  -- train the fixture models with the running XGBoost and
                         save them in every format it writes (plus model.tar.gz,
                         and tiny models that seed the fuzz targets)
  gen.py rows    OUT  -- build the shared test rows from the saved models' splits
  gen.py predict OUT  -- score the rows with each saved model file, loaded back
                         by the same XGBoost, into golden files
  gen.py sagemaker OUT -- a small model saved as SageMaker's container saves it,
                          in a model.tar.gz, with its golden predictions
  gen.py lightgbm OUT -- train a LightGBM text model and its golden predictions

The data is synthetic and shaped like sagewall's encoded vectors: 38 numeric
columns followed by one-hot groups of 3, 70 and 11 columns (122 in all). Numeric
columns hold missing values (NaN) so trees learn both default directions.
"""

import gzip
import io
import json
import os
import sys
import tarfile

import numpy as np

NUM_NUMERIC = 38
GROUPS = (3, 70, 11)
WIDTH = NUM_NUMERIC + sum(GROUPS)  # 122
TRAIN_ROWS = 4000
SEED = 20240607


def synthetic(rows, rng):
    """Rows of 122 float32 values and binary and 5-class labels."""
    x = np.zeros((rows, WIDTH), dtype=np.float32)
    for j in range(NUM_NUMERIC):
        if j % 3 == 0:  # counts, like src_bytes
            x[:, j] = np.round(rng.exponential(50.0 * (j + 1), rows))
        elif j % 3 == 1:  # rates in [0, 1] with two decimals, like serror_rate
            x[:, j] = np.round(rng.random(rows), 2)
        else:  # small integers, like num_failed_logins
            x[:, j] = rng.integers(0, 6, rows)
    col = NUM_NUMERIC
    for size in GROUPS:
        hot = rng.integers(0, size, rows)
        x[np.arange(rows), col + hot] = 1.0
        col += size
    logit = (
        0.02 * np.log1p(x[:, 0])
        + 2.0 * (x[:, 1] - 0.5)
        + 0.6 * (x[:, 2] - 2.5)
        + 1.5 * x[:, NUM_NUMERIC]
        - 1.0 * x[:, NUM_NUMERIC + 3 + 7]
        + 0.8 * (x[:, 4] - 0.5)
        + rng.normal(0.0, 0.7, rows)
    )
    binary = (logit > 0).astype(np.int32)
    category = np.digitize(logit + 0.5 * x[:, 7], [-1.5, -0.5, 0.5, 1.5]).astype(np.int32)
    # Missing values in a fifth of each numeric column's rows.
    for j in range(NUM_NUMERIC):
        x[rng.random(rows) < 0.2, j] = np.nan
    return x, binary, category


def write_gz(path, data):
    with open(path, "wb") as f:
        # mtime=0 keeps regenerated fixtures byte-identical.
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(data)


def write_tar_gz(path, member, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    write_gz(path, buf.getvalue())


def train(out):
    import xgboost as xgb

    version = xgb.__version__
    major = int(version.split(".")[0])
    rng = np.random.default_rng(SEED)
    x, binary, category = synthetic(TRAIN_ROWS, rng)
    models = {
        "binary": xgb.train(
            {"objective": "binary:logistic", "max_depth": 5, "eta": 0.3, "tree_method": "hist", "seed": 1},
            xgb.DMatrix(x, label=binary),
            num_boost_round=50,
        ),
        "multi": xgb.train(
            {"objective": "multi:softprob", "num_class": 5, "max_depth": 4, "eta": 0.3, "tree_method": "hist", "seed": 1},
            xgb.DMatrix(x, label=category),
            num_boost_round=8,
        ),
    }
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "tmp-" + version)
    os.makedirs(tmp, exist_ok=True)
    for name, booster in models.items():
        formats = {"json": ".json", "ubj": ".ubj"}
        if major < 2:
            formats["bin"] = ".model"  # the legacy "binf" format
        for fmt, ext in formats.items():
            path = os.path.join(tmp, name + ext)
            booster.save_model(path)
            with open(path, "rb") as f:
                data = f.read()
            if fmt == "bin" and not data.startswith(b"binf"):
                raise SystemExit(f"{path}: expected the legacy binary format")
            write_gz(os.path.join(out, f"xgb-{version}-{name}.{fmt}.gz"), data)
    # Tiny models (3 features, NaNs, both objectives) seed the fuzz targets.
    tiny_x = np.round(rng.random((200, 3)), 1).astype(np.float32)
    tiny_x[rng.random((200, 3)) < 0.2] = np.nan
    tiny_y = (np.nan_to_num(tiny_x[:, 0]) + np.nan_to_num(tiny_x[:, 1]) > 0.8).astype(np.int32)
    tiny = {
        "binary": xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": 1}, xgb.DMatrix(tiny_x, label=tiny_y), 2),
        "multi": xgb.train(
            {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "seed": 1},
            xgb.DMatrix(tiny_x, label=(tiny_y + (tiny_x[:, 2] > 0.5)).astype(np.int32)),
            1,
        ),
    }
    for name, booster in tiny.items():
        for fmt, ext in (("json", ".json"), ("ubj", ".ubj"), ("bin", ".model")):
            if fmt == "bin" and major >= 2:
                continue
            path = os.path.join(tmp, "tiny-" + name + ext)
            booster.save_model(path)
            with open(path, "rb") as f, open(os.path.join(out, f"tiny-{version}-{name}.{fmt}"), "wb") as g:
                g.write(f.read())
    # SageMaker's model.tar.gz: the built-in container saves the booster as
    # "xgboost-model" (legacy binary up to 1.7, UBJSON from 3.0).
    tar_fmt = "bin" if major < 2 else "ubj"
    with gzip.open(os.path.join(out, f"xgb-{version}-binary.{tar_fmt}.gz"), "rb") as f:
        write_tar_gz(os.path.join(out, f"xgb-{version}-binary.model.tar.gz"), "xgboost-model", f.read())


def rows(out):
    """Test rows: random rows, rows whose values sit exactly on split thresholds
    (XGBoost goes left iff value < threshold), and rows with many NaNs; half
    of the first two kinds have no NaN at all."""
    rng = np.random.default_rng(SEED + 1)
    x, _, _ = synthetic(240, rng)
    # Rows 0-39 and 80-119 have no missing value, like encoded NSL-KDD
    # records (the evaluator has a separate path for those).
    for i in list(range(0, 40)) + list(range(80, 120)):
        x[i, np.isnan(x[i])] = 0.0
    splits = []
    for name in sorted(os.listdir(out)):
        if name.endswith(".json.gz"):
            with gzip.open(os.path.join(out, name), "rt") as f:
                model = json.load(f)
            for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
                for left, feature, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
                    if left != -1:
                        splits.append((feature, np.float32(cond)))
    splits = sorted(set(splits))
    for i in range(80, 160):  # exact thresholds
        for k in rng.choice(len(splits), size=40, replace=False):
            feature, cond = splits[k]
            x[i, feature] = cond
    for i in range(160, 240):  # mostly missing
        x[i, rng.random(WIDTH) < 0.5] = np.nan
    x[239, :] = np.nan
    lines = [",".join(float32_text(v) for v in row) for row in x]
    write_gz(os.path.join(out, "rows.csv.gz"), ("\n".join(lines) + "\n").encode())


def float32_text(v):
    """The shortest text that reads back as the same float32."""
    v = np.float32(v)
    return "nan" if np.isnan(v) else np.format_float_positional(v, unique=True, trim="-")


def read_rows(out):
    with gzip.open(os.path.join(out, "rows.csv.gz"), "rt") as f:
        return np.array([[float(v) for v in line.split(",")] for line in f.read().splitlines()], dtype=np.float32)


def write_golden(path, pred):
    pred = np.asarray(pred, dtype=np.float32).reshape(len(pred), -1)
    text = "\n".join(",".join(float32_text(v) for v in row) for row in pred) + "\n"
    write_gz(path, text.encode())


def predict(out):
    import xgboost as xgb

    version = xgb.__version__
    x = read_rows(out)
    tmp = os.path.join(out, "tmp-" + version)
    for name in sorted(os.listdir(out)):
        prefix = f"xgb-{version}-"
        if not name.startswith(prefix) or name.endswith((".golden.gz", ".model.tar.gz")):
            continue
        path = os.path.join(tmp, name[: -len(".gz")])
        with gzip.open(os.path.join(out, name), "rb") as f, open(path, "wb") as g:
            g.write(f.read())
        if path.endswith(".bin"):
            os.replace(path, path[: -len(".bin")] + ".model")
            path = path[: -len(".bin")] + ".model"
        booster = xgb.Booster(model_file=path)
        pred = booster.predict(xgb.DMatrix(x, missing=np.nan))
        if pred.dtype != np.float32:
            raise SystemExit(f"{name}: XGBoost predicted {pred.dtype}, expected float32")
        write_golden(os.path.join(out, name[: -len(".gz")] + ".golden.gz"), pred)


def sagemaker(out):
    """A small binary model saved the way SageMaker's built-in XGBoost container
    saves it (Booster.save_model("xgboost-model"): legacy binary up to 1.x,
    UBJSON from 2.1), packed as model.tar.gz, with its golden predictions."""
    import xgboost as xgb

    version = xgb.__version__
    rng = np.random.default_rng(SEED)
    x, binary, _ = synthetic(TRAIN_ROWS, rng)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "tree_method": "hist", "seed": 1},
        xgb.DMatrix(x, label=binary),
        num_boost_round=10,
    )
    tmp = os.path.join(out, "tmp-sagemaker-" + version)
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, "xgboost-model")
    booster.save_model(path)
    with open(path, "rb") as f:
        data = f.read()
    write_tar_gz(os.path.join(out, f"xgb-{version}-sagemaker.model.tar.gz"), "xgboost-model", data)
    pred = xgb.Booster(model_file=path).predict(xgb.DMatrix(read_rows(out), missing=np.nan))
    write_golden(os.path.join(out, f"xgb-{version}-sagemaker.golden.gz"), pred)


def lightgbm(out):
    import lightgbm as lgb

    rng = np.random.default_rng(SEED)
    x, binary, category = synthetic(TRAIN_ROWS, rng)
    test = read_rows(out)
    for name, params, label, rounds in (
        ("binary", {"objective": "binary"}, binary, 20),
        ("multi", {"objective": "multiclass", "num_class": 5}, category, 4),
    ):
        params.update({"num_leaves": 16, "max_depth": 4, "learning_rate": 0.3, "verbose": -1, "seed": 1, "deterministic": True})
        booster = lgb.train(params, lgb.Dataset(x, label=label), num_boost_round=rounds)
        write_gz(os.path.join(out, f"lgb-{lgb.__version__}-{name}.txt.gz"), booster.model_to_string().encode())
        write_golden(os.path.join(out, f"lgb-{lgb.__version__}-{name}.txt.golden.gz"), booster.predict(test.astype(np.float64)))


if __name__ == "__main__":
    step, out = sys.argv[1], sys.argv[2]
    {"train": train, "rows": rows, "predict": predict, "sagemaker": sagemaker, "lightgbm": lightgbm}[step](out)
