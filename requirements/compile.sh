#!/usr/bin/env bash
# The lock of each install (pyproject.toml's dependencies plus one optional group), compiled by
# uv within the full install's pins (requirements.txt), so every lock holds the versions the
# pipeline trained and tested with. `bash requirements/compile.sh` rewrites them;
# `--check` (CI) fails when one is not what its group and requirements.txt give.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-write}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# requirements.txt's pins without its last line (the editable install of this package).
grep -v '^-e ' requirements.txt > "$work/constraints.txt"
# The tracking server's own environment: the full mlflow, at the client's version.
mlflow_version=$(sed -n 's/^mlflow-skinny==//p' requirements.txt)
echo "mlflow==$mlflow_version" > "$work/mlflow-server.in"

compile() {  # compile OUTPUT ARGS...: the lock of ARGS into OUTPUT
  local output=$1
  shift
  # 3.11.7: the CI machines' Python (3.11 alone would mean 3.11.0, which some docs pins exclude).
  uv pip compile --quiet --no-annotate --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "bash requirements/compile.sh" "$@" -o "$output"
}

status=0
for group in serve predict mlflow pipeline experiments docs mlflow-server; do
  lock=requirements/$group.txt
  if [ "$group" = mlflow-server ]; then
    args=("$work/mlflow-server.in")
  else
    args=(pyproject.toml --extra "$group" -c "$work/constraints.txt")
  fi
  if [ "$mode" = --check ]; then
    cp "$lock" "$work/$group.txt"
    compile "$work/$group.txt" "${args[@]}"
    if ! diff -u "$lock" "$work/$group.txt" | head -40; then
      echo "$lock is not current: run bash requirements/compile.sh" >&2
      status=1
    fi
  else
    compile "$lock" "${args[@]}"
  fi
done
exit $status
