#!/bin/sh
# Regenerates scoring/testdata/xgb: the fixture models and golden predictions
# made by real XGBoost (Debian's python3-xgboost 1.7.4, the current
# xgboost-cpu, and 1.5.2 and 3.0.5 for SageMaker-style model.tar.gz files)
# and LightGBM. Run from the repository root:
#
#   scoring/testdata/gen/gen.sh
#
# Needs: apt-get install -y python3-xgboost (installs for /usr/bin/python3),
# and scripts/pyxgb.sh for the venvs (created on first use).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/.." && pwd)/xgb
venv_python=$("$here/../../../scripts/pyxgb.sh")

/usr/bin/python3 -c 'import xgboost; assert xgboost.__version__ == "1.7.4", xgboost.__version__' ||
	{ echo "gen.sh: need Debian's python3-xgboost 1.7.4 for /usr/bin/python3 (apt-get install -y python3-xgboost)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
/usr/bin/python3 "$here/gen.py" train "$out"
"$venv_python" "$here/gen.py" train "$out"
"$venv_python" "$here/gen.py" rows "$out"
/usr/bin/python3 "$here/gen.py" predict "$out"
"$venv_python" "$here/gen.py" predict "$out"
# SageMaker's built-in containers: 1.5-1 (legacy binary) and 3.0 (UBJSON).
for version in 1.5.2 3.0.5; do
	"$("$here/../../../scripts/pyxgb.sh" "$version")" "$here/gen.py" sagemaker "$out"
done
"$venv_python" "$here/gen.py" lightgbm "$out"
rm -rf "$out"/tmp-*
ls -l "$out"
