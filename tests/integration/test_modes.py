"""Selection modes end to end: failover, roundrobin, random, weighted; A vs AAAA; the ECS
scope of answers that do not depend on the client (/0)."""
import collections
import socket

import dns.flags
import dns.rcode
import dns.rdatatype

from gslbd_test import addresses, dig, dig_answers, ecs_option, kdig, make_query, udp, tcp


def test_failover_serves_the_best_priority_group(server):
    r = udp(server, make_query("fo.gslb.test."))
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert sorted(addresses(r)) == ["192.0.2.1", "192.0.2.2"]
    assert r.answer[0].ttl == 30


def test_failover_skips_disabled_backends_to_next_group(server):
    r = udp(server, make_query("fo-disabled.gslb.test."))
    assert addresses(r) == ["192.0.2.12"]


def test_a_and_aaaa_use_their_own_family(server):
    r = udp(server, make_query("fo.gslb.test.", "AAAA"))
    assert addresses(r, dns.rdatatype.AAAA) == ["2001:db8::1"]
    assert addresses(r, dns.rdatatype.A) == []
    r4 = udp(server, make_query("fo.gslb.test.", "A"))
    assert addresses(r4, dns.rdatatype.AAAA) == []


def test_aaaa_over_ipv6_listener(server):
    r = udp(server, make_query("fo.gslb.test.", "AAAA"), host="::1")
    assert addresses(r, dns.rdatatype.AAAA) == ["2001:db8::1"]
    r = tcp(server, make_query("fo.gslb.test.", "A"), host="::1")
    assert sorted(addresses(r)) == ["192.0.2.1", "192.0.2.2"]


def test_roundrobin_rotates_over_consecutive_queries(server):
    # One client socket: the same 4-tuple always reaches the same worker (SO_REUSEPORT
    # hashing), and the rotation cursor is per worker.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        seq = []
        for _ in range(9):
            r = udp(server, make_query("rr.gslb.test."), sock=s)
            got = addresses(r)
            assert len(got) == 1, got
            seq.append(got[0])
    assert set(seq) == {"192.0.2.21", "192.0.2.22", "192.0.2.23"}
    # strict rotation: period 3, every backend once per period
    assert all(seq[i] == seq[i % 3] for i in range(len(seq))), seq
    assert len(set(seq[:3])) == 3, seq


def test_random_spreads_over_every_backend(server):
    counts = collections.Counter()
    n = 800
    for _ in range(n):
        got = addresses(udp(server, make_query("rand.gslb.test.")))
        assert len(got) == 1
        counts[got[0]] += 1
    assert set(counts) == {"192.0.2.31", "192.0.2.32", "192.0.2.33", "192.0.2.34"}
    # expected 200 each, standard deviation ~12: 130..270 is beyond 5 sigma either way
    for addr, c in counts.items():
        assert 130 <= c <= 270, counts


def test_weighted_follows_8_to_2(server):
    counts = collections.Counter()
    n = 2000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        for _ in range(n):
            got = addresses(udp(server, make_query("w.gslb.test."), sock=s))
            assert len(got) == 1
            counts[got[0]] += 1
    assert set(counts) == {"192.0.2.41", "192.0.2.42"}
    share = counts["192.0.2.41"] / n
    # expected 0.8; standard deviation of the share is 0.009: +-0.05 is more than 5 sigma
    assert 0.75 <= share <= 0.85, counts


def test_ecs_scope_is_zero_for_answers_that_do_not_depend_on_the_client(server):
    for name in ("fo.gslb.test.", "rr.gslb.test.", "w.gslb.test.", "rand.gslb.test."):
        r = udp(server, make_query(name, ecs=("198.51.100.0", 24)))
        opt = ecs_option(r)
        assert opt is not None, f"{name}: ECS option not echoed"
        assert opt.srclen == 24
        assert opt.scopelen == 0, f"{name}: scope {opt.scopelen}"


def test_dig_and_kdig_see_the_same_failover_answer(server):
    out = dig(server.port, "fo.gslb.test.", "A", "+norec")
    assert "status: NOERROR" in out
    assert " aa" in out.split("flags:")[1].split(";")[0]
    assert sorted(dig_answers(out)) == ["192.0.2.1", "192.0.2.2"]
    out = kdig(server.port, "fo.gslb.test.", "AAAA")
    assert "NOERROR" in out
    assert dig_answers(out, "AAAA") == ["2001:db8::1"]
