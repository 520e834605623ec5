"""Hostile traffic against gslbd in DPDK mode, run by test_e2e.sh inside the client namespace:

  e2e_hostile.py TELEMETRY_SOCKET IFACE SERVER4 SERVER6 QNAME EXPECT

1. The hostile DNS messages of the socket-mode test (tests/integration/hostile_cases.py) over
   UDP to SERVER4: each gets exactly the answer (or the silence) the socket mode gives.
2. Hostile frames written raw on IFACE (AF_PACKET): short and malformed IPv4/IPv6 headers,
   lengths that do not add up, wrong IPv4/UDP/ICMP checksums, fragments, a zero UDP checksum
   over IPv6, a cut 802.1Q tag. Each must be dropped and counted under the reason that says
   why (DPDK telemetry /gslbd/stats, drop_<reason>), exactly once.
3. 3,000 random frames (random bytes behind the IPv4, IPv6, ARP and VLAN ethertypes): still
   serving after them.
After every hostile message or frame a valid query for QNAME must be answered with EXPECT.
Exits 1 with the reason on the first failure.
"""
import json
import os
import random
import socket
import struct
import subprocess
import sys

import dns.message
import dns.rcode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import hostile_cases  # noqa: E402
from e2e_tools import checksum  # noqa: E402

REASONS = ["short", "malformed", "ipv4_checksum", "l4_checksum", "fragment", "no_answer"]


def stats(tel):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(tel)
    json.loads(s.recv(16384))
    s.send(b"/gslbd/stats")
    out = json.loads(s.recv(1 << 20))["/gslbd/stats"]
    s.close()
    return out


class Checker:
    def __init__(self, server, qname, expect):
        self.server, self.qname, self.expect = server, qname, expect

    def serving(self, after):
        q = dns.message.make_query(self.qname, "A")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for _ in range(3):  # a lost datagram is not a failure of the daemon
                s.sendto(q.to_wire(), (self.server, 53))
                try:
                    r = dns.message.from_wire(s.recv(65535))
                except socket.timeout:
                    continue
                got = sorted(rd.address for rr in r.answer for rd in rr)
                if r.id == q.id and got == [self.expect]:
                    return
                raise AssertionError(f"after {after}: answered {got}, expected {self.expect}")
        raise AssertionError(f"after {after}: valid query not answered (3 tries)")


def dns_cases(chk, server, qname):
    """Returns how many messages were expected to get no answer (counted as no_answer)."""
    drops = 0
    for what, payload, outcome in hostile_cases.cases(qname):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3 if outcome == "drop" else 2)
            s.sendto(payload, (server, 53))
            try:
                answer = s.recv(65535)
            except socket.timeout:
                answer = None
        if outcome == "drop":
            if answer is not None:
                raise AssertionError(f"{what}: answered")
            drops += 1
        else:
            if answer is None:
                raise AssertionError(f"{what}: no answer")
            rcode = dns.rcode.to_text(hostile_cases.walk(answer))
            if answer[:2] != payload[:2] or not answer[2] & 0x80 or rcode != outcome:
                raise AssertionError(f"{what}: got {rcode}, expected {outcome}")
        chk.serving(what)
    print(f"ok: {len(hostile_cases.cases(qname))} hostile DNS messages over DPDK")
    return drops


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ip4(src, dst, proto, payload, *, ver_ihl=0x45, total=None, frag=0, csum=None):
    total = 20 + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, total, 0x1234, frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    c = checksum(h) if csum is None else csum
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def udp4(src, dst, sport, dport, data, *, length=None, csum=None):
    length = 8 + len(data) if length is None else length
    u = struct.pack("!HHHH", sport, dport, length, 0) + data
    if csum is None:
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17,
                                                                            len(u))
        csum = checksum(pseudo + u) or 0xFFFF
    return u[:6] + struct.pack("!H", csum) + u[8:]


def ip6(src, dst, nh, payload, *, plen=None, ver=6):
    plen = len(payload) if plen is None else plen
    return (struct.pack("!IHBB", ver << 28, plen, nh, 64) +
            socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            payload)


def udp6(src, dst, sport, dport, data, *, csum=None):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    if csum is None:
        pseudo = (socket.inet_pton(socket.AF_INET6, src) +
                  socket.inet_pton(socket.AF_INET6, dst) + struct.pack("!IxxxB", len(u), 17))
        csum = checksum(pseudo + u) or 0xFFFF
    return u[:6] + struct.pack("!H", csum) + u[8:]


