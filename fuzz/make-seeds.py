#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/seeds/<target>/) from the captured vectors,
so each fuzzer starts from real traffic. Run from the repository root:
    python3 fuzz/make-seeds.py              # every target
    python3 fuzz/make-seeds.py proxy_mux    # only the targets named
"""
import hashlib, json, os, sys

root = os.path.dirname(os.path.abspath(__file__))
vectors = json.load(open(os.path.join(root, "..", "tests", "vectors", "vectors.json")))

only = set(sys.argv[1:])

def put(target, data):
    if only and target not in only:
        return
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

# proxy_mux: each proxy case replayed as the target's operations (see
# fuzz_targets/proxy_mux.rs): clients connect, the first connect succeeds
# (or fails for a case without a server), client and server bytes go in as
# the case sends them, the server reads before each of its answers, and
# every client takes its answers whenever the case expects some.
RAW, REQUEST, FEED, DRAIN, TOGGLE, READ, ANSWER, SERVER_RAW, TIME, CONNECT, LOSE = range(11)

def chunks(data):
    for i in range(0, len(data), 255):
        yield data[i:i + 255]

for case in vectors["proxy_cases"]:
    ops = bytearray([0x04, 0x3f])  # retry 5 ms, timeout 73 ms, no idle
    names = []
    for step in case["steps"]:
        if step.get("peer") != "backend" and step["conn"] not in names:
            names.append(step["conn"])
    for k in range(len(names)):
        ops += bytes([TOGGLE, k])
    ops += bytes([TIME, 0, CONNECT, 1 if case["backend"] == "none" else 0])
    for step in case["steps"]:
        backend = step.get("peer") == "backend"
        if "send" in step:
            data = bytes.fromhex(step["send"])
            for piece in chunks(data):
                if backend:
                    ops += bytes([SERVER_RAW, len(piece)]) + piece
                else:
                    ops += bytes([RAW, names.index(step["conn"]), len(piece)]) + piece
            if not backend and case["backend"] == "dc_server":
                # The real server answered: read and answer OK.
                ops += bytes([READ]) + bytes([ANSWER, 0, 0, 0]) * 4
        elif "recv" in step:
            ops += bytes([READ]) if backend else bytes([DRAIN, names.index(step["conn"]), 0])
        elif step.get("close"):
            ops += bytes([LOSE, 0]) if backend else bytes([TOGGLE, names.index(step["conn"])])
        elif step.get("expect_eof"):
            ops += bytes([TIME, 200, DRAIN, names.index(step["conn"]), 0])
    put("proxy_mux", bytes(ops))
    # The same with the upstream uids about to wrap.
    put("proxy_mux", bytes([0x84]) + bytes(ops[1:]))
