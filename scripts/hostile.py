"""The hostile probe of issue 11 at full size (run by scripts/hostile). Standard library only."""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SCIM, PG_URL = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(*args, db):
    return subprocess.run([SCIM, *args, *db], check=True, capture_output=True, text=True).stdout


def token_of(out):
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("token (shown once"))


class Server:
    def __init__(self, db, *extra):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [SCIM, "serve", "--listen", f"127.0.0.1:{self.port}", *db, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("scim serve did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def call(port, token, method, path, body=None, tenant="acme", timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    data = json.dumps(body, separators=(",", ":")) if body is not None else None
    t = time.perf_counter()
    c.request(method, f"/scim/v2/{tenant}{path}", body=data, headers=headers)
    r = c.getresponse()
    text = r.read()
    return r.status, time.perf_counter() - t, text


def mb(body):
    return len(json.dumps(body, separators=(",", ":"))) / 1e6


def huge_patch(port, token):
    print("== huge PATCHes")
    status, _, text = call(port, token, "POST", "/Users", {"schemas": [USER], "userName": "huge@example.com"})
    uid = json.loads(text)["id"]
    emails = [{"value": f"e{i}@example.com", "type": "work"} for i in range(20000)]
    body = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails", "value": emails}]}
    s, t, _ = call(port, token, "PATCH", f"/Users/{uid}", body)
    print(f"  one op adding 20,000 emails ({mb(body):.1f} MB): HTTP {s} in {t * 1000:.0f} ms (was ~10 s)")
    ops = [{"op": "add", "path": "emails", "value": [{"value": f"o{i}@example.com"}]} for i in range(65000)]
    body = {"schemas": [PATCH], "Operations": ops}
    s, t, _ = call(port, token, "PATCH", f"/Users/{uid}", body)
    print(f"  65,000 one-email ops ({mb(body):.1f} MB): HTTP {s} in {t * 1000:.0f} ms (was ~250 s)")
    body = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails", "value": emails[:1000]}]}
    s, t, _ = call(port, token, "PATCH", f"/Users/{uid}?attributes=id", body)
    print(f"  the largest allowed: one op adding 1,000 emails: HTTP {s} in {t * 1000:.0f} ms")
    ops = [{"op": "add", "path": "emails", "value": [{"value": f"E{i}@EXAMPLE.com"}]} for i in range(1000)]
    s, t, _ = call(port, token, "PATCH", f"/Users/{uid}?attributes=id", {"schemas": [PATCH], "Operations": ops})
    print(f"  1,000 ops against 1,000 emails (each a duplicate): HTTP {s} in {t * 1000:.0f} ms")


def idle_sockets(port, token):
    print("== 1,100 idle sockets and a byte-by-byte sender (--header-read-timeout 5)")
    socks = []
    for _ in range(1100):
        s = socket.create_connection(("127.0.0.1", port))
        socks.append(s)
    slow = socket.create_connection(("127.0.0.1", port))
    stop = threading.Event()

    def trickle():
        try:
            for b in b"GET /health HTTP/1.1\r\nHost: x\r\n" * 20:
                if stop.is_set():
                    return
                slow.send(bytes([b]))
                time.sleep(0.2)
        except OSError:
            pass

    threading.Thread(target=trickle, daemon=True).start()
    s, t, _ = call(port, token, "GET", "/Users?count=1", timeout=60)
    print(f"  a normal request with 1,100 idle sockets open: HTTP {s} in {t * 1000:.0f} ms")
    started = time.perf_counter()
    closed = 0
    for s in socks:
        s.settimeout(30)
        try:
            if s.recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
    print(f"  idle sockets closed by the server: {closed} of 1,100, within {time.perf_counter() - started:.1f} s")
    stop.set()
    slow.settimeout(1)
    try:
        gone = slow.recv(1) == b""
    except OSError:
        gone = True
    print(f"  the byte-by-byte sender was cut off: {gone}")
    for s in socks:
        s.close()


def deleted_under_load(port, db):
    print("== a tenant deleted by the CLI while 8 clients write to it")
    cli("tenant", "create", "doomed", db=db)
    tok = token_of(cli("token", "create", "--tenant", "doomed", "--name", "load", db=db))
    counts, lock, stop = {}, threading.Lock(), threading.Event()

    def writer(w):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                s, _, _ = call(port, tok, "POST", "/Users", {"schemas": [USER], "userName": f"d{w}-{i}@example.com"}, tenant="doomed", timeout=30)
            except OSError as e:
                s = f"error {e.__class__.__name__}"
            with lock:
                counts[s] = counts.get(s, 0) + 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    t0 = time.perf_counter()
    cli("tenant", "delete", "doomed", "--yes", db=db)
    deleted = time.perf_counter()
    first_401 = None
    while time.perf_counter() - deleted < 8:
        s, _, _ = call(port, tok, "GET", "/Users?count=1", tenant="doomed")
        if s == 401:
            first_401 = time.perf_counter() - deleted
            break
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    bad = {k: v for k, v in counts.items() if not (isinstance(k, int) and k < 500)}
    print(f"  statuses: {dict(sorted(counts.items(), key=str))}; 5xx or errors: {bad or 'none'}")
    print(f"  delete took {(deleted - t0) * 1000:.0f} ms; the token was refused {first_401 and f'{first_401:.1f} s' or 'not within 8 s'} after (stated bound: 5 s on other processes)")


def token_timing(port, db):
    print("== token checks: existing id with a wrong secret vs unknown id (medians)")
    # Failed checks are throttled per source address (burst 30) and per token id (burst
    # 10): 20 real tokens, 8 wrong guesses each, spread over 20 loopback addresses.
    ids = []
    for i in range(20):
        out = cli("token", "create", "--tenant", "acme", "--name", f"timing{i}", db=db)
        ids.append(token_of(out).split("_")[1])
    samples = {"existing id": [], "unknown id": []}
    n = 0
    for tid in ids:
        for k in range(8):
            n += 1
            source = (f"127.0.1.{n % 20 + 1}", 0)
            for name, presented in (("existing id", tid), ("unknown id", f"{n:016x}")):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=source)
                t = time.perf_counter()
                c.request("GET", "/scim/v2/acme/Users", headers={"Authorization": f"Bearer scim_{presented}_wrongsecret{k}"})
                r = c.getresponse()
                r.read()
                if r.status == 401:
                    samples[name].append(time.perf_counter() - t)
                c.close()
    for name, xs in samples.items():
        if xs:
            print(f"  {name}: median {statistics.median(xs) * 1e6:.0f} us over {len(xs)} checks")


def hanging_postgres(pg_url):
    print("== PostgreSQL that accepts connections and then hangs (--database-statement-timeout 2)")
    host_port = pg_url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    target = (host or "127.0.0.1", int(port or 5432))
    frozen = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    pport = listener.getsockname()[1]

    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    return
                while frozen.is_set():
                    time.sleep(3600)
                b.sendall(data)
        except OSError:
            pass

    def accept():
        while True:
            c, _ = listener.accept()
            if frozen.is_set():
                continue
            u = socket.create_connection(target)
            threading.Thread(target=pump, args=(c, u), daemon=True).start()
            threading.Thread(target=pump, args=(u, c), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    url = pg_url.replace(host_port, f"127.0.0.1:{pport}")
    db = ["--database-url", url]
    cli("tenant", "create", "pg", db=db)
    tok = token_of(cli("token", "create", "--tenant", "pg", "--name", "t", db=db))
    server = Server(db, "--database-statement-timeout", "2", "--database-acquire-timeout", "2")
    try:
        s, _, _ = call(server.port, tok, "GET", "/Users", tenant="pg")
        frozen.set()
        t = time.perf_counter()
        s, _, _ = call(server.port, tok, "POST", "/Users", {"schemas": [USER], "userName": "x@example.com"}, tenant="pg", timeout=120)
        print(f"  a write while the database hangs: HTTP {s} after {time.perf_counter() - t:.1f} s (was: hung 45 s and more)")
    finally:
        server.stop()


def main():
    work = tempfile.mkdtemp(prefix="scim-hostile-")
    db = ["--data-dir", os.path.join(work, "data")]
    cli("migrate", db=db)  # administration never creates a database; migrate does
    cli("tenant", "create", "acme", "--rate-limit", "100000/s", "--burst", "100000", db=db)
    token = token_of(cli("token", "create", "--tenant", "acme", "--name", "probe", db=db))
    server = Server(db, "--header-read-timeout", "5")
    try:
        huge_patch(server.port, token)
        idle_sockets(server.port, token)
        deleted_under_load(server.port, db)
        token_timing(server.port, db)
    finally:
        server.stop()
    if PG_URL:
        hanging_postgres(PG_URL)


main()
