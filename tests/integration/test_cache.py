"""The per-worker response cache seen from outside (issue 4): with the cache on, roundrobin
still rotates per query as dig sees it, ECS is echoed per client on cached answers, and a
health change published by the real health monitor is reflected by the very next query,
with no worker serving a stale cached answer afterwards, although the record TTL is 300 s.

Health backends (as in test_health.py): A = 127.0.0.11 (priority 1, location eu-fra), B =
127.0.0.12 (priority 2, location us-east), each an HTTP server answering GET /health;
probes every 300 ms, rise 2, fall 2.
"""
import time

import pytest

from gslbd_test import addresses, dig, dig_answers, ecs_option, make_query, udp
from gslbd_test import HEALTH_LIMIT as LIMIT
from gslbd_test import HttpBackend, check, health_defaults, wait_for

CACHE = "cache:\n  entries: 4096\n  max_bytes: 4MiB\n"


def zone(a, b):
    body = health_defaults(record_ttl=300)
    for name, mode in (("fo", "failover"), ("geo", "geoip")):
        body += f"""  {name}.gslb.test.:
    mode: {mode}
    backends:
      - address: "{a.addr}"
        priority: 1
        location: eu-fra
{check(a.port)}      - address: "{b.addr}"
        priority: 2
        location: us-east
{check(b.port)}"""
    return body


@pytest.fixture
def world(tmp_path, start_gslbd):
    a = HttpBackend("127.0.0.11", tmp_path)
    b = HttpBackend("127.0.0.12", tmp_path)
    d = start_gslbd("gslbd", zone_override=zone(a, b), workers=2, extra=CACHE)
    yield d, a, b
    a.stop()
    b.stop()


def one(d, name, ecs=None):
    # a new socket (new source port) per query, so SO_REUSEPORT spreads them over workers
    got = addresses(udp(d, make_query(name, ecs=ecs)))
    assert len(got) == 1, got
    return got[0]


def stream_until_switch(d, name, old, new, ecs=None, after=300):
    """Queries one at a time until the answer turns from `old` to `new`, then `after` more.
    Returns the answers from the first `new` on."""
    seq = []
    deadline = time.monotonic() + LIMIT
    while new not in seq:
        assert time.monotonic() < deadline, f"{name} still answers {old} after {LIMIT} s"
        got = one(d, name, ecs)
        assert got in (old, new), got
        seq.append(got)
    for _ in range(after):
        seq.append(one(d, name, ecs))
    return seq[seq.index(new):]


def test_health_change_is_seen_by_the_very_next_query(world):
    d, a, b = world
    eu = ("198.51.100.128", 25)  # location eu-fra by ECS
    wait_for(lambda: {one(d, "fo.gslb.test.") for _ in range(8)}, {a.addr}, LIMIT, "A up")
    wait_for(lambda: one(d, "geo.gslb.test.", eu), a.addr, LIMIT, "geo A up")
    for _ in range(100):  # every worker has both answers cached now
        assert one(d, "fo.gslb.test.") == a.addr
        assert one(d, "geo.gslb.test.", eu) == a.addr

    a.set(status=503)
    after = stream_until_switch(d, "fo.gslb.test.", a.addr, b.addr)
    # once any worker answered from the new snapshot, no worker serves the cached old answer
    assert set(after) == {b.addr}, after
    assert all(one(d, "geo.gslb.test.", eu) == b.addr for _ in range(100))

    a.set(status=200)
    after = stream_until_switch(d, "fo.gslb.test.", b.addr, a.addr)
    assert set(after) == {a.addr}, after
    assert all(one(d, "geo.gslb.test.", eu) == a.addr for _ in range(100))


def test_roundrobin_rotates_through_the_cache_as_dig_sees_it(start_gslbd):
    # one worker: a single cursor, so the rotation is strict across separate dig runs
    d = start_gslbd(workers=1, extra=CACHE)
    seq = []
    for _ in range(12):
        got = dig_answers(dig(d.port, "rr.gslb.test.", "A", "+norecurse"))
        assert len(got) == 1, got
        seq.append(got[0])
    order = ["192.0.2.21", "192.0.2.22", "192.0.2.23"]
    start = order.index(seq[0])
    assert seq == [order[(start + i) % 3] for i in range(12)], seq


def test_cached_answers_echo_each_clients_ecs(server):
    # the same location for all: one cache entry serves them, the echo is per query
    for i, (net, plen) in enumerate([("198.51.100.128", 25), ("198.51.100.192", 26),
                                     ("198.51.100.128", 25), ("198.51.100.200", 29)]):
        r = udp(server, make_query("geo.gslb.test.", ecs=(net, plen)))
        assert addresses(r) == ["192.0.2.51"], (i, r)
        opt = ecs_option(r)
        assert opt is not None
        assert (opt.address, opt.srclen) == (net, plen)
        assert opt.scopelen <= plen
        assert opt.scopelen == min(25, plen)  # the /25 the decision rested on
    out = dig(server.port, "geo.gslb.test.", "A", "+subnet=198.51.100.0/24")
    assert dig_answers(out) == ["192.0.2.52"]  # us-east: 198.51.100.0/24 minus the /25
    assert "CLIENT-SUBNET: 198.51.100.0/24/" in out, out
