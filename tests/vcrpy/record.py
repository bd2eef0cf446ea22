"""Records two cassettes with the real VCR.py, against a local server it starts itself:
one through `requests`, one through `httpx`. Each holds a JSON POST, the same GET three
times (a task polled until done), and a binary body (a GLB).

usage: python3 record.py OUT_DIR
Writes OUT_DIR/requests.yaml and OUT_DIR/httpx.yaml; exits non-zero on any failure.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import requests
import vcr

# About the size of a real Meshy GLB (1.4 MB), so reading large binary bodies is covered.
GLB = b"glTF\x02\x00\x00\x00" + bytes(range(256)) * 5600


class Handler(BaseHTTPRequestHandler):
    polls = 0

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Api-Version", "v2025.11.18")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        json.loads(self.rfile.read(length))
        self.send(202, b'{"result": "019a97e6-58dc-7430-85a1-9bf2d9e97430"}', "application/json; charset=utf-8")

    def do_GET(self):
        if self.path.split("?")[0].endswith(".glb"):
            self.send(200, GLB, "model/gltf-binary")
            return
        Handler.polls += 1
        status = "SUCCEEDED" if Handler.polls % 3 == 0 else "IN_PROGRESS"
        body = json.dumps({"id": "019a97e6-58dc-7430-85a1-9bf2d9e97430", "status": status, "progress": 33 * (Handler.polls % 3 or 3)})
        self.send(200, body.encode(), "application/json; charset=utf-8")


def session(client, base):
    headers = {"Authorization": "Bearer msy_recorded_by_vcrpy_1234"}
    post = client.post(base + "/openapi/v2/text-to-3d", json={"mode": "preview", "prompt": "Cute otter"}, headers=headers)
    assert post.status_code == 202, post.status_code
    for _ in range(3):
        get = client.get(base + "/openapi/v2/text-to-3d/019a97e6-58dc-7430-85a1-9bf2d9e97430", headers=headers)
        assert get.status_code == 200
    glb = client.get(base + "/assets/tasks/019a97e6/output/model.glb?Expires=1&Signature=abc")
    assert glb.content == GLB


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        for name, client in (("requests", requests.Session()), ("httpx", httpx.Client())):
            path = out / (name + ".yaml")
            if path.exists():
                path.unlink()
            Handler.polls = 0
            with vcr.use_cassette(str(path), record_mode="once", filter_headers=["authorization"]):
                session(client, base)
            client.close()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
