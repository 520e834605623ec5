"""CoreDNS-GSLB zone files in its current style (issue 15), answered over the wire:
`failover_policy` (fail-open, fail-closed + rcode, fail-specific + fallback_ips or
fallback_cname) beside the older `fallback_policy`, and `mode: ip-hash` (the same client
keeps its backend; one backend going away moves only its own clients), with the response
cache on and off.

Dead backends are probed with TCP on a loopback port nobody listens on (fall 2)."""
import collections

import dns.rcode
import dns.rdatatype
import pytest

import gslbd_test
from gslbd_test import (HEALTH_LIMIT, addresses, dig, dig_answers, ecs_option, kdig,
                        make_query, udp, wait_for)

CACHE = "cache:\n  entries: 65536\n  max_bytes: 16MiB\n"
HASHED = [f"192.0.2.{i}" for i in range(1, 6)]


def dead(port):
    return f"""        healthchecks:
          - type: tcp
            params: {{port: {port}, timeout: 250ms}}
"""


def zone(closed_port):
    d = dead(closed_port)
    z = gslbd_test.health_defaults(record_ttl=30)
    # failover records whose backends are all down
    for name, policy in (
            ("open", ""),
            ("open-explicit", "    failover_policy: {mode: fail-open}\n"),
            ("select", "    failover_policy: {mode: fail-open-select}\n"),
            ("closed", "    failover_policy: {mode: fail-closed, rcode: NXDOMAIN}\n"),
            ("closed-default", "    failover_policy: {mode: fail-closed}\n"),
            ("ips", '    failover_policy: {mode: fail-specific, fallback_ips: ["198.51.100.1", '
                    '"2001:db8::99"]}\n'),
            ("cname", "    failover_policy: {mode: fail-specific, "
                      "fallback_cname: backup.cdn.example.net}\n"),
            ("older", "    fallback_policy: {mode: fail-closed, rcode: REFUSED}\n")):
        z += f"""  {name}.gslb.test.:
    mode: failover
{policy}    backends:
      - address: "192.0.2.11"
        priority: 1
{d}      - address: "192.0.2.12"
        priority: 2
{d}      - address: "192.0.2.13"
        priority: 3
        enable: false
{d}      - address: "2001:db8::11"
        priority: 1
{d}"""
    z += """  probe.gslb.test.:
    mode: failover
    backends:
      - address: "192.0.2.11"
""" + d
    z += """  hash.gslb.test.:
    mode: ip-hash
    backends:
""" + "".join(f'      - address: "{a}"\n' for a in HASHED)
    z += """  hash-weighted.gslb.test.:
    mode: ip-hash
    backends:
      - address: "192.0.2.31"
        weight: 3
      - address: "192.0.2.32"
        weight: 1
"""
    # geoip over the country database alone (this world has no city database): every
    # healthy match of the deciding step, whatever its priority, or with `geo_priority: best`
    # only the best priority among them
    for name, choice in (("geo-cdb", ""), ("geo-cdb-best", "    geo_priority: best\n")):
        z += f"""  {name}.gslb.test.:
    mode: geoip
{choice}    backends:
      - address: "192.0.2.61"
        country: FR
        priority: 1
      - address: "192.0.2.62"
        country: FR
        priority: 2
      - address: "192.0.2.63"
        country: FR
        priority: 0
{d}      - address: "192.0.2.64"
        continent: EU
        priority: 2
      - address: "192.0.2.65"
        continent: EU
        priority: 1
      - address: "192.0.2.66"
        priority: 0
"""
    z += """  web.gslb.test.:
    mode: failover
    alpn: [h2, "http/1.1"]
    backends:
      - address: "192.0.2.41"
        priority: 1
        port: 8443
      - address: "192.0.2.42"
        priority: 1
      - address: "192.0.2.43"
        priority: 2
      - address: "2001:db8::41"
        priority: 1
  web-default.gslb.test.:
    mode: roundrobin
    backends:
      - address: "192.0.2.51"
"""
    return z


