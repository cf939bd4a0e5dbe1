#!/usr/bin/env python3
"""A merchant's webhook receiver, for trying LightSpeedPay on your machine.

It checks each delivery's Standard Webhooks signature with the endpoint's `whsec_` secret,
answers 204 to a good one and 400 to anything else, and prints one line per verified event:
its type, its id and its data. Standard library only.

    python3 examples/webhook_receiver.py PORT WHSEC_SECRET
"""

import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE_SECONDS = 300


def verify(body: bytes, headers, secret: str) -> None:
    """Raises ValueError unless a `v1` signature of the headers matches the raw body."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and ts and signatures):
        raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
    if abs(time.time() - int(ts)) > TOLERANCE_SECONDS:
        raise ValueError("timestamp too far from now")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    given = [s[3:] for s in signatures.split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, g) for g in given):
        raise ValueError("no signature matches")


def receiver(secret: str):
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                verify(body, self.headers, secret)
                event = json.loads(body)
            except ValueError as refused:
                self.send_response(400)
                self.end_headers()
                print(f"refused: {refused}", flush=True)
                return
            self.send_response(204)
            self.end_headers()
            print(event["type"], event["id"], json.dumps(event["data"]), flush=True)

        def log_message(self, *_):
            pass

    return Receiver


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: webhook_receiver.py PORT WHSEC_SECRET")
    HTTPServer(("127.0.0.1", int(sys.argv[1])), receiver(sys.argv[2])).serve_forever()
