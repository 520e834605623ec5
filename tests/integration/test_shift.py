"""Traffic shifts and drills (issue 18 item 6, docs/gradual.md "Traffic shifts"), and the
gradual rules' gauges in /metrics (docs/metrics.md). Shares are computed from gslbd's own
answer counters (what it handed out), so a few UDP datagrams dnsperf loses change nothing."""
import math
import re
import socket
import subprocess
import time

from gslbd_test import (Api, HttpBackend, addresses, api_block, ecs_option, free_port,
                        gslbctl_bin, make_query, udp, wait_api, wait_for)

A, B, C = "192.0.2.41", "192.0.2.42", "192.0.2.43"

ZONE = f"""defaults:
  record_ttl: 30
records:
  sh.gslb.test.:
    mode: weighted
    backends:
      - {{address: {A}, weight: 1, tags: [east]}}
      - {{address: {B}, weight: 1}}
  other.gslb.test.:
    mode: weighted
    backends:
      - {{address: {A}, weight: 1, tags: [east]}}
      - {{address: {B}, weight: 2}}
      - {{address: {C}, weight: 1}}
"""


def start(start_gslbd, tmp_path, zone=ZONE, name="shift"):
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    d = start_gslbd(name=name, zone_override=zone, extra=api_block(api_port, directory))
    api = Api(api_port)
    wait_api(api)
    return d, api


def scrape(api):
    status, text = api.get("/metrics")
    assert status == 200
    return text


def gauge(text, metric, name, address):
    pat = re.escape(f'{metric}{{name="{name}",address="{address}"}}') + r" ([0-9.e+-]+)$"
    m = re.search(pat, text, re.M)
    assert m, f"{metric} for {name} {address} missing"
    return float(m.group(1))


def dnsperf(d, tmp_path, names, seconds, qps):
    """dnsperf in the background for `seconds` at about `qps` (it paces with -Q)."""
    qfile = tmp_path / "shift-queries.txt"
    qfile.write_text("".join(f"{n} A\n" for n in names))
    return subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-d", str(qfile),
                             "-l", str(seconds), "-Q", str(qps), "-c", "2", "-q", "200",
                             "-t", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(p):
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    sent = re.search(r"Queries sent:\s+(\d+)", out)
    done = re.search(r"Queries completed:\s+(\d+)", out)
    assert sent and done, out
    # the shares below come from gslbd's counters; UDP loss only needs to stay tiny
    assert int(done.group(1)) >= 0.999 * int(sent.group(1)), out
    return out


def expected_percent(moved, wt, wo):
    """docs/gradual.md: round(100 (1 - m) wo / (wo + m wt)), at least 1; 0 at m = 1."""
    if moved >= 100:
        return 0
    m = moved / 100
    return max(1, min(100, math.floor(100 * (1 - m) * wo / (wo + m * wt) + 0.5)))


def expected_share(moved, wt, wo):
    """The targets' share of the answers under that percent (weighted mode)."""
    p = expected_percent(moved, wt, wo)
    return p * wt / (p * wt + 100 * wo)


def shift(api, sid):
    status, s = api.get(f"/api/v1/shift/{sid}")
    assert status == 200, s
    return s