@pytest.fixture(params=["nocache", "cache"])
def world(request, start_gslbd, tmp_path):
    closed = gslbd_test.free_port()  # nothing listens there
    extra = CACHE if request.param == "cache" else ""
    api_port = gslbd_test.free_port()
    (tmp_path / request.param).mkdir(parents=True, exist_ok=True)
    extra += gslbd_test.api_block(api_port, tmp_path / request.param)
    d = start_gslbd(request.param, zone_override=zone(closed), extra=extra)
    api = gslbd_test.Api(api_port)
    gslbd_test.wait_api(api)
    # the dead backends go down after `fall` rounds (each record's own probes)
    def rcode(name):
        return udp(d, make_query(name)).rcode()

    def fallback_taken(name):
        _, e = api.post("/api/v1/explain", {"name": name, "client": "127.0.0.1"})
        return e["fallback"]["taken"]

    for what, fn, want in (
            ("open", lambda: len(addresses(udp(d, make_query("open.gslb.test.")))), 2),
            ("open-explicit",
             lambda: len(addresses(udp(d, make_query("open-explicit.gslb.test.")))), 2),
            ("closed", lambda: rcode("closed.gslb.test."), dns.rcode.NXDOMAIN),
            ("closed-default", lambda: rcode("closed-default.gslb.test."), dns.rcode.SERVFAIL),
            ("older", lambda: rcode("older.gslb.test."), dns.rcode.REFUSED),
            ("ips", lambda: addresses(udp(d, make_query("ips.gslb.test."))), ["198.51.100.1"]),
            # the IPv6 backend has its own probe: wait for it too
            ("ips6", lambda: addresses(udp(d, make_query("ips.gslb.test.", "AAAA")),
                                       dns.rdatatype.AAAA), ["2001:db8::99"]),
            ("cname", lambda: len(udp(d, make_query("cname.gslb.test.")).answer), 1),
            ("select", lambda: fallback_taken("select.gslb.test."), True),
            ("geo-cdb", lambda: sorted(addresses(udp(d, make_query(
                "geo-cdb.gslb.test.", ecs=("198.51.100.7", 24))))),
             ["192.0.2.61", "192.0.2.62"]),
            ("geo-cdb-best", lambda: addresses(udp(d, make_query(
                "geo-cdb-best.gslb.test.", ecs=("198.51.100.7", 24)))), ["192.0.2.61"])):
        wait_for(fn, want, 3 * HEALTH_LIMIT, f"{what}: backends down")
    return d, api


def test_fail_open_returns_every_enabled_backend(world):
    d, _ = world
    for name in ("open.gslb.test.", "open-explicit.gslb.test."):
        r = udp(d, make_query(name))
        assert r.rcode() == dns.rcode.NOERROR
        # both priorities, the disabled one left out (CoreDNS-GSLB: "all enabled backends")
        assert sorted(addresses(r)) == ["192.0.2.11", "192.0.2.12"]
        assert dig_answers(dig(d.port, name, "AAAA"), "AAAA") == ["2001:db8::11"]


def test_fail_open_select_keeps_the_mode(world):
    d, _ = world
    assert addresses(udp(d, make_query("select.gslb.test."))) == ["192.0.2.11"]


def test_fail_closed_answers_the_rcode(world):
    d, _ = world
    r = udp(d, make_query("closed.gslb.test."))
    assert r.rcode() == dns.rcode.NXDOMAIN and not r.answer
    assert udp(d, make_query("closed-default.gslb.test.")).rcode() == dns.rcode.SERVFAIL
    # the older key, same mode names
    assert udp(d, make_query("older.gslb.test.")).rcode() == dns.rcode.REFUSED


def test_fail_specific_ips_and_cname(world):
    d, _ = world
    assert addresses(udp(d, make_query("ips.gslb.test."))) == ["198.51.100.1"]
    assert addresses(udp(d, make_query("ips.gslb.test.", "AAAA")), dns.rdatatype.AAAA) == \
        ["2001:db8::99"]
    out = kdig(d.port, "cname.gslb.test.", "A")
    assert "CNAME" in out and "backup.cdn.example.net." in out, out


def ask(d, name, ecs, rdtype="A"):
    """One query; a datagram lost on a loaded box is asked again (30,000 queries per run)."""
    import dns.exception
    for attempt in range(3):
        try:
            return udp(d, make_query(name, rdtype, ecs=ecs), timeout=2.0)
        except dns.exception.Timeout:
            if attempt == 2:
                raise


def ecs_client(i):
    return f"10.{(i >> 8) & 255}.{i & 255}.0"


