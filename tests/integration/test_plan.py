"""Plan (issue 18 item 7, docs/gradual.md "Plan"): POST /api/v1/plan and `gslbctl plan` show,
per decision class of recent queries, the answers now and after a reload or an override and
the share of queries that would change; nothing changes until the change is applied. The
shares are checked against what the same clients get after applying the change; the query
counts come from gslbd's own per-class counters."""
import json
import math
import re
import shutil
import socket
import subprocess
from collections import Counter

import dns.message
import dns.rdatatype
import pytest

from gslbd_test import (TOKEN, Api, api_block, free_port, gslbctl_bin, make_query, wait_api)

ZONE = """defaults:
  record_ttl: 30
records:
  geo.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.51"
        location: eu-fra
        priority: 1
      - address: "{us_east}"
        location: us-east
        priority: 2
  w.gslb.test.:
    mode: weighted
    backends:
      - address: "192.0.2.41"
        weight: {w41}
      - address: "192.0.2.42"
        weight: {w42}
"""

US = ("198.51.100.7", 24)  # location map: us-east
EU = ("198.51.100.200", 32)  # the /25 inside it: eu-fra
TRAFFIC = [("geo.gslb.test.", US, 300), ("geo.gslb.test.", EU, 100), ("w.gslb.test.", None, 2000)]


def zone(us_east="192.0.2.52", w41=8, w42=2):
    return ZONE.format(us_east=us_east, w41=w41, w42=w42)


