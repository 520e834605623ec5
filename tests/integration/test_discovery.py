"""Service discovery of record pools (docs/discovery.md): `http` against a test HTTP server whose
list changes and then fails, `consul` against a test HTTP responder serving the catalog API's
JSON (the Consul agent is not packaged for Debian), `svcb` against a real knotd (a truncated
answer asked again over TCP) and `https`
against a second gslbd. Discovered backends are health-checked and survive reloads."""
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.rdatatype
import pytest

import gslbd_test as gt


def disco_zone(discovery, mode="failover", extra_records=""):
    return f"""records:
  disc.gslb.test.:
    mode: {mode}
    record_ttl: 1
    scrape_interval: 300ms
    scrape_timeout: 250ms
    rise: 1
    fall: 1
    discovery:
{discovery}
  static.gslb.test.:
    backends:
      - address: 192.0.2.1
{extra_records}"""


def answer(d, name="disc.gslb.test."):
    return set(gt.addresses(gt.udp(d, gt.make_query(name, "A"))))


def start(start_gslbd, tmp_path, zone, name="gslbd"):
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    api_port = gt.free_port()
    d = start_gslbd(name=name, zone_override=zone,
                    extra=gt.api_block(api_port, directory, state=False))
    api = gt.Api(api_port)
    gt.wait_api(api)
    return d, api


def discovery_status(api, record="disc.gslb.test."):
    """The record's entry of GET /api/v1/status "discovery"."""
    status, st = api.get("/api/v1/status")
    assert status == 200, st
    found = [s for s in st["discovery"] if s["record"] == record]
    assert len(found) == 1, st["discovery"]
    return found[0]


def discovery_metrics(api, record="disc.gslb.test.", kind="http"):
    """{name: value} of the gslbd_discovery_* samples of one source in /metrics."""
    status, text = api.get("/metrics")
    assert status == 200, text
    labels = f'{{record="{record}",type="{kind}"}}'
    out = {}
    for line in text.splitlines():
        if line.startswith("gslbd_discovery_") and labels in line:
            name, value = line.split(labels)
            out[name] = float(value)
    assert len(out) == 5, text
    return out


@pytest.fixture
def backends(tmp_path):
    started = []

    def make(addr):
        b = gt.HttpBackend(addr, tmp_path)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