def test_ip_hash_is_stable_and_moves_only_the_lost_backends_clients(world):
    d, api = world
    n = 10000
    first = {}
    for i in range(n):
        r = ask(d, "hash.gslb.test.", (ecs_client(i), 24))
        got = addresses(r)
        assert len(got) == 1, got
        first[i] = got[0]
        scope = ecs_option(r)
        assert scope is not None and scope.scopelen == 24
    share = collections.Counter(first.values())
    assert set(share) == set(HASHED)
    for a, c in share.items():
        assert 1500 <= c <= 2500, share
    for i in range(n):
        assert addresses(ask(d, "hash.gslb.test.", (ecs_client(i), 24))) == \
            [first[i]]
    # one backend out (disabled through the API): only its clients move
    lost = HASHED[2]
    status, _ = api.post("/api/v1/backends/disable", {"address": lost})
    assert status == 200
    moved_other = 0
    for i in range(n):
        got = addresses(ask(d, "hash.gslb.test.", (ecs_client(i), 24)))
        assert got != [lost]
        if first[i] != lost and got != [first[i]]:
            moved_other += 1
    assert moved_other <= n // 100, moved_other
    assert moved_other == 0
    api.post("/api/v1/backends/enable", {"address": lost})
    for i in range(0, n, 10):
        assert addresses(ask(d, "hash.gslb.test.", (ecs_client(i), 24))) == \
            [first[i]]


def test_ip_hash_weights(world):
    d, _ = world
    heavy = 0
    for i in range(2000):
        got = addresses(ask(d, "hash-weighted.gslb.test.", (ecs_client(i), 24)))
        heavy += got == ["192.0.2.31"]
    assert 1350 <= heavy <= 1650, heavy  # 75 %


def https_rr(r):
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1 and len(r.answer[0]) == 1, r
    return r.answer[0][0]


def hints(rd, key):
    p = rd.params.get(key)
    return sorted(str(a) for a in p.addresses) if p is not None else []


def test_https_and_svcb_answers_with_hints_of_the_selected_backends(world):
    d, api = world
    import dns.rdtypes.svcbbase as svcb
    for rdtype in ("HTTPS", "SVCB"):
        rd = https_rr(udp(d, make_query("web.gslb.test.", rdtype)))
        assert rd.priority == 1 and str(rd.target) == "."
        assert [a.decode() for a in rd.params[svcb.ParamKey.ALPN].ids] == ["h2", "http/1.1"]
        assert rd.params[svcb.ParamKey.PORT].port == 8443
        assert hints(rd, svcb.ParamKey.IPV4HINT) == ["192.0.2.41", "192.0.2.42"]
        assert hints(rd, svcb.ParamKey.IPV6HINT) == ["2001:db8::41"]
    rd = https_rr(udp(d, make_query("web-default.gslb.test.", "HTTPS")))
    assert [a.decode() for a in rd.params[svcb.ParamKey.ALPN].ids] == ["h3", "h2"]
    assert svcb.ParamKey.PORT not in rd.params
    assert hints(rd, svcb.ParamKey.IPV4HINT) == ["192.0.2.51"]
    assert svcb.ParamKey.IPV6HINT not in rd.params
    # kdig parses it too
    out = kdig(d.port, "web.gslb.test.", "HTTPS")
    assert "NOERROR" in out and "ipv4hint=192.0.2.41,192.0.2.42" in out, out
    assert 'alpn=h2,http/1.1' in out.replace('"', ''), out
    # hints follow health (the operator's disable is the same eligibility test)
    for addr in ("192.0.2.41", "192.0.2.42"):
        assert api.post("/api/v1/backends/disable", {"address": addr})[0] == 200
    rd = https_rr(udp(d, make_query("web.gslb.test.", "HTTPS")))
    assert hints(rd, svcb.ParamKey.IPV4HINT) == ["192.0.2.43"]
    for addr in ("192.0.2.41", "192.0.2.42"):
        api.post("/api/v1/backends/enable", {"address": addr})
    # an all-down record follows its failover policy: fail-closed answers the rcode
    assert udp(d, make_query("closed.gslb.test.", "HTTPS")).rcode() == dns.rcode.NXDOMAIN
    # fail-open: every enabled backend in the hints
    rd = https_rr(udp(d, make_query("open.gslb.test.", "HTTPS")))
    assert hints(rd, svcb.ParamKey.IPV4HINT) == ["192.0.2.11", "192.0.2.12"]


