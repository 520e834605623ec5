#!/usr/bin/python3
"""Tiny UDP DNS responder for health-check tests (stdlib only).

State file, re-read per query:
    rcode=0           rcode to answer with
    address=127.0.0.9 A record put in the answer (empty = no answer)
    drop=0            1 = never answer
Answers every question with one A record (compressed owner name) when address is set.
Prints "PORT <n>" once bound.  usage: dns_backend.py ADDR PORT STATE
"""
import socket
import struct
import sys

sys.dont_write_bytecode = True
import backend_state  # noqa: E402  (tests/data/health, next to this script)

addr, port, state = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def read_state():
    return backend_state.read_state(state, {"rcode": "0", "address": "", "drop": "0"})


s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
print(f"PORT {s.getsockname()[1]}", flush=True)
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    st = read_state()
    if st["drop"] == "1":
        continue
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    i = 12
    while i < len(q) and q[i] != 0:
        i += q[i] + 1
    question = q[12:i + 5]
    an = 1 if st["address"] else 0
    hdr = struct.pack("!HHHHHH", qid, 0x8400 | int(st["rcode"]), 1, an, 0, 0)
    ans = b""
    if an:
        ans = struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(st["address"])
    s.sendto(hdr + question + ans, peer)
