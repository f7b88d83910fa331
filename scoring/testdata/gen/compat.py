"""Generate scoring/testdata/compat: the models SageMaker users bring, with
XGBoost's and LightGBM's own predictions on rows every sagewall entry point
accepts (issue 16).

Run by compat.sh; each step runs under a pinned library:

  compat.py data     OUT TMP  -- training data and the test rows (rows.csv.gz),
                                 valid 122-value vectors with missing values
  compat.py xgb      OUT TMP  -- train every objective with the running XGBoost,
                                 save it in each format it writes (+ model.tar.gz)
                                 and write its golden predictions
  compat.py special  OUT TMP  -- a JSON model with NaN/Infinity tokens written by
                                 XGBoost, and three models whose declared counts
                                 disagree with their arrays (XGBoost refuses each)
  compat.py lightgbm OUT TMP  -- LightGBM binary and multiclass models, and a
                                 multiclass model whose raw scores overflow exp

The rows are what `sagewall score` reads: numeric columns that are counts or
rates in [0, 1] (the rate columns of scoring/bundled/spec.json), one-hot blocks
of 3, 70 and 11 with one 1 each, and missing values written as the SageMaker
XGBoost container's CSV reader takes them: an empty cell, "NaN" or "nan".
"""

import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import NUM_NUMERIC, SEED, float32_text, synthetic, write_gz, write_tar_gz  # noqa: E402

TRAIN_ROWS = 4000
SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bundled", "spec.json")

# name -> XGBoost parameters; every model has 122 features.
OBJECTIVES = {
    "logistic": {"objective": "binary:logistic"},
    "reglogistic": {"objective": "reg:logistic"},
    "logitraw": {"objective": "binary:logitraw"},
    "softprob": {"objective": "multi:softprob", "num_class": 5},
    "softmax": {"objective": "multi:softmax", "num_class": 5},
}


def rate_columns():
    with open(SPEC) as f:
        numeric = json.load(f)["numeric"]
    return [i for i, name in enumerate(numeric) if name.endswith("_rate")]


def valid(x, rng):
    """Makes synthetic rows valid NSL-KDD vectors: rate columns become
    two-decimal fractions (keeping their missing values)."""
    for j in rate_columns():
        missing = np.isnan(x[:, j])
        x[:, j] = np.round(rng.random(len(x)), 2)
        x[missing, j] = np.nan
    return x