def test_shift_steps_follow_the_plan_pause_holds_abort_restores(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path)
    name = "sh.gslb.test."
    perf = dnsperf(d, tmp_path, [name], 14, 6000)
    time.sleep(0.5)
    # 20 % more of A's answers every 2 s, up to 80 %
    status, s = api.post("/api/v1/shift", {"record": name, "address": A, "share": 80,
                                           "step": 20, "interval": "2s"})
    assert status == 200 and s["state"] == "running", s
    sid, gen0 = s["id"], s["generation"]
    assert s["steps_total"] == 4 and s["moved_percent"] == 20, s
    # the percent in force reaches the workers through the snapshot: status and /metrics
    text = scrape(api)
    p20 = expected_percent(20, 1, 1)
    assert gauge(text, "gslbd_backend_weight_percent", name, A) == p20
    assert gauge(text, "gslbd_backend_effective_weight", name, A) == p20 / 100
    assert gauge(text, "gslbd_backend_weight_percent", "other.gslb.test.", A) == 100
    wait_for(lambda: shift(api, sid)["steps_taken"], 2, 4, "step 2")
    time.sleep(1.0)
    status, s = api.post(f"/api/v1/shift/{sid}/pause")
    assert status == 200 and s["state"] == "paused", s
    left = s["next_step_in_s_after_resume"]
    assert 0.5 <= left <= 1.3, s
    time.sleep(3.0)  # longer than a step: nothing moves while paused
    s = shift(api, sid)
    assert s["state"] == "paused" and s["steps_taken"] == 2 and s["moved_percent"] == 40, s
    status, s = api.post(f"/api/v1/shift/{sid}/resume")
    assert status == 200 and s["state"] == "running", s
    t_resume = time.monotonic()
    wait_for(lambda: shift(api, sid)["steps_taken"], 3, 3, "step 3 after the rest of the step")
    assert time.monotonic() - t_resume <= left + 0.6
    wait_for(lambda: shift(api, sid)["state"], "holding", 4, "holding at 80 %")
    time.sleep(1.5)
    status, s = api.post(f"/api/v1/shift/{sid}/abort")
    assert status == 200 and s["state"] == "aborted", s
    assert s["generation"] > gen0
    # restored at once: the published percent is back to 100 with the abort's answer
    after_abort = scrape(api)
    assert gauge(after_abort, "gslbd_backend_weight_percent", name, A) == 100
    assert gauge(after_abort, "gslbd_backend_effective_weight", name, A) == 1
    time.sleep(1.0)
    later = scrape(api)
    a = gauge(later, "gslbd_backend_answers_total", name, A) - \
        gauge(after_abort, "gslbd_backend_answers_total", name, A)
    b = gauge(later, "gslbd_backend_answers_total", name, B) - \
        gauge(after_abort, "gslbd_backend_answers_total", name, B)
    assert a + b > 1000, (a, b)
    assert abs(a / (a + b) - 0.5) < 4 * math.sqrt(0.25 / (a + b)) + 0.01, (a, b)
    finish(perf)

    s = shift(api, sid)
    print("steps:", [(st["step"], st["moved_percent"], st["state"], st["from_s"], st["to_s"],
                      st["answers"], st["target_share"], st["expected_target_share"])
                     for st in s["steps"]])
    steps = s["steps"]
    # segments: 20 running, 40 running, 40 paused, 40 running (resumed), 60 running, 80 holding
    assert [(st["moved_percent"], st["state"]) for st in steps] == [
        (20, "running"), (40, "running"), (40, "paused"), (40, "running"), (60, "running"),
        (80, "holding")], steps
    assert abs(steps[1]["from_s"] - 2.0) < 0.3, steps  # a step every interval
    for st in steps:
        n = st["answers"]["total"]
        want = expected_share(st["moved_percent"], 1, 1)
        assert abs(st["expected_target_share"] - want) < 0.001, (st, want)
        if n < 1500:  # the short resumed segment: too few answers for a share
            continue
        got = st["answers"]["targets"] / n
        # binomial noise (4 sigma), plus the answers of the old step still in flight at a
        # boundary (a few ms of traffic)
        tol = 4 * math.sqrt(want * (1 - want) / n) + 0.01
        assert abs(got - want) < tol, (st, want, tol)
        assert abs(st["target_share"] - got) < 0.001
    # the aborted segment closed with the abort: later answers are not in it
    total = sum(st["answers"]["total"] for st in steps)
    assert total <= sum(gauge(after_abort, "gslbd_backend_answers_total", name, x) for x in (A, B))
    # an aborted shift cannot be resumed; a bad request says what is wrong
    status, e = api.post(f"/api/v1/shift/{sid}/resume")
    assert status == 409 and "aborted" in e["error"], e
    status, e = api.post("/api/v1/shift", {"record": name, "step": 0})
    assert status == 400 and "'step'" in e["error"], e
    status, e = api.post("/api/v1/shift", {"record": name, "interval": "soon"})
    assert status == 400 and "'interval'" in e["error"], e
    status, e = api.post("/api/v1/shift", {"tag": "nowhere"})
    assert status == 404, e
    status, e = api.get("/api/v1/shift/99")
    assert status == 404, e