def ask(d, name, ecs, n):
    """`n` queries for `name` (with ECS `ecs`) one after the other on one socket: a Counter
    of the answers ("addr, addr"). A lost datagram is skipped, not retried."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    got = Counter()
    for i in range(n):
        q = make_query(name, ecs=ecs, edns=0 if ecs else None)
        q.id = i & 0xffff
        sock.sendto(q.to_wire(), ("127.0.0.1", d.port))
        try:
            r = dns.message.from_wire(sock.recv(4096))
        except socket.timeout:
            continue
        addrs = sorted(rr.address for rrset in r.answer for rr in rrset
                       if rrset.rdtype == dns.rdatatype.A)
        got[", ".join(addrs)] += 1
    sock.close()
    return got


def send_traffic(d):
    return {(name, ecs): ask(d, name, ecs, n) for name, ecs, n in TRAFFIC}


def close(counted, sent):
    """gslbd's count of `sent` queries: at most 0.1 % UDP loss."""
    return sent - max(1, sent // 1000) <= counted <= sent


def record(plan, name):
    for r in plan["records"]:
        if r["name"] == name:
            return r
    raise AssertionError(f"{name} not in the plan: {plan}")


def klass(rec, text):
    found = [c for c in rec["classes"] if c["class"] == text]
    assert len(found) == 1, (text, rec["classes"])
    return found[0]


def shares(answers):
    return {a["answer"]: a["share"] for a in answers}


def tv(p, q):
    """Share of answers that differ between two distributions (total variation)."""
    keys = set(p) | set(q)
    return 1 - sum(min(p.get(k, 0), q.get(k, 0)) for k in keys)


def norm(counter):
    n = sum(counter.values())
    return {k: v / n for k, v in counter.items()}


def status_answers(api, name):
    _, s = api.get("/api/v1/status")
    for z in s["zones"]:
        for r in z["records"]:
            if r["name"] == name:
                return {b["address"]: b["answers"] for b in r["backends"]}
    raise AssertionError(name)


@pytest.fixture
def planned(start_gslbd, tmp_path):
    directory = tmp_path / "plan"
    directory.mkdir()
    api_port = free_port()
    d = start_gslbd(name="plan", zone_override=zone(), extra=api_block(api_port, directory))
    api = Api(api_port)
    wait_api(api)
    return d, api, tmp_path / "plan"


def gslbctl(api, *args):
    return subprocess.run([gslbctl_bin(), "--api", api.base, "--token", TOKEN, *args],
                          capture_output=True, text=True, timeout=30)


def test_plan_of_a_reload_that_moves_a_location_matches_the_answers_after_it(planned, tmp_path):
    d, api, live = planned
    before = send_traffic(d)
    assert before[("geo.gslb.test.", US)].keys() == {"192.0.2.52"}
    assert before[("geo.gslb.test.", EU)].keys() == {"192.0.2.51"}
    w_before = status_answers(api, "w.gslb.test.")
    _, st = api.get("/api/v1/status")
    generation = st["generation"]

    # the candidate: us-east's backend moves to .53, the weights of w go 8:2 -> 5:5
    cand = tmp_path / "candidate"
    cand.mkdir()
    for f in ("gslbd.yml", "locations.yml"):
        shutil.copy(live / f, cand / f)
    (cand / "zone.yml").write_text(zone(us_east="192.0.2.53", w41=5, w42=5))
    status, plan = api.post("/api/v1/plan", {"reload": {"config": str(cand / "gslbd.yml")}})
    assert status == 200, plan
    assert plan["applied"] is False
    geo = record(plan, "geo.gslb.test.")
    us, eu = klass(geo, "location us-east"), klass(geo, "location eu-fra")
    assert close(us["queries"], 300) and close(eu["queries"], 100), geo
    assert shares(us["now"]) == {"192.0.2.52": 1.0} and shares(us["after"]) == {"192.0.2.53": 1.0}
    assert us["changed_share"] == 1.0
    assert shares(eu["now"]) == shares(eu["after"]) == {"192.0.2.51": 1.0}
    assert eu["changed_share"] == 0.0
    w = record(plan, "w.gslb.test.")
    anyc = klass(w, "any client")
    assert close(anyc["queries"], 2000)
    assert abs(shares(anyc["now"])["192.0.2.41"] - 0.8) < 0.03
    assert abs(shares(anyc["after"])["192.0.2.41"] - 0.5) < 0.03
    assert abs(anyc["changed_share"] - 0.3) < 0.03
    total = plan["queries"]
    assert close(total, 2400)
    assert abs(plan["changed_share"] - (us["queries"] + 0.3 * anyc["queries"]) / total) < 0.03

    # nothing changed: same generation, same answers
    _, st = api.get("/api/v1/status")
    assert st["generation"] == generation
    assert ask(d, "geo.gslb.test.", US, 20).keys() == {"192.0.2.52"}

    # gslbctl prints the same plan as text
    p = gslbctl(api, "plan", "reload", str(cand / "gslbd.yml"))
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"location us-east .*192\.0\.2\.52 .*192\.0\.2\.53 .*100\.0 %", p.stdout), \
        p.stdout
    assert "not applied" in p.stdout

    # apply it (the live files become the candidate's) and send the same traffic
    shutil.copy(cand / "zone.yml", live / "zone.yml")
    status, r = api.post("/api/v1/reload")
    assert status == 200 and r["ok"], r
    after = send_traffic(d)
    assert set(after[("geo.gslb.test.", US)]) == set(shares(us["after"]))
    assert set(after[("geo.gslb.test.", EU)]) == set(shares(eu["after"]))
    # the weighted record: the shares gslbd's own counters show, before and after
    w_after = status_answers(api, "w.gslb.test.")  # the reload started the counters at 0
    before_dist = norm(Counter(w_before))
    after_dist = norm(Counter(w_after))
    assert abs(after_dist["192.0.2.41"] - shares(anyc["after"])["192.0.2.41"]) < 0.05, w_after
    assert abs(tv(before_dist, after_dist) - anyc["changed_share"]) < 0.06, (w_before, w_after)
    # the share of queries that changed, as the clients saw it
    sent = sum(n for _, _, n in TRAFFIC)
    changed = after[("geo.gslb.test.", US)]["192.0.2.53"] + \
        tv(before_dist, after_dist) * sum(after[("w.gslb.test.", None)].values())
    assert abs(changed / sent - plan["changed_share"]) < 0.04


