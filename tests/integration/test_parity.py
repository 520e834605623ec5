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
            ("select", lambda: fallback_taken("select.gslb.test."), True)):
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
