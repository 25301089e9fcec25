#!/usr/bin/env python3
"""browser.py - drive a headless Chromium through chromedriver (W3C WebDriver
over loopback HTTP) for the dashboard's tests. Python 3 standard library only.

    browser.py --url URL [--script FILE | --steps JSON] [--screenshot PNG]
               [--timeout S] [--window W,H] [--keep-logs DIR]

Opens URL, runs the steps in order, then saves the screenshot (also when a
step failed, so the artifact shows the failing page). Steps are a JSON array
of objects; each names one action, plus an optional "timeout" (seconds):

    {"navigate": "#/queues/images"}       a URL, or a path/hash resolved against --url
    {"wait": "CSS"}                       until an element matches
    {"wait-gone": "CSS"}                  until none matches
    {"expect-text": "CSS", "equals": "1"} until the first match's text is this
        ... "contains": "text" / "matches": "regex" instead of "equals"
    {"expect-count": "CSS", "equals": 2}  until exactly that many match
    {"click": "CSS"}                      the first match, once it can be clicked
    {"accept-confirm": true}              until a confirm() is open, then OK it;
        a string instead of true must be contained in its message
    {"dismiss-confirm": true}             the same, Cancel
    {"screenshot": "PNG"}                 now, to that file
    {"console-clean": true}               fail if a script logged an error (answers
                                          with an HTTP error status are not counted)

Waits are deadlines, not delays: a step passes as soon as it holds.

Exit status: 0 every step passed; 1 a step failed (one line on stderr says
which, what was seen and what was expected); 2 bad arguments or steps;
3 the browser could not be driven (chromedriver or Chromium did not start);
77 Chromium or chromedriver is not installed (tests treat it as a skip).
Set KWQ_CHROMIUM / KWQ_CHROMEDRIVER to use other binaries.
"""
import argparse
import base64
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_FAIL, EXIT_USAGE, EXIT_DRIVER, EXIT_SKIP = 1, 2, 3, 77
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
POLL_S = 0.1
ACTIONS = ("navigate", "wait", "wait-gone", "expect-text", "expect-count", "click",
           "accept-confirm", "dismiss-confirm", "screenshot", "console-clean")


class StepFailed(Exception):
    """A step did not hold: the page is not what the test expects."""


class DriverError(Exception):
    """chromedriver or Chromium could not do what was asked."""


class WebDriverError(Exception):
    def __init__(self, code, message):
        first = message.splitlines()[0] if message else ""
        while first.startswith(f"{code}: "):  # chromedriver repeats the code in its message
            first = first[len(code) + 2:]
        super().__init__(f"{code}: {first}")
        self.code = code


def say(line):
    print(f"browser.py: {line}", file=sys.stderr, flush=True)


def find_binaries():
    """(chromium, chromedriver) paths, or None when either is missing."""
    def found(env, names, extra=()):
        cands = [os.environ[env]] if os.environ.get(env) else \
            [p for p in map(shutil.which, names) if p] + list(extra)
        return next((p for p in cands if os.path.isfile(p) and os.access(p, os.X_OK)), None)

    chromium = found("KWQ_CHROMIUM", ("chromium", "chromium-browser"))
    driver = found("KWQ_CHROMEDRIVER", ("chromedriver",), ("/usr/lib/chromium/chromedriver",))
    return (chromium, driver) if chromium and driver else None


def guard(pgid, tmp):
    """
    A process that outlives browser.py by a moment: when browser.py is gone,
    however it ended (a test's safety limit sends SIGKILL), it kills
    chromedriver's process group, Chromium with it, and removes the profile.
    It learns of the end from the EOF on a pipe only browser.py writes to.
    """
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(w)
        try:
            os.setsid()  # out of a terminal's or test's process group signals
            while os.read(r, 1):
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            os._exit(0)
    os.close(r)
    return w  # kept open, never written: it closes when browser.py ends


