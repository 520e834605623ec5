"""DNS protocol behaviour through the real daemon: negative answers, error rcodes,
truncation and the TCP retry, apex records."""
import socket
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from gslbd_test import addresses, dig, dig_answers, dig_status, kdig, make_query, tcp, udp


def soa_in_authority(r):
    return [rr for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]


def test_apex_soa_and_ns_with_glue(server):
    r = udp(server, make_query("gslb.test.", "SOA"))
    assert r.rcode() == dns.rcode.NOERROR
    soa = r.answer[0][0]
    assert soa.serial == 2026010101
    assert str(soa.mname) == "ns1.gslb.test."
    r = udp(server, make_query("gslb.test.", "NS"))
    assert [str(rd.target) for rd in r.answer[0]] == ["ns1.gslb.test."]
    glue = {rd.address for rrset in r.additional for rd in rrset
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)}
    assert glue == {"127.0.0.1", "::1"}


def test_nodata_for_other_types_including_https(server):
    # HTTPS/SVCB at GSLB records are answered (test_parity.py); NODATA at other names
    for rdtype, name in (("TXT", "fo.gslb.test."), ("HTTPS", "ns1.gslb.test."),
                         ("MX", "fo.gslb.test.")):
        r = udp(server, make_query(name, rdtype))
        assert r.rcode() == dns.rcode.NOERROR, rdtype
        assert r.answer == [], rdtype
        assert r.flags & dns.flags.AA
        soa = soa_in_authority(r)
        assert len(soa) == 1, rdtype
        assert soa[0].name.to_text() == "gslb.test."
    # HTTPS by number, through dig
    out = dig(server.port, "ns1.gslb.test.", "TYPE65")
    assert dig_status(out) == "NOERROR"
    assert "ANSWER: 0" in out


def test_nodata_for_aaaa_without_ipv6_backends(server):
    r = udp(server, make_query("rr.gslb.test.", "AAAA"))
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == []
    assert len(soa_in_authority(r)) == 1


def test_empty_non_terminal_is_nodata(server):
    r = udp(server, make_query("deep.gslb.test.", "A"))
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == []
    r = udp(server, make_query("host.deep.gslb.test.", "A"))
    assert addresses(r) == ["192.0.2.81"]


def test_nxdomain_with_soa(server):
    r = udp(server, make_query("nope.gslb.test.", "A"))
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    soa = soa_in_authority(r)
    assert len(soa) == 1
    # RFC 2308: negative TTL is min(SOA TTL, SOA MINIMUM)
    assert soa[0].ttl == 60
    out = kdig(server.port, "nope.gslb.test.", "A")
    assert "NXDOMAIN" in out


def test_refused_outside_our_zones(server):
    r = udp(server, make_query("www.example.com.", "A"))
    assert r.rcode() == dns.rcode.REFUSED
    assert r.answer == []
    assert dig_status(dig(server.port, "example.org.", "A")) == "REFUSED"


def test_formerr_for_malformed_bytes_over_udp(server):
    # header says one question, but the name's label runs past the end of the packet
    packet = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x05ab"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(packet, ("127.0.0.1", server.port))
        reply, _ = s.recvfrom(65535)
    ident, flags = struct.unpack("!HH", reply[:4])
    assert ident == 0xBEEF
    assert flags & 0x8000, "QR not set"
    assert flags & 0x000F == dns.rcode.FORMERR


def test_response_packets_are_dropped(server):
    # QR=1: never answer a response (reflection loops)
    q = make_query("fo.gslb.test.")
    wire = bytearray(q.to_wire())
    wire[2] |= 0x80
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(bytes(wire), ("127.0.0.1", server.port))
        try:
            s.recvfrom(65535)
            answered = True
        except socket.timeout:
            answered = False
    assert not answered
    # and the daemon still serves
    assert udp(server, make_query("fo.gslb.test.")).rcode() == dns.rcode.NOERROR


def test_notimp_for_opcode_status(server):
    q = make_query("fo.gslb.test.")
    q.set_opcode(dns.opcode.STATUS)
    r = udp(server, q)
    assert r.rcode() == dns.rcode.NOTIMP
    assert r.opcode() == dns.opcode.STATUS


def test_badvers_for_edns_version_1(server):
    r = udp(server, make_query("fo.gslb.test.", edns=1))
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0  # we answer with our version
    assert r.answer == []


def test_truncation_without_edns_then_tcp_returns_all_40(server):
    r = udp(server, make_query("big.gslb.test.", edns=None))
    assert r.flags & dns.flags.TC
    assert r.answer == []
    r = tcp(server, make_query("big.gslb.test.", edns=None))
    assert not r.flags & dns.flags.TC
    got = addresses(r)
    assert sorted(got) == sorted(f"192.0.2.{100 + i}" for i in range(40))


def test_edns_buffer_fits_40_answers_over_udp(server):
    r = udp(server, make_query("big.gslb.test.", payload=1232))
    assert not r.flags & dns.flags.TC
    assert len(addresses(r)) == 40


def test_dig_retries_over_tcp_after_tc(server):
    # dig +noedns gets TC over UDP and (without +ignore) retries over TCP by itself
    out = dig(server.port, "big.gslb.test.", "A", "+noedns", "+ignore")
    assert " tc" in out.split("flags:")[1].split(";")[0], out
    out = dig(server.port, "big.gslb.test.", "A", "+noedns")
    assert len(dig_answers(out)) == 40, out
    out = kdig(server.port, "big.gslb.test.", "A", "+tcp")
    assert len(dig_answers(out)) == 40, out


def test_question_case_is_echoed(server):
    r = udp(server, make_query("Fo.GsLb.TeSt.", "A"))
    assert r.question[0].name.to_text() == "Fo.GsLb.TeSt."
    assert sorted(addresses(r)) == ["192.0.2.1", "192.0.2.2"]


def test_wildcard_listener_answers_from_the_address_asked(start_gslbd):
    # Bound to 0.0.0.0: without IP_PKTINFO the kernel would pick 127.0.0.1 as the source
    # of a reply to a query sent to 127.0.0.2, and the client would discard it.
    d = start_gslbd(listen=("0.0.0.0:{port}",))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(make_query("fo-disabled.gslb.test.").to_wire(), ("127.0.0.2", d.port))
        wire, source = s.recvfrom(65535)
    assert source == ("127.0.0.2", d.port)
    assert addresses(dns.message.from_wire(wire)) == ["192.0.2.12"]
