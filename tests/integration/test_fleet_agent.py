"""The fleet agent (lib/cluster) against a real 3-member etcd cluster, without the daemon:
each node is a tests/integration/fleet_tool process that votes on probe targets, writes
overrides and reports its view. Covers what the daemon's fleet builds on: votes under a lease,
the quorum rule, lease expiry of a dead node, one etcd member lost, all of etcd lost and back,
a watch that resumes after compaction (full resync), fleet-wide overrides, passive members.
"""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from gslbd_test import wait_for

TTL = 3  # lease TTL of the tool nodes, seconds


def tool_bin():
    path = os.environ.get("GSLBD_FLEET_TOOL")
    assert path, "GSLBD_FLEET_TOOL is not set: run the integration tests through `meson test`"
    return path


class Node:
    def __init__(self, name, endpoints, prefix, *args):
        self.name = name
        self.proc = subprocess.Popen(
            [tool_bin(), "--node", name, "--endpoints", ",".join(endpoints), "--prefix", prefix,
             "--ttl", str(TTL), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        assert out, f"fleet_tool {self.name} died: {self.proc.stderr.read()}"
        return json.loads(out)

    def view(self):
        return self.cmd("view")

    def verdict(self, target):
        t = self.view()["targets"].get(target)
        return t["verdict"] if t else None

    def connected(self):
        return self.view()["connected"]

    def quit(self, revoke=True):
        if self.proc.poll() is None:
            self.cmd("quit" if revoke else "quit norevoke")
            self.proc.wait(timeout=10)

    def kill(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def fleet(etcd):
    """fleet(n, *tool_args) -> [Node]: n nodes on a fresh key prefix, all connected."""
    started = []
    prefix = f"/gslbd-test-{uuid.uuid4().hex[:8]}/"

    def start(n, *args, names=None):
        nodes = [Node(names[i] if names else f"n{len(started) + i + 1}", etcd.endpoints, prefix,
                      *args) for i in range(n)]
        started.extend(nodes)
        for node in nodes:
            wait_for(node.connected, True, 10, f"{node.name} did not connect")
        return nodes

    start.prefix = prefix
    yield start
    for node in started:
        if node.proc.poll() is None:
            node.kill()


def all_agree(nodes, target, verdict):
    return all(n.verdict(target) == verdict for n in nodes)


def test_cut_view_majority_and_all(fleet):
    majority = fleet(3)
    majority[0].cmd("vote web down")  # node 1's view is cut
    majority[1].cmd("vote web up")
    majority[2].cmd("vote web up")
    wait_for(lambda: all_agree(majority, "web", "up"), True, 3, "majority keeps the backend")
    t = majority[2].view()["targets"]["web"]
    assert (t["up"], t["down"], t["stale"]) == (2, 1, 0)


def test_rule_all_drops_on_one_down(fleet):
    nodes = fleet(3, "--quorum", "all")
    for n, v in zip(nodes, ["down", "up", "up"]):
        n.cmd(f"vote web {v}")
    wait_for(lambda: all_agree(nodes, "web", "down"), True, 3, "all: one down view drops it")
    nodes[0].cmd("vote web up")
    wait_for(lambda: all_agree(nodes, "web", "up"), True, 3, "all: every view up again")


def test_verdict_change_reaches_everyone_fast(fleet):
    nodes = fleet(3)
    for n in nodes:
        n.cmd("vote db up")
    wait_for(lambda: all_agree(nodes, "db", "up"), True, 3, "initial up")
    start = time.monotonic()
    for n in nodes:
        n.cmd("vote db down")
    done = wait_for(lambda: all_agree(nodes, "db", "down"), True, 3, "dead backend")
    assert done - start < 1.0


def test_killed_node_votes_expire_with_its_lease(fleet):
    nodes = fleet(3, "--min-voters", "3")
    for n in nodes:
        n.cmd("vote app up")
    wait_for(lambda: all_agree(nodes, "app", "up"), True, 3, "3 voters")
    nodes[2].kill()  # no revoke: the lease has to run out
    t0 = time.monotonic()
    wait_for(lambda: nodes[0].verdict("app"), "no_quorum", TTL + 3, "lease expiry")
    assert time.monotonic() - t0 >= TTL - 1.5  # it waited for the lease, not less
    assert "n3" not in nodes[0].view()["members"]


def test_clean_stop_withdraws_at_once(fleet):
    nodes = fleet(2, "--min-voters", "2")
    for n in nodes:
        n.cmd("vote x up")
    wait_for(lambda: nodes[0].verdict("x"), "up", 3, "2 voters")
    nodes[1].quit()
    wait_for(lambda: nodes[0].verdict("x"), "no_quorum", 1.5, "revoked lease")


def test_passive_member_never_votes(fleet):
    probe = fleet(2)
    passive = fleet(1, "--passive")[0]
    passive.cmd("vote web down")  # ignored: passive nodes never vote
    for n in probe:
        n.cmd("vote web up")
    wait_for(lambda: passive.verdict("web"), "up", 3, "passive node sees the fleet verdict")
    time.sleep(0.3)
    t = passive.view()["targets"]["web"]
    assert (t["up"], t["down"]) == (2, 0)
    assert passive.view()["members"]["n3"]["role"] == "passive"
    assert passive.view()["counters"]["votes_written"] == 0


def test_overrides_reach_every_node_and_outlive_them(fleet):
    nodes = fleet(3)
    doc = '{"state":"drain","by":"test"}'
    t0 = time.monotonic()
    nodes[0].cmd(f"override www.gslb.test./192.0.2.1 {doc}")
    for n in nodes:
        wait_for(lambda: n.view()["overrides"].get("www.gslb.test./192.0.2.1"), doc, 1.0,
                 f"override on {n.name}")
    assert time.monotonic() - t0 < 1.0
    for n in nodes:
        n.quit()
    late = fleet(1, names=["late"])[0]  # a node started later still finds it
    assert late.view()["overrides"]["www.gslb.test./192.0.2.1"] == doc
    late.cmd("override www.gslb.test./192.0.2.1 none")
    wait_for(lambda: late.view()["overrides"], {}, 2, "override removed")


def test_probe_sharing_assigns_k_nodes_per_target(fleet):
    nodes = fleet(4, "--probes-per-target", "2")
    for n in nodes:
        n.cmd("votes 200 up")
    for n in nodes:  # every node must know every member and target before we count
        wait_for(lambda: len(n.view()["members"]), 4, 5, f"{n.name} sees 4 members")
        wait_for(lambda: len(n.view()["targets"]), 200, 5, f"{n.name} sees 200 targets")
    counts = {f"t{i}": 0 for i in range(200)}
    views = [n.view() for n in nodes]
    for v in views:
        for t, tv in v["targets"].items():
            if tv["assigned"]:
                counts[t] += 1
    assert set(counts.values()) == {2}, counts
    mine = [sum(1 for tv in v["targets"].values() if tv["assigned"]) for v in views]
    assert all(50 < m < 150 for m in mine), mine


def test_one_etcd_member_killed_changes_nothing(etcd, fleet):
    nodes = fleet(3)
    for n in nodes:
        n.cmd("vote m up")
    wait_for(lambda: all_agree(nodes, "m", "up"), True, 3, "initial")
    etcd.kill(0)
    try:
        for n in nodes:
            n.cmd("vote m down")
        wait_for(lambda: all_agree(nodes, "m", "down"), True, 5, "writes go on with 2 of 3")
        assert all(n.connected() for n in nodes)
    finally:
        etcd.start_member(0)


def test_watch_resumes_after_compaction_with_full_resync(etcd, fleet):
    # `lonely` talks to member 1 only; while member 1 is down the others change the fleet and
    # compact the history, so its watch cannot resume from its revision: it must read again.
    nodes = fleet(2)
    lonely = Node("lonely", [etcd.url(0)], fleet.prefix, "--ttl", "30")
    try:
        wait_for(lonely.connected, True, 10, "lonely connected")
        nodes[0].cmd("vote c up")
        nodes[1].cmd("vote c up")
        wait_for(lambda: lonely.verdict("c"), "up", 3, "lonely sees c up")
        resyncs = lonely.view()["counters"]["resyncs"]
        etcd.kill(0)
        wait_for(lonely.connected, False, 5, "lonely notices etcd is gone")
        nodes[0].cmd("vote c down")
        nodes[1].cmd("vote c down")
        wait_for(lambda: all_agree(nodes, "c", "down"), True, 5, "others move on")
        for i in range(20):
            nodes[0].cmd(f"vote filler{i} up")
        time.sleep(0.5)
        etcd.compact()
        assert lonely.verdict("c") == "up"  # still its last view, it keeps answering
        etcd.start_member(0)
        wait_for(lambda: lonely.verdict("c"), "down", 10, "lonely resynced")
        wait_for(lonely.connected, True, 5, "lonely connected again")
        assert lonely.view()["counters"]["resyncs"] > resyncs
    finally:
        lonely.kill()


def test_all_of_etcd_killed_then_back(etcd, fleet):
    nodes = fleet(3)
    for n in nodes:
        n.cmd("vote z up")
    wait_for(lambda: all_agree(nodes, "z", "up"), True, 3, "initial")
    for i in range(3):
        etcd.kill(i)
    try:
        for n in nodes:
            wait_for(n.connected, False, 5, f"{n.name} notices")
            wait_for(lambda: bool(n.view()["last_error"]), True, 5, f"{n.name} reports why")
            assert n.view()["targets"]["z"]["verdict"] == "up"  # last known fleet view kept
        for n in nodes:
            n.cmd("vote z down")  # queued until etcd is back
    finally:
        for i in range(3):
            etcd.start_member(i, wait=False)
        for i in range(3):
            etcd.wait_healthy(i)
    for n in nodes:
        wait_for(n.connected, True, 10, f"{n.name} rejoins")
    wait_for(lambda: all_agree(nodes, "z", "down"), True, 5, "they agree again")