class ChromeDriver:
    """A chromedriver process on a free loopback port (it picks the port: no race)."""

    def __init__(self, path, logdir, tmp):
        self.proc = subprocess.Popen(
            [path, "--port=0", f"--log-path={os.path.join(logdir, 'chromedriver.log')}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.guard = guard(self.proc.pid, tmp)
        self.port = self._read_port(deadline=time.monotonic() + 30)
        # Keep draining its output so that it never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def _read_port(self, deadline):
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
                m = re.search(rb"started successfully on port (\d+)", seen)
                if m:
                    return int(m.group(1))
        last = seen.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise DriverError(f"chromedriver did not start: {last[0]}")

    def stop(self):
        if self.proc.poll() is None:
            # Its own process group: Chromium's processes go with it.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()


class Session:
    """One W3C WebDriver session: the few commands the steps need."""

    def __init__(self, port, chromium, profile, window):
        self.base = f"http://127.0.0.1:{port}"
        # Loopback only: an http_proxy in the environment must not catch these.
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.sid = None
        args = ["--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-dev-shm-usage", "--no-proxy-server",
                "--password-store=basic", f"--window-size={window}", f"--user-data-dir={profile}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        caps = {"browserName": "chrome", "unhandledPromptBehavior": "ignore",
                "goog:chromeOptions": {"binary": chromium, "args": args},
                "goog:loggingPrefs": {"browser": "ALL"},
                "timeouts": {"pageLoad": 60000, "script": 30000, "implicit": 0}}
        try:
            value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}},
                              timeout=120)
        except WebDriverError as e:
            raise DriverError(f"Chromium did not start: {e}") from None
        self.sid = value["sessionId"]

    def call(self, method, path, body=None, timeout=60):
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with self.http.open(req, timeout=timeout) as r:
                out = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                v = json.load(e).get("value", {})
            except ValueError:
                v = {}
            raise WebDriverError(v.get("error", f"HTTP {e.code}"), v.get("message", "")) from None
        except (urllib.error.URLError, OSError) as e:
            raise DriverError(f"chromedriver did not answer: {e}") from None
        return out.get("value")

    def s(self, method, path, body=None, timeout=60):
        return self.call(method, f"/session/{self.sid}{path}", body, timeout)

    def navigate(self, url):
        """Open url; a page Chromium could not load (refused, DNS...) is an error."""
        self.s("POST", "/url", {"url": url}, timeout=90)
        href, text = self.s("POST", "/execute/sync", {
            "script": "return [location.href, document.body ? document.body.innerText : '']",
            "args": []})
        if href.startswith("chrome-error:"):
            why = re.search(r"ERR_[A-Z_]+", text or "")
            raise WebDriverError("page not loaded", why.group(0) if why else "an error page")

    def find_all(self, css):
        try:
            found = self.s("POST", "/elements", {"using": "css selector", "value": css})
        except WebDriverError as e:
            if e.code == "invalid selector":
                raise StepFailed(f"invalid CSS selector {css!r}") from None
            raise
        return [f[ELEMENT] for f in found]

    def text(self, eid):
        return self.s("GET", f"/element/{eid}/text")

    def click(self, eid):
        self.s("POST", f"/element/{eid}/click")

    def alert_text(self):
        return self.s("GET", "/alert/text")

    def alert(self, accept):
        self.s("POST", "/alert/accept" if accept else "/alert/dismiss")

    def screenshot(self, path):
        png = base64.b64decode(self.s("GET", "/screenshot", timeout=60))
        with open(path, "wb") as f:
            f.write(png)

    def console_errors(self):
        """Script errors; an HTTP error answer is the steps' business, not one."""
        logs = self.s("POST", "/se/log", {"type": "browser"})
        return [e.get("message", "") for e in logs or [] if e.get("level") == "SEVERE"
                and "Failed to load resource" not in e.get("message", "")]

    def close(self):
        if self.sid:
            try:
                self.call("DELETE", f"/session/{self.sid}", timeout=30)
            except (WebDriverError, DriverError):
                pass
            self.sid = None


