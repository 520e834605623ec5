"""Control API, metrics and gslbctl against the real daemon (docs/api.md, docs/metrics.md).

Answers relied on (gslbd_test.ZONE_FILE): fo.gslb.test. failover 192.0.2.1 + .2 (priority 1)
then .3; rr.gslb.test. 192.0.2.21-23; w.gslb.test. weighted .41 (8) / .42 (2); geo.gslb.test.
by location map (127.0.0.0/8 eu-fra -> .51, 198.51.100.0/24 us-east -> .52) and
geo-country.gslb.test. by the test country database (198.51.100.0/24 FR -> .61,
203.0.113.0/24 US -> .62)."""
import json
import os
import re
import subprocess
import time

import pytest

import gslbd_test
from gslbd_test import (TOKEN, Api, addresses, api_block, dig, dig_answers, gslbctl_bin,
                        make_query, udp, wait_api)

def a_records(port, name, **kw):
    return sorted(addresses(udp(port, make_query(name, **kw))))


def ctl(api, *args, token=TOKEN, env_extra=None, check=None):
    env = dict(os.environ)
    env.pop("GSLBCTL_API", None)
    env.pop("GSLBCTL_TOKEN", None)
    if env_extra:
        env.update(env_extra)
    cmd = [gslbctl_bin()]
    if api is not None:
        cmd += ["--api", api.base]
    if token is not None:
        cmd += ["--token", token]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30, env=env)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}: {r.stdout}{r.stderr}"
    return r


# --- authentication ----------------------------------------------------------------------

def test_auth_enforced_on_reads_and_writes(ctl_daemon):
    d, api = ctl_daemon()
    status, body = api.get("/api/v1/status", token=None)
    assert status == 401 and "missing bearer token" in body["error"]
    status, body = api.get("/api/v1/status", token="wrong")
    assert status == 401 and "wrong bearer token" in body["error"]
    status, body = api.get("/metrics", token=None)
    assert status == 401
    status, body = api.post("/api/v1/reload", token="wrong")
    assert status == 401
    status, body = api.post("/api/v1/backends/disable", {"address": "192.0.2.1"}, token=None)
    assert status == 401
    assert a_records(d.port, "fo.gslb.test.") == ["192.0.2.1", "192.0.2.2"]  # nothing applied
    status, body = api.get("/api/v1/status")
    assert status == 200 and body["generation"] >= 1
    # readiness is for load balancers: no token needed
    status, body = api.get("/healthz", token=None)
    assert status == 200 and body["ready"] is True


def test_reads_without_token_when_configured(ctl_daemon):
    _, api = ctl_daemon(read_requires_token=False)
    status, body = api.get("/api/v1/status", token=None)
    assert status == 200 and body["zones"][0]["name"] == "gslb.test."
    status, _ = api.post("/api/v1/reload", token=None)
    assert status == 401


def test_no_token_configured_disables_mutations(ctl_daemon):
    d, api = ctl_daemon(token=False)
    status, body = api.post("/api/v1/reload", token=None)
    assert status == 403 and "disabled" in body["error"]
    status, body = api.post("/api/v1/backends/drain", {"address": "192.0.2.1"}, token=None)
    assert status == 403
    status, _ = api.get("/api/v1/status", token=None)
    assert status == 200
    assert "mutating calls (enable, disable, drain, weight, reload) are disabled" in d.log()


# --- status and admin state ----------------------------------------------------------------

def find_backend(status, record, address):
    for z in status["zones"]:
        for r in z["records"]:
            if r["name"] == record:
                for b in r["backends"]:
                    if b["address"] == address:
                        return r, b
    raise AssertionError(f"{record} {address} not in status")


def test_status_lists_records_backends_and_state(ctl_daemon):
    _, api = ctl_daemon()
    status, s = api.get("/api/v1/status")
    assert status == 200
    r, b = find_backend(s, "fo.gslb.test.", "192.0.2.1")
    assert r["mode"] == "failover"
    assert b["verdict"] == "up" and b["admin"] == "enabled" and b["effective_weight"] == 1
    assert b["since"]  # ISO time of the current verdict
    _, b = find_backend(s, "w.gslb.test.", "192.0.2.41")
    assert b["weight"] == 8 and b["effective_weight"] == 8
    _, b = find_backend(s, "fo-disabled.gslb.test.", "192.0.2.11")
    assert b["enabled"] is False


