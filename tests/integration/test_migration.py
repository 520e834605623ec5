"""Pools by API and Corefile import (docs/api.md, docs/migration.md): PUT a record's backends
(validated like the zone file, 400 with the zone file's error otherwise), persisted in the state
file across a restart, through gslbctl too; global healthcheck_profiles; and
`gslbctl import-corefile` on Corefiles in CoreDNS-GSLB's documented forms producing configs that
load and answer like a hand-written one."""
import json
import subprocess
import time

import dns.rdatatype

import gslbd_test as gt

POOL = "/api/v1/zones/gslb.test./records/rr.gslb.test./backends"


def answers(d, name, n=6):
    seen = set()
    for _ in range(n):
        seen |= set(gt.addresses(gt.udp(d, gt.make_query(name, "A"))))
    return seen


def gslbctl(api, *args, stdin=None):
    return subprocess.run([gt.gslbctl_bin(), "--api", api.base, "--token", gt.TOKEN, *args],
                          input=stdin, capture_output=True, text=True, timeout=30)


def test_put_backends_validated_persisted_and_cleared(ctl_daemon, tmp_path):
    d, api = ctl_daemon("pool")
    assert answers(d, "rr.gslb.test.") == {"192.0.2.21", "192.0.2.22", "192.0.2.23"}
    # CoreDNS-GSLB's body: {"backends": [...]} with zone-file backends
    status, body = api.call("PUT", POOL, {"backends": [
        {"address": "198.51.100.1", "weight": 2}, {"address": "198.51.100.2"}]})
    assert status == 200, body
    assert body["backends"] == ["198.51.100.1", "198.51.100.2"]
    assert answers(d, "rr.gslb.test.") == {"198.51.100.1", "198.51.100.2"}
    status, pool = api.get(POOL)
    assert pool["source"] == "api" and len(pool["backends"]) == 2

    # bad lists: 400 with the zone file's message, nothing changes
    for bad, needle in (([{"address": "not-an-ip"}], "[0].address: 'not-an-ip'"),
                        ({"backends": [{"address": "192.0.2.9", "priorty": 1}]}, "did you mean 'priority'"),
                        ([], "at least one backend"),
                        ([{"address": "192.0.2.9", "healthchecks": ["nope"]}], "unknown health check profile"),
                        ([{"address": "192.0.2.9", "location": "mars"}], "mars")):
        status, body = api.call("PUT", POOL, bad)
        assert status == 400, (bad, body)
        assert needle in body["error"], (bad, body)
    status, body = api.call("PUT", POOL, raw=b"{not json")
    assert status == 400 and "not JSON" in body["error"]
    assert api.call("PUT", "/api/v1/zones/gslb.test./records/nope.gslb.test./backends",
                    [{"address": "192.0.2.9"}])[0] == 404
    assert api.call("PUT", POOL, [{"address": "192.0.2.9"}], token=None)[0] in (401, 403)
    assert answers(d, "rr.gslb.test.") == {"198.51.100.1", "198.51.100.2"}

    # persisted: a restart serves the same pool
    state = json.loads((d.config.parent / "state.json").read_text())
    assert "rr.gslb.test." in state["pools"]
    d.stop()
    d2 = gt.Daemon(d.config, d.port)
    try:
        assert answers(d2, "rr.gslb.test.") == {"198.51.100.1", "198.51.100.2"}
        # gslbctl: set from a file, show, clear
        f = tmp_path / "pool.json"
        f.write_text('[{"address": "198.51.100.7"}]')
        r = gslbctl(api, "pool", "set", "gslb.test.", "rr.gslb.test.", str(f))
        assert r.returncode == 0 and "198.51.100.7" in r.stdout, r.stderr
        assert answers(d2, "rr.gslb.test.") == {"198.51.100.7"}
        r = gslbctl(api, "pool", "show", "gslb.test.", "rr.gslb.test.")
        assert r.returncode == 0 and "from api" in r.stdout and "198.51.100.7" in r.stdout
        r = gslbctl(api, "pool", "set", "gslb.test.", "rr.gslb.test.", "-",
                    stdin='[{"address": "bad"}]')
        assert r.returncode == 1 and "[0].address: 'bad'" in r.stderr + r.stdout
        r = gslbctl(api, "pool", "clear", "gslb.test.", "rr.gslb.test.")
        assert r.returncode == 0, r.stderr
        assert answers(d2, "rr.gslb.test.") == {"192.0.2.21", "192.0.2.22", "192.0.2.23"}
    finally:
        d2.stop()


