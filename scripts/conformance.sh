#!/usr/bin/env bash
# Runs the two public SCIM conformance suites against a running SCIM server:
#   1. scim2-tester, driven through scim2-cli (`scim test`), and
#   2. scim-sanity (`scim-sanity probe`).
# Both create, change and delete Users and Groups: point it at a throwaway server.
#
# Usage: scripts/conformance.sh BASE_URL TOKEN
#   BASE_URL  the SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2 (no trailing /Users)
#   TOKEN     the bearer token the server accepts
#
# Environment:
#   SCIM_CONFORMANCE_VENV           virtualenv to create or reuse (default target/conformance-venv,
#                                   relative to the repository root)
#   SCIM_CONFORMANCE_PYTHON         Python >= 3.11 to build it with (default: first of python3,
#                                   python3.13, python3.12, python3.11 that is new enough)
#   SCIM_CONFORMANCE_TIMEOUT        seconds each suite may run (default 900)
#   SCIM_CONFORMANCE_WAIT           seconds to wait for BASE_URL/ServiceProviderConfig (default 30)
#   SCIM_CONFORMANCE_REQUIRE_AGENT  1 = also fail on scim-sanity's Agent/AgenticApplication phases
#                                   being skipped because the server does not advertise those
#                                   (draft-abbey-scim-agent-extension) resource types (default 0)
#
# Output: full logs under target/conformance/, a short summary on stdout, and exit status 0 only
# if EVERY scim2-tester check is SUCCESS (any other status, SKIPPED included, is a failure) and
# every scim-sanity result is "pass" (fail, error, warn and skip are failures, except the agent
# extension skips described above).
set -euo pipefail

usage() {
  echo "usage: $0 BASE_URL TOKEN" >&2
  exit 2
}
die() {
  echo "conformance: $*" >&2
  exit 1
}

