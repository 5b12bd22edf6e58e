#!/usr/bin/env bash
# Validates an OpenAPI document with the third-party PyPI package openapi-spec-validator,
# installed (pinned) into a virtual environment under target/ on first use.
#
# Usage: scripts/openapi-validate.sh FILE
# Exit status: 0 valid, 1 invalid, 2 the validator could not be installed (no Python or no
# network: the caller decides whether that is a skip or a failure).
# Environment: SCIM_OPENAPI_VENV (default target/openapi-venv).
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }
FILE=$1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV=${SCIM_OPENAPI_VENV:-$ROOT/target/openapi-venv}
PIN="openapi-spec-validator==0.7.2"

if ! "$VENV/bin/python" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || { echo "openapi-validate: python3 is not installed" >&2; exit 2; }
  python3 -m venv "$VENV" >/dev/null 2>&1 || { echo "openapi-validate: cannot create a venv at $VENV" >&2; exit 2; }
  if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PIN" >"$VENV.install.log" 2>&1; then
    echo "openapi-validate: cannot install $PIN from PyPI (offline?); see $VENV.install.log" >&2
    exit 2
  fi
fi
"$VENV/bin/python" - "$FILE" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
with open(sys.argv[1]) as f:
    doc = json.load(f)
try:
    validate(doc)
except OpenAPIValidationError as e:
    print(f"INVALID: {e}", file=sys.stderr)
    sys.exit(1)
print(f"valid OpenAPI {doc.get('openapi')} ({len(doc.get('paths', {}))} paths)")
PY
