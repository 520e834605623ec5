"""geoip mode: by location map (ECS and packet source) and by the MaxMind test databases
(tests/data/geo/make_mmdb.pl: 198.51.100.0/24 FR AS64501, 203.0.113.0/24 US AS64502,
2001:db8:1::/48 FR AS64511, 2001:db8:2::/48 US AS64512). Scope prefixes are honest."""
import re

import dns.rdatatype
import pytest

from gslbd_test import addresses, dig, dig_answers, ecs_option, kdig, make_query, udp


def answer_and_scope(server, name, ecs, rdtype="A"):
    r = udp(server, make_query(name, rdtype, ecs=ecs))
    opt = ecs_option(r)
    assert opt is not None, "ECS option not echoed"
    t = dns.rdatatype.A if rdtype == "A" else dns.rdatatype.AAAA
    return addresses(r, t), opt.scopelen


def test_location_map_by_ecs_with_dig(server):
    # 198.51.100.0/24 -> us-east in the location map
    out = dig(server.port, "geo.gslb.test.", "A", "+subnet=198.51.100.7/24")
    assert dig_answers(out) == ["192.0.2.52"], out
    m = re.search(r"CLIENT-SUBNET: ([0-9a-f.:]+)/(\d+)/(\d+)", out)
    assert m, out
    assert (m.group(2), m.group(3)) == ("24", "24"), out


def test_location_map_longest_prefix_wins(server):
    # 198.51.100.128/25 -> eu-fra beats the /24 -> us-east; the /25 decided: scope 25
    got, scope = answer_and_scope(server, "geo.gslb.test.", ("198.51.100.200", 32))
    assert got == ["192.0.2.51"]
    assert scope == 25
    # 198.51.100.9 matched the /24, but the answer differs inside that /24 (the /25): a
    # scope of 24 would let a resolver serve it to 198.51.100.200 too. Honest scope: 25.
    got, scope = answer_and_scope(server, "geo.gslb.test.", ("198.51.100.9", 32))
    assert got == ["192.0.2.52"]
    assert scope == 25


def test_location_map_scope_never_exceeds_source(server):
    got, scope = answer_and_scope(server, "geo.gslb.test.", ("198.51.100.0", 16 + 8))
    assert got == ["192.0.2.52"]
    assert scope <= 24


def test_location_map_by_packet_source(server):
    # no ECS: the packet source 127.0.0.1 is in 127.0.0.0/8 -> eu-fra
    r = udp(server, make_query("geo.gslb.test.", edns=None))
    assert addresses(r) == ["192.0.2.51"]


def test_location_map_ipv6_ecs_and_aaaa(server):
    got, scope = answer_and_scope(server, "geo.gslb.test.", ("2001:db8:100:1::", 64), "AAAA")
    assert got == ["2001:db8::52"]
    assert scope == 48


def test_unmapped_client_gets_best_priority(server):
    got, _ = answer_and_scope(server, "geo.gslb.test.", ("10.1.2.0", 24))
    assert got == ["192.0.2.51"]


def test_ecs_source_prefix_zero_decides_on_packet_source_with_scope_zero(server):
    got, scope = answer_and_scope(server, "geo.gslb.test.", ("0.0.0.0", 0))
    assert got == ["192.0.2.51"]  # 127.0.0.1 -> eu-fra
    assert scope == 0


@pytest.mark.parametrize("name,ecs,answer,scope", [
    ("geo-country.gslb.test.", ("203.0.113.9", 32), "192.0.2.62", 24),  # US
    ("geo-country.gslb.test.", ("198.51.100.9", 32), "192.0.2.61", 24),  # FR
    ("geo-country.gslb.test.", ("2001:db8:2::", 56), "192.0.2.62", None),  # US over IPv6 ECS
    ("geo-asn.gslb.test.", ("198.51.100.77", 32), "192.0.2.71", 24),  # AS64501
    ("geo-asn.gslb.test.", ("203.0.113.77", 32), "192.0.2.72", None),  # AS64502
    ("geo-asn.gslb.test.", ("10.9.9.0", 24), "192.0.2.71", None),  # not in the db: best priority
])
def test_maxmind_country_and_asn(server, name, ecs, answer, scope):
    got, got_scope = answer_and_scope(server, name, ecs)
    assert got == [answer]
    if scope is not None:
        assert got_scope == scope


def test_maxmind_country_with_kdig(server):
    out = kdig(server.port, "geo-country.gslb.test.", "A", "+subnet=203.0.113.0/24")
    assert dig_answers(out) == ["192.0.2.62"], out