def test_disable_drain_enable_change_dig_answers(ctl_daemon):
    d, api = ctl_daemon()
    assert dig_answers(dig(d.port, "fo.gslb.test.", "A")) == ["192.0.2.1", "192.0.2.2"]
    status, body = api.post("/api/v1/backends/disable",
                            {"address": "192.0.2.1", "record": "fo.gslb.test"})
    assert status == 200, body
    assert body["backends"] == [{"record": "fo.gslb.test.", "address": "192.0.2.1"}]
    assert dig_answers(dig(d.port, "fo.gslb.test.", "A")) == ["192.0.2.2"]
    status, _ = api.post("/api/v1/backends/drain", {"address": "192.0.2.2"})
    assert status == 200
    assert dig_answers(dig(d.port, "fo.gslb.test.", "A")) == ["192.0.2.3"]
    _, s = api.get("/api/v1/status")
    assert find_backend(s, "fo.gslb.test.", "192.0.2.1")[1]["admin"] == "disabled"
    assert find_backend(s, "fo.gslb.test.", "192.0.2.2")[1]["admin"] == "drained"
    # a drained backend is still probed/verdicted: its verdict is shown, unchanged
    assert find_backend(s, "fo.gslb.test.", "192.0.2.2")[1]["verdict"] == "up"
    for addr in ("192.0.2.1", "192.0.2.2"):
        status, _ = api.post("/api/v1/backends/enable", {"address": addr})
        assert status == 200
    assert dig_answers(dig(d.port, "fo.gslb.test.", "A")) == ["192.0.2.1", "192.0.2.2"]


def test_disabled_is_never_served_not_even_fail_open(ctl_daemon):
    d, api = ctl_daemon()
    status, body = api.post("/api/v1/backends/disable", {"record": "rr.gslb.test."})
    assert status == 200 and len(body["backends"]) == 3
    r = udp(d, make_query("rr.gslb.test."))
    assert r.rcode() == 0 and addresses(r) == []
    # drained backends stay a fail-open last resort (docs/api.md)
    api.post("/api/v1/backends/enable", {"record": "rr.gslb.test."})
    api.post("/api/v1/backends/drain", {"record": "rr.gslb.test."})
    got = set()
    for _ in range(6):
        got.update(a_records(d.port, "rr.gslb.test."))
    assert got == {"192.0.2.21", "192.0.2.22", "192.0.2.23"}
    api.post("/api/v1/backends/enable", {"record": "rr.gslb.test."})
    # drain one: rotation continues over the other two only
    api.post("/api/v1/backends/drain", {"address": "192.0.2.22"})
    got = set()
    for _ in range(12):
        got.update(a_records(d.port, "rr.gslb.test."))
    assert got == {"192.0.2.21", "192.0.2.23"}


def test_weight_override_is_used_by_weighted(ctl_daemon):
    d, api = ctl_daemon()
    status, body = api.post("/api/v1/backends/weight", {"address": "192.0.2.42", "weight": 100000})
    assert status == 200, body
    counts = {"192.0.2.41": 0, "192.0.2.42": 0}
    for _ in range(300):
        for a in a_records(d.port, "w.gslb.test."):
            counts[a] += 1
    # 8 : 100000 -> .41 expected 0.02 times in 300
    assert counts["192.0.2.42"] >= 295, counts
    _, s = api.get("/api/v1/status")
    assert find_backend(s, "w.gslb.test.", "192.0.2.42")[1]["effective_weight"] == 100000
    status, _ = api.post("/api/v1/backends/weight", {"address": "192.0.2.42", "weight": 0})
    assert status == 200
    _, s = api.get("/api/v1/status")
    assert find_backend(s, "w.gslb.test.", "192.0.2.42")[1]["effective_weight"] == 2


