"""Replays a cassette written by mesh-toolkit with the real VCR.py (record mode
"none": nothing reaches the network) and checks every answer.

usage: python3 replay.py CASSETTE EXPECTED_JSON
EXPECTED_JSON is a list of {"method", "uri", "body" (optional JSON), "status", "sha256"}:
the requests to make, in order, and what each answer must be. Exits non-zero on any
mismatch, naming it.
"""

import hashlib
import json
import sys

import requests
import vcr


def main():
    cassette, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    failures = []
    with vcr.use_cassette(cassette, record_mode="none"):
        session = requests.Session()
        for i, step in enumerate(expected):
            response = session.request(step["method"], step["uri"], json=step.get("body"))
            digest = hashlib.sha256(response.content).hexdigest()
            if response.status_code != step["status"] or digest != step["sha256"]:
                failures.append("step %d %s %s: got %d/%s, expected %d/%s" % (
                    i, step["method"], step["uri"], response.status_code, digest, step["status"], step["sha256"]))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("VCR.py replayed %d interactions" % len(expected))


if __name__ == "__main__":
    main()