def report_rows(text):
    """gslbctl's report table: {step: {column: cell}} (the last row of a step number wins)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head_i = next(i for i, ln in enumerate(lines) if ln.startswith("STEP"))
    head = lines[head_i].split()
    # backend columns are "record address[*]" when the report spans records: two words
    cols = head[:9]
    rest = head[9:]
    while rest:
        if rest[0].endswith("."):
            cols.append(rest[0] + " " + rest[1])
            rest = rest[2:]
        else:
            cols.append(rest[0])
            rest = rest[1:]
    rows = []
    for ln in lines[head_i + 1:]:
        if ln.startswith("*"):
            break
        rows.append(dict(zip(cols, ln.split())))
    return rows


def test_drill_report_matches_metrics_and_gslbctl_prints_it(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path)
    names = ["sh.gslb.test.", "other.gslb.test."]
    before = scrape(api)
    env = {"GSLBCTL_API": f"http://127.0.0.1:{api.port}", "GSLBCTL_TOKEN": api.token}
    # the tag selects A in both records: 50 % at once, all of it after 1.5 s, restored at 5 s
    ctl = subprocess.Popen([gslbctl_bin(), "shift", "start", "--tag", "east", "--step", "50",
                            "--interval", "1500ms", "--drill", "5s", "--wait"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # traffic once the drill is in force, over before it restores
    wait_for(lambda: len(api.get("/api/v1/shift")[1]["shifts"]), 1, 5, "the drill started")
    perf = dnsperf(d, tmp_path, names, 3, 6000)
    finish(perf)
    out, err = ctl.communicate(timeout=30)
    assert ctl.returncode == 0, out + err
    print(out)
    assert "(drill)" in out and "restored" in out, out
    after = scrape(api)
    _, lst = api.get("/api/v1/shift")
    s = lst["shifts"][-1]
    assert s["state"] == "restored" and s["drill"], s
    assert 4.9 <= s["elapsed_s"] <= 6.0, s
    steps = s["steps"]
    assert [(st["moved_percent"], st["state"]) for st in steps] == [
        (50, "running"), (100, "holding")], steps
    # every answer of the drill is in the report: per backend, the counters' growth
    for name, addrs in (("sh.gslb.test.", (A, B)), ("other.gslb.test.", (A, B, C))):
        for addr in addrs:
            report = sum(b["answers"] for st in steps for b in st["backends"]
                         if b["record"] == name and b["address"] == addr)
            metric = gauge(after, "gslbd_backend_answers_total", name, addr) - \
                gauge(before, "gslbd_backend_answers_total", name, addr)
            assert report == metric, (name, addr, report, metric)
    # at 100 % the targets are out: no answer but those of a burst in flight at the switch
    # (the step's counts start when the step is taken, a moment before the workers see it)
    assert steps[1]["answers"]["total"] > 1000, steps
    assert steps[1]["answers"]["targets"] <= 0.001 * steps[1]["answers"]["total"], steps
    # step 1 follows the documented function in both records (other: A 1 of weight 4)
    st = steps[0]
    per = {b["record"]: 0 for b in st["backends"]}
    tgt = dict(per)
    for b in st["backends"]:
        per[b["record"]] += b["answers"]
        tgt[b["record"]] += b["answers"] if b["target"] else 0
    for name, wt, wo in (("sh.gslb.test.", 1, 1), ("other.gslb.test.", 1, 3)):
        want = expected_share(50, wt, wo)
        n = per[name]
        assert abs(tgt[name] / n - want) < 4 * math.sqrt(want * (1 - want) / n) + 0.01, \
            (name, tgt[name], n, want)
    # gslbctl printed the same numbers, one row per step
    rows = report_rows(out)
    assert [r["MOVED"] for r in rows] == ["50%", "100%"], rows
    for r, st in zip(rows, steps):
        assert int(r["TOTAL"]) == st["answers"]["total"], (r, st)
        assert int(r["TO_TARGETS"]) == st["answers"]["targets"], (r, st)
        assert int(r[f"sh.gslb.test. {A}*"]) == sum(
            b["answers"] for b in st["backends"]
            if b["record"] == "sh.gslb.test." and b["address"] == A)
    # restored: A answers again in both records
    text = scrape(api)
    assert gauge(text, "gslbd_backend_weight_percent", "sh.gslb.test.", A) == 100
    assert gauge(text, "gslbd_backend_effective_weight", "other.gslb.test.", A) == 1
    p = subprocess.run([gslbctl_bin(), "shift", "list"], capture_output=True, text=True,
                       env=env, timeout=10)
    assert p.returncode == 0 and "restored" in p.stdout, p.stdout + p.stderr


def test_shift_survives_unrelated_reload_and_ends_when_its_target_goes(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path)
    name = "sh.gslb.test."
    status, s = api.post("/api/v1/shift", {"record": name, "address": A, "step": 50,
                                           "interval": "60s"})
    assert status == 200, s
    sid = s["id"]
    p50 = expected_percent(50, 1, 1)
    assert gauge(scrape(api), "gslbd_backend_weight_percent", name, A) == p50
    _, st = api.get("/api/v1/status")
    recs = {r["name"]: r for z in st["zones"] for r in z["records"]}
    assert [b.get("shift_percent") for b in recs[name]["backends"]] == [p50, None], recs[name]
    assert all("shift_percent" not in b for b in recs["other.gslb.test."]["backends"])
    zone_path = d.config.parent / "zone.yml"
    # a reload that adds an unrelated record: the shift goes on at its step
    zone_path.write_text(ZONE + f"""  new.gslb.test.:
    mode: weighted
    backends:
      - {{address: {C}}}