[ $# -eq 2 ] || usage
BASE_URL=${1%/}
TOKEN=$2
[ -n "$BASE_URL" ] && [ -n "$TOKEN" ] || usage

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Pinned versions (latest on PyPI when this was written). scim2-client and scim2-models are
# pinned too: they decide most of what scim2-tester sends and how strictly it reads answers.
PINS=(
  "scim2-cli==0.6.0"
  "scim2-tester==0.5.2"
  "scim2-client==0.13.2"
  "scim2-models==0.12.3"
  "scim-sanity==0.7.4"
)

VENV=${SCIM_CONFORMANCE_VENV:-target/conformance-venv}
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
OUT="$ROOT/target/conformance"
TIMEOUT=${SCIM_CONFORMANCE_TIMEOUT:-900}
WAIT=${SCIM_CONFORMANCE_WAIT:-30}

python_ok() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

pick_python() {
  if [ -n "${SCIM_CONFORMANCE_PYTHON:-}" ]; then
    python_ok "$SCIM_CONFORMANCE_PYTHON" || die "SCIM_CONFORMANCE_PYTHON=$SCIM_CONFORMANCE_PYTHON is not Python >= 3.11"
    echo "$SCIM_CONFORMANCE_PYTHON"
    return
  fi
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      echo "$candidate"
      return
    fi
  done
  die "scim2-tester needs Python >= 3.11; none found (set SCIM_CONFORMANCE_PYTHON)"
}

# True when the venv already holds exactly the pinned versions.
pins_installed() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/scim" ] && [ -x "$VENV/bin/scim-sanity" ] || return 1
  "$VENV/bin/python" - "${PINS[@]}" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

ensure_venv() {
  if pins_installed; then
    return
  fi
  if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
    local py
    py=$(pick_python)
    if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
      die "$VENV exists and is not a virtualenv; remove it or set SCIM_CONFORMANCE_VENV"
    fi
    echo "== conformance: creating virtualenv $VENV ($py)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV" || die "could not create a virtualenv with $py (on Debian: apt-get install python3-venv)"
  fi
  echo "== conformance: installing ${PINS[*]}"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${PINS[@]}" \
    || die "pip install of the pinned conformance suites failed"
  pins_installed || die "the virtualenv $VENV does not hold the pinned versions after pip install"
}

ensure_venv

# Never send loopback traffic through a proxy (httpx and urllib both honour *_proxy variables).
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export NO_COLOR=1

mkdir -p "$OUT"
rm -f "$OUT/scim2-tester.log" "$OUT/scim2-tester.json" "$OUT/scim-sanity.json" \
  "$OUT/scim-sanity.stderr" "$OUT/summary.txt" "$OUT/summary.json"

# Wait until the server answers its ServiceProviderConfig (any HTTP answer counts).
"$VENV/bin/python" - "$BASE_URL" "$TOKEN" "$WAIT" <<'PY' || die "no answer from $BASE_URL/ServiceProviderConfig"
import sys, time, urllib.error, urllib.request
base, token, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + wait
while True:
    try:
        req = urllib.request.Request(base + "/ServiceProviderConfig",
                                     headers={"Authorization": "Bearer " + token})
        urllib.request.urlopen(req, timeout=5).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception as exc:
        if time.monotonic() > deadline:
            print(f"conformance: {base}/ServiceProviderConfig: {exc}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
PY

# 1. scim2-tester through scim2-cli. The CLI entry point is also called `scim`, so it is always
#    called by its path in the venv. URL and header go through the environment (the header
#    variable is split on ';'), which keeps the token off the process list.
echo "== conformance: scim2-tester (scim2-cli 'scim test') against $BASE_URL"
set +e
SCIM_CLI_URL="$BASE_URL" SCIM_CLI_HEADERS="Authorization: Bearer $TOKEN" \
  timeout "$TIMEOUT" "$VENV/bin/scim" test --verbose </dev/null >"$OUT/scim2-tester.log" 2>&1
tester_rc=$?

# 2. scim-sanity probe, strict mode, JSON report on stdout.
echo "== conformance: scim-sanity probe against $BASE_URL"
timeout "$TIMEOUT" "$VENV/bin/scim-sanity" probe "$BASE_URL" --token "$TOKEN" \
  --i-accept-side-effects --json-output </dev/null >"$OUT/scim-sanity.json" 2>"$OUT/scim-sanity.stderr"
sanity_rc=$?
set -e

# 3. Summary and verdict.
REQUIRE_AGENT=${SCIM_CONFORMANCE_REQUIRE_AGENT:-0}
exec "$VENV/bin/python" - "$OUT" "$BASE_URL" "$tester_rc" "$sanity_rc" "$REQUIRE_AGENT" <<'PY'
import json
import re
import sys
from importlib.metadata import version

out, base_url, tester_rc, sanity_rc, require_agent = sys.argv[1:6]
tester_rc, sanity_rc = int(tester_rc), int(sanity_rc)
require_agent = require_agent == "1"

summary_lines = []


def say(line=""):
    summary_lines.append(line)


def clip(text, limit=300):
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def rc_note(rc):
    return "timed out" if rc == 124 else f"exit {rc}"


failures = []  # (suite, label, detail)

# ---------------------------------------------------------------- scim2-tester
# `scim test --verbose` prints, per check, "<STATUS> <check_function_name>" at column 0, then
# the reason (may span several lines, continuation lines unindented) and, with --verbose, the
# data attached to the result. Statuses are the scim2_tester.Status enum names.
STATUSES = ("SUCCESS", "COMPLIANT", "ACCEPTABLE", "DEVIATION", "ERROR", "CRITICAL", "SKIPPED")
head_re = re.compile(r"^(%s) ([A-Za-z_][A-Za-z0-9_]*)$" % "|".join(STATUSES))
with open(f"{out}/scim2-tester.log", encoding="utf-8", errors="replace") as fh:
    log_lines = fh.read().splitlines()

preamble, checks = [], []
for line in log_lines:
    m = head_re.match(line)
    if m:
        checks.append({"status": m.group(1), "check": m.group(2), "detail": []})
    elif checks:
        checks[-1]["detail"].append(line)
    else:
        preamble.append(line)

# Best effort: tell which resource type a CRUD/PATCH check ran on. scim2-tester tests the
# resource types in the order /ResourceTypes lists them, each block opening with object_creation.
types = []
for c in checks:
    if c["check"] == "query_all_resource_types" and c["status"] == "SUCCESS" and c["detail"]:
        types = re.findall(r"'([^']*)'", c["detail"][0])
n_blocks = sum(1 for c in checks if c["check"] == "object_creation")
annotate = bool(types) and n_blocks == len(types)
blocks = -1
for c in checks:
    if c["check"] == "object_creation":
        blocks += 1
    c["resource_type"] = types[blocks] if annotate and blocks >= 0 else None

with open(f"{out}/scim2-tester.json", "w") as fh:
    json.dump(
        [
            {
                "status": c["status"],
                "check": c["check"],
                "resource_type": c["resource_type"],
                "detail": "\n".join(c["detail"]),
            }
            for c in checks
        ],
        fh,
        indent=2,
    )

counts = {}
for c in checks:
    counts[c["status"]] = counts.get(c["status"], 0) + 1
tester_pass = counts.get("SUCCESS", 0)
count_text = ", ".join(f"{s} {counts[s]}" for s in STATUSES if s in counts) or "no checks"
say(f"scim2-tester {version('scim2-tester')} (scim2-cli {version('scim2-cli')}): "
    f"{len(checks)} checks: {count_text} [{rc_note(tester_rc)}]")

skipped = [c for c in checks if c["status"] == "SKIPPED"]
if skipped:
    say(f"  SKIPPED (counted as failures): {len(skipped)}")
    for c in skipped:
        rt = f" [{c['resource_type']}]" if c["resource_type"] else ""
        say(f"    {c['check']}{rt}: {clip(c['detail'][0] if c['detail'] else '')}")

for c in checks:
    if c["status"] in ("SUCCESS", "SKIPPED"):
        continue
    rt = f" [{c['resource_type']}]" if c["resource_type"] else ""
    detail = " | ".join(clip(line, 200) for line in c["detail"][:3] if line.strip())
    failures.append(("scim2-tester", f"{c['status']} {c['check']}{rt}", detail))
for c in skipped:
    rt = f" [{c['resource_type']}]" if c["resource_type"] else ""
    failures.append(("scim2-tester", f"SKIPPED {c['check']}{rt}",
                     clip(c["detail"][0] if c["detail"] else "")))

if not checks:
    failures.append(("scim2-tester", "no check ran",
                     " | ".join(clip(l, 200) for l in preamble if l.strip())[:600] or "empty output"))
elif tester_rc != 0 and all(c["status"] == "SUCCESS" for c in checks):
    failures.append(("scim2-tester", f"'scim test' {rc_note(tester_rc)} with no failing check",
                     "see scim2-tester.log"))

# ---------------------------------------------------------------- scim-sanity
AGENT_PHASES = {"Agent CRUD Lifecycle", "AgenticApplication CRUD Lifecycle", "Agent Rapid Lifecycle"}
sanity_pass = 0
try:
    with open(f"{out}/scim-sanity.json", encoding="utf-8") as fh:
        report = json.load(fh)
    results = report["results"]
except Exception as exc:  # no JSON: the probe crashed or could not connect
    report, results = None, []
    with open(f"{out}/scim-sanity.stderr", encoding="utf-8", errors="replace") as fh:
        err = [l for l in fh.read().splitlines() if l.strip()]
    failures.append(("scim-sanity", "no JSON report",
                     clip(f"{exc}; stderr: " + " | ".join(err[-3:]), 600)))

scounts, not_applicable = {}, []
for r in results:
    st = r.get("status")
    scounts[st] = scounts.get(st, 0) + 1
    label = f"{st} {r.get('name')} ({r.get('phase')})"
    msg = clip(r.get("message") or "")
    if st == "pass":
        sanity_pass += 1
    elif (st == "skip" and not require_agent and r.get("name") in AGENT_PHASES
          and "not supported" in (r.get("message") or "")):
        not_applicable.append(r)
    else:
        failures.append(("scim-sanity", label, msg))

if report is not None:
    order = ("pass", "fail", "error", "warn", "skip")
    stext = ", ".join(f"{s} {scounts[s]}" for s in order if s in scounts) or "no results"
    say(f"scim-sanity {version('scim-sanity')} ({report.get('mode')}): {len(results)} results: "
        f"{stext} [{rc_note(sanity_rc)}]")
    if not_applicable:
        say(f"  not applicable (agent extension not advertised; "
            f"SCIM_CONFORMANCE_REQUIRE_AGENT=1 to fail on them): "
            + ", ".join(r["name"] for r in not_applicable))
    if not results:
        failures.append(("scim-sanity", "no result", "empty report"))
    elif sanity_rc != 0 and not any(f[0] == "scim-sanity" for f in failures):
        failures.append(("scim-sanity", f"probe {rc_note(sanity_rc)} with no failing result",
                         "see scim-sanity.json"))
else:
    say(f"scim-sanity: no report [{rc_note(sanity_rc)}]")

if failures:
    say(f"FAILURES ({len(failures)}):")
    for suite, label, detail in failures:
        say(f"  {suite}: {label}")
        if detail:
            say(f"      {detail}")
say(f"full output: {out}/ (scim2-tester.log, scim2-tester.json, scim-sanity.json)")
passed = tester_pass + sanity_pass
say(f"conformance: {passed} passed, {len(failures)} failed")

text = "\n".join(summary_lines)
print(f"== conformance summary ({base_url})")
print(text)
with open(f"{out}/summary.txt", "w") as fh:
    fh.write(text + "\n")
with open(f"{out}/summary.json", "w") as fh:
    json.dump({
        "base_url": base_url,
        "ok": not failures,
        "scim2_tester": {"exit_code": tester_rc, "counts": counts, "checks": len(checks)},
        "scim_sanity": {"exit_code": sanity_rc, "counts": scounts, "results": len(results),
                        "not_applicable": [r["name"] for r in not_applicable]},
        "failures": [{"suite": s, "check": l, "detail": d} for s, l, d in failures],
    }, fh, indent=2)
sys.exit(1 if failures else 0)
PY
