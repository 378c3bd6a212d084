#!/usr/bin/env python3
"""Drives headless Chromium through the DevTools protocol over a pipe
(--remote-debugging-pipe: no port, no extra package), for tests that click
on a page rather than only read it.

  browser.py CHROMIUM PROFILE_DIR STEPS.json

STEPS is a list of objects, run in order in one tab:
  {"navigate": URL}           load a page
  {"wait": JS, "timeout": s}  evaluate JS until it is truthy (default 30 s)
  {"eval": JS}                evaluate JS (promises awaited)
  {"screenshot": PATH}        save the viewport (1280 x 1000) as a PNG
Prints a JSON list with each step's value (the last value of a wait);
exits 1, with the failing step on stderr, when a wait times out or a
script throws.
"""
import base64
import json
import os
import subprocess
import sys
import time


class Pipe:
    def __init__(self, chromium, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child():
            # Through fresh descriptors first: a pipe may already be 3 or 4.
            read, write = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", "--ignore-certificate-errors",
             "--remote-debugging-pipe", "--window-size=1280,1000", "--user-data-dir=" + profile, "about:blank"],
            preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("BROWSER_DEBUG") else subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.errors = []  # the page's uncaught exceptions and console errors

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_chrome, 65536)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("method") == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(answer["params"]["exceptionDetails"])[:2000])
            elif answer.get("method") == "Network.loadingFailed":
                self.errors.append("request failed: " + answer["params"].get("errorText", ""))
            elif (answer.get("method") == "Runtime.consoleAPICalled" and
                  answer["params"].get("type") == "error"):
                self.errors.append(json.dumps(answer["params"]["args"])[:2000])
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(method + ": " + json.dumps(answer["error"]))
                return answer["result"]

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def evaluate(pipe, session, expression):
    r = pipe.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                       "returnByValue": True}, session)
    if "exceptionDetails" in r:
        raise RuntimeError("script threw: " + json.dumps(r["exceptionDetails"])[:2000])
    return r["result"].get("value")


def main():
    chromium, profile, steps_file = sys.argv[1:4]
    with open(steps_file) as f:
        steps = json.load(f)
    pipe = Pipe(chromium, profile)
    results = []
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        pipe.call("Page.enable", {}, session)
        pipe.call("Runtime.enable", {}, session)
        pipe.call("Network.enable", {}, session)
        for i, step in enumerate(steps):
            if "navigate" in step:
                results.append(pipe.call("Page.navigate", {"url": step["navigate"]}, session))
            elif "screenshot" in step:
                shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session)
                with open(step["screenshot"], "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                results.append(step["screenshot"])
            elif "eval" in step:
                results.append(evaluate(pipe, session, step["eval"]))
            elif "wait" in step:
                deadline = time.monotonic() + step.get("timeout", 30)
                value = None
                while True:
                    try:
                        value = evaluate(pipe, session, step["wait"])
                    except RuntimeError:
                        value = None  # the page is still loading
                    if value or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                if not value:
                    print(json.dumps(results))
                    print("step %d timed out: %s" % (i, step["wait"]), file=sys.stderr)
                    print("\n".join(pipe.errors), file=sys.stderr)
                    print(evaluate(pipe, session, "JSON.stringify([typeof refresh, "
                                   "performance.getEntriesByType('resource').map("
                                   "e => e.name + ' ' + e.responseStatus + ' ' + e.duration)])"),
                          file=sys.stderr)
                    print(evaluate(pipe, session, "document.documentElement.outerHTML"),
                          file=sys.stderr)
                    return 1
                results.append(value)
    except RuntimeError as e:
        print(json.dumps(results))
        print("step %d: %s" % (len(results), e), file=sys.stderr)
        return 1
    finally:
        pipe.close()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