""")
    status, r = api.post("/api/v1/reload")
    assert status == 200 and r["ok"], r
    s = shift(api, sid)
    assert s["state"] == "running" and s["moved_percent"] == 50, s
    assert gauge(scrape(api), "gslbd_backend_weight_percent", name, A) == p50
    # a second shift may not take a backend the first one holds
    status, e = api.post("/api/v1/shift", {"tag": "east"})
    assert status == 409 and f"shift {sid}" in e["error"], e
    # the target leaves the zone file: the shift ends and says why
    zone_path.write_text(ZONE.replace(f"      - {{address: {A}, weight: 1, tags: [east]}}\n"
                                      f"      - {{address: {B}, weight: 1}}\n",
                                      f"      - {{address: {B}, weight: 1}}\n", 1))
    status, r = api.post("/api/v1/reload")
    assert status == 200 and r["ok"], r
    s = shift(api, sid)
    assert s["state"] == "ended" and "reload" in s["reason"], s
    # nothing is left of it: A of the other record was never part of it
    text = scrape(api)
    assert gauge(text, "gslbd_backend_weight_percent", "other.gslb.test.", A) == 100
    assert gauge(text, "gslbd_backend_weight_percent", name, B) == 100


def test_gradual_gauges_in_metrics(start_gslbd, tmp_path):
    """Score, ramp and damping state per record and backend (docs/metrics.md)."""
    a = HttpBackend("127.0.0.31", tmp_path)
    b = HttpBackend("127.0.0.32", tmp_path)
    try:
        def probed(h):
            return f"""      - address: {h.addr}
        healthchecks:
          - type: http
            params: {{port: {h.port}, uri: /health, timeout: 300ms, expected_code: 200}}