def test_global_healthcheck_profiles(start_gslbd, tmp_path):
    backend = gt.HttpBackend("127.0.0.51", tmp_path)
    try:
        profiles = tmp_path / "profiles.yml"
        profiles.write_text(f"""healthcheck_profiles:
  web:
    type: http
    params: {{port: {backend.port}, uri: /global, timeout: 250ms}}
  shadowed:
    type: tcp
    params: {{port: 1, timeout: 250ms}}
""")
        zone = gt.health_defaults(1) + f"""  g.gslb.test.:
    backends:
      - address: 127.0.0.51
        healthchecks: [web, shadowed]
healthcheck_profiles:
  shadowed:
    type: http
    params: {{port: {backend.port}, uri: /zone, timeout: 250ms}}
"""
        d = start_gslbd(name="profiles", zone_override=zone,
                        extra=f"healthcheck_profiles: {profiles}\n")
        log = backend.state.parent / (backend.state.name + ".log")
        gt.wait_for(lambda: log.exists() and "/global" in log.read_text() and
                    "/zone" in log.read_text(), True, 10, "both profiles probed")
        assert answers(d, "g.gslb.test.", 1) == {"127.0.0.51"}  # the tcp port-1 one is not used
    finally:
        backend.stop()


ZONE_DB = """\
$ORIGIN gslb.test.
$TTL 3600
@   IN SOA ns1.gslb.test. hostmaster.gslb.test. (
        2026010101 ; serial
        3600 600 604800 60 )
@       IN NS  ns1
ns1     IN A   127.0.0.1
ns1     IN AAAA ::1
www     IN A   192.0.2.200
"""


def corefiles(port, api_port, directory):
    country, asn = gt.env_path("GSLBD_TEST_COUNTRY_MMDB"), gt.env_path("GSLBD_TEST_ASN_MMDB")
    # CoreDNS-GSLB's current form (zone directives, one-line geoip_maxmind) ...
    current = f""".:{port} {{
    bind 127.0.0.1 ::1
    file db.gslb.test
    gslb {{
        zone gslb.test.   zone.yml
        geoip_maxmind country_db {country}
        geoip_maxmind asn_db {asn}
        geoip_custom_db locations.yml
        use_edns_csubnet
        disable_txt
        max_stagger_start "120s"
        batch_size_start 100
        resolution_idle_timeout "3600s"
        healthcheck_idle_multiplier 10
        api_enable false
        api_basic_user admin
        api_basic_pass secret
    }}
    forward . 127.0.0.1:9
    log
}}
"""
    # ... and the older one (gslb FILE ZONES, the geoip_maxmind block, API settings)
    older = f"""gslb.test.:{port} {{
    bind 127.0.0.1 ::1
    file db.gslb.test gslb.test.
    gslb zone.yml gslb.test. {{
        geoip_maxmind {{
            country_db {country}
            asn_db {asn}
        }}
        geoip_custom locations.yml
        use_edns_csubnet
        api_listen_addr 127.0.0.1
        api_listen_port {api_port}
    }}
}}
"""
    return {"current": current, "older": older}


QUERIES = [("fo.gslb.test.", "A"), ("fo.gslb.test.", "AAAA"), ("geo.gslb.test.", "A"),
           ("geo-country.gslb.test.", "A"), ("gslb.test.", "SOA"), ("gslb.test.", "NS"),
           ("nope.gslb.test.", "A"), ("fo.gslb.test.", "MX"), ("fo.gslb.test.", "HTTPS")]


def sections(d, name, rdtype, ecs=None):
    r = gt.udp(d, gt.make_query(name, rdtype, ecs=ecs))
    return (r.rcode(), sorted(str(x) for x in r.answer), sorted(str(x) for x in r.authority),
            sorted(str(x) for x in r.additional))


