"""Small helpers for test_e2e.sh without extra packages (ping is not always installed).

  e2e_tools.py ping ADDRESS [COUNT]      ICMP/ICMPv6 echo; prints replies, exit 1 if any lost
  e2e_tools.py telemetry SOCKET COMMAND  one DPDK telemetry command; prints the JSON answer
"""
import json
import os
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping(address: str, count: int) -> int:
    v6 = ":" in address
    if v6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        req_type, rep_type = 128, 129
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        req_type, rep_type = 8, 0
    sock.settimeout(2.0)
    ident = os.getpid() & 0xFFFF
    answered = 0
    for seq in range(1, count + 1):
        payload = b"gslbd-e2e-%d" % seq
        hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
        # the kernel fills in the ICMPv6 checksum (it needs the pseudo header)
        cks = 0 if v6 else checksum(hdr + payload)
        pkt = struct.pack("!BBHHH", req_type, 0, cks, ident, seq) + payload
        start = time.monotonic()
        sock.sendto(pkt, (address, 0))
        while True:
            try:
                data, _ = sock.recvfrom(2048)
            except socket.timeout:
                print(f"ping {address} seq {seq}: timeout")
                break
            icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
            t, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
            if t == rep_type and rid == ident and rseq == seq and icmp[8:] == payload:
                ms = (time.monotonic() - start) * 1000
                print(f"ping {address} seq {seq}: reply in {ms:.2f} ms")
                answered += 1
                break
    return 0 if answered == count else 1


def telemetry(path: str, command: str) -> int:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    json.loads(s.recv(16384))  # the greeting
    s.send(command.encode())
    print(s.recv(1 << 20).decode())
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "ping":
        sys.exit(ping(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3))
    if len(sys.argv) == 4 and sys.argv[1] == "telemetry":
        sys.exit(telemetry(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