@pytest.mark.parametrize("path,body,status,words", [
    ("/api/v1/backends/disable", {"address": "192.0.2.250"}, 404, "no backend matches address 192.0.2.250"),
    ("/api/v1/backends/disable", {"address": "not-an-ip"}, 400, "bad address 'not-an-ip'"),
    ("/api/v1/backends/disable", {"addres": "192.0.2.1"}, 400, "unknown field 'addres'"),
    ("/api/v1/backends/disable", {}, 400, "empty selector"),
    ("/api/v1/backends/disable", {"record": "nope.gslb.test."}, 404, "unknown record 'nope.gslb.test.'"),
    ("/api/v1/backends/disable", {"record": "fo.gslb.test.", "address": "192.0.2.21"}, 404,
     "no backend matches"),
    ("/api/v1/backends/weight", {"address": "192.0.2.41"}, 400, "field 'weight'"),
    ("/api/v1/backends/weight", {"address": "192.0.2.41", "weight": -3}, 400, "0..1000000"),
    ("/api/v1/backends/drain", {"tags": 5}, 400, "field 'tags'"),
    ("/api/v1/explain", {"name": "fo.gslb.test."}, 400, "parameter 'client' is required"),
    ("/api/v1/explain", {"name": "fo.gslb.test.", "client": "1.2.3"}, 400, "bad client address"),
    ("/api/v1/explain", {"name": "fo.gslb.test.", "client": "127.0.0.1", "qtype": "BOGUS"}, 400,
     "unknown qtype 'BOGUS'"),
    ("/api/v1/explain", {"name": "fo.gslb.test.", "client": "127.0.0.1", "ecs": "x/99"}, 400,
     "bad ecs subnet"),
    ("/api/v1/nothing", {}, 404, "no such endpoint"),
])
def test_bad_requests_are_4xx_json_naming_the_problem(ctl_daemon, path, body, status, words):
    d, api = ctl_daemon(state=False)
    got, reply = api.post(path, body)
    assert got == status, reply
    assert isinstance(reply, dict) and words in reply["error"], reply
    # nothing half-applied: every backend still enabled, answers unchanged
    _, s = api.get("/api/v1/status")
    assert all(b["admin"] == "enabled" for z in s["zones"] for r in z["records"]
               for b in r["backends"])
    assert a_records(d.port, "fo.gslb.test.") == ["192.0.2.1", "192.0.2.2"]


def test_bad_json_body(ctl_daemon):
    _, api = ctl_daemon(state=False)
    status, reply = api.call("POST", "/api/v1/backends/disable", raw=b"{not json")
    assert status == 400 and "bad JSON" in reply["error"]


def test_state_file_survives_a_restart(ctl_daemon, start_gslbd, tmp_path):
    d, api = ctl_daemon(name="persist")
    api.post("/api/v1/backends/disable", {"address": "192.0.2.1"})
    api.post("/api/v1/backends/weight", {"address": "192.0.2.42", "weight": 7})
    state = json.loads((tmp_path / "persist" / "state.json").read_text())
    assert {"record": "fo.gslb.test.", "address": "192.0.2.1", "state": "disabled"} in \
        state["overrides"]
    zone_before = (tmp_path / "persist" / "zone.yml").read_text()
    d.stop()
    # same directory and config: the state file is read at start
    d2 = gslbd_test.Daemon(d.config, d.port)
    try:
        wait_api(api)
        assert a_records(d2.port, "fo.gslb.test.") == ["192.0.2.2"]
        _, s = api.get("/api/v1/status")
        assert find_backend(s, "w.gslb.test.", "192.0.2.42")[1]["effective_weight"] == 7
        assert "1 override(s) restored" in d2.log() or "2 override(s) restored" in d2.log()
    finally:
        d2.stop()
    # the zone YAML is never rewritten
    assert (tmp_path / "persist" / "zone.yml").read_text() == zone_before


def test_corrupt_state_file_refuses_start(tmp_path):
    port, api_port = gslbd_test.free_port(), gslbd_test.free_port()
    (tmp_path / "state.json").write_text("{broken")
    block = f"api:\n  listen: 127.0.0.1:{api_port}\n  state_file: {tmp_path / 'state.json'}\n"
    path = gslbd_test.write_config(tmp_path, port, extra=block)
    r = gslbd_test.run_gslbd("--config", str(path))
    assert r.returncode == 1
    assert "state.json: not valid JSON" in r.stderr


def test_api_config_errors_name_the_field(tmp_path):
    port = gslbd_test.free_port()
    path = gslbd_test.write_config(tmp_path, port, extra="api:\n  tls_cert: /etc/hostname\n")
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode == 1 and "api: tls_cert is set but tls_key is not" in r.stderr
    path = gslbd_test.write_config(tmp_path, port, extra="api:\n  listen: 127.0.0.1:99999\n")
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode == 1 and "api.listen: bad listen address" in r.stderr
    path = gslbd_test.write_config(tmp_path, port, extra="api:\n  token_file: nothere\n")
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode == 1 and "api.token_file: file not found" in r.stderr