def test_http_list_changes_fails_and_is_health_checked(start_gslbd, backends, tmp_path):
    registry = backends("127.0.0.1")
    web1, web2 = backends("127.0.0.21"), backends("127.0.0.22")
    registry.set(status=200, body=json.dumps(
        [{"address": "127.0.0.21", "port": web1.port, "weight": 3, "meta": {"x": 1}},
         {"address": "127.0.0.22", "port": web2.port}]))
    zone = disco_zone(f"""      type: http
      url: http://127.0.0.1:{registry.port}/pool
      interval: 200ms
      timeout: 1s
      backend:
        priority: 1
        healthchecks:
          - type: http
            params: {{uri: /health, timeout: 250ms}}""")
    d, api = start(start_gslbd, tmp_path, zone)
    gt.wait_for(lambda: answer(d), {"127.0.0.21", "127.0.0.22"}, 10, "discovered pool")
    status, pool = api.get("/api/v1/zones/gslb.test./records/disc.gslb.test./backends")
    assert status == 200 and pool["source"] == "discovery", pool
    assert {(b["address"], b["port"], b["weight"]) for b in pool["backends"]} == {
        ("127.0.0.21", web1.port, 3), ("127.0.0.22", web2.port, 1)}
    # health-checked like a static backend, on the discovered port
    web2.set(status=500)
    gt.wait_for(lambda: answer(d), {"127.0.0.21"}, 10, "127.0.0.22 probed down")
    web1_log = web1.state.parent / (web1.state.name + ".log")
    gt.wait_for(lambda: web1_log.exists() and "/health" in web1_log.read_text(), True, 10,
                "127.0.0.21 probed on its discovered port")
    web2.set(status=200)
    gt.wait_for(lambda: answer(d), {"127.0.0.21", "127.0.0.22"}, 10, "127.0.0.22 back up")

    # the list changes
    registry.set(status=200, body='["127.0.0.23"]')
    gt.wait_for(lambda: answer(d), {"127.0.0.23"}, 10, "new list")
    # a failing registry, garbage and an empty list keep the last good pool
    for bad in ({"status": 500, "body": "oops"}, {"status": 200, "body": "{not json"},
                {"status": 200, "body": "[]"}, {"status": 200, "body": '["not-an-ip"]'}):
        registry.set(**bad)
        before = d.log().count("keeping the last good pool")
        gt.wait_for(lambda: d.log().count("keeping the last good pool") > before, True, 10,
                    f"discovery failure logged for {bad}")
        assert answer(d) == {"127.0.0.23"}, bad
    assert "not-an-ip" in d.log() and "HTTP status 500" in d.log()
    # observability: the failing source shows its error, when it last succeeded and its
    # counters in the status and /metrics, and the backends of the pool still in force
    src = discovery_status(api)
    assert src["type"] == "http" and src["ok"] is False, src
    assert "not-an-ip" in src["last_error"] and src["last_error_at"], src
    assert src["backends"] == 1 and src["last_success"], src
    assert src["failures"] >= 4 and src["fetches"] > src["failures"], src
    m = discovery_metrics(api)
    assert m["gslbd_discovery_up"] == 0 and m["gslbd_discovery_backends"] == 1, m
    assert m["gslbd_discovery_failures_total"] >= src["failures"], m
    assert m["gslbd_discovery_fetches_total"] >= src["fetches"], m
    assert 0 < time.time() - m["gslbd_discovery_last_success_timestamp_seconds"] < 120, m

    # a reload keeps the discovered pool while the registry is still down
    d.signal(signal.SIGHUP)
    gt.wait_for(lambda: "reload (SIGHUP): serving generation" in d.log(), True, 10, "reload")
    assert answer(d) == {"127.0.0.23"}
    # an operator override on a discovered backend survives the next discovery change
    status, _ = api.post("/api/v1/backends/disable",
                         {"record": "disc.gslb.test.", "address": "127.0.0.23"})
    assert status == 200
    registry.set(status=200, body='["127.0.0.23", "127.0.0.24"]')
    gt.wait_for(lambda: answer(d), {"127.0.0.24"}, 10, "override kept over a new pool")
    assert answer(d, "static.gslb.test.") == {"192.0.2.1"}
    # the source recovered: up again, the new pool counted, the last error still shown
    src = discovery_status(api)
    assert src["ok"] is True and src["backends"] == 2 and "not-an-ip" in src["last_error"], src
    m = discovery_metrics(api)
    assert m["gslbd_discovery_up"] == 1 and m["gslbd_discovery_backends"] == 2, m


def test_consul_catalog(start_gslbd, backends, tmp_path):
    consul = backends("127.0.0.1")
    consul.set(status=200, body=json.dumps([
        {"Node": "n1", "Address": "127.0.0.31", "ServiceAddress": "", "ServicePort": 8080,
         "ServiceTags": ["a"], "ServiceMeta": {}},
        {"Node": "n2", "Address": "127.0.0.1", "ServiceAddress": "127.0.0.32",
         "ServicePort": 8081}]))
    zone = disco_zone(f"""      type: consul
      url: http://127.0.0.1:{consul.port}/
      service: web
      datacenter: dc1
      interval: 200ms""", mode="roundrobin")
    d, api = start(start_gslbd, tmp_path, zone)

    def pool_now():
        return {(b["address"], b["port"]) for b in
                api.get("/api/v1/zones/gslb.test./records/disc.gslb.test./backends")[1]["backends"]}
    gt.wait_for(pool_now, {("127.0.0.31", 8080), ("127.0.0.32", 8081)}, 10, "consul pool")
    seen = set()
    for _ in range(4):
        seen |= answer(d)
    assert seen == {"127.0.0.31", "127.0.0.32"}
    log = (consul.state.parent / (consul.state.name + ".log")).read_text()
    assert "GET /v1/catalog/service/web?dc=dc1" in log
    # no instances: the last good pool stays
    consul.set(status=200, body="[]")
    gt.wait_for(lambda: "has no instances" in d.log(), True, 10, "empty catalog logged")
    assert pool_now() == {("127.0.0.31", 8080), ("127.0.0.32", 8081)}


KNOT_ZONE = """\
$ORIGIN svc.test.
$TTL 60
@       SOA ns.svc.test. hostmaster.svc.test. 1 3600 600 604800 60
@       NS  ns
ns      A   127.0.0.1
_web    SVCB 1 web1 port=8443 ipv4hint=127.0.0.41
_web    SVCB 2 web2
web2    A    127.0.0.42
web2    AAAA ::1
""" + "".join(  # 30 SVCB RRs of 8 hints each: about 1,650 bytes, over the 1,232 of UDP
    f"_big    SVCB {i + 1} . port=80 ipv4hint="
    + ",".join(f"127.0.1.{i * 8 + j + 1}" for j in range(8)) + "\n" for i in range(30))