def test_https_hint_is_the_clients_ip_hash_answer(world):
    d, _ = world
    import dns.rdtypes.svcbbase as svcb
    for i in range(300):
        ecs = (ecs_client(i), 24)
        a = addresses(udp(d, make_query("hash.gslb.test.", ecs=ecs)))
        r = udp(d, make_query("hash.gslb.test.", "HTTPS", ecs=ecs))
        assert hints(https_rr(r), svcb.ParamKey.IPV4HINT) == a
        assert ecs_option(r).scopelen == 24


# --- geoip: every healthy match of the deciding step, whatever its priority -------------
#
# CoreDNS-GSLB's pickBackendWithGeoIP answers every healthy, enabled backend that matches the
# deciding city (tier), subdivision, country, continent, country-database or location-map
# step; ASN answers the first match alone, nearest the best priority at the nearest site,
# and the final failover the best priority. gslbd does the same by default; `geo_priority:
# best` keeps gslbd's earlier answer (the best priority among the matches).

def geo_ask(d, name, client, prefix=24):
    """(sorted addresses, ECS scope) for `client`/`prefix`, asked twice: both must agree (the
    second is a cache hit when the cache is on)."""
    got = []
    for _ in range(2):
        r = udp(d, make_query(name, ecs=(client, prefix)))
        assert r.rcode() == dns.rcode.NOERROR
        opt = ecs_option(r)
        assert opt is not None, "ECS option not echoed"
        got.append((sorted(addresses(r)), opt.scopelen))
    assert got[0] == got[1]
    return got[0]


def test_geoip_country_database_answers_every_match(world):
    d, api = world
    for client, want, best in (
            # the country step (FR): both healthy FR backends; the priority-0 one is down
            ("198.51.100.7", ["192.0.2.61", "192.0.2.62"], ["192.0.2.61"]),
            # the continent step (192.0.2.0/25 is DE, EU): both EU backends, or the best
            ("192.0.2.7", ["192.0.2.64", "192.0.2.65"], ["192.0.2.65"]),
            # no match (US): the final failover, the best priority, in both
            ("203.0.113.7", ["192.0.2.66"], ["192.0.2.66"])):
        assert geo_ask(d, "geo-cdb.gslb.test.", client) == (want, 24), client
        assert geo_ask(d, "geo-cdb-best.gslb.test.", client) == (best, 24), client
    # one more FR backend out (disabled through the API): the other one answers in both
    assert api.post("/api/v1/backends/disable", {"address": "192.0.2.61"})[0] == 200
    try:
        for name in ("geo-cdb.gslb.test.", "geo-cdb-best.gslb.test."):
            assert geo_ask(d, name, "198.51.100.7") == (["192.0.2.62"], 24)
    finally:
        api.post("/api/v1/backends/enable", {"address": "192.0.2.61"})
    assert geo_ask(d, "geo-cdb.gslb.test.", "198.51.100.7")[0] == ["192.0.2.61", "192.0.2.62"]


GEO_CITY_DB = f"  city_db: {gslbd_test.env_path('GSLBD_TEST_CITY_MMDB')}\n"
# ECS clients in the test databases (tests/data/geo/make_mmdb.pl)
G_PARIS, G_LYON, G_NEW_YORK = "198.51.100.7", "100.64.4.7", "203.0.113.7"
G_OAKLAND, G_BERLIN, G_NOWHERE = "100.64.2.7", "192.0.2.7", "10.0.0.7"


