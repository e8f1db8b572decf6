"""kubetutor message API: a tiny JSON API that stores chat messages.

GET  /messages  -> {"messages": [{"author": "...", "text": "..."}, ...]}
POST /messages  <- {"author": "...", "text": "..."}  -> 201 and the message
GET  /healthz   -> 200 "ok" (readiness probe)

Messages live in memory unless API_DB_FILEPATH names a JSON file, in which
case every change is written there (and read back at start-up). Standard
library only, so it runs on the stock python image without a build step.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024


def log(line):
    print(line, flush=True)


def exit_on_sigterm():
    # As process 1 of its container, Python would ignore SIGTERM (no default
    # action for init): without this, deleting the pod waits 30 s for SIGKILL.
    # 143 = 128 + SIGTERM, the status of a process the signal killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class Store:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.messages = []
        if path:
            log(f"API_DB_FILEPATH is set: messages are saved to {path}")
            self.messages = self._load()
        else:
            log("API_DB_FILEPATH not set: messages are kept in memory")

    def _load(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            log(f"cannot read {self.path} ({err}): starting with no messages")
            return []
        if isinstance(data, dict) and isinstance(data.get("messages"), list):
            return data["messages"]
        return []

    def _save(self):
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"messages": self.messages}, f)
        os.replace(tmp, self.path)

    def all(self):
        with self.lock:
            return list(self.messages)

    def add(self, message):
        with self.lock:
            self.messages.append(message)
            if self.path:
                self._save()


class Handler(BaseHTTPRequestHandler):
    store = None

    def _reply(self, status, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self._reply(200, "ok")
        elif self.path.rstrip("/") == "/messages":
            self._reply(200, {"messages": self.store.all()})
        else:
            self._reply(404, {"error": f"no route for GET {self.path}"})

    def do_POST(self):
        if self.path.rstrip("/") != "/messages":
            self._reply(404, {"error": f"no route for POST {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._reply(400, {"error": "send a JSON body of at most 64 KiB"})
            return
        try:
            data = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            self._reply(400, {"error": 'send JSON like {"author": "ana", "text": "hello"}'})
            return
        message = {"author": str(data.get("author") or "anonymous"), "text": data["text"]}
        try:
            self.store.add(message)
        except OSError as err:
            self._reply(500, {"error": f"cannot save the message: {err}"})
            return
        self._reply(201, message)

    def log_message(self, fmt, *args):
        # Readiness probes every few seconds, and kubetutor's checks
        # once a second, would drown the useful lines.
        # (A request that could not be parsed has no path or headers yet.)
        path = getattr(self, "path", "")
        headers = getattr(self, "headers", None)
        if path == "/healthz" or (headers and headers.get("X-Kubetutor-Probe")):
            return
        log(f"{self.command} {path} -> {args[1] if len(args) > 1 else '?'}")


def main():
    port = int(os.environ.get("API_PORT") or 8080)
    Handler.store = Store(os.environ.get("API_DB_FILEPATH") or None)
    server = ThreadingHTTPServer(("", port), Handler)
    exit_on_sigterm()
    log(f"listening on :{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
