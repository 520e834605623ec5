#!/usr/bin/python3
"""Cross-checks lib/dns against an independent implementation (dnspython).

dnspython encodes the queries, emit_fixtures answers them with dns::parse_query and
dns::ResponseWriter, and dnspython decodes the responses (strictly: bad counts, bad
names or trailing bytes raise). Usage: check_wire_dnspython.py EMIT_FIXTURES_BINARY
"""
import ipaddress
import subprocess
import sys
import tempfile

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype


def query(name, rdtype, **kw):
    q = dns.message.make_query(dns.name.from_text(name), rdtype, **kw)
    q.id = 0x4242
    return q


def ecs_query(name, rdtype, **kw):
    return query(name, rdtype, use_edns=0, payload=1232, want_dnssec=True,
                 options=[dns.edns.ECSOption("192.0.2.0", 24)], **kw)


def formerr_query():
    m = dns.message.Message(id=0x4242)
    m.flags = dns.flags.RD
    return m


def badvers_query():
    q = query("www.example.com", "A")
    q.use_edns(1)  # make_query(use_edns=1) means "EDNS on", version 0
    assert q.edns == 1
    return q


def notimp_query():
    q = query("www.example.com", "A")
    q.set_opcode(dns.opcode.STATUS)
    return q


QUERIES = {
    "a": lambda: query("WwW.ExAmPle.CoM", "A"),
    "aaaa": lambda: query("www.example.com", "AAAA"),
    "txt": lambda: query("txt.example.com", "TXT"),
    "nxdomain": lambda: query("nope.example.com", "A"),
    "cname_ns": lambda: query("alias.example.com", "A"),
    "any_hinfo": lambda: query("www.example.com", "ANY"),
    "ecs": lambda: ecs_query("geo.example.com", "A"),
    # dns::write_opt: an IPv6 source prefix, a scope above it (clamped), another UDP size
    "ecs6": lambda: query("geo.example.com", "AAAA", use_edns=0, payload=4096,
                          options=[dns.edns.ECSOption("2001:db8:aa00::", 40)]),
    # a source prefix that ends inside a byte
    "ecs_odd": lambda: query("geo.example.com", "A", use_edns=0, payload=1232,
                             options=[dns.edns.ECSOption("198.51.100.128", 25)]),
    # our UDP size below 512 is raised to 512
    "udp_small": lambda: query("www.example.com", "A", use_edns=0, payload=4096),
    "badvers": badvers_query,
    "truncated_udp512": lambda: query("big.example.com", "A"),
    "truncated_edns": lambda: ecs_query("big.example.com", "A"),
    "formerr": formerr_query,
    "notimp": notimp_query,
}


def common(name, q, r, wire):
    assert r.id == 0x4242, name
    assert r.flags & dns.flags.QR, name
    assert r.flags & dns.flags.RD, name
    if q.question:
        assert len(r.question) == 1, name
        # exact text comparison: dnspython's Name equality ignores case, we want 0x20 echo
        assert r.question[0].name.to_text() == q.question[0].name.to_text(), name
        assert r.question[0].rdtype == q.question[0].rdtype, name
        assert r.question[0].rdclass == dns.rdataclass.IN, name
    if q.edns >= 0:
        assert r.edns == 0, name
    else:
        assert r.edns < 0 and len(wire) <= 512, name


def only_rrset(section, rdtype):
    assert len(section) == 1, section
    rrset = section[0]
    assert rrset.rdtype == rdtype, rrset
    return rrset


