#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/seeds/<target>/) from the captured vectors,
so each fuzzer starts from real traffic. Run from the repository root:
    python3 fuzz/make-seeds.py
"""
import hashlib, json, os

root = os.path.dirname(os.path.abspath(__file__))
vectors = json.load(open(os.path.join(root, "..", "tests", "vectors", "vectors.json")))

def put(target, data):
    d = os.path.join(root, "seeds", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

streams = []
for section in ("server_cases", "fatal_cases", "proxy_cases"):
    for case in vectors[section]:
        sent = b"".join(bytes.fromhex(s["send"]) for s in case["steps"] if "send" in s)
        got = b"".join(bytes.fromhex(s["recv"]) for s in case["steps"] if "recv" in s)
        for s in (sent, got):
            if s:
                streams.append(s)
for case in vectors["client_library"]:
    for conn in case.get("connections", []):
        for k in ("client_to_server", "server_to_client"):
            if conn[k]:
                streams.append(bytes.fromhex(conn[k]))

for s in streams:
    # The first byte is the piece size the target feeds the stream in:
    # every stream once, short ones also byte by byte and in big pieces.
    pieces = (b"\x0e", b"\x01", b"\xff") if len(s) <= 2048 else (b"\x0e",)
    for piece in pieces:
        put("decode_frames", piece + s)
        put("server_session", piece + s)
    # Response payloads: the data of each frame, with each operation.
    if len(s) >= 14:
        n = int.from_bytes(s[12:14], "big")
        for op in range(4):
            put("response_payload", bytes([op]) + s[14:14 + n])

for a in ["IP:9001", "IP:127.0.0.1:9001", "IP::9001", "IPv4:localhost:1",
          "IP:[::1]:9001", "UNIX:/tmp/scache", "FD:3", "IP:a:b:c", "UNIX:", "IP:65536"]:
    put("address", a.encode())
