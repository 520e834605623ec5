"""A fleet of real gslbd nodes over a real 3-member etcd cluster (docs/fleet.md, issue 14).

Each node probes from its own source address (health.source: 127.0.0.41, .42, .43), so the
test backend can refuse one node only (its `refuse=` state). Zone: web.gslb.test. is failover
between A = 127.0.0.51 (priority 1, HTTP check every 300 ms, rise 2, fall 2) and B = 192.0.2.99
(priority 2, never probed, always up): a node answers A while it believes A is up, else B.
"""
import subprocess
import threading
import time
import uuid

import pytest

import gslbd_test
from gslbd_test import HEALTH_INTERVAL as INTERVAL
from gslbd_test import HttpBackend, addresses, health_defaults, make_query, udp, wait_for

A, B = "127.0.0.51", "192.0.2.99"
FALL = 2
TTL = 3  # lease_ttl of the nodes (s)
SETTLE = INTERVAL * FALL + 1.0  # what the issue allows a move to take


def zone(port):
    return health_defaults(record_ttl=1) + f"""  web.gslb.test.:
    mode: failover
    backends:
      - address: "{A}"
        priority: 1
        healthchecks:
          - type: http
            params: {{port: {port}, uri: /health, timeout: 250ms, expected_code: 200}}
      - address: "{B}"
        priority: 2
"""


def answer(node):
    try:
        return addresses(udp(node, make_query("web.gslb.test.", "A"), timeout=1.0))
    except Exception as e:  # noqa: BLE001 - a timeout is an answer here too
        return repr(e)


def answers(nodes):
    return [answer(n) for n in nodes]


@pytest.fixture
def backend(tmp_path):
    b = HttpBackend(A, tmp_path)
    yield b
    b.stop()


@pytest.fixture
def fleet(etcd, backend, tmp_path):
    """fleet(i, **cluster) -> Daemon: node i (1-based, probing from 127.0.0.4i) of a fleet on
    a fresh key prefix."""
    prefix = f"/gslbd-it-{uuid.uuid4().hex[:8]}/"
    started = []

    def write(i, port, api_port, quorum="majority", role="probe", min_voters=1, endpoints=None,
              probes_per_target=0, override_scope="fleet", name=None, site=None):
        eps = endpoints or etcd.endpoints
        directory = tmp_path / f"node{i}"
        api_text = gslbd_test.api_block(api_port, directory) if api_port else ""
        extra = api_text + f"""health:
  source: 127.0.0.{40 + i}
cluster:
  endpoints: [{", ".join(eps)}]
  prefix: {prefix}
  node: {name or f"node{i}"}
  labels: {{site: {site or f"site{i}"}}}
  lease_ttl: {TTL}s
  role: {role}
  quorum: "{quorum}"
  min_voters: {min_voters}
  probes_per_target: {probes_per_target}
  override_scope: {override_scope}
  timeout: 1s
"""
        return gslbd_test.write_config(directory, port, zone=zone(backend.port), extra=extra)

    def start(i, api=False, keep_state=True, **kw):
        port = gslbd_test.free_port()
        directory = tmp_path / f"node{i}"
        directory.mkdir(parents=True, exist_ok=True)
        if not keep_state and (directory / "state.json").exists():
            (directory / "state.json").unlink()
        api_port = gslbd_test.free_port() if api else None
        path = write(i, port, api_port, **kw)
        d = gslbd_test.Daemon(path, port)
        d.api = gslbd_test.Api(api_port) if api else None
        # rewrite(**kw): the same node's config file with other cluster settings
        d.rewrite = lambda **kw2: write(i, port, api_port, **kw2)
        if api:
            gslbd_test.wait_api(d.api)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.stop()


def probes_from(backend, source):
    try:
        log = (backend.state.parent / (backend.state.name + ".log")).read_text()
    except FileNotFoundError:
        return 0
    return sum(1 for line in log.splitlines() if line.endswith(f"from={source}"))