def test_explicit_api_address_in_use_is_a_start_up_error(ctl_daemon, tmp_path):
    _, api = ctl_daemon()
    port = gslbd_test.free_port()
    path = gslbd_test.write_config(tmp_path / "second", port,
                                   extra=f"api:\n  listen: 127.0.0.1:{api.port}\n")
    r = gslbd_test.run_gslbd("--config", str(path))
    assert r.returncode == 1
    assert f"127.0.0.1:{api.port}: cannot listen" in r.stderr


# --- reload -------------------------------------------------------------------------------

def test_api_reload_ok_and_failure(ctl_daemon, tmp_path):
    d, api = ctl_daemon(name="rl")
    _, s = api.get("/api/v1/status")
    gen = s["generation"]
    status, body = api.post("/api/v1/reload")
    assert status == 200 and body["ok"] and body["generation"] > gen
    zone = tmp_path / "rl" / "zone.yml"
    good = zone.read_text()
    zone.write_text(good.replace('- address: "192.0.2.1"', '- address: "192.0.2.999"', 1))
    status, body = api.post("/api/v1/reload")
    assert status == 422 and not body["ok"]
    assert "zone.yml:" in body["error"] and "192.0.2.999" in body["error"]
    assert a_records(d.port, "fo.gslb.test.") == ["192.0.2.1", "192.0.2.2"]  # old config serves
    _, m = api.get("/metrics")
    assert 'gslb_config_reload_total{result="failure"} 1' in m
    assert 'gslb_config_reload_total{result="success"} 1' in m
    assert "gslbd_config_last_reload_successful 0" in m
    zone.write_text(good.replace('- address: "192.0.2.1"', '- address: "192.0.2.9"', 1))
    status, body = api.post("/api/v1/reload")
    assert status == 200
    assert a_records(d.port, "fo.gslb.test.") == ["192.0.2.2", "192.0.2.9"]



def test_api_reload_without_a_body(ctl_daemon):
    """`curl -X POST` sends neither Content-Length nor a body: the reload (and a shift action)
    must not ask for one (cpp-httplib 0.11 answers such a POST with 400 unless told)."""
    d, api = ctl_daemon(name="rlnb")
    _, s = api.get("/api/v1/status")
    auth = ["-H", f"Authorization: Bearer {TOKEN}"]
    out = subprocess.run(["curl", "-sS", "-X", "POST", *auth, "-w", "\n%{http_code}",
                          api.base + "/api/v1/reload"], capture_output=True, text=True, check=True)
    body, code = out.stdout.rsplit("\n", 1)
    assert code == "200", out.stdout
    assert json.loads(body)["generation"] > s["generation"]
    out = subprocess.run(["curl", "-sS", "-X", "POST", *auth, "-w", "\n%{http_code}",
                          api.base + "/api/v1/shift/nope/abort"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.rsplit("\n", 1)[1] == "404" and "no shift" in out.stdout, out.stdout

# --- explain --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,client,ecs,qtype", [
    ("geo.gslb.test.", "127.0.0.1", None, "A"),
    ("geo.gslb.test.", "127.0.0.1", "198.51.100.7/24", "A"),
    ("geo.gslb.test.", "127.0.0.1", "198.51.100.200/32", "A"),
    ("geo.gslb.test.", "127.0.0.1", "2001:db8:100:1::/64", "AAAA"),
    ("geo-country.gslb.test.", "127.0.0.1", "203.0.113.9/24", "A"),
    ("geo-country.gslb.test.", "127.0.0.1", "198.51.100.9/24", "A"),
    ("fo.gslb.test.", "127.0.0.1", None, "A"),
    ("nothing.gslb.test.", "127.0.0.1", None, "A"),
])
def test_explain_matches_dig(ctl_daemon, name, client, ecs, qtype):
    d, api = ctl_daemon()
    body = {"name": name, "qtype": qtype, "client": client}
    args = [name, qtype]
    if ecs:
        body["ecs"] = ecs
        args.append(f"+subnet={ecs}")
    status, e = api.post("/api/v1/explain", body)
    assert status == 200, e
    out = dig(d.port, *args)
    assert e["answer"]["rcode"] == gslbd_test.dig_status(out)
    got = sorted(rr["data"] for rr in e["answer"]["answer"] if rr["type"] == qtype)
    assert got == sorted(dig_answers(out, qtype)), (e, out)
    if ecs:
        m = re.search(r"CLIENT-SUBNET: [0-9a-f.:]+/(\d+)/(\d+)", out)
        assert m, out
        assert e["answer"]["ecs_scope"] == int(m.group(2))
    _, s = api.get("/api/v1/status")
    assert e["generation"] == s["generation"]
    if e.get("candidates"):
        selected = sorted(c["address"] for c in e["candidates"] if c["selected"])
        assert selected == got


