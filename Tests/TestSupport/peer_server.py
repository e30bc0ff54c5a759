#!/usr/bin/env python3
"""A small HTTP(S) server for fleetstrap's tests, on 127.0.0.1 only, that stops by itself.

Prints the port on the first line of stdout. Exits after --max-requests requests or --lifetime seconds.

Routes:
  /echo            JSON of the method, path, query, headers and body (base64) received
  /status/N        answers status N
  /slow?seconds=S  answers after S seconds
  /big?bytes=N     N bytes of 'x'
  /sequence/NAME   answers from the list given with --sequence NAME=400:Throttling,500,200 in turn
                   (a code with ':Code' sends an AWS Query error body with that code; 429 adds Retry-After: 1)
  /count/NAME      how many requests /sequence/NAME received, as text
  /latest/...      IMDSv2 (token, role list, role credentials)
  /container-credentials   container credentials for 'Authorization: Bearer container-token'
"""
import argparse
import base64
import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--tls-cert")
parser.add_argument("--tls-key")
parser.add_argument("--max-requests", type=int, default=10000)
parser.add_argument("--lifetime", type=float, default=120)
parser.add_argument("--sequence", action="append", default=[])
args = parser.parse_args()
# A parent's worker thread may have launched us with signals blocked; SIGTERM must stop us.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

sequences = {}
for spec in args.sequence:
    name, _, items = spec.partition("=")
    sequences[name] = items.split(",")
counts = {}
open_connections = set()
lock = threading.Lock()
served = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle(self):
        # Connections open now, by client port: what /connections reports.
        with lock:
            open_connections.add(self.client_address[1])
        try:
            super().handle()
        finally:
            with lock:
                open_connections.discard(self.client_address[1])

    def handle_any(self):
        global served
        with lock:
            served += 1
            if served >= args.max_requests:
                threading.Thread(target=server.shutdown, daemon=True).start()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        query = urllib.parse.parse_qs(url.query)
        if parts[0] == "echo":
            self.send(200, json.dumps({
                "method": self.command, "path": url.path, "query": url.query,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": base64.b64encode(body).decode(),
            }).encode(), "application/json")
        elif parts[0] == "status":
            self.send(int(parts[1]), b"status " + parts[1].encode())
        elif parts[0] == "slow":
            time.sleep(float(query.get("seconds", ["5"])[0]))
            self.send(200, b"slow")
        elif parts[0] == "big":
            self.send(200, b"x" * int(query.get("bytes", ["1024"])[0]))
        elif parts[0] == "sequence":
            name = parts[1]
            with lock:
                i = counts.get(name, 0)
                counts[name] = i + 1
            items = sequences.get(name, ["200"])
            item = items[min(i, len(items) - 1)]
            code, _, error = item.partition(":")
            headers = {"x-amzn-RequestId": f"req-{name}-{i}"}
            if code == "429":
                headers["Retry-After"] = "1"
            if error:
                payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{error}</Code>"
                           f"<Message>{error} from the test server</Message></Error>"
                           f"<RequestId>req-{name}-{i}</RequestId></ErrorResponse>").encode()
                self.send(int(code), payload, "text/xml", headers)
            else:
                self.send(int(code), f"<Ok>{i}</Ok>".encode(), "text/xml", headers)
        elif url.path == "/latest/api/token" and self.command == "PUT":
            ok = self.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
            self.send(200 if ok else 400, b"IMDS-TOKEN")
        elif url.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("x-aws-ec2-metadata-token") != "IMDS-TOKEN":
                self.send(401, b"")
            elif parts[-1] == "security-credentials":
                self.send(200, b"instance-role")
            else:
                self.send(200, json.dumps({"Code": "Success", "AccessKeyId": "ASIAIMDS", "SecretAccessKey": "imds-secret",
                                           "Token": "imds-token", "Expiration": "2099-01-01T00:00:00Z"}).encode())
        elif parts[0] == "container-credentials":
            if self.headers.get("Authorization") != "Bearer container-token":
                self.send(401, b"")
            else:
                self.send(200, json.dumps({"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "container-secret",
                                           "Token": "container-session", "Expiration": "2099-01-01T00:00:00Z"}).encode())
        elif parts[0] == "port":
            self.send(200, str(self.client_address[1]).encode())
        elif parts[0] == "connections":
            with lock:
                self.send(200, json.dumps(sorted(open_connections)).encode(), "application/json")
        elif parts[0] == "count":
            self.send(200, str(counts.get(parts[1], 0)).encode())
        else:
            self.send(404, b"no such route")

    def send(self, status, body, content_type="text/plain", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


ThreadingHTTPServer.request_queue_size = 512  # many clients connect at once in the concurrency tests
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if args.tls_cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
threading.Timer(args.lifetime, server.shutdown).start()
server.serve_forever()
os._exit(0)
