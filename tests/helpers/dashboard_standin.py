#!/usr/bin/env python3
"""dashboard_standin.py - a DEVELOPMENT AID only: serves broker/web/ and canned,
in-memory answers shaped as docs/broker-api.md says, so that the dashboard and
tests/helpers/browser.py can be worked on before kwq-broker exists.

It is not a test fixture: the dashboard's real test runs against a live
kwq-broker on a private redis-server. Nothing in ctest starts this.

    dashboard_standin.py [--port N] [--write] [--kube] [--basic-auth USER:PASS]
                         [--more-dead N] [--web DIR]

Prints the base URL (http://127.0.0.1:PORT/) on one line once it listens.
Queues: "images" (two dead letters, 17 and 18, one with markup in its stderr),
"mail.send" (sealed and drained) and "empty:q". Requeue and purge change the
state as the broker would (a requeued letter becomes pending).
"""
import argparse
import base64
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}


def now_ms():
    return int(time.time() * 1000)


class World:
    """What the stand-in pretends Redis holds; one lock around every change."""

    def __init__(self, write, kube, more_dead=0):
        self.lock = threading.Lock()
        self.write = write
        self.kube = kube
        self.csrf = secrets.token_hex(16)
        t = now_ms()
        base = dict(pending=0, leased=0, delayed=0, dead=0, results=0, done=0, enqueued=0,
                    failed=0, retries=0, expired=0, released=0, cancelled=0, requeued=0,
                    restarts=0, oldest_pending_ms=0, sealed=False, drained=False,
                    done_per_s=0.0, enqueued_per_s=0.0)
        self.queues = {
            "images": dict(base, pending=10, leased=2, done=40, enqueued=54, failed=3, retries=1,
                           oldest_pending_ms=5300, done_per_s=4.2, enqueued_per_s=0.4),
            "mail.send": dict(base, done=7, enqueued=7, sealed=True, drained=True),
            "empty:q": dict(base),
        }
        self.dead = {q: [] for q in self.queues}
        self.dead["images"] = [
            {"id": "17", "died_ms": t - 95000, "attempts": 3, "last_code": 2,
             "last_error": "handler exited with code 2; stderr: Traceback (most recent call last):\n"
                           "  File \"resize.py\", line 9, in <module>\n"
                           "ValueError: cannot identify image file 'cat.gif'"},
            {"id": "18", "died_ms": t - 30000, "attempts": 1, "last_code": -1,
             "last_error": "handler timed out after 30s and was stopped; stderr: <script>alert(1)</script> & <b>bold</b>"},
        ]
        # More letters, to see the pages of the list.
        self.dead["images"] += [{"id": str(1000 + i), "died_ms": t - 20000 + i, "attempts": 1,
                                 "last_code": 1, "last_error": "handler exited with code 1"}
                                for i in range(more_dead)]
        self.tasks = {("images", d["id"]): {"state": "dead", "attempts": d["attempts"]}
                      for d in self.dead["images"]}
        self.history = {q: self._samples(q, t) for q in self.queues}

    def _samples(self, q, t):
        """120 samples 5 s apart ending now: a busy queue gets a wave, others are flat."""
        out = []
        done = 0
        for i in range(120):
            busy = q == "images"
            rate = (3 + 2 * ((i // 10) % 3)) if busy else 0
            done += rate * 5
            out.append({"t": t - (119 - i) * 5000, "pending": (i * 7) % 40 if busy else 0,
                        "leased": 2 if busy else 0, "dead": 2 if busy else 0, "done": done,
                        "enqueued": done + 10})
        return out

    def overview(self):
        qs = []
        for name in sorted(self.queues):
            q = dict(self.queues[name], name=name, dead=len(self.dead[name]))
            qs.append(q)
        return {"broker": {"version": "0.1.0", "identity": "standin-%d" % os.getpid(),
                           "leader": True, "term": 3, "leader_backend": "redis", "redis_up": True,
                           "write": self.write, "csrf": self.csrf, "kube": self.kube,
                           "server_time_ms": now_ms()},
                "queues": qs}

    def dead_page(self, q, query):
        args = urllib.parse.parse_qs(query)
        offset = int(args.get("offset", ["0"])[0])
        count = min(int(args.get("count", ["50"])[0]), 200)
        letters = self.dead[q]
        return {"total": len(letters), "offset": offset, "dead": letters[offset:offset + count]}

    def change(self, q, verb, body):
        """Requeue or purge: the answer the broker gives, as (status, object)."""
        letters = self.dead[q]
        if body.get("all") is True:
            ids = [d["id"] for d in letters]
        elif isinstance(body.get("ids"), list) and all(isinstance(i, str) for i in body["ids"]):
            ids = body["ids"]
        else:
            return 400, {"error": "the body must be {\"ids\": [...]} or {\"all\": true}"}
        hit = [d for d in letters if d["id"] in ids]
        self.dead[q] = [d for d in letters if d["id"] not in ids]
        for d in hit:
            if verb == "requeue":
                self.queues[q]["pending"] += 1
                self.queues[q]["requeued"] += 1
                self.tasks[(q, d["id"])] = {"state": "pending", "attempts": 0}
            else:
                self.tasks.pop((q, d["id"]), None)
        return 200, {"requeued" if verb == "requeue" else "purged": len(hit)}

    def task(self, q, tid):
        t = self.tasks.get((q, tid))
        if not t:
            return None
        hist = [{"n": 1, "o": "failed", "at": now_ms() - 120000, "c": 2, "e": "exit status 2",
                 "due": now_ms() - 110000},
                {"n": 2, "o": "expired", "at": now_ms() - 100000},
                {"n": 3, "o": "failed", "at": now_ms() - 95000, "c": 2, "e": "<i>not</i> markup",
                 "dead": 1}]
        if t["state"] == "pending":
            hist.append({"n": 3, "o": "requeued", "at": now_ms() - 1000})
        return {"id": tid, "state": t["state"], "attempts": t["attempts"], "max_attempts": 3,
                "enqueued_ms": now_ms() - 130000, "due_ms": 0, "payload_bytes": 21,
                "payload": "{\"file\": \"<cat>.gif\"}", "history": hist, "result": None}

    def jobs(self, q):
        if not self.kube:
            return {"enabled": False}
        if q != "images":
            return {"enabled": True, "jobs": []}
        return {"enabled": True, "jobs": [{"name": "kwq-images", "active": 3, "ready": 2,
                                           "succeeded": 1, "failed": 0, "parallelism": 3,
                                           "complete": False, "failed_condition": False}]}


class Handler(BaseHTTPRequestHandler):
    world = None
    web = None
    auth = None  # "Basic <base64>" when --basic-auth was given

    def denied(self):
        """As the broker with --basic-auth-file: 401 and a challenge, except the probes."""
        if not self.auth or self.path in ("/healthz", "/readyz") or \
                self.headers.get("Authorization") == self.auth:
            return False
        data = b'{"error": "authentication required"}'
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="kwq-broker"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def log_message(self, fmt, *args):  # quiet: the browser harness prints what matters
        pass

    def answer(self, status, obj=None, body=None, ctype="application/json"):
        data = body if body is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        return url, parts

    def do_GET(self):
        if self.denied():
            return None
        url, parts = self.route()
        if url.path == "/" or (len(parts) == 2 and parts[0] == "assets"):
            return self.asset("index.html" if url.path == "/" else parts[1])
        w = self.world
        with w.lock:
            if url.path == "/api/overview":
                return self.answer(200, w.overview())
            if len(parts) < 4 or parts[:2] != ["api", "queues"]:
                return self.answer(404, {"error": "no such path"})
            q = parts[2]
            if q not in w.queues:
                return self.answer(404, {"error": "no queue '%s'" % q})
            if parts[3:] == ["history"]:
                return self.answer(200, {"interval_ms": 5000, "samples": w.history[q]})
            if parts[3:] == ["dead"]:
                return self.answer(200, w.dead_page(q, url.query))
            if parts[3:] == ["jobs"]:
                return self.answer(200, w.jobs(q))
            if len(parts) == 5 and parts[3] == "tasks":
                t = w.task(q, parts[4])
                return self.answer(200, t) if t else self.answer(404, {"error": "no such task"})
        return self.answer(404, {"error": "no such path"})

    def do_POST(self):
        if self.denied():
            return None
        url, parts = self.route()
        w = self.world
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with w.lock:
            if len(parts) != 5 or parts[:2] != ["api", "queues"] or parts[3] != "dead" or \
                    parts[4] not in ("requeue", "purge"):
                return self.answer(404, {"error": "no such path"})
            if parts[2] not in w.queues:
                return self.answer(404, {"error": "no queue '%s'" % parts[2]})
            if not w.write:
                return self.answer(403, {"error": "the dashboard is read-only: start kwq-broker "
                                                  "with --dashboard-write"})
            if self.headers.get("X-CSRF-Token") != w.csrf:
                return self.answer(403, {"error": "missing or wrong X-CSRF-Token"})
            try:
                obj = json.loads(body)
            except ValueError:
                return self.answer(400, {"error": "the body is not JSON"})
            status, out = w.change(parts[2], parts[4], obj if isinstance(obj, dict) else {})
            return self.answer(status, out)

    def asset(self, name):
        path = os.path.join(self.web, name)
        ext = os.path.splitext(name)[1]
        if "/" in name or name.startswith(".") or ext not in TYPES or not os.path.isfile(path):
            return self.answer(404, {"error": "no such asset"})
        with open(path, "rb") as f:
            return self.answer(200, body=f.read(), ctype=TYPES[ext])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="as kwq-broker --dashboard-write")
    ap.add_argument("--kube", action="store_true", help="answer /jobs as with --kube")
    ap.add_argument("--basic-auth", metavar="USER:PASS", help="as kwq-broker --basic-auth-file")
    ap.add_argument("--more-dead", type=int, default=0, help="add N dead letters to images")
    ap.add_argument("--web", default=os.path.join(here, "..", "..", "broker", "web"))
    a = ap.parse_args()
    Handler.world = World(a.write, a.kube, a.more_dead)
    Handler.web = os.path.abspath(a.web)
    if a.basic_auth:
        Handler.auth = "Basic " + base64.b64encode(a.basic_auth.encode()).decode()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("http://127.0.0.1:%d/" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
