#!/bin/sh
# Regenerates scoring/testdata/compat (issue 16): models with every objective
# and format a SageMaker user brings, written by pinned XGBoost 3.2.0 and
# 1.7.6 and LightGBM 4.7.0, with the libraries' own predictions. Run from
# the repository root:
#
#   scoring/testdata/gen/compat.sh
#
# Creates two venvs on first use under ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall
# (venv-compat-3.2.0, venv-compat-1.7.6; every package pinned). Leaves
# scoring/testdata/xgb alone (gen.sh makes that).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/.." && pwd)/compat
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sagewall"

# venv NAME CHECK PACKAGES...: prints the venv's python, creating it if its
# check fails.
venv() {
	dir="$cache/venv-compat-$1"
	check=$2
	shift 2
	if ! "$dir/bin/python" -c "$check" 2>/dev/null; then
		rm -rf "$dir"
		python3 -m venv "$dir" >&2
		"$dir/bin/python" -m pip install --quiet "$@" >&2
		"$dir/bin/python" -c "$check" >&2
	fi
	echo "$dir/bin/python"
}
new=$(venv 3.2.0 "import xgboost, lightgbm, numpy; assert (xgboost.__version__, lightgbm.__version__, numpy.__version__) == ('3.2.0', '4.7.0', '2.4.6')" \
	xgboost-cpu==3.2.0 lightgbm==4.7.0 numpy==2.4.6 scipy==1.17.1)
old=$(venv 1.7.6 "import xgboost, numpy; assert (xgboost.__version__, numpy.__version__) == ('1.7.6', '1.26.4')" \
	xgboost==1.7.6 numpy==1.26.4 scipy==1.11.4)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out"
"$new" "$here/compat.py" data "$out" "$tmp"
"$new" "$here/compat.py" xgb "$out" "$tmp"
"$old" "$here/compat.py" xgb "$out" "$tmp"
"$new" "$here/compat.py" special "$out" "$tmp"
"$new" "$here/compat.py" lightgbm "$out" "$tmp"
ls -l "$out"
