#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server, for what the real one will not
do on demand: answer 429 with Retry-After, fail with 500 a given number of
times, answer slowly, refuse a token until a file says otherwise.

Plain HTTP on 127.0.0.1, port chosen by the kernel and printed as the only
line on stdout once the server listens. Standard library only.

    fake_kube_api.py SCRIPT.json

SCRIPT maps paths (query string excluded) to a list of steps:

    {"/a": [{"status": 429, "retry_after": 1, "count": 1}, {"status": 200}],
     "/b": [{"status": 500, "count": 3}, {"status": 200, "body": {"kind": "X"}}],
     "/c": [{"delay_ms": 5000}],
     "/d": [{"status": 503, "retry_after_details": 1}],
     "/e": [{"token_file": "/tmp/t"}]}

A step answers `count` requests (default: every request from then on; the
last step always repeats). Its fields: status (200), body (a JSON value;
default a Status object for >= 400, else {"kind": "Fake", "path": PATH}),
retry_after (a Retry-After header, seconds), retry_after_details
(details.retryAfterSeconds), delay_ms (wait before answering), token_file
(the request must carry "Authorization: Bearer <the file's content>", read
at each request, else 401 and the step is not used up), raw_bytes (a body
of that many bytes 'x' in place of JSON; with no_length, sent without a
Content-Length, the end marked by closing the connection).

GET /_fake/log answers every request seen so far, in arrival order:
{"requests": [{"method", "path", "t" (monotonic seconds at arrival),
"auth" (the Authorization header or null), "body"}]}. The fake is a test
double: it logs tokens, which are made up.

It stops on SIGTERM or when stdin reaches end of file (the test went away).
"""

import http.server
import json
import signal
import sys
import threading
import time

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           409: "AlreadyExists", 422: "Invalid", 429: "TooManyRequests",
           500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
           504: "Timeout"}


class State:
    def __init__(self, script):
        self.lock = threading.Lock()
        self.script = script
        self.used = {path: 0 for path in script}   # requests answered per path
        self.log = []

    def step_for(self, path):
        """The step that answers the next request to path (None: unknown path)."""
        steps = self.script.get(path)
        if not steps:
            return None
        n = self.used[path]
        for step in steps[:-1]:
            count = step.get("count")
            if count is None or n < count:
                return step
            n -= count
        return steps[-1]


def status_body(code, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": REASONS.get(code, "Unknown"), "code": code}


def read_token(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):  # quiet: the test reads /_fake/log
        pass

    def answer(self, code, body, headers=()):
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test): nothing to tell

    def handle_any(self):
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else None
        path = self.path.split("?", 1)[0]
        st = self.state
        if path == "/_fake/log" and self.command == "GET":
            with st.lock:
                log = list(st.log)
            return self.answer(200, {"requests": log})
        auth = self.headers.get("Authorization")
        with st.lock:
            st.log.append({"method": self.command, "path": self.path, "t": arrived,
                           "auth": auth, "body": body})
            step = st.step_for(path)
            if step is not None and "token_file" in step:
                want = read_token(step["token_file"])
                if want is None or auth != "Bearer " + want:
                    step = {"status": 401}
                else:
                    st.used[path] += 1
            elif step is not None:
                st.used[path] += 1
        if step is None:
            return self.answer(404, status_body(404, "the server could not find the requested "
                                                "resource"))
        self.respond(step, path)

    def stream(self, code, n, with_length):
        """n bytes of 'x', written until done or the client hangs up."""
        chunk = b"x" * (1 << 20)
        try:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            if with_length:
                self.send_header("Content-Length", str(n))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            while n > 0:
                self.wfile.write(chunk[:min(n, len(chunk))])
                n -= len(chunk)
        except OSError:
            pass

    def respond(self, step, path):
        if step.get("delay_ms"):
            time.sleep(step["delay_ms"] / 1000.0)
        if "raw_bytes" in step:
            return self.stream(step.get("status", 200), step["raw_bytes"],
                               not step.get("no_length"))
        code = step.get("status", 200)
        headers = []
        if "retry_after" in step:
            headers.append(("Retry-After", str(step["retry_after"])))
        if "body" in step:
            body = step["body"]
        elif code >= 400:
            body = status_body(code, "fake: %d on %s" % (code, path))
            if "retry_after_details" in step:
                body["details"] = {"retryAfterSeconds": step["retry_after_details"]}
        else:
            body = {"kind": "Fake", "path": path}
        self.answer(code, body, headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: fake_kube_api.py SCRIPT.json\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        script = json.load(f)
    Handler.state = State(script)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())

    def watch_stdin():
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
