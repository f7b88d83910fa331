#!/bin/sh
# Regenerates scoring/testdata/explain: XGBoost's own TreeSHAP contributions
# (pred_contribs) for the bundled binary models, under the XGBoost that trained
# them (3.2.0, deploy/train/requirements.txt). Run from the repository root:
#
#   scoring/testdata/gen/explain.sh
#
# Needs scripts/pyxgb.sh's venv for that release (created on first use).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
python=$("$root/scripts/pyxgb.sh" 3.2.0)
"$python" "$here/explain.py" "$root"
ls -l "$root/scoring/testdata/explain"
