#!/bin/sh
# Prints the path of a Python interpreter with XGBoost from PyPI, creating
# its venv on first use under ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/.
#
#   scripts/pyxgb.sh          the current xgboost-cpu, with lightgbm (venv-xgb)
#   scripts/pyxgb.sh 1.5.2    that XGBoost release alone (venv-xgb-1.5.2);
#                             releases before 2.1 come as "xgboost" and need numpy<2
set -eu
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sagewall"
if [ $# -eq 0 ]; then
	venv="$cache/venv-xgb"
	set -- xgboost-cpu lightgbm numpy
	check='import xgboost, lightgbm'
else
	venv="$cache/venv-xgb-$1"
	case "$1" in
	0.* | 1.* | 2.0.*) set -- "xgboost==$1" "numpy<2" ;;
	*) set -- "xgboost-cpu==$1" numpy ;;
	esac
	check="import xgboost; assert xgboost.__version__ == '${venv##*-}', xgboost.__version__"
fi
if ! "$venv/bin/python" -c "$check" 2>/dev/null; then
	python3 -m venv "$venv" >&2
	"$venv/bin/python" -m pip install --quiet "$@" >&2
fi
echo "$venv/bin/python"
