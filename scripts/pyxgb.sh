#!/bin/sh
# Prints the path of a Python interpreter with the current xgboost-cpu and
# lightgbm from PyPI, creating the venv on first use under
# ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/venv-xgb.
set -eu
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/venv-xgb"
if ! "$venv/bin/python" -c 'import xgboost, lightgbm' 2>/dev/null; then
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install --quiet xgboost-cpu lightgbm numpy >&2
fi
echo "$venv/bin/python"
