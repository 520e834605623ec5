"""Static zones (issue 21): an RFC 1035 master file served beside the GSLB records.

The differential test loads one zone file (every type the feature lists, wildcards, a
delegation with glue, empty non-terminals, CNAME chains, an $INCLUDE) in knotd and in gslbd,
both started here on loopback, and compares thousands of generated queries section by
section. The deliberate differences are listed in DIFFERENCES, each with its reason."""
import random

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import gslbd_test
import zone_test
from zone_test import ORIGIN, absolute

# Where gslbd answers differently from knotd on purpose.
DIFFERENCES = {
    "ANY": "RFC 8482: gslbd answers ANY with one synthesized HINFO (as it does for GSLB names); "
           "knotd lists every RRset. rcode and AA are still compared.",
}

EDNS_SIZE = 4096


def normalize(section):
    out = set()
    for rrset in section:
        for rd in rrset:
            out.add((rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl,
                     rd.to_text().lower()))
    return out


def summary(r):
    return {
        "rcode": dns.rcode.to_text(r.rcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "tc": bool(r.flags & dns.flags.TC),
        "answer": normalize(r.answer),
        "authority": normalize(r.authority),
        "additional": normalize(r.additional),
    }


def random_case(name, rng):
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def queries(seed=21):
    rng = random.Random(seed)
    names = [absolute(n) for n in zone_test.EXISTING + zone_test.ENTS + zone_test.MISSING]
    out = []
    for name in names:
        for rdtype in zone_test.TYPES:
            out.append((random_case(name, rng), rdtype, EDNS_SIZE))
            out.append((random_case(name, rng), rdtype, EDNS_SIZE))
            out.append((random_case(name, rng), rdtype, None))
    return out


def ask(port, name, rdtype, edns):
    if edns is None:
        q = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        q = dns.message.make_query(name, rdtype, use_edns=0, payload=edns)
    q.flags &= ~dns.flags.RD
    return gslbd_test.udp(port, q)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("zone")
    zone_file = zone_test.write_zone(d / "data")
    knot_port = gslbd_test.free_port()
    knot = zone_test.Knotd(d / "knot", knot_port, {ORIGIN: zone_file})
    try:
        knot.wait_serving(ORIGIN)
        port = gslbd_test.free_port()
        path = zone_test.gslbd_config(d / "gslbd", port,
                                      f"zones:\n  - name: {ORIGIN}\n    file: {zone_file}\n")
        g = gslbd_test.Daemon(path, port)
        yield g, knot
        g.stop()
    finally:
        knot.stop()


def test_differential_against_knotd(servers):
    g, knot = servers
    qs = queries()
    assert len(qs) >= 3000
    mismatches = []
    compared = 0
    for name, rdtype, edns in qs:
        mine = summary(ask(g.port, name, rdtype, edns))
        ref = summary(ask(knot.port, name, rdtype, edns))
        keys = ["rcode", "aa", "tc", "answer", "authority", "additional"]
        if rdtype == "ANY":
            keys = ["rcode", "aa"]  # DIFFERENCES["ANY"]
        elif ref["tc"] or mine["tc"]:
            keys = ["rcode", "tc"]  # both must truncate; what fits is each server's own
        compared += 1
        for k in keys:
            if mine[k] != ref[k]:
                mismatches.append(f"{name} {rdtype} edns={edns} {k}: gslbd {mine[k]} knotd {ref[k]}")
    assert compared == len(qs)
    assert not mismatches, f"{len(mismatches)} of {len(qs)} differ:\n" + "\n".join(mismatches[:40])


def test_serial_is_the_files(servers):
    g, _ = servers
    r = ask(g.port, ORIGIN, "SOA", EDNS_SIZE)
    assert r.answer[0][0].serial == 2026120301
    assert r.flags & dns.flags.AA


def test_zone_transfer_out_refused(servers):
    g, _ = servers
    for rdtype in ("AXFR", "IXFR"):
        q = dns.message.make_query(ORIGIN, rdtype)
        r = gslbd_test.tcp(g.port, q)
        assert r.rcode() == dns.rcode.REFUSED, rdtype


def test_tcp_carries_what_udp_truncates(servers):
    g, _ = servers
    q = dns.message.make_query(absolute("selector._domainkey"), "TXT", use_edns=False)
    # 512 bytes hold this answer; a large RRset needs TCP: the whole apex MX+TXT+... over TCP
    r = gslbd_test.tcp(g.port, dns.message.make_query(absolute("@"), "NS"))
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 2
    assert not (r.flags & dns.flags.TC)
    assert gslbd_test.udp(g.port, q).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("text, where, problem", [
    ("www CNAME alias\nwww TXT \"x\"\n", 10, "beside other data"),
    ("bad A 300.1.1.1\n", 10, "invalid IPv4 address"),
    ("out.other.test. A 192.0.2.1\n", 10, "outside the zone"),
])
def test_bad_zone_file_names_file_and_line(tmp_path, text, where, problem):
    head = zone_test.ZONE_DB.split("\n")[:9]  # $ORIGIN, $TTL, the SOA (7 lines)
    body = "\n".join(head) + "\n@ NS ns1\nns1 A 192.0.2.53\n"
    lines = body.count("\n")
    zone_file = zone_test.write_zone(tmp_path / "data", body + text)
    port = gslbd_test.free_port()
    path = zone_test.gslbd_config(tmp_path, port,
                                  f"zones:\n  - name: {ORIGIN}\n    file: {zone_file}\n")
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode != 0
    err = r.stdout + r.stderr
    assert f"zone.db:{lines + 1}" in err, err
    assert problem in err, err


def test_soa_in_both_places_is_refused(tmp_path):
    zone_file = zone_test.write_zone(tmp_path / "data")
    port = gslbd_test.free_port()
    path = zone_test.gslbd_config(tmp_path, port, f"""zones:
  - name: {ORIGIN}
    file: {zone_file}
    ns:
      - name: ns1.{ORIGIN}
        addresses: [192.0.2.53]
""")
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode != 0
    assert "cannot be given with 'file'" in r.stdout + r.stderr


def test_static_address_at_gslb_name_names_both_places(tmp_path):
    zone_file = zone_test.write_zone(tmp_path / "data")
    (tmp_path / "data" / "policy.yml").write_text(f"""records:
  www.{ORIGIN}:
    mode: failover
    backends:
      - address: "192.0.2.200"
""")
    port = gslbd_test.free_port()
    path = zone_test.gslbd_config(tmp_path, port, f"""zones:
  - name: {ORIGIN}
    file: {zone_file}
    policy: {tmp_path / "data" / "policy.yml"}
""")
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode != 0
    err = r.stdout + r.stderr
    assert "zone.db:" in err and "policy.yml:" in err, err


# --- CNAME chains into GSLB names, over the wire -------------------------------------------

CHAIN_DB = """$ORIGIN zt.test.
$TTL 3600
@       SOA ns1 hostmaster 7 7200 900 1209600 300
@       NS  ns1
ns1     A   192.0.2.53
www     600 CNAME lb
deep    CNAME www
geo     300 CNAME geolb
lb      TXT "static data beside a GSLB name"
lb      MX  10 mail
mail    A   192.0.2.25
"""


def chain_policy(a, b):
    return gslbd_test.health_defaults(record_ttl=20) + f"""  lb.zt.test.:
    mode: failover
    backends:
      - address: "{a.addr}"
        priority: 1
{gslbd_test.check(a.port)}      - address: "{b.addr}"
        priority: 2
{gslbd_test.check(b.port)}  geolb.zt.test.:
    mode: geoip
    backends:
      - address: "192.0.2.51"
        location: eu-fra
      - address: "192.0.2.52"
        location: us-east
"""


@pytest.fixture
def chain_world(tmp_path):
    a = gslbd_test.HttpBackend("127.0.0.21", tmp_path)
    b = gslbd_test.HttpBackend("127.0.0.22", tmp_path)
    zone_file = zone_test.write_zone(tmp_path / "data", CHAIN_DB)
    (tmp_path / "data" / "policy.yml").write_text(chain_policy(a, b))
    port = gslbd_test.free_port()
    path = zone_test.gslbd_config(tmp_path / "gslbd", port, f"""zones:
  - name: {ORIGIN}
    file: {zone_file}
    policy: {tmp_path / "data" / "policy.yml"}
""", extra="cache:\n  entries: 4096\n")
    d = gslbd_test.Daemon(path, port)
    yield d, a, b
    d.stop()
    a.stop()
    b.stop()


def chain_of(r):
    return [(rr.name.to_text().lower(), dns.rdatatype.to_text(rr.rdtype), rr.ttl,
             sorted(rd.to_text() for rd in rr)) for rr in r.answer]


def test_cname_into_gslb_name_follows_health(chain_world):
    d, a, b = chain_world
    q = lambda: gslbd_test.udp(d, gslbd_test.make_query("DEEP.zt.test.", "A"))
    gslbd_test.wait_for(lambda: gslbd_test.addresses(q()), [a.addr], 5, "primary while healthy")
    r = q()
    assert r.flags & dns.flags.AA
    names = [x[0] for x in chain_of(r)]
    assert names == ["deep.zt.test.", "www.zt.test.", "lb.zt.test."], chain_of(r)
    assert chain_of(r)[1][1] == "CNAME" and chain_of(r)[1][2] == 600
    assert chain_of(r)[2][2] == 20  # the GSLB record's own TTL: the shorter one, as it is
    a.set(status=503)
    gslbd_test.wait_for(lambda: gslbd_test.addresses(q()), [b.addr], gslbd_test.HEALTH_LIMIT,
                        "the chain's end follows health")
    a.set(status=200)
    gslbd_test.wait_for(lambda: gslbd_test.addresses(q()), [a.addr], gslbd_test.HEALTH_LIMIT,
                        "and back")
    # static data of other types at the GSLB name is answered from the file
    r = gslbd_test.udp(d, gslbd_test.make_query("lb.zt.test.", "MX"))
    assert [rd.to_text() for rr in r.answer for rd in rr] == ["10 mail.zt.test."]
    assert gslbd_test.addresses(r) == [] and r.additional  # mail's A as additional


def test_cname_into_geo_gslb_name_keeps_ecs_scope(chain_world):
    d, _, _ = chain_world
    for _ in range(2):  # the second round comes from the cache: the same answers and scopes
        r = gslbd_test.udp(d, gslbd_test.make_query("geo.zt.test.", "A", ecs=("198.51.100.7", 24)))
        assert [x[0] for x in chain_of(r)] == ["geo.zt.test.", "geolb.zt.test."]
        assert gslbd_test.addresses(r) == ["192.0.2.52"]
        assert gslbd_test.ecs_option(r).scopelen == 24
        r = gslbd_test.udp(d, gslbd_test.make_query("geo.zt.test.", "A",
                                                    ecs=("198.51.100.200", 32)))
        assert gslbd_test.addresses(r) == ["192.0.2.51"]
        assert gslbd_test.ecs_option(r).scopelen == 25
        # a static answer depends on nobody: scope 0
        r = gslbd_test.udp(d, gslbd_test.make_query("lb.zt.test.", "TXT", ecs=("198.51.100.7", 24)))
        assert r.answer and gslbd_test.ecs_option(r).scopelen == 0


def test_zone_file_reload_keeps_answering(chain_world, tmp_path):
    d, _, _ = chain_world
    zone_file = tmp_path / "data" / "zone.db"
    zone_file.write_text(CHAIN_DB.replace(" 7 7200", " 8 7200") + "new A 192.0.2.99\n")
    d.signal(__import__("signal").SIGHUP)

    def serial():
        r = gslbd_test.udp(d, gslbd_test.make_query(ORIGIN, "SOA"))
        assert r.rcode() == dns.rcode.NOERROR  # never a lost or failed answer meanwhile
        return r.answer[0][0].serial

    gslbd_test.wait_for(serial, 8, 5, "the new serial")
    r = gslbd_test.udp(d, gslbd_test.make_query("new.zt.test.", "A"))
    assert gslbd_test.addresses(r) == ["192.0.2.99"]
    # a broken file on reload: the old zone stays served
    zone_file.write_text(CHAIN_DB + "broken A not-an-address\n")
    d.signal(__import__("signal").SIGHUP)
    gslbd_test.wait_for(lambda: "zone.db:" in d.log(), True, 5, "the reload error in the log")
    assert serial() == 8


def test_zone_file_change_seen_by_the_file_watch(tmp_path):
    """api.watch: true reloads when the zone's `file:` changes (an editor's write-and-rename),
    and a broken save keeps the old zone served."""
    zone_file = zone_test.write_zone(tmp_path / "data", CHAIN_DB)
    port = gslbd_test.free_port()
    api_dir = tmp_path / "gslbd"
    api_dir.mkdir()
    extra = gslbd_test.api_block(gslbd_test.free_port(), api_dir, extra="  watch: true\n")
    path = zone_test.gslbd_config(api_dir, port, f"zones:\n  - name: {ORIGIN}\n"
                                                 f"    file: {zone_file}\n", extra=extra)
    d = gslbd_test.Daemon(path, port)
    try:
        def serial():
            r = gslbd_test.udp(d, gslbd_test.make_query(ORIGIN, "SOA"))
            assert r.rcode() == dns.rcode.NOERROR
            return r.answer[0][0].serial

        assert serial() == 7
        new = zone_file.with_suffix(".new")
        new.write_text(CHAIN_DB.replace(" 7 7200", " 9 7200") + "watched A 192.0.2.98\n")
        new.rename(zone_file)
        gslbd_test.wait_for(serial, 9, 10, d.log)
        r = gslbd_test.udp(d, gslbd_test.make_query("watched.zt.test.", "A"))
        assert gslbd_test.addresses(r) == ["192.0.2.98"]
        assert "reload (file change): serving generation" in d.log()
        zone_file.write_text(CHAIN_DB + "broken A not-an-address\n")
        gslbd_test.wait_for(lambda: "reload failed (file change)" in d.log(), True, 10, d.log)
        assert serial() == 9
    finally:
        d.stop()