def test_import_corefile_loads_and_answers_like_hand_written(start_gslbd, tmp_path):
    hand = start_gslbd(name="hand")
    for form in ("current", "older"):
        directory = tmp_path / f"core-{form}"
        directory.mkdir()
        (directory / "zone.yml").write_text(gt.ZONE_FILE)
        (directory / "locations.yml").write_text(gt.LOCATION_MAP)
        (directory / "db.gslb.test").write_text(ZONE_DB)
        port, api_port = gt.free_port(), gt.free_port()
        (directory / "Corefile").write_text(corefiles(port, api_port, directory)[form])
        out = directory / "gslbd.yml"
        r = subprocess.run([gt.gslbctl_bin(), "import-corefile", str(directory / "Corefile"),
                            str(out)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        lines = r.stderr.splitlines()
        assert all(line.startswith("not carried over: ") for line in lines), lines
        if form == "current":
            for needle in ("max_stagger_start", "batch_size_start", "api_basic_user",
                           "api_basic_pass", "plugin 'forward'", "plugin 'log'",
                           "A/AAAA record(s) of the file plugin"):
                assert sum(needle in line for line in lines) == 1, (needle, lines)
            assert 'listen: "off"' in out.read_text()
        else:
            assert f'"127.0.0.1:{api_port}"' in out.read_text()
        check = gt.run_gslbd("--check-config", str(out))
        assert check.returncode == 0 and "OK" in check.stdout, check.stderr
        d = gt.Daemon(out, port)
        try:
            for name, rdtype in QUERIES:
                for ecs in (None, ("198.51.100.7", 24)):
                    assert sections(d, name, rdtype, ecs) == sections(hand, name, rdtype, ecs), \
                        (form, name, rdtype, ecs)
            txt = gt.udp(d, gt.make_query("fo.gslb.test.", "TXT"))
            # CoreDNS-GSLB answers TXT unless disable_txt
            assert bool(txt.answer) == (form == "older"), txt
        finally:
            d.stop()


def test_idle_records_are_probed_less_until_asked(start_gslbd, tmp_path):
    busy, quiet = gt.HttpBackend("127.0.0.61", tmp_path), gt.HttpBackend("127.0.0.62", tmp_path)
    try:
        zone = f"""defaults:
  record_ttl: 0
  scrape_interval: 200ms
  scrape_timeout: 150ms
records:
  busy.gslb.test.:
    backends:
      - address: 127.0.0.61
        healthchecks: [{{type: http, params: {{port: {busy.port}, uri: /b, timeout: 150ms}}}}]
  quiet.gslb.test.:
    backends:
      - address: 127.0.0.62
        healthchecks: [{{type: http, params: {{port: {quiet.port}, uri: /q, timeout: 150ms}}}}]
"""
        d = start_gslbd(name="idle", zone_override=zone, extra="""health:
  resolution_idle_timeout: 1s
  healthcheck_idle_multiplier: 10
""")

        def probes(b):
            log = b.state.parent / (b.state.name + ".log")
            return log.read_text().count("GET") if log.exists() else 0

        # both probed every 200 ms at first; after 1 s unasked, quiet.* every 2 s
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            gt.udp(d, gt.make_query("busy.gslb.test.", "A"))
            time.sleep(0.05)
        b0, q0 = probes(busy), probes(quiet)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            gt.udp(d, gt.make_query("busy.gslb.test.", "A"))
            time.sleep(0.05)
        b1, q1 = probes(busy) - b0, probes(quiet) - q0
        assert b1 >= 10, (b1, q1)  # ~15 rounds of 200 ms
        assert q1 <= 2, (b1, q1)   # idle: one round per 2 s
        # the next query brings it back to normal at once
        gt.udp(d, gt.make_query("quiet.gslb.test.", "A"))
        q2 = probes(quiet)
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            gt.udp(d, gt.make_query("quiet.gslb.test.", "A"))
            time.sleep(0.05)
        assert probes(quiet) - q2 >= 3, probes(quiet) - q2
    finally:
        busy.stop()
        quiet.stop()