def test_explain_trace_details_geo_and_admin(ctl_daemon):
    d, api = ctl_daemon()
    status, e = api.get("/api/v1/explain?name=geo.gslb.test.&client=127.0.0.1&ecs=198.51.100.7/24")
    assert status == 200, e
    assert e["mode"] == "geoip" and e["client"]["from_ecs"] is True
    lm = e["geo"]["location_map"]
    assert lm["location"] == "us-east" and lm["network"] == "198.51.100.0/24"
    assert lm["entry"].startswith(str(d.config.parent / "locations.yml") + ":")
    assert e["decision"]["scope"] == 25  # the /25 inside the /24 answers differently
    assert [c["address"] for c in e["candidates"] if c["selected"]] == ["192.0.2.52"]
    assert e["fallback"]["taken"] is False
    # disable the backend us-east maps to: explain says why, and dig agrees
    api.post("/api/v1/backends/disable", {"location": "us-east"})
    _, e = api.post("/api/v1/explain", {"name": "geo.gslb.test.", "client": "127.0.0.1",
                                        "ecs": "198.51.100.7/24"})
    c52 = next(c for c in e["candidates"] if c["address"] == "192.0.2.52")
    assert c52["admin"] == "disabled" and c52["eligible"] is False
    assert c52["why"] == "disabled through the API"
    out = dig(d.port, "geo.gslb.test.", "A", "+subnet=198.51.100.7/24")
    assert dig_answers(out) == [c["address"] for c in e["candidates"] if c["selected"]] == \
        ["192.0.2.51"]
    # the country database facts
    _, e = api.post("/api/v1/explain", {"name": "geo-country.gslb.test.", "client": "127.0.0.1",
                                        "ecs": "203.0.113.9/24"})
    assert e["geo"]["country"]["country"] == "US" and e["geo"]["country"]["found"] is True


def test_explain_untrusted_ecs_and_fallback(ctl_daemon):
    d, api = ctl_daemon()
    api.post("/api/v1/backends/disable", {"record": "fo.gslb.test."})
    _, e = api.post("/api/v1/explain", {"name": "fo.gslb.test.", "client": "127.0.0.1"})
    assert e["fallback"]["taken"] is True and e["fallback"]["policy"] == "fail_open"
    assert e["answer"]["answer"] == []
    assert a_records(d.port, "fo.gslb.test.") == []


# --- metrics --------------------------------------------------------------------------------

def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    # promtool exits 1 for problems (lint or parse) and prints them
    assert r.returncode == 0, r.stdout + r.stderr


def metric(text, name, labels=""):
    pat = re.escape(name + ("{" + labels + "}" if labels else "")) + r" ([0-9.e+-]+)$"
    m = re.search(pat, text, re.M)
    assert m, f"{name}{{{labels}}} missing"
    return float(m.group(1))


def test_metrics_parse_and_move(ctl_daemon):
    d, api = ctl_daemon()
    status, before = api.get("/metrics")
    assert status == 200
    promtool_check(before)
    for _ in range(20):
        udp(d, make_query("fo.gslb.test."))
    for _ in range(5):
        udp(d, make_query("nothing.gslb.test."))
    gslbd_test.tcp(d, make_query("fo.gslb.test."))
    status, after = api.get("/metrics")
    promtool_check(after)
    assert metric(after, "gslbd_queries_total", 'transport="udp"') - \
        metric(before, "gslbd_queries_total", 'transport="udp"') >= 25
    assert metric(after, "gslbd_responses_total", 'transport="udp",rcode="NXDOMAIN"') - \
        metric(before, "gslbd_responses_total", 'transport="udp",rcode="NXDOMAIN"') == 5
    assert metric(after, "gslbd_queries_by_type_total", 'qtype="A"') - \
        metric(before, "gslbd_queries_by_type_total", 'qtype="A"') >= 26
    assert metric(after, "gslbd_tcp_connections_total", 'event="accepted"') >= 1
    hits = metric(after, "gslbd_cache_hits_total") - metric(before, "gslbd_cache_hits_total")
    assert hits >= 15  # 20 identical queries, 2 workers: at most a few misses
    assert metric(after, "gslb_backend_health_status", 'name="fo.gslb.test.",address="192.0.2.1"') == 1
    assert metric(after, "gslb_backend_health_status",
                  'name="fo-disabled.gslb.test.",address="192.0.2.11"') == 2
    assert metric(after, "gslb_record_health_status", 'name="fo.gslb.test."') == 1
    assert metric(after, "gslbd_ready") == 1
    assert metric(after, "gslbd_records") == 10
    gen = metric(after, "gslbd_config_generation")
    api.post("/api/v1/backends/drain", {"address": "192.0.2.1"})
    _, m = api.get("/metrics")
    assert metric(m, "gslbd_config_generation") > gen
    assert metric(m, "gslbd_backend_admin_state",
                  'name="fo.gslb.test.",address="192.0.2.1",state="drained"') == 1