def start_knotd(tmp_path, port):
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    assert Path(knotd).exists(), "knotd is missing: scripts/setup.sh installs Debian's knot"
    root = tmp_path / "knot"
    root.mkdir()
    (root / "svc.test.zone").write_text(KNOT_ZONE)
    (root / "knot.conf").write_text(f"""server:
    listen: 127.0.0.1@{port}
    rundir: {root}
database:
    storage: {root}
template:
  - id: default
    storage: {root}
zone:
  - domain: svc.test.
    file: svc.test.zone
log:
  - target: stderr
    any: info
""")
    proc = subprocess.Popen([knotd, "-c", str(root / "knot.conf")], stdout=subprocess.DEVNULL,
                            stderr=open(root / "knotd.log", "w"))
    q = gt.make_query("_web.svc.test.", "SVCB")

    def up():
        try:
            return len(gt.udp(port, q, timeout=0.3).answer) > 0
        except Exception:
            return False

    gt.wait_for(up, True, 10, "knotd serving svc.test.")
    return proc


def test_svcb_from_knotd(start_gslbd, tmp_path):
    port = gt.free_port()
    knot = start_knotd(tmp_path, port)
    try:
        zone = disco_zone(f"""      type: svcb
      name: _web.svc.test.
      server: 127.0.0.1:{port}
      interval: 200ms
      timeout: 1s""")
        d, api = start(start_gslbd, tmp_path, zone)

        def pool_now():
            return {(b["address"], b["port"], b["priority"]) for b in
                    api.get("/api/v1/zones/gslb.test./records/disc.gslb.test./backends")[1]["backends"]}
        # the hint of the first, the target's A and AAAA for the second (no hints)
        gt.wait_for(pool_now, {("127.0.0.41", 8443, 1), ("127.0.0.42", 0, 2), ("::1", 0, 2)}, 10,
                    "SVCB pool")
        assert answer(d) == {"127.0.0.41"}  # failover: SvcPriority 1 first
    finally:
        knot.terminate()
        knot.wait()
    # the upstream gone: the last good pool stays
    gt.wait_for(lambda: "no answer (timeout)" in d.log() or "Connection refused" in d.log(),
                True, 10, "upstream failure logged")
    assert answer(d) == {"127.0.0.41"}


def test_svcb_truncated_answer_over_tcp(start_gslbd, tmp_path):
    port = gt.free_port()
    knot = start_knotd(tmp_path, port)
    try:
        # the RRset does not fit in UDP: knotd sets TC, gslbd asks again over TCP
        udp_answer = gt.udp(port, gt.make_query("_big.svc.test.", "SVCB"))
        assert udp_answer.flags & dns.flags.TC, udp_answer
        zone = disco_zone(f"""      type: svcb
      name: _big.svc.test.
      server: 127.0.0.1:{port}
      interval: 200ms
      timeout: 1s""")
        d, api = start(start_gslbd, tmp_path, zone)

        def pool_now():
            return {(b["address"], b["port"]) for b in
                    api.get("/api/v1/zones/gslb.test./records/disc.gslb.test./backends")[1]["backends"]}
        want = {(f"127.0.1.{n}", 80) for n in range(1, 241)}
        gt.wait_for(pool_now, want, 10, "the 240 hints of the truncated SVCB RRset")
        assert answer(d) == {f"127.0.1.{n}" for n in range(1, 9)}  # SvcPriority 1: 8 hints
        src = discovery_status(api)
        assert src["ok"] is True and src["backends"] == 240 and src["failures"] == 0, src
        assert "keeping the last good pool" not in d.log()
    finally:
        knot.terminate()
        knot.wait()


def test_https_from_a_second_gslbd(start_gslbd, tmp_path):
    upstream = start_gslbd(name="upstream")  # the standard zone: rr.gslb.test. has 3 backends
    zone = disco_zone(f"""      type: https
      name: w.gslb.test.
      server: 127.0.0.1:{upstream.port}
      interval: 200ms""", mode="roundrobin")
    d, api = start(start_gslbd, tmp_path, zone, name="downstream")
    # w.gslb.test. is weighted: its HTTPS hint is the address it selects for this query
    gt.wait_for(lambda: bool(answer(d) & {"192.0.2.41", "192.0.2.42"}), True, 10,
                "pool from the upstream's HTTPS ipv4hint")
