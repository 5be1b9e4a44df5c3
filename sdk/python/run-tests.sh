#!/usr/bin/env bash
# The Python SDK's tests against the real binary: a fresh virtual environment (a temporary
# directory, or SDK_VENV to keep and reuse one), `pip install ./sdk/python pytest joserfc
# prometheus_client langgraph` from PyPI, then pytest. The binary is $HANDOFF_BIN, else target/debug/handoff (under
# $CARGO_TARGET_DIR when set), which `cargo build -p handoff` makes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
export HANDOFF_BIN="${HANDOFF_BIN:-$target/debug/handoff}"
if [ ! -x "$HANDOFF_BIN" ]; then
    echo "run-tests.sh: no handoff binary at $HANDOFF_BIN (cargo build -p handoff, or set HANDOFF_BIN)" >&2
    exit 2
fi

if [ -n "${SDK_VENV:-}" ]; then
    venv="$SDK_VENV"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    venv="$tmp/venv"
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# langgraph for the LangGraph gate's tests (about 20 s more to install); SDK_SKIP_LANGGRAPH=1
# leaves it out and those tests are skipped.
extra=(langgraph)
[ "${SDK_SKIP_LANGGRAPH:-}" = 1 ] && extra=()
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$here" pytest joserfc prometheus_client "${extra[@]}" < /dev/null

# From the tests' folder's parent, but the package under test is the installed one: the
# source lives in src/, which is not on the path.
cd "$here"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@" < /dev/null