def data(out, tmp):
    rng = np.random.default_rng(SEED + 16)
    x, binary, category = synthetic(TRAIN_ROWS, rng)
    x = valid(x, rng)
    np.savez(os.path.join(tmp, "train.npz"), x=x, binary=binary, category=category)

    t, _, _ = synthetic(200, rng)
    t = valid(t, rng)
    # Rows 0-59 have no missing value; 60-99 sit on split thresholds of a
    # model trained on the same data (XGBoost goes left iff value < threshold);
    # 100-159 keep synthetic's missing numerics (a fifth); 160-179 also miss
    # one-hot cells that are not the block's 1; 180-199 miss every numeric.
    t[0:100, :NUM_NUMERIC] = np.nan_to_num(t[0:100, :NUM_NUMERIC])
    import xgboost as xgb

    probe = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1}, xgb.DMatrix(x, label=binary), 20)
    splits = set()
    for tree in json.loads(probe.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feature, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1 and feature < NUM_NUMERIC:
                splits.add((feature, float(np.float32(cond))))
    splits = sorted(splits)
    for i in range(60, 100):
        for k in rng.choice(len(splits), size=min(30, len(splits)), replace=False):
            feature, cond = splits[k]
            t[i, feature] = cond
    for i in range(160, 180):
        cold = np.flatnonzero(t[i, NUM_NUMERIC:] == 0) + NUM_NUMERIC
        t[i, rng.choice(cold, size=20, replace=False)] = np.nan
    t[180:200, :NUM_NUMERIC] = np.nan
    spellings = ["", "NaN", "nan"]
    lines = []
    n = 0
    for row in t:
        cells = []
        for v in row:
            if np.isnan(v):
                cells.append(spellings[n % 3])
                n += 1
            else:
                cells.append(float32_text(v))
        lines.append(",".join(cells))
    write_gz(os.path.join(out, "rows.csv.gz"), ("\n".join(lines) + "\n").encode())
    np.save(os.path.join(tmp, "rows.npy"), t)


def read_rows(tmp):
    return np.load(os.path.join(tmp, "rows.npy"))


def write_golden(path, pred):
    pred = np.asarray(pred, dtype=np.float32).reshape(len(pred), -1)
    text = "\n".join(",".join(float32_text(v) for v in row) for row in pred) + "\n"
    write_gz(path, text.encode())


def xgb_step(out, tmp):
    """Each objective in every format this XGBoost writes: JSON and UBJSON
    (and the legacy binary format before 2.0), plus model.tar.gz as the
    SageMaker container of that generation saves it. All files of one
    booster must predict the same; that prediction is the golden."""
    import xgboost as xgb

    version = xgb.__version__
    major = int(version.split(".")[0])
    train = np.load(os.path.join(tmp, "train.npz"))
    rows = xgb.DMatrix(read_rows(tmp), missing=np.nan)
    work = os.path.join(tmp, "xgb-" + version)
    os.makedirs(work, exist_ok=True)
    for name, params in OBJECTIVES.items():
        label = train["category"] if params["objective"].startswith("multi:") else train["binary"]
        rounds = 6 if params["objective"].startswith("multi:") else 20
        booster = xgb.train(
            dict(params, max_depth=4, eta=0.3, tree_method="hist", seed=1),
            xgb.DMatrix(train["x"], label=label),
            num_boost_round=rounds,
        )
        formats = {"json": ".json", "ubj": ".ubj"} if major >= 2 else {"json": ".json", "bin": ".model"}
        golden = None
        for fmt, ext in formats.items():
            path = os.path.join(work, name + ext)
            booster.save_model(path)
            with open(path, "rb") as f:
                saved = f.read()
            if fmt == "bin" and not saved.startswith(b"binf"):
                raise SystemExit(f"{path}: expected the legacy binary format")
            write_gz(os.path.join(out, f"xgb-{version}-{name}.{fmt}.gz"), saved)
            pred = xgb.Booster(model_file=path).predict(rows)
            if golden is not None and not np.array_equal(pred, golden):
                raise SystemExit(f"{path}: predicts differently from the other formats")
            golden = pred
        # The container's artifact: legacy binary up to 1.7, UBJSON from 2.1.
        with open(os.path.join(work, name + (".model" if major < 2 else ".ubj")), "rb") as f:
            write_tar_gz(os.path.join(out, f"xgb-{version}-{name}.model.tar.gz"), "xgboost-model", f.read())
        write_golden(os.path.join(out, f"xgb-{version}-{name}.golden.gz"), golden)
        if params["objective"] == "multi:softmax":
            # multi:softmax predicts the class index; the probabilities behind
            # it are XGBoost's own once the objective is multi:softprob.
            proba = xgb.Booster(model_file=os.path.join(work, name + ".json"))
            proba.set_param({"objective": "multi:softprob"})
            p = proba.predict(rows)
            if not np.array_equal(np.argmax(p, axis=1).astype(np.float32), golden):
                print(f"{name}: note: argmax of probabilities differs from the class index on some row", file=sys.stderr)
            write_golden(os.path.join(out, f"xgb-{version}-{name}.proba.golden.gz"), p)
        if params["objective"] == "binary:logitraw":
            # sagewall scores a logitraw model as sigmoid(margin): XGBoost's
            # margin through the logistic function, in float64. (Switching the
            # booster to binary:logistic would re-read base_score, a margin for
            # logitraw since XGBoost 1.4, as a probability.)
            proba = 1 / (1 + np.exp(-golden.astype(np.float64)))
            write_golden(os.path.join(out, f"xgb-{version}-{name}.proba.golden.gz"), proba)


def special(out, tmp):
    import xgboost as xgb

    version = xgb.__version__
    train = np.load(os.path.join(tmp, "train.npz"))
    rows = xgb.DMatrix(read_rows(tmp), missing=np.nan)
    work = os.path.join(tmp, "special")
    os.makedirs(work, exist_ok=True)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "tree_method": "hist", "seed": 1},
        xgb.DMatrix(train["x"], label=train["binary"]),
        num_boost_round=8,
    )
    model = json.loads(booster.save_raw("json"))
    trees = model["learner"]["gradient_booster"]["model"]["trees"]

    # Non-finite values: statistics XGBoost ignores when predicting, and split
    # thresholds of +/-Infinity (every present value goes left of +Inf, right
    # of -Inf). Python's json writes NaN and Infinity as bare tokens; XGBoost
    # loads them and writes them back the same way.
    trees[0]["loss_changes"][0] = float("nan")
    trees[0]["base_weights"][1] = float("inf")
    trees[1]["sum_hessian"][0] = float("-inf")
    splits = [i for i, left in enumerate(trees[2]["left_children"]) if left != -1]
    trees[2]["split_conditions"][splits[0]] = float("inf")
    splits = [i for i, left in enumerate(trees[3]["left_children"]) if left != -1]
    trees[3]["split_conditions"][splits[-1]] = float("-inf")
    edited = os.path.join(work, "edited.json")
    with open(edited, "w") as f:
        json.dump(model, f)
    reloaded = xgb.Booster(model_file=edited)
    path = os.path.join(work, "nonfinite.json")
    reloaded.save_model(path)
    with open(path, "rb") as f:
        saved = f.read()
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        if token not in saved:
            raise SystemExit(f"XGBoost {version} did not write {token!r}")
    write_gz(os.path.join(out, f"xgb-{version}-nonfinite.json.gz"), saved)
    # The same model as UBJSON, whose floats are binary: it loaded before.
    ubj = os.path.join(work, "nonfinite.ubj")
    reloaded.save_model(ubj)
    with open(ubj, "rb") as f:
        write_gz(os.path.join(out, f"xgb-{version}-nonfinite.ubj.gz"), f.read())
    if not np.array_equal(xgb.Booster(model_file=ubj).predict(rows), xgb.Booster(model_file=path).predict(rows)):
        raise SystemExit("the UBJSON copy predicts differently")
    write_golden(os.path.join(out, f"xgb-{version}-nonfinite.golden.gz"), xgb.Booster(model_file=path).predict(rows))

    # Declared counts that disagree with the arrays: XGBoost refuses each.
    model = json.loads(booster.save_raw("json"))
    gb = model["learner"]["gradient_booster"]["model"]
    bad = {
        "num-trees": lambda m: m["learner"]["gradient_booster"]["model"]["gbtree_model_param"].update(
            num_trees=str(int(gb["gbtree_model_param"]["num_trees"]) + 1)
        ),
        "num-nodes": lambda m: m["learner"]["gradient_booster"]["model"]["trees"][3]["tree_param"].update(
            num_nodes=str(int(gb["trees"][3]["tree_param"]["num_nodes"]) + 2)
        ),
        "tree-info": lambda m: m["learner"]["gradient_booster"]["model"]["tree_info"].append(0),
    }
    refusals = {}
    for name, corrupt in bad.items():
        m = json.loads(json.dumps(model))
        corrupt(m)
        path = os.path.join(work, f"bad-{name}.json")
        with open(path, "w") as f:
            json.dump(m, f, separators=(",", ":"))
        try:
            xgb.Booster(model_file=path)
        except xgb.core.XGBoostError as e:
            # The first line, without its time of day, so reruns match.
            refusals[name] = re.sub(r"^\[[0-9:]+\] ", "", str(e).strip().splitlines()[0])[:300]
        else:
            raise SystemExit(f"XGBoost {version} loads bad-{name}.json: the fixture must be one it refuses")
        with open(path, "rb") as f:
            write_gz(os.path.join(out, f"xgb-{version}-bad-{name}.json.gz"), f.read())
    with open(os.path.join(out, f"xgb-{version}-bad.refusals.json"), "w") as f:
        json.dump(refusals, f, indent=1, sort_keys=True)
        f.write("\n")