def test_a_bad_candidate_says_where_and_changes_nothing(planned, tmp_path):
    d, api, live = planned
    ask(d, "geo.gslb.test.", US, 10)
    _, st = api.get("/api/v1/status")
    generation = st["generation"]
    cand = tmp_path / "bad"
    cand.mkdir()
    for f in ("gslbd.yml", "locations.yml"):
        shutil.copy(live / f, cand / f)
    (cand / "zone.yml").write_text(zone().replace("mode: weighted", "mode: no-such-mode"))
    status, r = api.post("/api/v1/plan", {"reload": {"config": str(cand / "gslbd.yml")}})
    assert status == 422, r
    assert re.search(r"zone\.yml:\d+:\d+", r["error"]) and "no-such-mode" in r["error"], r
    p = gslbctl(api, "plan", "reload", str(cand / "gslbd.yml"))
    print(p.stdout + p.stderr)
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"zone\.yml:\d+:\d+", p.stdout + p.stderr), p.stdout + p.stderr
    # the same for the live files edited in place (plan reload without a file)
    (live / "zone.yml").write_text(zone().replace("location: us-east", "location: nowhere"))
    status, r = api.post("/api/v1/plan", {"reload": {}})
    assert status == 422 and re.search(r"zone\.yml:\d+:\d+", r["error"]), r
    status, r = api.post("/api/v1/plan", {"reload": {"config": str(cand / "missing.yml")}})
    assert status == 422 and "missing.yml" in r["error"], r
    status, r = api.post("/api/v1/plan", {"rewind": {}})
    assert status == 400, r
    _, st = api.get("/api/v1/status")
    assert st["generation"] == generation and st["reloads"]["failed"] == 0
    assert ask(d, "geo.gslb.test.", US, 10).keys() == {"192.0.2.52"}


def test_plan_of_an_override_then_applied(planned):
    d, api, _ = planned
    send_traffic(d)
    _, st = api.get("/api/v1/status")
    generation = st["generation"]
    status, plan = api.post("/api/v1/plan", {"override": {"action": "drain",
                                                          "address": "192.0.2.52"}})
    assert status == 200, plan
    assert plan["backends"] == [{"record": "geo.gslb.test.", "address": "192.0.2.52"}]
    geo = record(plan, "geo.gslb.test.")
    us = klass(geo, "location us-east")
    # us-east has no eligible backend of its own left: failover over the rest
    assert shares(us["after"]) == {"192.0.2.51": 1.0} and us["changed_share"] == 1.0
    assert us["class_after"] == "no match", us
    assert klass(geo, "location eu-fra")["changed_share"] == 0.0
    assert record(plan, "w.gslb.test.")["changed_share"] == 0.0
    assert abs(plan["changed_share"] - us["queries"] / plan["queries"]) < 1e-3
    # a weight override of w, through gslbctl: 8:2 -> 2:2
    p = gslbctl(api, "--json", "plan", "weight", "2", "--address", "192.0.2.41")
    assert p.returncode == 0, p.stdout + p.stderr
    wp = json.loads(p.stdout)
    print(gslbctl(api, "plan", "drain", "--address", "192.0.2.52").stdout)
    assert abs(record(wp, "w.gslb.test.")["changed_share"] - 0.3) < 0.03
    # nothing changed
    _, st = api.get("/api/v1/status")
    assert st["generation"] == generation
    assert ask(d, "geo.gslb.test.", US, 20).keys() == {"192.0.2.52"}
    status, r = api.post("/api/v1/plan", {"override": {"action": "drain",
                                                       "address": "192.0.2.99"}})
    assert status == 404, r
    # applied: what the plan said
    status, _ = api.post("/api/v1/backends/drain", {"address": "192.0.2.52"})
    assert status == 200
    assert set(ask(d, "geo.gslb.test.", US, 50)) == set(shares(us["after"]))
    assert set(ask(d, "geo.gslb.test.", EU, 50)) == {"192.0.2.51"}


IPHASH_ZONE = """defaults:
  record_ttl: 30
records:
  h.gslb.test.:
    mode: ip-hash
    backends:
      - {address: "192.0.2.61", weight: 1}
      - {address: "192.0.2.62", weight: 1}
"""