"""
        zone = f"""defaults:
  record_ttl: 30
  scrape_interval: 300ms
  scrape_timeout: 300ms
  rise: 1
  fall: 1
records:
  gm.gslb.test.:
    mode: weighted
    flap_damping: {{penalty: 1000, suppress: 2500, reuse: 750, half_life: 60s, max_suppress: 5m}}
    scoring: {{window: 5, min_success_percent: 50, latency: 100ms, floor_percent: 10}}
    backends:
{probed(a)}{probed(b)}  ramp.gslb.test.:
    mode: weighted
    slow_start: {{window: 30s, min_percent: 10}}
    backends:
{probed(a)}{probed(b)}"""
        d, api = start(start_gslbd, tmp_path, zone, name="gauges")

        def st(rec, h):
            _, s = api.get("/api/v1/status")
            for z in s["zones"]:
                for r in z["records"]:
                    if r["name"] == rec:
                        return [x for x in r["backends"] if x["address"] == h.addr][0]

        wait_for(lambda: st("gm.gslb.test.", a)["verdict"], "up", 10, "A up")
        text = scrape(api)
        assert gauge(text, "gslbd_backend_suppressed", "gm.gslb.test.", a.addr) == 0
        assert gauge(text, "gslbd_backend_damping_penalty", "gm.gslb.test.", a.addr) == 0
        assert gauge(text, "gslbd_backend_ramp_percent", "ramp.gslb.test.", a.addr) == 100
        # B slow (~210 ms): scored 45 % (docs/gradual.md), its effective weight 0.45
        b.set(status=200, delay=0.207)
        wait_for(lambda: st("gm.gslb.test.", b).get("gradual", {}).get("score", {})
                 .get("percent"), 45, 10, "B scored 45")
        text = scrape(api)
        assert gauge(text, "gslbd_backend_score_percent", "gm.gslb.test.", b.addr) == 45
        assert gauge(text, "gslbd_backend_weight_percent", "gm.gslb.test.", b.addr) == 45
        assert gauge(text, "gslbd_backend_effective_weight", "gm.gslb.test.", b.addr) == 0.45
        assert gauge(text, "gslbd_backend_score_percent", "gm.gslb.test.", a.addr) == 100
        # A flaps three times: suppressed (penalty about 3000 >= 2500), out of the answers
        for verdict, code in (("down", 503), ("up", 200), ("down", 503)):
            a.set(status=code)
            wait_for(lambda: st("gm.gslb.test.", a)["verdict"], verdict, 5, "A " + verdict)
        a.set(status=200)
        wait_for(lambda: st("ramp.gslb.test.", a)["verdict"], "up", 5, "A up again")
        wait_for(lambda: st("ramp.gslb.test.", a).get("gradual", {}).get("slow_start", {})
                 .get("ramping"), True, 5, "A ramping in the slow start record")
        text = scrape(api)
        s = st("gm.gslb.test.", a)
        assert gauge(text, "gslbd_backend_suppressed", "gm.gslb.test.", a.addr) == 1
        assert s["gradual"]["damping"]["suppressed"], s
        pen = gauge(text, "gslbd_backend_damping_penalty", "gm.gslb.test.", a.addr)
        assert 3400 <= pen <= 4000 and abs(pen - s["gradual"]["damping"]["penalty"]) < 50, \
            (pen, s)
        assert gauge(text, "gslbd_backend_effective_weight", "gm.gslb.test.", a.addr) == 0
        r = st("ramp.gslb.test.", a)["gradual"]["slow_start"]["percent"]
        got = gauge(text, "gslbd_backend_ramp_percent", "ramp.gslb.test.", a.addr)
        assert 10 <= got < 100 and abs(got - r) <= 5, (got, r)
        assert gauge(text, "gslbd_backend_weight_percent", "ramp.gslb.test.", a.addr) == got
    finally:
        a.stop()
        b.stop()


# --- modes that pick by client: a share of the clients moves (docs/gradual.md) ------------

SPLIT_MAP = """subnets:
  - subnet: "10.0.0.0/8"
    location: east
  - subnet: "11.0.0.0/8"
    location: west