# --- gslbctl ----------------------------------------------------------------------------------

def test_gslbctl_commands_and_exit_codes(ctl_daemon, tmp_path):
    d, api = ctl_daemon(name="cli")
    r = ctl(api, "status", check=0)
    assert re.search(r"fo\.gslb\.test\.\s+failover\s+192\.0\.2\.1\s+up\s+enabled", r.stdout), r.stdout
    r = ctl(api, "status", "--json", check=0)
    assert json.loads(r.stdout)["zones"][0]["name"] == "gslb.test."
    r = ctl(api, "disable", "--address", "192.0.2.1", check=0)
    assert "fo.gslb.test. 192.0.2.1" in r.stdout
    assert a_records(d.port, "fo.gslb.test.") == ["192.0.2.2"]
    ctl(api, "enable", "--address", "192.0.2.1", check=0)
    ctl(api, "weight", "5", "--address", "192.0.2.41", check=0)
    r = ctl(api, "explain", "geo.gslb.test.", "A", "--client", "127.0.0.1",
            "--ecs", "198.51.100.7/24", check=0)
    assert "192.0.2.52" in r.stdout and "us-east" in r.stdout
    ctl(api, "reload", check=0)
    ctl(api, "ready", check=0)
    r = ctl(api, "metrics", check=0)
    assert "gslbd_build_info" in r.stdout
    # exit codes
    ctl(api, "status", token="wrong", check=4)
    ctl(api, "disable", "--address", "192.0.2.250", check=1)
    ctl(api, "disable", check=2)
    ctl(api, "frobnicate", check=2)
    ctl(Api(gslbd_test.free_port()), "status", check=3)
    # address and token from the environment, then from the daemon's config file
    ctl(None, "status", token=None, env_extra={"GSLBCTL_API": api.base, "GSLBCTL_TOKEN": TOKEN},
        check=0)
    r = ctl(None, "status", "--json", "--config", str(d.config), token=None, check=0)
    assert json.loads(r.stdout)["config"] == str(d.config)


def test_tls_api_with_curl_and_gslbctl(start_gslbd, tmp_path):
    directory = tmp_path / "tls"
    directory.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(directory / "key.pem"),
                    "-out", str(directory / "cert.pem")], check=True, capture_output=True,
                   timeout=60)
    api_port = gslbd_test.free_port()
    block = api_block(api_port, directory, state=False,
                      extra=f"  tls_cert: {directory / 'cert.pem'}\n"
                            f"  tls_key: {directory / 'key.pem'}\n")
    d = start_gslbd(name="tls", extra=block)
    url = f"https://127.0.0.1:{api_port}"
    out = None
    for _ in range(100):
        r = subprocess.run(["curl", "-sk", "-H", f"Authorization: Bearer {TOKEN}",
                            url + "/api/v1/status"], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            out = r.stdout
            break
        time.sleep(0.05)
    assert out is not None and json.loads(out)["zones"][0]["name"] == "gslb.test."
    # plain HTTP to the TLS port is not served
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://127.0.0.1:{api_port}/healthz"], capture_output=True, text=True,
                       timeout=30)
    assert r.stdout != "200"
    # gslbctl finds https and the token in the daemon's config; verification needs the CA
    ctl(None, "status", "--config", str(d.config), token=None, check=3)
    ctl(None, "status", "--config", str(d.config), "--cacert", str(directory / "cert.pem"),
        token=None, check=0)
    ctl(None, "status", "--config", str(d.config), "--insecure", token=None, check=0)
