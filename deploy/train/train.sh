#!/usr/bin/env bash
# Trains the bundled model: creates (once) a cached virtualenv with the pinned
# xgboost-cpu and numpy, then runs train.py from the repository root.
# Usage: deploy/train/train.sh [train.py flags]
#        deploy/train/train.sh evaluate [evaluate.py flags]   (cross-validation, docs/model.md)
#        deploy/train/train.sh generalise [generalise.py flags] (leave-attack-type-out, docs/model.md)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/venv-train"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "train.sh: creating $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

script=train.py
case "${1:-}" in
evaluate | generalise)
  script="$1.py"
  shift
  ;;
esac
cd "$root"
exec "$venv/bin/python" "$here/$script" "$@"
