"""The hostile DNS messages of the hostile-traffic tests, shared by the socket-mode test
(test_hostile.py) and the DPDK one (tests/dpdk/e2e_hostile.py): the bytes, what each should
get, and a checker for the answers. Plain Python (struct and dnspython), no pytest."""
import struct

import dns.message


def walk(m):
    """Checks that `m` is a well-formed DNS message (any opcode: dnspython refuses some) and
    returns its full rcode (OPT's extended bits included)."""
    assert len(m) >= 12
    qd, an, ns, ar = struct.unpack("!HHHH", m[4:12])

    def name(pos):
        end, limit, total = None, pos, 0
        while True:
            b = m[pos]
            if b & 0xC0 == 0xC0:
                target = (b & 0x3F) << 8 | m[pos + 1]
                assert 12 <= target < limit, "pointer not backwards"
                end = end or pos + 2
                pos = limit = target
                continue
            assert b <= 63
            total += 1 + b
            assert total <= 255
            pos += 1 + b
            if b == 0:
                return end or pos

    pos = 12
    for _ in range(qd):
        pos = name(pos) + 4
    rcode = m[3] & 0x0F
    for i in range(an + ns + ar):
        pos = name(pos)
        rtype, _, ttl, rdlen = struct.unpack("!HHIH", m[pos:pos + 10])
        if rtype == 41:
            rcode |= (ttl >> 24) << 4
        pos += 10 + rdlen
        assert pos <= len(m)
    assert pos == len(m), "bytes after the last record"
    return rcode


def header(qd=1, an=0, ns=0, ar=0, flags=0x0100, qid=0x4242):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def opt(rdata=b"", udp_size=1232, version=0, owner=b"\x00"):
    return owner + struct.pack("!HHBBHH", 41, udp_size, 0, version, 0, len(rdata)) + rdata


def ecs(family, source, scope, addr):
    body = struct.pack("!HBB", family, source, scope) + addr
    return struct.pack("!HH", 8, len(body)) + body


def cases(qname):
    """(what, bytes, expected outcome) for hostile UDP messages asking about `qname`, a name
    of the served zone: "drop" = no answer, else the rcode text of the answer."""
    base = dns.message.make_query(qname, "A", use_edns=False)
    base.id = 0x4242
    q = base.to_wire()
    name = q[12:-4]
    question = name + b"\x00\x01\x00\x01"
    return [
        ("empty datagram", b"", "drop"),
        ("one byte", b"\x42", "drop"),
        ("eleven bytes", q[:11], "drop"),
        ("a response (QR=1)", q[:2] + bytes([q[2] | 0x80]) + q[3:], "drop"),
        ("header only, QDCOUNT=1", header(), "FORMERR"),
        ("QDCOUNT=0", header(qd=0), "FORMERR"),
        ("QDCOUNT=2", header(qd=2) + question + question, "FORMERR"),
        ("QDCOUNT=65535", header(qd=65535) + question, "FORMERR"),
        ("ANCOUNT=5 with nothing", header(an=5) + question, "FORMERR"),
        ("NSCOUNT=1 with nothing", header(ns=1) + question, "FORMERR"),
        ("ARCOUNT=65535 with nothing", header(ar=65535) + question, "FORMERR"),
        ("name cut short", header() + name[:5], "FORMERR"),
        ("question without QCLASS", header() + name + b"\x00\x01", "FORMERR"),
        ("pointer to itself", header() + b"\xc0\x0c\x00\x01\x00\x01", "FORMERR"),
        ("two pointers in a loop", header() + b"\x01a\xc0\x0e\xc0\x0c\x00\x01\x00\x01", "FORMERR"),
        ("forward pointer", header() + b"\xc0\x12\x00\x01\x00\x01\x01a\x00", "FORMERR"),
        ("pointer into the header", header() + b"\xc0\x02\x00\x01\x00\x01", "FORMERR"),
        ("pointer past the end", header() + b"\xff\xff\x00\x01\x00\x01", "FORMERR"),
        ("label type 0x40", header() + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01", "FORMERR"),
        ("label of 64", header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", "FORMERR"),
        ("name of 256 bytes", header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01",
         "FORMERR"),
        ("trailing garbage", q + b"\x00\x00\x00", "FORMERR"),
        ("two OPT records", header(ar=2) + question + opt() + opt(), "FORMERR"),
        ("OPT not owned by the root", header(ar=1) + question + opt(owner=b"\x01a\x00"), "FORMERR"),
        ("OPT RDLENGTH past the end", header(ar=1) + question + opt()[:-2] + b"\x01\x00", "FORMERR"),
        ("option longer than the OPT", header(ar=1) + question + opt(b"\x00\x0a\x00\x40abcd"),
         "FORMERR"),
        ("ECS family 3", header(ar=1) + question + opt(ecs(3, 24, 0, b"\xc6\x33\x64")), "FORMERR"),
        ("ECS source 33", header(ar=1) + question + opt(ecs(1, 33, 0, b"\x01" * 5)), "FORMERR"),
        ("ECS scope set", header(ar=1) + question + opt(ecs(1, 24, 16, b"\xc6\x33\x64")), "FORMERR"),
        ("ECS address too long", header(ar=1) + question + opt(ecs(1, 8, 0, b"\x0a\x00")), "FORMERR"),
        ("ECS host bits set", header(ar=1) + question + opt(ecs(1, 20, 0, b"\xc6\x12\x1f")),
         "FORMERR"),
        ("ECS twice", header(ar=1) + question + opt(ecs(1, 8, 0, b"\x0a") * 2), "FORMERR"),
        ("ECS option of 3 bytes", header(ar=1) + question + opt(b"\x00\x08\x00\x03\x00\x01\x18"),
         "FORMERR"),
        ("EDNS version 1", header(ar=1) + question + opt(version=1), "BADVERS"),
        # NOTIFY is answered (RFC 1996), but only for a secondary zone from one of its
        # primaries: this name is neither (docs/zones.md)
        ("opcode NOTIFY", header(flags=0x2000) + question, "REFUSED"),
        ("opcode UPDATE", header(flags=0x2800) + question, "NOTIMP"),
    ]