def frame_cases(c4, s4, c6, s6, query):
    """(what, ethertype, L3 bytes, expected drop reason, or None when the testbed's kernel
    keeps the frame from the worker)."""
    good_udp = udp4(c4, s4, 40000, 53, query)
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"x" * 8
    bad_icmp = icmp[:2] + struct.pack("!H", checksum(icmp) ^ 0x5555) + icmp[4:]
    frag_hdr = struct.pack("!BBHI", 17, 0, 0x0001, 7) + udp6(c6, s6, 40000, 53, query)
    v4 = [
        ("IPv4 header cut at 10 bytes", ip4(c4, s4, 17, good_udp)[:10], "short"),
        ("IPv4 version 5", ip4(c4, s4, 17, good_udp, ver_ihl=0x55), "malformed"),
        ("IPv4 IHL 4", ip4(c4, s4, 17, good_udp, ver_ihl=0x44), "malformed"),
        ("IPv4 total length 10", ip4(c4, s4, 17, good_udp, total=10), "malformed"),
        ("IPv4 total length past the frame", ip4(c4, s4, 17, good_udp, total=1400), "short"),
        ("IPv4 header checksum wrong", ip4(c4, s4, 17, good_udp, csum=0x1234), "ipv4_checksum"),
        # The af_packet PMD asks for PACKET_FANOUT_FLAG_DEFRAG: the kernel holds IPv4
        # fragments for reassembly and they never reach the worker (a NIC's queue would
        # hand them over; unit_dpdk and the dpdk_frame fuzz target cover that drop).
        ("IPv4 first fragment (MF)", ip4(c4, s4, 17, good_udp, frag=0x2000), None),
        ("IPv4 later fragment (offset)", ip4(c4, s4, 17, good_udp, frag=0x0010), None),
        ("UDP shorter than its header", ip4(c4, s4, 17, good_udp[:4]), "short"),
        ("UDP length past the datagram", ip4(c4, s4, 17, udp4(c4, s4, 40000, 53, query,
                                                                length=900)), "malformed"),
        ("UDP length 4", ip4(c4, s4, 17, udp4(c4, s4, 40000, 53, query, length=4)), "malformed"),
        ("UDP checksum wrong", ip4(c4, s4, 17, udp4(c4, s4, 40000, 53, query, csum=0x1111)),
         "l4_checksum"),
        ("ICMP echo checksum wrong", ip4(c4, s4, 1, bad_icmp), "l4_checksum"),
        ("ICMP of 4 bytes", ip4(c4, s4, 1, icmp[:4]), "short"),
    ]
    v6 = [
        ("IPv6 header cut at 20 bytes", ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query))[:20],
         "short"),
        ("IPv6 version 4", ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query), ver=4), "malformed"),
        ("IPv6 payload length past the frame",
         ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query), plen=1400), "short"),
        ("IPv6 UDP checksum 0", ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query, csum=0)),
         "l4_checksum"),
        ("IPv6 UDP checksum wrong", ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query,
                                                         csum=0x2222)), "l4_checksum"),
        ("IPv6 fragment header", ip6(c6, s6, 44, frag_hdr), "fragment"),
        ("IPv6 UDP of 6 bytes", ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query)[:6]), "short"),
        ("IPv6 UDP length past the payload",
         ip6(c6, s6, 17, udp6(c6, s6, 40000, 53, query)[:4] + struct.pack("!H", 700) +
             udp6(c6, s6, 40000, 53, query)[6:]), "malformed"),
    ]
    return [(w, 0x0800, b, r) for w, b, r in v4] + [(w, 0x86DD, b, r) for w, b, r in v6]


def main():
    tel, iface, server4, server6, qname, expect = sys.argv[1:7]
    chk = Checker(server4, qname, expect)
    chk.serving("nothing")
    before = stats(tel)
    want = {r: 0 for r in REASONS}
    want["no_answer"] += dns_cases(chk, server4, qname)

    # the port's MAC, learnt by the client's kernel from the worker's ARP reply
    neigh = json.loads(subprocess.check_output(["ip", "-j", "neigh", "show", server4, "dev",
                                                iface]))
    if not neigh or "lladdr" not in neigh[0]:
        raise AssertionError(f"no neighbour entry for {server4} on {iface}: {neigh}")
    dst = mac(neigh[0]["lladdr"])
    src = mac(open(f"/sys/class/net/{iface}/address").read().strip())
    addr4 = subprocess.check_output(["ip", "-j", "-4", "addr", "show", "dev", iface])
    c4 = json.loads(addr4)[0]["addr_info"][0]["local"]
    addr6 = json.loads(subprocess.check_output(["ip", "-j", "-6", "addr", "show", "dev", iface,
                                                "scope", "global"]))
    c6 = addr6[0]["addr_info"][0]["local"]

    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((iface, 0))
    query = dns.message.make_query(qname, "A").to_wire()
    cases = frame_cases(c4, server4, c6, server6, query)
    for what, ethertype, l3, reason in cases:
        raw.send(dst + src + struct.pack("!H", ethertype) + l3)
        if reason:
            want[reason] += 1
        chk.serving(what)
    # A cut 802.1Q tag (the Ethernet header and the tag's first two bytes) is dropped by the
    # veth's kernel VLAN parsing before af_packet sees it: sent for the daemon's sake only.
    raw.send(dst + src + struct.pack("!HH", 0x8100, 0x0001))
    chk.serving("a cut 802.1Q tag")
    print(f"ok: {len(cases) + 1} hostile frames, each answered by silence")

    # the exact cases first: every drop counter moved by exactly what was sent for it
    after = stats(tel)
    bad = []
    for r in REASONS:
        got = after[f"drop_{r}"] - before[f"drop_{r}"]
        print(f"drop_{r}: +{got} (expected {want[r]})")
        if got != want[r]:
            bad.append(f"drop_{r} moved by {got}, expected {want[r]}")
    if bad:
        raise AssertionError("; ".join(bad))

    rng = random.Random(0x6510BD)
    for i in range(3000):
        ethertype = rng.choice([0x0800, 0x86DD, 0x0806, 0x8100])
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120)))
        raw.send(dst + src + struct.pack("!H", ethertype) + body)
        if i % 500 == 499:
            chk.serving(f"{i + 1} random frames")
    chk.serving("3000 random frames")
    end = stats(tel)
    print(f"ok: 3000 random frames, still serving; rx +{end['rx'] - after['rx']}, dropped: " +
          ", ".join(f"{r} +{end[f'drop_{r}'] - after[f'drop_{r}']}" for r in REASONS))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