def steady(nodes, expect, seconds):
    """Every node gives `expect` on every query for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = answers(nodes)
        assert got == [expect] * len(nodes), got
        time.sleep(0.1)


def test_cut_view_majority_keeps_the_backend(fleet, backend):
    nodes = [fleet(i) for i in (1, 2, 3)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    backend.set(status=200, body="ok", refuse="127.0.0.41")  # node 1 cannot reach A
    time.sleep(SETTLE)
    assert probes_from(backend, "127.0.0.41") > 0
    steady(nodes, [A], 2 * SETTLE)


def test_cut_view_rule_all_drops_it_everywhere(fleet, backend):
    nodes = [fleet(i, quorum="all") for i in (1, 2, 3)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    backend.set(status=200, body="ok", refuse="127.0.0.41")
    wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 2, "rule all: everyone drops A")
    steady(nodes, [B], 1.0)


def test_backend_dies_everyone_moves_in_time(fleet, backend):
    nodes = [fleet(i) for i in (1, 2, 3)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    t0 = time.monotonic()
    backend.set(status=503)
    done = wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 3, "everyone moves to B")
    took = done - t0
    print(f"backend death to all nodes moved: {took:.2f} s (allowed {SETTLE:.1f} s + CI slack)")
    assert took < SETTLE + 1.0
    backend.set(status=200)
    wait_for(lambda: answers(nodes), [[A]] * 3, SETTLE + 3, "everyone back to A")


def metric(node, name):
    """Value of an unlabelled sample in node's /metrics (None when absent)."""
    status, text = node.api.get("/metrics")
    assert status == 200, text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_passive_node_answers_like_the_others_and_never_probes(fleet, backend):
    nodes = [fleet(1, api=True), fleet(2), fleet(3, role="passive", api=True)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    backend.set(status=503)
    wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 3, "the passive node follows")
    backend.set(status=200)
    wait_for(lambda: answers(nodes), [[A]] * 3, SETTLE + 3, "and back")
    # its own probe counter says it never probed; a probing node's counter moved
    assert metric(nodes[2], "gslbd_probes_total") == 0
    assert metric(nodes[0], "gslbd_probes_total") > 0
    assert probes_from(backend, "127.0.0.43") == 0
    assert probes_from(backend, "127.0.0.41") > 0


def test_override_scope_node_stays_on_its_node(fleet, backend):
    nodes = [fleet(1, api=True, override_scope="node"), fleet(2, api=True)]
    wait_for(lambda: answers(nodes), [[A]] * 2, 5, "all answer A")
    status, _ = nodes[0].api.post("/api/v1/backends/drain", {"address": A})
    assert status == 200
    wait_for(lambda: answer(nodes[0]), [B], 1.0, "node 1 drains A")
    # longer than a fleet-wide override takes (well under 1 s): node 2 never sees it
    steady(nodes[1:], [A], 1.5)
    _, f = nodes[1].api.get("/api/v1/fleet")
    assert f["connected"], f


def test_cold_start_gives_the_fleets_answer_first(fleet, backend):
    backend.set(status=503)
    nodes = [fleet(1), fleet(2)]
    wait_for(lambda: answers(nodes), [[B]] * 2, SETTLE + 3, "the fleet says A is down")
    late = fleet(3)  # health.start: healthy would answer A until its own probes say otherwise
    assert answer(late) == [B], late.log()


def test_node_killed_its_votes_expire(fleet, backend):
    # rule all: node 1's cut view drops A everywhere, until node 1 dies and its lease expires
    nodes = [fleet(i, quorum="all") for i in (1, 2, 3)]
    backend.set(status=200, body="ok", refuse="127.0.0.41")
    wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 3, "rule all drops A")
    nodes[0].proc.kill()
    nodes[0].proc.wait()
    t0 = time.monotonic()
    done = wait_for(lambda: answers(nodes[1:]), [[A]] * 2, TTL + 3, "votes of node 1 expire")
    assert done - t0 > TTL - 1.5  # waited for the lease, not less
    nodes[0].stop = lambda: ""  # killed on purpose: no clean-exit check


def test_etcd_member_killed_then_all_of_etcd(fleet, backend, etcd):
    nodes = [fleet(i) for i in (1, 2, 3)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    etcd.kill(0)
    try:
        backend.set(status=503)
        wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 3, "one member down: still agree")
        backend.set(status=200)
        wait_for(lambda: answers(nodes), [[A]] * 3, SETTLE + 3, "and back")
    finally:
        etcd.start_member(0)
    for i in range(3):
        etcd.kill(i)
    try:
        backend.set(status=503)  # every node moves on its own verdicts
        wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 3, "etcd gone: own verdicts")
        for n in nodes:
            wait_for(lambda: "fleet: degraded" in n.log(), True, 5, "degraded mode logged")
    finally:
        for i in range(3):
            etcd.start_member(i, wait=False)
        for i in range(3):
            etcd.wait_healthy(i)
    backend.set(status=200, body="ok", refuse="127.0.0.41")
    # back together: node 1's own view says down, the fleet (majority) says up
    wait_for(lambda: answers(nodes), [[A]] * 3, SETTLE + 8, "they rejoin and agree")
    for n in nodes:
        wait_for(lambda: "answering from the fleet's verdicts" in n.log().split("degraded")[-1],
                 True, 5, "rejoined")


