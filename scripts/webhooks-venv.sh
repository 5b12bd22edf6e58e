#!/usr/bin/env bash
# Creates (or reuses) the virtual environment with the Standard Webhooks reference library
# (PyPI `standardwebhooks`, pinned) that the webhook tests verify signatures with:
# target/webhooks-venv. Prints its python's path. Fails (status 1) when it cannot be built
# (no network): the tests then say SKIPPED, or fail when CI=true.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/target/webhooks-venv"
PIN="standardwebhooks==1.1.0"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  echo "$VENV/bin/python"
  exit 0
fi
python3 -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$PIN" >&2
"$VENV/bin/python" -c 'import standardwebhooks'
echo "$VENV/bin/python"