def lightgbm(out, tmp):
    import lightgbm as lgb

    version = lgb.__version__
    train = np.load(os.path.join(tmp, "train.npz"))
    rows = read_rows(tmp).astype(np.float64)
    for name, params, label, rounds in (
        ("binary", {"objective": "binary"}, train["binary"], 20),
        ("multi", {"objective": "multiclass", "num_class": 5}, train["category"], 6),
    ):
        params.update({"num_leaves": 16, "max_depth": 4, "learning_rate": 0.3, "verbose": -1, "seed": 1, "deterministic": True})
        booster = lgb.train(params, lgb.Dataset(train["x"], label=label), num_boost_round=rounds)
        text = booster.model_to_string()
        write_gz(os.path.join(out, f"lgb-{version}-{name}.txt.gz"), text.encode())
        write_golden(os.path.join(out, f"lgb-{version}-{name}.golden.gz"), booster.predict(rows))
        if name != "multi":
            continue
        # Raw scores past exp's range (about 709), from a learning rate of
        # 400: LightGBM's softmax subtracts the largest score first.
        params["learning_rate"] = 400.0
        large = lgb.train(params, lgb.Dataset(train["x"], label=label), num_boost_round=2)
        raw = large.predict(rows, raw_score=True)
        if not (np.abs(raw) > 710).any():
            raise SystemExit("the large model's raw scores stay within exp's range")
        pred = large.predict(rows)
        if np.isnan(pred).any():
            raise SystemExit("LightGBM predicted NaN")
        print(f"multi-large: {(np.abs(raw) > 710).any(axis=1).sum()} of {len(rows)} rows have a raw score beyond 710", file=sys.stderr)
        write_gz(os.path.join(out, f"lgb-{version}-multi-large.txt.gz"), large.model_to_string().encode())
        write_golden(os.path.join(out, f"lgb-{version}-multi-large.golden.gz"), pred)

if __name__ == "__main__":
    step, out, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
    {"data": data, "xgb": xgb_step, "special": special, "lightgbm": lightgbm}[step](out, tmp)
