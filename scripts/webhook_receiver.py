#!/usr/bin/env python3
"""A webhook receiver for scim's tests and benchmarks: verifies every delivery's Standard
Webhooks signature and logs what it received, one JSON object per line.

Verification uses the reference library (PyPI `standardwebhooks`) when it is importable,
else the same check written with the Python standard library (hmac, hashlib, base64) --
the check docs/events.md shows. SCIM_REQUIRE_STANDARDWEBHOOKS=1 makes the library required.

Usage: webhook_receiver.py --secret-file PATH --log PATH [--fail-every N] [--slow-ms MS]
Prints "listening PORT" once it accepts connections (port 0 = any free port).

Answers: 204 to a verified delivery; 400 when the signature does not verify; 503 (with
Retry-After: 0) for every Nth delivery when --fail-every N, and while the secret file is
missing. Each log line: {"id", "position", "type", "events", "ok", "status", "verifier",
"inflight"} ("inflight": deliveries being received at once, this one included).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    VERIFIER = "standardwebhooks"
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("SCIM_REQUIRE_STANDARDWEBHOOKS") == "1":
        sys.exit("the standardwebhooks package is required (SCIM_REQUIRE_STANDARDWEBHOOKS=1)")
    Webhook = None
    VERIFIER = "stdlib"


def stdlib_verify(secret, body, headers):
    """The Standard Webhooks check with the standard library only."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        raise ValueError("timestamp too old or too new")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for sig in headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(expected, base64.b64decode(value)):
            return
    raise ValueError("no signature matches")


def verify(secrets, body, headers):
    """Whether one of the secrets verifies the delivery."""
    for secret in secrets:
        try:
            if Webhook is not None:
                Webhook(secret).verify(body, headers)
            else:
                stdlib_verify(secret, body, headers)
            return True
        except Exception:  # noqa: BLE001 - any failure is "does not verify"
            continue
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fail-every", type=int, default=0)
    p.add_argument("--slow-ms", type=int, default=0)
    args = p.parse_args()

    lock = threading.Lock()
    state = {"count": 0, "inflight": 0}
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def answer(self, status, extra=None):
            self.send_response(status)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with lock:
                state["count"] += 1
                state["inflight"] += 1
                n, inflight = state["count"], state["inflight"]
            try:
                if args.slow_ms:
                    time.sleep(args.slow_ms / 1000)
                try:
                    with open(args.secret_file) as f:
                        secrets = [s.strip() for s in f if s.strip()]
                except FileNotFoundError:
                    secrets = []
                ok = bool(secrets) and verify(secrets, body, headers)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                events = payload.get("data", {}).get("events") if payload.get("type") == "scim.batch" else None
                if not secrets or (args.fail_every and n % args.fail_every == 0):
                    status = 503
                elif ok:
                    status = 204
                else:
                    status = 400
                entry = {
                    "id": headers.get("webhook-id"),
                    "position": payload.get("position"),
                    "type": payload.get("type"),
                    "events": [e["position"] for e in events] if events else None,
                    "ok": ok,
                    "status": status,
                    "verifier": VERIFIER,
                    "inflight": inflight,
                    "signatures": len(headers.get("webhook-signature", "").split(" ")),
                }
                with lock:
                    log.write(json.dumps(entry) + "\n")
                self.answer(status, {"Retry-After": "0"} if status == 503 else None)
            finally:
                with lock:
                    state["inflight"] -= 1

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
