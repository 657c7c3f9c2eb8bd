#!/usr/bin/env bash
# Refresh constraints.txt, the pins of every package the README's commands install on this
# platform (Linux x86_64, CPython 3.11, CPU torch): resolve the project with all its CPU extras
# (test, distributed) in a fresh venv, from the public indexes only, and freeze what was installed.
#
#   scripts/lock.sh                                   # torch's CPU wheel from PyTorch's CPU index
#   TORCH_FROM="--find-links /opt/wheels" scripts/lock.sh   # ... or from a folder of wheels
#
# Then run .ci/run (or at least the README's two commands) and commit constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
torch=${TORCH:-2.13.0+cpu}
torch_from=${TORCH_FROM:---index-url https://download.pytorch.org/whl/cpu}
# Upper bounds for the resolve itself, for what our pins cannot say: mediapipe 0.10.21 leaves jax and
# jaxlib open, and every jax from 0.7.2 on needs numpy>=2, so without these pip downloads jaxlib after
# jaxlib (about 1 GB) while it backtracks.
hints=$root/scripts/lock-hints.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3.11}" -m venv "$tmp/venv"
# This machine's pip configuration (extra indexes, wheel folders, constraints) stays out of the lock.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_CONSTRAINT PIP_EXTRA_INDEX_URL PIP_INDEX_URL
pip=("$tmp/venv/bin/python" -m pip)
# shellcheck disable=SC2086  # torch_from is a list of pip options
"${pip[@]}" install -q $torch_from "torch==$torch"
PIP_CONSTRAINT=$hints "${pip[@]}" install -q -e ".[test,distributed]"
"${pip[@]}" check
{
  echo "# Every package that \`pip install -e \".[test,distributed]\"\` installs on Linux x86_64, CPython 3.11,"
  echo "# with torch's CPU build. Made by scripts/lock.sh on $(date -u +%Y-%m-%d); do not edit by hand."
  echo "# setuptools is also the build backend's (pyproject [build-system]): PIP_CONSTRAINT pins both."
  "${pip[@]}" freeze --all --exclude-editable | grep -v -i '^pip==' | LC_ALL=C sort -f
} > "$tmp/constraints.txt"
mv "$tmp/constraints.txt" "$root/constraints.txt"
echo "constraints.txt: $(grep -c '==' "$root/constraints.txt") pins"