def until(timeout, probe):
    """Run probe until it returns (ok, seen) with ok true; else (False, last seen)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ok, seen = probe()
        except WebDriverError as e:
            # The page changed under the probe (a re-rendered row): try again.
            if e.code not in ("stale element reference", "no such element",
                              "element click intercepted", "element not interactable",
                              "no such alert"):
                raise
            ok, seen = False, e.code
        if ok:
            return True, seen
        if time.monotonic() >= deadline:
            return False, seen
        time.sleep(POLL_S)


def text_matches(step, text):
    if "equals" in step:
        return text == str(step["equals"]), f"equal to {str(step['equals'])!r}"
    if "contains" in step:
        return str(step["contains"]) in text, f"containing {str(step['contains'])!r}"
    return re.search(step["matches"], text) is not None, f"matching /{step['matches']}/"


def first_text(sess, css):
    els = sess.find_all(css)
    return (None, "no element") if not els else (sess.text(els[0]), None)


def run_step(sess, base, step, timeout):
    action = next(a for a in ACTIONS if a in step)
    arg = step[action]
    t = float(step.get("timeout", timeout))
    if action == "navigate":
        url = urllib.parse.urljoin(base, arg)
        try:
            sess.navigate(url)
        except WebDriverError as e:
            raise StepFailed(f"cannot open {url}: {e}") from None
    elif action in ("wait", "wait-gone"):
        want = action == "wait"
        ok, _ = until(t, lambda: (bool(sess.find_all(arg)) == want, None))
        if not ok:
            raise StepFailed(f"{'no element matches' if want else 'still there:'} {arg} after {t:g} s")
    elif action == "expect-text":
        def probe():
            text, why = first_text(sess, arg)
            return (False, why) if text is None else (text_matches(step, text)[0], repr(text))
        ok, seen = until(t, probe)
        if not ok:
            raise StepFailed(f"text of {arg} is {seen}, expected {text_matches(step, '')[1]} "
                             f"(waited {t:g} s)")
    elif action == "expect-count":
        ok, seen = until(t, lambda: (lambda n: (n == int(step["equals"]), n))(len(sess.find_all(arg))))
        if not ok:
            raise StepFailed(f"{seen} elements match {arg}, expected {step['equals']} (waited {t:g} s)")
    elif action == "click":
        def probe():
            els = sess.find_all(arg)
            if not els:
                return False, "no element"
            sess.click(els[0])
            return True, None
        ok, seen = until(t, probe)
        if not ok:
            raise StepFailed(f"cannot click {arg}: {seen} after {t:g} s")
    elif action in ("accept-confirm", "dismiss-confirm"):
        ok, seen = until(t, lambda: (True, sess.alert_text()))
        if not ok:
            raise StepFailed(f"no confirm() opened within {t:g} s")
        if isinstance(arg, str) and arg not in seen:
            raise StepFailed(f"the confirm() says {seen!r}, expected it to contain {arg!r}")
        sess.alert(action == "accept-confirm")
    elif action == "screenshot":
        sess.screenshot(arg)
    elif action == "console-clean":
        errors = sess.console_errors()
        if errors:
            raise StepFailed(f"the page logged {len(errors)} error(s), the first: {errors[0]}")


def check_steps(steps):
    """The steps, or a one-line reason they are malformed."""
    if not isinstance(steps, list):
        return "the steps must be a JSON array of objects"
    for i, st in enumerate(steps, 1):
        if not isinstance(st, dict):
            return f"step {i} is not an object"
        named = [a for a in ACTIONS if a in st]
        if len(named) != 1:
            return f"step {i} must name exactly one of: {', '.join(ACTIONS)}"
        if named[0] == "expect-text" and not any(k in st for k in ("equals", "contains", "matches")):
            return f"step {i} (expect-text) needs \"equals\", \"contains\" or \"matches\""
        if named[0] == "expect-count" and not isinstance(st.get("equals"), int):
            return f"step {i} (expect-count) needs an integer \"equals\""
    return None


def describe(step):
    action = next(a for a in ACTIONS if a in step)
    return action if step[action] is True else f"{action} {step[action]}"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="browser.py", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the page to open first")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--script", help="a JSON file of steps")
    g.add_argument("--steps", help="the steps as a JSON text")
    ap.add_argument("--screenshot", help="save a PNG here at the end (pass or fail)")
    ap.add_argument("--timeout", type=float, default=15, help="seconds a step may wait (15)")
    ap.add_argument("--window", default="1280,1000", help="window size W,H (1280,1000)")
    ap.add_argument("--keep-logs", help="keep chromedriver.log in this directory")
    return ap.parse_args(argv)


def load_steps(a):
    try:
        if a.script:
            with open(a.script, encoding="utf-8") as f:
                steps = json.load(f)
        else:
            steps = json.loads(a.steps) if a.steps else []
    except (OSError, ValueError) as e:
        return None, f"cannot read the steps: {e}"
    why = check_steps(steps)
    return (None, why) if why else (steps, None)


def drive(a, steps, chromium, driver_path, tmp):
    """Run the steps; the exit status and, on failure, the line to print."""
    driver = sess = None
    failure = None
    try:
        driver = ChromeDriver(driver_path, a.keep_logs or tmp, tmp)
        sess = Session(driver.port, chromium, os.path.join(tmp, "profile"), a.window)
        try:
            sess.navigate(a.url)
        except WebDriverError as e:
            steps = []  # nothing to check on a page that did not load; the screenshot shows why
            failure = (EXIT_FAIL, f"cannot open {a.url}: {e}")
        for i, step in enumerate(steps, 1):
            try:
                run_step(sess, a.url, step, a.timeout)
            except StepFailed as e:
                failure = (EXIT_FAIL, f"step {i} ({describe(step)}): {e}")
                break
            except WebDriverError as e:
                failure = (EXIT_FAIL, f"step {i} ({describe(step)}): {e}")
                break
        if a.screenshot and sess:
            sess.screenshot(a.screenshot)
    except DriverError as e:
        failure = failure or (EXIT_DRIVER, str(e))
    except WebDriverError as e:
        failure = failure or (EXIT_DRIVER, f"WebDriver: {e}")
    finally:
        if sess:
            sess.close()
        if driver:
            driver.stop()
    return failure or (0, None)


def main(argv):
    a = parse_args(argv)
    if not urllib.parse.urlsplit(a.url).scheme:
        say(f"--url {a.url!r} is not an absolute URL (http://127.0.0.1:PORT/...)")
        return EXIT_USAGE
    steps, why = load_steps(a)
    if why:
        say(why)
        return EXIT_USAGE
    found = find_binaries()
    if not found:
        say("skipped: Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")
        return EXIT_SKIP
    # SIGTERM (a test's timeout) still closes the browser through the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_DRIVER))
    with tempfile.TemporaryDirectory(prefix="kwq-browser-") as tmp:
        status, line = drive(a, steps, found[0], found[1], tmp)
    if line:
        shot = f" (screenshot: {a.screenshot})" if a.screenshot and status == EXIT_FAIL else ""
        say(line + shot)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