def ask_each(d, clients):
    """One query for h.gslb.test. per client (ECS /32), in order, on one socket: client ->
    answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    got = {}
    for i, c in enumerate(clients):
        q = make_query("h.gslb.test.", ecs=(c, 32), edns=0)
        q.id = i & 0xffff
        sock.sendto(q.to_wire(), ("127.0.0.1", d.port))
        try:
            r = dns.message.from_wire(sock.recv(4096))
        except socket.timeout:
            continue
        got[c] = ", ".join(sorted(rr.address for rrset in r.answer for rr in rrset
                                  if rrset.rdtype == dns.rdatatype.A))
    sock.close()
    return got


def test_plan_of_an_ip_hash_weight_change_splits_a_class(start_gslbd, tmp_path):
    """ip-hash's class is the backend a client hashes to; a weight change moves part of a
    class's clients. The plan evaluates each class on its sampled clients (up to 8 a worker,
    docs/gradual.md "Plan"): when every client of a class is in the sample the share is
    exact; with many clients it is a sample's estimate, checked within 3 binomial sigma of
    the sampled clients' count (plus 0.02)."""
    directory = tmp_path / "iphash"
    directory.mkdir()
    api_port = free_port()

    def run(clients):
        d = start_gslbd(name=f"iphash{run.n}", zone_override=IPHASH_ZONE,
                        extra=api_block(api_port, directory))
        run.n += 1
        api = Api(api_port)
        wait_api(api)
        before = ask_each(d, clients)
        assert len(before) >= len(clients) - 1  # at most one datagram lost
        status, plan = api.post("/api/v1/plan", {"override": {
            "action": "weight", "weight": 3, "address": "192.0.2.61"}})
        assert status == 200, plan
        status, _ = api.post("/api/v1/backends/weight", {"address": "192.0.2.61", "weight": 3})
        assert status == 200
        after = ask_each(d, clients)
        d.stop()
        (directory / "state.json").unlink()
        seen = [c for c in before if c in after]
        moved = [c for c in seen if before[c] != after[c]]
        # rendezvous: a heavier .61 only takes clients, from .62
        assert all(before[c] == "192.0.2.62" and after[c] == "192.0.2.61" for c in moved)
        return plan, before, after, seen, moved

    run.n = 0

    def check(clients, exact):
        plan, before, after, seen, moved = run(clients)
        rec = record(plan, "h.gslb.test.")
        to62 = [c for c in seen if before[c] == "192.0.2.62"]
        actual = len(moved) / len(to62)
        print(f"{len(clients)} clients: {len(moved)} of {len(to62)} moved; plan:",
              [(c["class"], c["queries"], c["clients_sampled"], c["changed_share"])
               for c in rec["classes"]], plan["changed_share"])
        c62 = klass(rec, "hashed to 192.0.2.62")
        c61 = klass(rec, "hashed to 192.0.2.61")
        assert c61["changed_share"] == 0.0
        assert 0.0 < c62["changed_share"] < 1.0, c62  # one stored client gave 0 or 1 here
        if exact:
            assert c62["clients_sampled"] == len(to62), c62
            assert abs(c62["changed_share"] - actual) < 1e-3, (c62, actual)
            assert abs(plan["changed_share"] - len(moved) / len(seen)) < 1e-3
        else:
            n = c62["clients_sampled"]
            tol = 3 * math.sqrt(actual * (1 - actual) / n) + 0.02
            assert abs(c62["changed_share"] - actual) < tol, (c62, actual, tol)

    # 600 clients: an estimate from the sample
    pool = [f"10.{2 + i // 200}.{i % 200}.9" for i in range(600)]
    check(pool, exact=False)
    # a class whose every client is in the sample (at most 8 a class): the share is exactly
    # the fraction that moves. The clients are picked from what the 600 got: 3 that move and
    # 3 that stay on .62, 6 that stay on .61.
    _, before, after, seen, moved = run(pool[:60])
    stay62 = [c for c in seen if before[c] == after[c] == "192.0.2.62"]
    stay61 = [c for c in seen if before[c] == "192.0.2.61"]
    assert len(moved) >= 3 and len(stay62) >= 3 and len(stay61) >= 6, (moved, stay62)
    check(moved[:3] + stay62[:3] + stay61[:6], exact=True)