def geo_zone(closed_port):
    """Records in CoreDNS-GSLB's style (docs/modes.md), each twice: as written, and with
    `geo_priority: best` (name-best)."""
    d = dead(closed_port)

    def be(address, priority, keys="", check=""):
        return f'      - address: "{address}"\n        priority: {priority}\n{keys}{check}'

    records = {
        # the city database's city step: Paris at priorities 1, 2 and a dead 0
        "prio-city": be("192.0.2.1", 1, "        city: Paris\n") +
        be("192.0.2.2", 2, "        city: Paris\n") +
        be("192.0.2.3", 0, "        city: Paris\n", d) +
        be("192.0.2.4", 1, "        city: Lyon\n") +
        be("192.0.2.5", 0) + be("192.0.2.6", 1),
        # subdivision (US-CA, two spellings), then country (US)
        "prio-sub": be("192.0.2.11", 1, "        subdivision: US-CA\n") +
        be("192.0.2.12", 2, "        country: US\n        subdivision: CA\n") +
        be("192.0.2.13", 0, "        country: US\n"),
        # continent
        "prio-continent": be("192.0.2.21", 1, "        continent: EU\n") +
        be("192.0.2.22", 2, "        continent: EU\n") +
        be("192.0.2.23", 1, "        continent: NA\n") +
        be("192.0.2.24", 0, "        continent: EU\n", d),
        # the location map (198.51.100.0/24 is us-east)
        "prio-location": be("192.0.2.31", 1, "        location: us-east\n") +
        be("192.0.2.32", 2, "        location: us-east\n") +
        be("192.0.2.33", 0, "        location: eu-fra\n"),
        # ASN: the first match in file order alone, whatever its priority
        "prio-asn": be("192.0.2.41", 2, '        asn: "AS64501"\n') +
        be("192.0.2.42", 1, "        asn: 64501\n"),
        # nearest: the best priority at the nearest site
        "prio-near": be("192.0.2.51", 2, "        latitude: 48.8566\n        longitude: 2.3522\n") +
        be("192.0.2.52", 1, "        latitude: 48.8566\n        longitude: 2.3522\n") +
        be("192.0.2.53", 0, "        latitude: 40.7128\n        longitude: -74.0060\n"),
    }
    z = gslbd_test.health_defaults(record_ttl=30)
    for name, backends in records.items():
        for suffix, choice in (("", ""), ("-best", "    geo_priority: best\n")):
            z += f"""  {name}{suffix}.gslb.test.:
    mode: geoip
    description: geoip with matching backends of several priorities
{choice}    backends:
{backends}"""
    return z


