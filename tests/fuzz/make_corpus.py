#!/usr/bin/python3
"""Writes the seed corpus for fuzz_parse_query into corpus/parse_query/.

Run once by hand (needs Debian's python3-dnspython); the output is committed so test runs
need nothing but the files. Valid queries come from dnspython, malformed ones are
hand-assembled from them.
"""
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "parse_query")


def q(name, rdtype, **kw):
    m = dns.message.make_query(name, rdtype, **kw)
    m.id = 0x1234
    return m.to_wire()


def ecs(addr, src):
    return [dns.edns.ECSOption(addr, src)]


def main():
    os.makedirs(OUT, exist_ok=True)
    base = q("www.example.com", "A")
    edns = q("www.example.com", "A", use_edns=0, payload=1232)
    seeds = {
        "valid_a": base,
        "valid_mixed_case_aaaa": q("WwW.ExAmPle.CoM", "AAAA"),
        "valid_root_soa": q(".", "SOA"),
        "valid_any": q("example.com", "ANY"),
        "valid_edns": edns,
        "valid_edns_do": q("www.example.com", "TXT", use_edns=0, want_dnssec=True),
        "valid_ecs_v4": q("geo.example.com", "A", use_edns=0, options=ecs("192.0.2.0", 24)),
        "valid_ecs_v6": q("geo.example.com", "AAAA", use_edns=0,
                          options=ecs("2001:db8:1::", 56)),
        "valid_ecs_v4_20": q("geo.example.com", "A", use_edns=0, options=ecs("198.18.16.0", 20)),
        "valid_cookie_ecs": q("geo.example.com", "A", use_edns=0, options=[
            dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08"),
            *ecs("192.0.2.0", 24)]),
        # a TSIG-like record after the OPT: type 250, class ANY, compressed owner
        "valid_opt_then_tsig": edns[:11] + b"\x02" + edns[12:] +
        b"\xc0\x0c\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x04\xde\xad\xbe\xef",
        "bad_badvers": edns[:-5] + b"\x01" + edns[-4:],  # OPT VERSION 1
        "bad_qr_set": base[:2] + bytes([base[2] | 0x80]) + base[3:],
        "bad_opcode_notify": base[:2] + bytes([(base[2] & 0x87) | (4 << 3)]) + base[3:],
        "bad_short": base[:11],
        "bad_pointer_loop": base[:12] + b"\xc0\x0c\x00\x01\x00\x01",
        "bad_forward_pointer": base[:12] + b"\xc0\x12\x00\x01\x00\x01\x01a\x00",
        "bad_label_64": base[:12] + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
        "bad_two_opts": edns[:11] + b"\x02" + edns[12:] + edns[-11:],
        "bad_ecs_scope": q("geo.example.com", "A", use_edns=0,
                           options=[dns.edns.GenericOption(8, struct.pack("!HBB3s", 1, 24, 8,
                                                                          b"\xc0\x00\x02"))]),
        "bad_ecs_bits": q("geo.example.com", "A", use_edns=0,
                          options=[dns.edns.GenericOption(8, struct.pack("!HBB3s", 1, 20, 0,
                                                                         b"\xc0\x00\x1f"))]),
        "bad_trailing": base + b"\x00\x00",
        "bad_qdcount_2": base[:5] + b"\x02" + base[6:] + base[12:],
    }
    for name, wire in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(wire)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