def check(name, q, wire):
    r = dns.message.from_wire(wire)
    common(name, q, r, wire)
    qname = q.question[0].name if q.question else None
    if name == "a":
        rr = only_rrset(r.answer, dns.rdatatype.A)
        assert rr.name.to_text() == "WwW.ExAmPle.CoM."
        assert rr.ttl == 300 and [x.address for x in rr] == ["192.0.2.1"]
        assert r.flags & dns.flags.AA and r.rcode() == dns.rcode.NOERROR
    elif name == "aaaa":
        rr = only_rrset(r.answer, dns.rdatatype.AAAA)
        assert [x.address for x in rr] == ["2001:db8::1"]
    elif name == "txt":
        rr = only_rrset(r.answer, dns.rdatatype.TXT)
        strings = sorted(x.strings for x in rr)
        assert strings == sorted([(b"x" * 255, b"y" * 45), (b"v=spf1 -all",)]), strings
    elif name == "nxdomain":
        assert r.rcode() == dns.rcode.NXDOMAIN and not r.answer
        rr = only_rrset(r.authority, dns.rdatatype.SOA)
        assert rr.name == dns.name.from_text("example.com") and rr.ttl == 3600
        soa = rr[0]
        assert soa.mname == dns.name.from_text("ns1.example.com")
        assert soa.rname == dns.name.from_text("hostmaster.example.com")
        assert (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum) == (
            2024010101, 7200, 3600, 1209600, 300)
    elif name == "cname_ns":
        rr = only_rrset(r.answer, dns.rdatatype.CNAME)
        assert rr.name == qname and rr[0].target == dns.name.from_text("www.example.net")
        ns = only_rrset(r.authority, dns.rdatatype.NS)
        assert ns.ttl == 86400 and ns[0].target == dns.name.from_text("ns1.example.com")
        glue = only_rrset(r.additional, dns.rdatatype.A)
        assert glue.name == dns.name.from_text("ns1.example.com")
    elif name == "any_hinfo":
        rr = only_rrset(r.answer, dns.rdatatype.HINFO)
        assert rr[0].cpu == b"RFC8482" and rr[0].os == b""
    elif name == "ecs":
        assert r.payload == 1232 and r.ednsflags & dns.flags.DO
        ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
        assert len(ecs) == 1, r.options
        assert ecs[0].address == "192.0.2.0" and ecs[0].srclen == 24 and ecs[0].scopelen == 24
        only_rrset(r.answer, dns.rdatatype.A)
    elif name == "ecs6":
        assert r.payload == 4096 and not r.ednsflags & dns.flags.DO
        ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
        assert len(ecs) == 1, r.options
        assert ecs[0].address == "2001:db8:aa00::" and ecs[0].srclen == 40, ecs[0]
        assert ecs[0].scopelen == 40, ecs[0]
        only_rrset(r.answer, dns.rdatatype.AAAA)
    elif name == "ecs_odd":
        ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
        assert len(ecs) == 1, r.options
        assert ecs[0].address == "198.51.100.128" and ecs[0].srclen == 25, ecs[0]
        assert ecs[0].scopelen == 0, ecs[0]
    elif name == "udp_small":
        assert r.payload == 512 and not r.options
        only_rrset(r.answer, dns.rdatatype.A)
    elif name == "badvers":
        assert r.rcode() == dns.rcode.BADVERS, dns.rcode.to_text(r.rcode())
        assert (r.flags & 0xF) == 0 and not r.answer
    elif name == "truncated_udp512":
        assert r.flags & dns.flags.TC and not r.answer and r.edns < 0
    elif name == "truncated_edns":
        assert r.flags & dns.flags.TC and not r.answer and len(wire) <= 1232
        ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
        assert len(ecs) == 1 and ecs[0].scopelen == 0
    elif name == "formerr":
        assert r.rcode() == dns.rcode.FORMERR and not r.question and len(wire) == 12
    elif name == "notimp":
        assert r.rcode() == dns.rcode.NOTIMP and r.opcode() == dns.opcode.STATUS
    else:
        raise AssertionError("no check for " + name)


def main():
    emit = sys.argv[1]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        queries = {}
        for name, make in QUERIES.items():
            q = make()
            queries[name] = q
            with open(f"{d}/{name}.query", "wb") as f:
                f.write(q.to_wire())
        subprocess.run([emit, d, *QUERIES], check=True)
        for name, q in queries.items():
            with open(f"{d}/{name}.response", "rb") as f:
                wire = f.read()
            try:
                check(name, q, wire)
                passed += 1
                print(f"ok   {name} ({len(wire)} bytes)")
            except Exception as e:  # report every scenario, fail at the end
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}\n     {wire.hex()}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
