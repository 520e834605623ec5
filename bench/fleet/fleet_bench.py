#!/usr/bin/python3
"""Fleet benchmark (issue 14): simulated voters x targets against a real 3-member etcd.

Each simulated node is one tests/integration/fleet_tool process (the real fleet agent of
lib/cluster, without the daemon). For NODES nodes and TARGETS targets:
  1. every node votes up on every target; measured: time until every node sees every target
     up (cold fill), etcd transactions and revision growth;
  2. a majority of the nodes flip every target to down at once; measured: time from the flip
     until every node's fleet verdict of every target is down (convergence; p50/p99 over
     nodes), etcd writes per second during it;
  3. steady state with one target flapping per 10 s interval per node is not simulated;
     instead the CPU of one node (user + system of its process) over the whole run and over
     a quiet 10 s window is reported.
Writes OUT/fleet.json and OUT/fleet.md.

Usage: bench/fleet/fleet_bench.py FLEET_TOOL [--nodes 10] [--targets 30000] [--out DIR]
(needs /usr/bin/etcd: scripts/setup.sh installs etcd-server)
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from etcd_cluster import EtcdCluster  # noqa: E402


class Node:
    def __init__(self, tool, name, endpoints, prefix):
        self.proc = subprocess.Popen(
            [tool, "--node", name, "--endpoints", ",".join(endpoints), "--prefix", prefix,
             "--ttl", "10"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def cpu(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def quit(self):
        self.cmd("quit")
        self.proc.wait(timeout=10)


def wait_all(nodes, key, want, timeout):
    """Per node: seconds until count()[key] == want (None when not within timeout)."""
    t0 = time.monotonic()
    done = [None] * len(nodes)
    while time.monotonic() - t0 < timeout and None in done:
        for i, n in enumerate(nodes):
            if done[i] is None and n.cmd("count")[key] == want:
                done[i] = time.monotonic() - t0
        time.sleep(0.01)
    return done


def pct(values, p):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--targets", type=int, default=30000)
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    etcd = EtcdCluster()
    prefix = f"/bench-{uuid.uuid4().hex[:8]}/"
    nodes = []
    try:
        nodes = [Node(a.tool, f"sim{i}", etcd.endpoints, prefix) for i in range(a.nodes)]
        for n in nodes:
            assert n.cmd("wait_synced 10000"), "node did not sync"
        rev0 = etcd.revision()
        t0 = time.monotonic()
        for n in nodes:
            n.cmd(f"votes {a.targets} up")
        fill = wait_all(nodes, "up", a.targets, 300)
        fill_s = time.monotonic() - t0
        rev1 = etcd.revision()
        quiet_cpu0 = nodes[0].cpu()
        time.sleep(10)
        quiet_cpu = (nodes[0].cpu() - quiet_cpu0) / 10
        majority = a.nodes // 2 + 1
        t1 = time.monotonic()
        for n in nodes[:majority]:
            n.cmd(f"votes {a.targets} down")
        flip_sent = time.monotonic() - t1
        conv = wait_all(nodes, "down", a.targets, 300)
        rev2 = etcd.revision()
        counters = nodes[0].cmd("view")["counters"] if a.targets <= 1000 else {}
        total_cpu = nodes[0].cpu()
        result = {
            "machine": {"cpu": platform.processor() or platform.machine(),
                        "cores": os.cpu_count(), "kernel": platform.release()},
            "nodes": a.nodes, "targets": a.targets,
            "fill_seconds": round(fill_s, 3),
            "fill_writes": rev1 - rev0,
            "flip_nodes": majority,
            "flip_send_seconds": round(flip_sent, 3),
            "convergence_p50_seconds": pct(conv, 50),
            "convergence_p99_seconds": pct(conv, 99),
            "convergence_max_seconds": pct(conv, 100),
            "flip_writes": rev2 - rev1,
            "flip_writes_per_second": round((rev2 - rev1) / max(pct(conv, 100) or 1, 1e-3)),
            "node_cpu_quiet_fraction": round(quiet_cpu, 4),
            "node_cpu_total_seconds": round(total_cpu, 2),
            "counters_node0": counters,
        }
    finally:
        for n in nodes:
            try:
                n.quit()
            except Exception:  # noqa: BLE001
                n.proc.kill()
        etcd.stop()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Fleet benchmark: {a.nodes} simulated nodes x {a.targets} targets, 3-member etcd "
          "on loopback", "", "| measure | value |", "| --- | --- |"]
    md += [f"| {k} | {v} |" for k, v in result.items() if k not in ("machine", "counters_node0")]
    md += ["", f"machine: {result['machine']}"]
    (out / "fleet.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