@pytest.fixture(scope="module", params=["nocache", "cache"])
def geo_world(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("geo-" + request.param)
    api_port = gslbd_test.free_port()
    extra = GEO_CITY_DB + (CACHE if request.param == "cache" else "") + \
        gslbd_test.api_block(api_port, tmp)
    port = gslbd_test.free_port()
    d = gslbd_test.Daemon(gslbd_test.write_config(tmp, port, zone=geo_zone(gslbd_test.free_port()),
                                                  extra=extra), port)
    api = gslbd_test.Api(api_port)
    gslbd_test.wait_api(api)
    # the dead backends go down after `fall` rounds of their records' own probes
    for name, client, want in (("prio-city", G_PARIS, ["192.0.2.1", "192.0.2.2"]),
                               ("prio-city-best", G_PARIS, ["192.0.2.1"]),
                               ("prio-continent", G_BERLIN, ["192.0.2.21", "192.0.2.22"]),
                               ("prio-continent-best", G_BERLIN, ["192.0.2.21"])):
        wait_for(lambda: sorted(addresses(udp(d, make_query(f"{name}.gslb.test.",
                                                             ecs=(client, 24))))),
                 want, 3 * HEALTH_LIMIT, f"{name}: the dead backend down")
    yield d, api
    d.stop()


@pytest.mark.parametrize("name,client,want,best", [
    # city: every healthy Paris backend (the dead priority-0 one left out), or the best
    ("prio-city", G_PARIS, ["192.0.2.1", "192.0.2.2"], ["192.0.2.1"]),
    ("prio-city", G_LYON, ["192.0.2.4"], ["192.0.2.4"]),
    # no match: the final failover answers the best priority in both
    ("prio-city", G_NOWHERE, ["192.0.2.5"], ["192.0.2.5"]),
    # subdivision: both US-CA backends; New York: the country step's two US backends
    ("prio-sub", G_OAKLAND, ["192.0.2.11", "192.0.2.12"], ["192.0.2.11"]),
    ("prio-sub", G_NEW_YORK, ["192.0.2.12", "192.0.2.13"], ["192.0.2.13"]),
    # continent: the EU ones (the dead one left out)
    ("prio-continent", G_BERLIN, ["192.0.2.21", "192.0.2.22"], ["192.0.2.21"]),
    ("prio-continent", G_PARIS, ["192.0.2.21", "192.0.2.22"], ["192.0.2.21"]),
    ("prio-continent", G_NEW_YORK, ["192.0.2.23"], ["192.0.2.23"]),
    # the location map: both us-east backends
    ("prio-location", G_PARIS, ["192.0.2.31", "192.0.2.32"], ["192.0.2.31"]),
    # ASN: the first in file order (priority 2), in both
    ("prio-asn", G_PARIS, ["192.0.2.41"], ["192.0.2.41"]),
    # nearest: the best priority at the Paris site, in both
    ("prio-near", G_PARIS, ["192.0.2.52"], ["192.0.2.52"]),
    ("prio-near", G_NEW_YORK, ["192.0.2.53"], ["192.0.2.53"]),
])
def test_geoip_answers_every_match_of_the_deciding_step(geo_world, name, client, want, best):
    d, _ = geo_world
    got, scope = geo_ask(d, f"{name}.gslb.test.", client)
    assert got == want
    assert 0 < scope <= 24
    assert geo_ask(d, f"{name}-best.gslb.test.", client) == (best, scope)


def test_geoip_every_match_follows_health_and_the_cache(geo_world):
    d, api = geo_world

    def disable(record, address, action="disable"):
        status, body = api.post(f"/api/v1/backends/{action}",
                                {"address": address, "record": record})
        assert status == 200, body

    # the same class (continent EU) from two networks: the second is served from the cache
    # entry of the first when the cache is on; its scope is its own lookup's
    assert geo_ask(d, "prio-continent.gslb.test.", G_BERLIN)[0] == ["192.0.2.21", "192.0.2.22"]
    assert geo_ask(d, "prio-continent.gslb.test.", G_PARIS) == (["192.0.2.21", "192.0.2.22"], 24)
    # one more Paris backend down: the other still answers, then failover when none is left
    disable("prio-city.gslb.test.", "192.0.2.1")
    try:
        assert geo_ask(d, "prio-city.gslb.test.", G_PARIS) == (["192.0.2.2"], 24)
        disable("prio-city.gslb.test.", "192.0.2.2")
        try:
            assert geo_ask(d, "prio-city.gslb.test.", G_PARIS)[0] == ["192.0.2.5"]
        finally:
            disable("prio-city.gslb.test.", "192.0.2.2", "enable")
    finally:
        disable("prio-city.gslb.test.", "192.0.2.1", "enable")
    assert geo_ask(d, "prio-city.gslb.test.", G_PARIS) == (["192.0.2.1", "192.0.2.2"], 24)
    # explain says which choice answered, and selects the same backends
    for name, answers, selected in (
            ("prio-city.gslb.test.", "every matching backend", ["192.0.2.1", "192.0.2.2"]),
            ("prio-city-best.gslb.test.", "the best priority", ["192.0.2.1"])):
        status, e = api.post("/api/v1/explain", {"name": name, "client": "127.0.0.1",
                                                 "ecs": f"{G_PARIS}/24"})
        assert status == 200, e
        assert e["decision"]["why"]["decided_by"] == "city"
        assert e["decision"]["why"]["answers"].startswith(answers), e["decision"]["why"]
        assert [c["address"] for c in e["candidates"] if c["selected"]] == selected
    # dig and kdig see the same answer
    out = dig(d.port, "prio-location.gslb.test.", "A", f"+subnet={G_PARIS}/24")
    assert sorted(dig_answers(out)) == ["192.0.2.31", "192.0.2.32"], out
    out = kdig(d.port, "prio-location-best.gslb.test.", "A", f"+subnet={G_PARIS}/24")
    assert "192.0.2.31" in out and "192.0.2.32" not in out, out


@pytest.mark.parametrize("body,where,problem", [
    # a value that is neither all nor best, at the value
    ("""  a.gslb.test.:
    mode: geoip
    geo_priority: highest
    backends: [{address: 192.0.2.1, country: FR}]
""", "zone.yml:6:19:", "unknown geo_priority 'highest'"),
    # written on a record whose mode does not read it
    ("""  a.gslb.test.:
    mode: failover
    geo_priority: best
    backends: [{address: 192.0.2.1}]
""", "zone.yml:6:19:", "mode 'failover' does not read geo_priority"),
    ("""  a.gslb.test.:
    mode: geoip_affinity
    geo_priority: all
    backends: [{address: 192.0.2.1, country: FR}]
""", "zone.yml:6:19:", "mode 'geoip_affinity' does not read geo_priority"),
])
def test_geo_priority_refused_with_its_position(tmp_path, body, where, problem):
    path = gslbd_test.write_config(tmp_path, gslbd_test.free_port(),
                                   zone="defaults:\n  geo_priority: best\nrecords:\n" + body)
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode != 0
    assert where in r.stderr and problem in r.stderr, r.stderr
    # the file's defaults alone are accepted on any mode
    path = gslbd_test.write_config(tmp_path, gslbd_test.free_port(),
                                   zone="defaults:\n  geo_priority: best\nrecords:\n" +
                                   "".join(l for l in body.splitlines(True)
                                           if "geo_priority" not in l))
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode == 0, r.stderr
