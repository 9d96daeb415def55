#!/usr/bin/env python3
"""The three HTTP services of the text example, standard library only:
POST /upper, /reverse and /space-counter, each taking {"message": "..."}.

    python3 examples/text-services/services.py [PORT]   # default 5000
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICES = {
    "/upper": lambda text: {"message": text.upper()},
    "/reverse": lambda text: {"message": text[::-1]},
    "/space-counter": lambda text: {"space_count": text.count(" ")},
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        service = SERVICES.get(self.path.rstrip("/") or "/")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            message = json.loads(self.rfile.read(length) or b"{}")["message"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": "send {\"message\": \"...\"}"})
        if service is None:
            return self.answer(404, {"error": f"no service at {self.path}"})
        self.answer(200, service(message))

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