def test_drain_on_one_node_reaches_all_and_outlives_restarts(fleet, backend):
    nodes = [fleet(i, api=True) for i in (1, 2, 3)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    t0 = time.monotonic()
    status, _ = nodes[0].api.post("/api/v1/backends/drain", {"address": A})
    assert status == 200
    done = wait_for(lambda: answers(nodes), [[B]] * 3, 3, "drain honoured everywhere")
    print(f"drain on node 1 to all nodes: {done - t0:.2f} s")
    assert done - t0 < 1.0
    # restarts: node 2 keeps its state file, node 3 starts without one (the fleet has it)
    nodes[1].stop()
    nodes[2].stop()
    nodes[1] = fleet(2, api=True)
    assert answer(nodes[1]) == [B]
    nodes[2] = fleet(3, api=True, keep_state=False)
    assert answer(nodes[2]) == [B]
    # and an enable through another node undoes it everywhere
    status, _ = nodes[2].api.post("/api/v1/backends/enable", {"address": A})
    assert status == 200
    wait_for(lambda: answers(nodes), [[A]] * 3, 1.0, "enable honoured everywhere")


def test_seeing_the_fleet_metrics_api_and_gslbctl(fleet, backend):
    nodes = [fleet(1, api=True), fleet(2, api=True), fleet(3, api=True, role="passive")]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")

    def explain_votes():
        status, e = nodes[2].api.get(
            "/api/v1/explain?name=web.gslb.test.&qtype=A&client=127.0.0.1")
        assert status == 200, e
        return e["candidates"][0]["fleet"][0]

    # a vote needs `rise` good rounds in a row first (the start-up assumption is no vote)
    wait_for(lambda: explain_votes()["votes"]["up"], ["node1", "node2"], 3, "both votes")
    status, f = nodes[0].api.get("/api/v1/fleet")
    assert status == 200
    assert [m["name"] for m in f["members"]] == ["node1", "node2", "node3"]
    assert {m["name"]: m["role"] for m in f["members"]}["node3"] == "passive"
    assert f["connected"] and not f["degraded"]
    assert f["divergent_configs"] == 2  # every node's main file differs (ports, source)
    _, m = nodes[0].api.get("/metrics")
    for line in ("gslbd_fleet_etcd_connected 1", "gslbd_fleet_degraded 0",
                 'gslbd_fleet_members{role="probe"} 2', 'gslbd_fleet_members{role="passive"} 1',
                 'gslbd_fleet_votes{verdict="up"} 1', 'gslbd_fleet_verdicts{verdict="up"} 1'):
        assert line in m, line
    r = subprocess.run([gslbd_test.gslbctl_bin(), "--api", nodes[1].api.base, "--token",
                        gslbd_test.TOKEN, "fleet"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "node2 (this)" in r.stdout and "* node3" in r.stdout, r.stdout
    status, _ = nodes[2].api.get("/api/v1/fleet")
    assert status == 200
    _, st = nodes[0].api.get("/api/v1/status")
    assert st["fleet"]["node"] == "node1" and st["fleet"]["degraded"] is False, st["fleet"]

    votes = explain_votes()
    assert (votes["fleet"], votes["rule"], votes["decided_by"]) == ("up", "majority", "fleet")


def test_probe_sharing_one_prober_per_target(fleet, backend):
    nodes = [fleet(i, probes_per_target=1) for i in (1, 2, 3)]
    wait_for(lambda: answers(nodes), [[A]] * 3, 5, "all answer A")
    time.sleep(2 * INTERVAL)
    log = backend.state.parent / (backend.state.name + ".log")
    log.write_text("")
    time.sleep(5 * INTERVAL)
    sources = {line.rsplit("from=", 1)[1] for line in log.read_text().splitlines()}
    assert len(sources) == 1, sources  # one node probes it, the others rest
    backend.set(status=503)
    wait_for(lambda: answers(nodes), [[B]] * 3, SETTLE + 3, "one view is enough with k=1")


def members(node):
    status, f = node.api.get("/api/v1/fleet")
    assert status == 200, f
    return {m["name"]: m for m in f["members"]}


def test_reload_applies_a_changed_cluster_block_and_counts_generations(fleet, backend):
    nodes = [fleet(1, api=True), fleet(2, api=True)]
    wait_for(lambda: answers(nodes), [[A]] * 2, 5, "all answer A")
    # generation: configurations loaded by the process, 1 at start, seen fleet-wide
    wait_for(lambda: {n: m["generation"] for n, m in members(nodes[1]).items()},
             {"node1": 1, "node2": 1}, 3, "generation 1 everywhere")
    status, body = nodes[0].api.post("/api/v1/reload")
    assert status == 200, body
    wait_for(lambda: members(nodes[1])["node1"]["generation"], 2, 2, "a reload counts")
    r = subprocess.run([gslbd_test.gslbctl_bin(), "--api", nodes[1].api.base, "--token",
                        gslbd_test.TOKEN, "fleet"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "GEN" in r.stdout, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if " node1 " in f" {ln} ")
    assert " 2 " in line, r.stdout

    # a changed cluster block (new name, new label) is applied by a reload, no query lost
    nodes[0].rewrite(name="node1b", site="elsewhere")
    lost, stop = [], threading.Event()

    def query():
        while not stop.is_set():
            got = answer(nodes[0])
            if got != [A]:
                lost.append(got)
            time.sleep(0.005)

    t = threading.Thread(target=query)
    t.start()
    try:
        status, body = nodes[0].api.post("/api/v1/reload")
    finally:
        time.sleep(0.3)
        stop.set()
        t.join()
    assert status == 200, body
    assert lost == [], lost[:5]
    # the old name left at once (lease revoked), the new one is a member with its new label
    wait_for(lambda: sorted(members(nodes[1])), ["node1b", "node2"], 2, "node1 renamed")
    wait_for(lambda: members(nodes[1])["node1b"]["generation"], 3, 2, "generation 3")
    assert members(nodes[1])["node1b"]["labels"] == {"site": "elsewhere"}
    _, f = nodes[0].api.get("/api/v1/fleet")
    assert f["node"] == "node1b" and f["connected"] and not f["degraded"], f
    assert "the cluster block changed: joining as node node1b" in nodes[0].log()
    # the fleet still works through the renamed node: its drain reaches node 2
    status, _ = nodes[0].api.post("/api/v1/backends/drain", {"address": A})
    assert status == 200
    wait_for(lambda: answers(nodes), [[B]] * 2, 1.0, "drain through the renamed node")

    # a change of role needs a restart: the reload is refused and says so
    nodes[0].rewrite(name="node1b", site="elsewhere", role="passive")
    status, body = nodes[0].api.post("/api/v1/reload")
    assert status == 422 and "cluster.role" in body["error"] and "restart" in body["error"], body
    assert members(nodes[1])["node1b"]["role"] == "probe"
    assert answer(nodes[0]) == [B]


def live_shifts(node):
    status, listed = node.api.get("/api/v1/shift")
    assert status == 200, listed
    return [(s["uid"], s["state"], s["steps_taken"]) for s in listed["shifts"]
            if s["state"] in ("running", "paused", "holding")]


def test_shift_on_one_node_is_followed_by_the_fleet_paused_resumed_aborted(fleet, backend):
    """docs/fleet.md "Shifts": a shift started on node 1 is followed by node 2 (pause and
    resume from either node, a restart without a state file picks it up), abort restores
    everywhere. web.gslb.test. is failover: the step that moves 100 % drains A everywhere."""
    nodes = [fleet(1, api=True), fleet(2, api=True)]
    wait_for(lambda: answers(nodes), [[A]] * 2, 5, "all answer A")
    status, s = nodes[0].api.post("/api/v1/shift", {"address": A, "share": 100, "step": 50,
                                                    "interval": "3s"})
    assert status == 200, s
    uid, sid = s["uid"], s["id"]
    wait_for(lambda: live_shifts(nodes[1]), [(uid, "running", 1)], 1.0, "node 2 follows")
    status, s = nodes[0].api.post(f"/api/v1/shift/{sid}/pause")
    assert status == 200 and s["state"] == "paused", s
    wait_for(lambda: live_shifts(nodes[1]), [(uid, "paused", 1)], 1.0, "node 2 pauses")
    # resumed through node 2 (its own id for the shift): node 1 follows
    sid2 = next(x["id"] for x in nodes[1].api.get("/api/v1/shift")[1]["shifts"]
                if x["uid"] == uid)
    status, s = nodes[1].api.post(f"/api/v1/shift/{sid2}/resume")
    assert status == 200 and s["state"] == "running", s
    wait_for(lambda: live_shifts(nodes[0]), [(uid, "running", 1)], 1.0, "node 1 resumes")
    # the second step (100 %) drains A on both nodes
    wait_for(lambda: answers(nodes), [[B]] * 2, 5.0, "the last step on every node")
    # node 2 restarts without its state file: the fleet gives it the shift before it serves
    nodes[1].stop()
    nodes[1] = fleet(2, api=True, keep_state=False)
    assert answer(nodes[1]) == [B], nodes[1].log()
    assert [x[0] for x in live_shifts(nodes[1])] == [uid]
    # aborted on node 1: restored everywhere within a second
    t0 = time.monotonic()
    status, s = nodes[0].api.post(f"/api/v1/shift/{sid}/abort")
    assert status == 200 and s["state"] == "aborted", s
    done = wait_for(lambda: answers(nodes), [[A]] * 2, 3.0, "abort restores every node")
    assert done - t0 < 1.0, done - t0
    assert live_shifts(nodes[1]) == []