"""

SPLIT_ZONE = """defaults:
  record_ttl: 30
records:
  geo.gslb.test.:
    mode: geoip
    backends:
      - {address: 192.0.2.51, location: east, priority: 1}
      - {address: 192.0.2.52, location: west, priority: 2}
  fo.gslb.test.:
    mode: failover
    backends:
      - {address: 192.0.2.61, priority: 1, tags: [primary]}
      - {address: 192.0.2.62, priority: 2}
"""

# 600 east /24s as ECS prefixes; 400 packet sources (their /24s) for failover
EAST = [f"10.{2 + i // 200}.{i % 200}.0" for i in range(600)]
SOURCES = [f"127.{1 + i // 200}.{i % 200}.9" for i in range(400)]


def start_split(start_gslbd, tmp_path, name, cache=True):
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    extra = api_block(api_port, directory) + ("" if cache else "cache:\n  entries: 0\n")
    d = start_gslbd(name=name, zone_override=SPLIT_ZONE, locations=SPLIT_MAP, extra=extra)
    api = Api(api_port)
    wait_api(api)
    return d, api


def sweep_geo(d):
    """{prefix: (answer, ECS scope)}; every client asks twice and must get the same answer."""
    out = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for prefix in EAST:
            seen = []
            for _ in range(2):
                r = udp(d, make_query("geo.gslb.test.", ecs=(prefix, 24)), sock=sock)
                seen.append((tuple(addresses(r)), ecs_option(r).scopelen))
            assert seen[0] == seen[1], (prefix, seen)  # one side per client within a step
            out[prefix] = seen[0]
    return out


def sweep_failover(d):
    """{source: answer} for queries from 400 source addresses (no ECS), each asking twice."""
    out = {}
    for src in SOURCES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((src, 0))
            seen = [tuple(addresses(udp(d, make_query("fo.gslb.test.", edns=None), sock=sock)))
                    for _ in range(2)]
        assert seen[0] == seen[1], (src, seen)
        out[src] = seen[0]
    return out


def share_ok(moved, n, m):
    """docs/gradual.md: the share of clients moved is m within the binomial noise of the
    client prefixes' buckets (4 standard deviations) plus 1 %."""
    p = m / 100
    return abs(moved / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 0.01


def pause_at(apis, sids, step):
    """Waits until every shift took `step` steps, pauses them; the moved percent in force."""
    moved = set()
    for api, sid in zip(apis, sids):
        wait_for(lambda: shift(api, sid)["steps_taken"] >= step, True, 10, f"step {step}")
        status, s = api.post(f"/api/v1/shift/{sid}/pause")
        if status == 409:  # the last step: holding
            s = shift(api, sid)
            assert s["state"] == "holding", s
        moved.add(s["moved_percent"])
    assert len(moved) == 1, moved  # the daemons are at the same step
    return moved.pop()


def resume(apis, sids):
    for api, sid in zip(apis, sids):
        status, s = api.post(f"/api/v1/shift/{sid}/resume")
        assert status == 200, s


def test_geoip_location_shift_moves_a_share_of_clients_cached_or_not(start_gslbd, tmp_path):
    d, api = start_split(start_gslbd, tmp_path, "split")
    d0, api0 = start_split(start_gslbd, tmp_path, "split-nocache", cache=False)
    before = sweep_geo(d)
    assert set(before.values()) == {(("192.0.2.51",), 8)}  # the map's block: /8
    apis, sids = [api, api0], []
    for a in apis:
        status, s = a.post("/api/v1/shift", {"location": "east", "step": 25, "interval": "1s"})
        assert status == 200 and "warnings" not in s, s
        sids.append(s["id"])
    moved_before = set()
    for step in (1, 2, 3, 4):
        m = pause_at(apis, sids, step)
        assert m == 25 * step
        got, got0 = sweep_geo(d), sweep_geo(d0)
        # with and without the response cache: the same answer per client
        assert got == got0
        moved = {p for p, (ans, _) in got.items() if ans == ("192.0.2.52",)}
        assert all(ans in (("192.0.2.51",), ("192.0.2.52",)) for ans, _ in got.values())
        if m < 100:
            # the answer depends on the client's /24 while a share moves
            assert {scope for _, scope in got.values()} == {24}, m
            assert share_ok(len(moved), len(EAST), m), (m, len(moved))
            # the segment of the pause holds exactly the sweeps' answers
            seg = shift(api, sids[0])["steps"][-1]
            assert seg["state"] == "paused" and seg["moved_percent"] == m, seg
            assert seg["answers"]["total"] == 2 * len(EAST), seg
            assert seg["answers"]["targets"] == 2 * (len(EAST) - len(moved)), seg
            assert seg["records"][0]["moved_by"] == "clients", seg
            resume(apis, sids)
        else:
            assert len(moved) == len(EAST)  # 100 %: out, as drained
        # monotone: a larger share only adds clients
        assert moved_before <= moved, sorted(moved_before - moved)[:5]
        moved_before = moved
        # explain names the client's bucket: below the moved percent exactly when it moved
        for prefix in EAST[::40]:
            status, e = api.post("/api/v1/explain", {"name": "geo.gslb.test.",
                                                     "client": "127.0.0.1",
                                                     "ecs": prefix + "/24"})
            assert status == 200, e
            data = [rr["data"] for rr in e["answer"]["answer"]]
            assert data == list(got[prefix][0]), (prefix, e)
            if m < 100:
                assert (e["shift"]["bucket"] < m) == (prefix in moved), (prefix, e["shift"])
                assert e["shift"]["moved"] == (prefix in moved)
    # west clients never move: their backend is no target
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(20):
            r = udp(d, make_query("geo.gslb.test.", ecs=(f"11.0.{i}.0", 24)), sock=sock)
            assert addresses(r) == ["192.0.2.52"]
    # abort restores at once: the abort's reply comes after the publish
    for a, sid in zip(apis, sids):
        status, s = a.post(f"/api/v1/shift/{sid}/abort")
        assert status == 200 and s["state"] == "aborted", s
    assert sweep_geo(d) == before
    assert sweep_geo(d0) == before


def test_failover_shift_moves_a_share_of_source_addresses(start_gslbd, tmp_path):
    d, api = start_split(start_gslbd, tmp_path, "split-fo")
    d0, api0 = start_split(start_gslbd, tmp_path, "split-fo-nocache", cache=False)
    assert set(sweep_failover(d).values()) == {("192.0.2.61",)}
    apis, sids = [api, api0], []
    for a in apis:
        status, s = a.post("/api/v1/shift", {"tag": "primary", "step": 40, "interval": "1s"})
        assert status == 200 and "warnings" not in s, s
        sids.append(s["id"])
    _, st = api.get("/api/v1/status")
    fo = [r for z in st["zones"] for r in z["records"] if r["name"] == "fo.gslb.test."][0]
    b61 = [b for b in fo["backends"] if b["address"] == "192.0.2.61"][0]
    assert b61["shift_by"] == "clients" and b61["shift_percent"] == 60, b61
    assert b61["effective_weight"] == 1, b61  # its weight is not what moves
    moved_before = set()
    for step in (1, 2, 3):
        m = pause_at(apis, sids, step)
        assert m == min(40 * step, 100)
        got, got0 = sweep_failover(d), sweep_failover(d0)
        assert got == got0
        moved = {src for src, ans in got.items() if ans == ("192.0.2.62",)}
        assert all(ans in (("192.0.2.61",), ("192.0.2.62",)) for ans in got.values())
        if m < 100:
            assert share_ok(len(moved), len(SOURCES), m), (m, len(moved))
            resume(apis, sids)
        else:
            assert len(moved) == len(SOURCES)
        assert moved_before <= moved
        moved_before = moved
    for a, sid in zip(apis, sids):
        status, s = a.post(f"/api/v1/shift/{sid}/abort")
        assert status == 200, s
    assert set(sweep_failover(d).values()) == {("192.0.2.61",)}
    assert set(sweep_failover(d0).values()) == {("192.0.2.61",)}


def test_shift_and_drill_survive_a_restart_at_the_step_their_schedule_says(start_gslbd,
                                                                          tmp_path):
    """docs/gradual.md "Shifts that outlive a restart": the state file keeps a live shift; a
    restarted gslbd takes it at the step its schedule says now, and a drill whose restore
    time passed while gslbd was down is restored."""
    import gslbd_test
    d, api = start(start_gslbd, tmp_path, name="keep")
    name = "sh.gslb.test."
    status, s = api.post("/api/v1/shift", {"record": name, "address": A, "share": 100,
                                           "step": 25, "interval": "4s"})
    assert status == 200 and s["moved_percent"] == 25, s
    t0 = time.monotonic()
    uid = s["uid"]
    status, drill = api.post("/api/v1/shift", {"record": "other.gslb.test.", "address": C,
                                               "share": 100, "step": 100, "interval": "1s",
                                               "restore_after": "3s"})
    assert status == 200 and drill["drill"], drill
    assert gauge(scrape(api), "gslbd_backend_effective_weight", "other.gslb.test.", C) == 0
    d.stop()
    # down across the second step (due 4 s after the start) and past the drill's end
    time.sleep(max(0.0, 5.0 - (time.monotonic() - t0)))
    d2 = gslbd_test.Daemon(d.config, d.port)
    try:
        wait_api(api)

        def expect_steps(elapsed):
            return min(4, 1 + int(elapsed // 4))

        before = expect_steps(time.monotonic() - t0)
        status, listed = api.get("/api/v1/shift")
        after = expect_steps(time.monotonic() - t0)
        assert status == 200, listed
        live = [x for x in listed["shifts"] if x["state"] in ("running", "paused", "holding")]
        assert [x["uid"] for x in live] == [uid], listed  # the drill is over, not taken again
        s = live[0]
        assert s["steps_taken"] in (before, after) and s["steps_taken"] >= 2, (s, before, after)
        assert s["moved_percent"] == 25 * s["steps_taken"], s
        text = scrape(api)
        assert gauge(text, "gslbd_backend_weight_percent", name, A) == \
            expected_percent(s["moved_percent"], 1, 1), s
        assert gauge(text, "gslbd_backend_effective_weight", "other.gslb.test.", C) == 1
        # it goes on stepping on the same schedule: step 3 at 8 s after the first start
        sid = s["id"]
        wait_for(lambda: shift(api, sid)["steps_taken"], 3, 9.0 - (time.monotonic() - t0),
                 "step 3 on the kept schedule")
        assert time.monotonic() - t0 >= 7.7
        # an abort is kept too: nothing comes back after another restart
        status, s = api.post(f"/api/v1/shift/{sid}/abort")
        assert status == 200 and s["state"] == "aborted", s
    finally:
        d2.stop()
    d3 = gslbd_test.Daemon(d.config, d.port)
    try:
        wait_api(api)
        status, listed = api.get("/api/v1/shift")
        assert status == 200 and listed["shifts"] == [], listed
        assert gauge(scrape(api), "gslbd_backend_weight_percent", name, A) == 100
    finally:
        d3.stop()
