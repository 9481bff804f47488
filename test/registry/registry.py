#!/usr/bin/env python3
"""A stand-in for a Confluent schema registry (stdlib only), for the tests.

    registry.py STATUS_FILE STATE_FILE [PORT]

Listens on 127.0.0.1 (PORT, or one the kernel picks), writes
"listening PORT" to STATUS_FILE, and answers the REST calls pg_stream and
the tests make:

    GET  /schemas/ids/{id}                 {"schema": "..."}, or 404 (40403)
    POST /subjects/{subject}/versions      {"schema": "..."} -> {"id": N}
    GET  /subjects/{subject}/versions/latest
                                           {"subject", "id", "version", "schema"}

A schema's id is the same under every subject, as the real registry's is.
Its state (schemas and subjects) is kept in STATE_FILE, so a test can stop
it (an outage) and start it again on the same port with the same ids. It
counts GETs of /schemas/ids in STATE_FILE too ("fetches"), so a test can
check that schemas are cached. It exits when its parent process does
(the test script), or after 10 minutes, whichever is first.
"""
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

status_file, state_file = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
lock = threading.Lock()

try:
    with open(state_file) as f:
        state = json.load(f)
except FileNotFoundError:
    state = {"schemas": [], "subjects": {}, "fetches": 0}


def save():
    tmp = state_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, state_file)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        m = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
        if m:
            with lock:
                state["fetches"] += 1
                save()
                i = int(m.group(1))
                if 1 <= i <= len(state["schemas"]):
                    return self.answer(200, {"schema": state["schemas"][i - 1]})
            return self.answer(404, {"error_code": 40403, "message": "Schema not found"})
        m = re.fullmatch(r"/subjects/([^/]+)/versions/latest", self.path)
        if m:
            with lock:
                versions = state["subjects"].get(m.group(1))
                if versions:
                    i = versions[-1]
                    return self.answer(200, {"subject": m.group(1), "id": i, "version": len(versions),
                                             "schema": state["schemas"][i - 1]})
            return self.answer(404, {"error_code": 40401, "message": "Subject not found"})
        self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    def do_POST(self):
        m = re.fullmatch(r"/subjects/([^/]+)/versions", self.path)
        if not m:
            return self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
        length = int(self.headers.get("Content-Length", "0"))
        try:
            schema = json.loads(self.rfile.read(length))["schema"]
            json.loads(schema)
        except (ValueError, KeyError, TypeError):
            return self.answer(422, {"error_code": 42201, "message": "Invalid schema"})
        with lock:
            if schema in state["schemas"]:
                i = state["schemas"].index(schema) + 1
            else:
                state["schemas"].append(schema)
                i = len(state["schemas"])
            versions = state["subjects"].setdefault(m.group(1), [])
            if i not in versions:
                versions.append(i)
            save()
        self.answer(200, {"id": i})


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
parent = os.getppid()


def watchdog():
    start = time.time()
    while os.getppid() == parent and time.time() - start < 600:
        time.sleep(0.2)
    server.shutdown()


threading.Thread(target=watchdog, daemon=True).start()
with lock:
    save()
with open(status_file + ".tmp", "w") as f:
    f.write(f"listening {server.server_address[1]}\n")
os.replace(status_file + ".tmp", status_file)
server.serve_forever()
