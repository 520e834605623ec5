#!/usr/bin/python3
"""Fleet benchmark (issue 14): one real gslbd node and simulated voters x 30,000 targets
against a real 3-member etcd on loopback.

The fleet: NODES nodes in all. Node 0 is a real gslbd (socket mode, 1 worker, no cache) with
RECORDS failover records x 3 backends = 3 x RECORDS probe targets, each an HTTP check every
INTERVAL against bench/health/http_responder (127.x.y.z addresses: every backend a target of
its own). Nodes 1..NODES-1 are simulated voters: tests/integration/fleet_tool processes (the
real fleet agent of lib/cluster, without the daemon) voting on the very target keys gslbd
publishes (read back from etcd).

A second real gslbd, the same configuration without the `cluster:` block ("fleet off"), runs
beside node 0 for the whole run, probing the same targets: every CPU window measures both over
the same seconds, so the difference is the fleet's work even on a machine whose load varies.

Phases:
  A. fleet off: the fleet-off gslbd starts and reaches its steady state (probes only);
  B. fleet on: etcd up, gslbd with a `cluster:` block; once it has voted on every target the
     simulated voters join and vote up on all of them (fill: time, etcd writes);
  C. quiet: CPU of both gslbd over WINDOW seconds with every vote in place (the steady state of a
     fleet whose backends are all well: keepalives, nothing else);
  D. churn + convergence: SAMPLES times, a majority of the simulated voters vote one primary
     target down (then up again), and the time until every node answers it is measured: each
     simulated node's fleet verdict, and gslbd over DNS (the failover record's answer moves
     to the secondary and back). In between, every INTERVAL, CHURN of the targets flip (a
     majority votes them down, then up on the next round): gslbd's CPU over this phase is
     the busy steady state. etcd writes per second and etcd leader changes are counted over
     the phase.
Fleet work of one node = CPU(fleet on) - CPU(fleet off) over the same window, from /proc (whole
process and by thread: gslbd-fleet-rd / -wr / -tk are the fleet's own threads).
etcd runs with its default raft timing (heartbeat 100 ms, election 1 s; the tests use 50/500 ms
to fail over fast), its data under /dev/shm.

Writes OUT/fleet.json and OUT/fleet.md.

Usage: bench/fleet/fleet_bench.py BUILD_DIR [--nodes 10] [--records 10000] [--interval 10]
       [--samples 20] [--window 20] [--churn 0.01] [--out bench/results]
(needs /usr/bin/etcd: scripts/setup.sh installs etcd-server; /usr/bin/python3 with dnspython)
"""
import argparse
import base64
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dns.message
import dns.query

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "tests" / "integration"))
sys.path.insert(0, str(HERE.parents[1] / "health"))
from etcd_cluster import EtcdCluster  # noqa: E402
import health_scale as hs  # noqa: E402  (responder, /proc readers)

NODE0 = "gslbd0"


class Sim:
    """One simulated voter: a fleet_tool process."""

    def __init__(self, tool, name, endpoints, prefix, ttl):
        self.name = name
        self.proc = subprocess.Popen(
            [tool, "--node", name, "--endpoints", ",".join(endpoints), "--prefix", prefix,
             "--ttl", str(ttl), "--timeout", "10000"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def recv(self):
        return json.loads(self.proc.stdout.readline())

    def cmd(self, line):
        self.send(line)
        return self.recv()

    def quit(self):
        try:
            self.cmd("quit")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def zone_text(records, port, interval):
    lines = [f"defaults:\n  scrape_interval: {interval}s\n  scrape_timeout: 2s\nrecords:\n"]
    for i in range(records):
        lines.append(f"  r{i}.scale.test.:\n    mode: failover\n    record_ttl: 1\n"
                     "    backends:\n")
        for j in range(3):
            lines.append(hs.backend(address(i * 3 + j), port, j + 1, interval))
    return "".join(lines)


def address(n):
    return f"127.{1 + n // 62500}.{(n // 250) % 250}.{n % 250 + 1}"


def main_config(port, cluster):
    return f"""listen:
  - {{address: 127.0.0.1, port: {port}, tcp: false}}
workers: 1
log_level: info
api:
  listen: "off"
cache:
  entries: 0
health:
  rise: 1
{cluster}zones:
  - name: scale.test.
    policy: zone.yml
    ns:
      - name: ns1.scale.test.
        addresses: [127.0.0.1]
"""


def cluster_block(endpoints, prefix, ttl):
    return f"""cluster:
  endpoints: [{", ".join(endpoints)}]
  prefix: {prefix}
  node: {NODE0}
  lease_ttl: {ttl}s
  quorum: majority
  timeout: 2s
"""


class Gslbd:
    def __init__(self, binary, directory, records, http_port, interval, cluster=""):
        self.dir = directory
        self.port = hs.free_port(socket.SOCK_DGRAM)
        (directory / "zone.yml").write_text(zone_text(records, http_port, interval))
        cfg = directory / "gslbd.yml"
        cfg.write_text(main_config(self.port, cluster))
        self.log = directory / "gslbd.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([binary, "--config", str(cfg)], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gslbd exited: {self.log.read_text()}")
            if self.answer(0) is not None:
                return
            time.sleep(0.05)
        raise SystemExit("gslbd did not start")

    def answer(self, record):
        q = dns.message.make_query(f"r{record}.scale.test.", "A")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.5)
        except Exception:  # noqa: BLE001
            return None
        return [rd.address for rr in r.answer for rd in rr]

    def threads(self):
        return hs.thread_cpu(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def cpu_window(nodes, seconds, during=None):
    """CPU % of each gslbd in `nodes` (whole process and per thread) over the same `seconds`;
    `during(deadline)` runs meanwhile (else sleep)."""
    th0, t0 = [g.threads() for g in nodes], time.monotonic()
    if during:
        during(t0 + seconds)
    while time.monotonic() < t0 + seconds:
        time.sleep(min(0.5, t0 + seconds - time.monotonic()))
    th1, t1 = [g.threads() for g in nodes], time.monotonic()
    out = []
    for a, b in zip(th0, th1):
        per = {k: round(100 * (b.get(k, 0) - a.get(k, 0)) / (t1 - t0), 2) for k in b}
        out.append({"seconds": round(t1 - t0, 1), "cpu_percent": round(sum(per.values()), 2),
                    "by_thread": per})
    return out


def etcd_cpu(etcd):
    """CPU seconds used so far by the live etcd members together."""
    tck, total = os.sysconf("SC_CLK_TCK"), 0.0
    for m in etcd.members:
        if m["proc"] is None or m["proc"].poll() is not None:
            continue
        with open(f"/proc/{m['proc'].pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        total += (int(parts[11]) + int(parts[12])) / tck
    return total


def etcd_count(etcd, prefix):
    try:
        return _etcd_count(etcd, prefix)
    except AssertionError:  # a busy etcd: ask again
        return 0


def _etcd_count(etcd, prefix):
    key = base64.b64encode(prefix.encode()).decode()
    end = bytearray(prefix.encode())
    end[-1] += 1
    r = etcd.call("/v3/kv/range", {"key": key, "range_end": base64.b64encode(bytes(end)).decode(),
                                   "count_only": True})
    return int(r.get("count", 0))


def etcd_keys(etcd, prefix):
    key = base64.b64encode(prefix.encode()).decode()
    end = bytearray(prefix.encode())
    end[-1] += 1
    r = etcd.call("/v3/kv/range", {"key": key, "range_end": base64.b64encode(bytes(end)).decode(),
                                   "keys_only": True})
    return [base64.b64decode(kv["key"]).decode() for kv in r.get("kvs", [])]


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    return round(v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))], 4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--window", type=float, default=20)
    ap.add_argument("--churn", type=float, default=0.01)
    ap.add_argument("--ttl", type=int, default=10)
    ap.add_argument("--etcd-members", type=int, default=3)
    ap.add_argument("--etcd-heartbeat-ms", type=int, default=100)
    ap.add_argument("--etcd-election-ms", type=int, default=1000)
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    binary = str(build / "apps" / "gslbd" / "gslbd")
    tool = str(build / "tests" / "integration" / "fleet_tool")
    hs.RESPONDER = str(build / "bench" / "health" / "http_responder")
    hs.raise_nofile()
    targets = 3 * a.records
    sims_n = a.nodes - 1
    majority = a.nodes // 2 + 1  # down votes needed: a tie keeps the target up
    result = {"machine": {"cpu": next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                                       if ln.startswith("model name")), platform.machine()),
                          "cores": os.cpu_count(), "kernel": platform.release(),
                          "loadavg_start": open("/proc/loadavg").read().split()[:3],
                          "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())},
              "nodes": a.nodes, "real_gslbd_nodes": 1, "simulated_nodes": sims_n,
              "targets": targets, "interval_s": a.interval, "etcd_members": a.etcd_members}
    http = hs.HttpCounter(hs.free_port())
    tmp = Path(tempfile.mkdtemp(prefix="gslbd-fleet-bench-"))
    result["etcd_timing_ms"] = {"heartbeat": a.etcd_heartbeat_ms,
                                "election": a.etcd_election_ms}
    etcd, g, g_off, sims = None, None, None, []
    try:
        # A. fleet off: stays up beside node 0 for the whole run
        (tmp / "off").mkdir()
        g_off = Gslbd(binary, tmp / "off", a.records, http.port, a.interval)

        # B. fleet on: gslbd votes first, then the simulated voters join on its target keys
        etcd = EtcdCluster(size=a.etcd_members, heartbeat_ms=a.etcd_heartbeat_ms,
                           election_ms=a.etcd_election_ms)
        prefix = f"/bench-{uuid.uuid4().hex[:8]}/"
        (tmp / "on").mkdir()
        g = Gslbd(binary, tmp / "on", a.records, http.port, a.interval,
                  cluster_block(etcd.endpoints, prefix, a.ttl))
        t0 = time.monotonic()
        while etcd_count(etcd, prefix + "votes/") < targets:
            if time.monotonic() - t0 > 3 * a.interval + 30:
                raise SystemExit(f"gslbd voted on {etcd_count(etcd, prefix + 'votes/')} of "
                                 f"{targets} targets")
            time.sleep(0.5)
        result["gslbd_votes_all_s"] = round(time.monotonic() - t0, 1)
        keys = [k[len(prefix + "votes/"):-len("/" + NODE0)]
                for k in etcd_keys(etcd, prefix + "votes/") if k.endswith("/" + NODE0)]
        by_target = set(keys)
        # target order = backend order: record i's backends are targets 3i, 3i+1, 3i+2
        by_address = {k.split("|", 1)[0]: k for k in keys}
        ordered = [by_address[address(n)] for n in range(targets)]
        assert len(ordered) == targets == len(by_target), (len(ordered), len(by_target))
        (tmp / "targets.txt").write_text("\n".join(ordered) + "\n")
        sims = [Sim(tool, f"sim{i}", etcd.endpoints, prefix, a.ttl) for i in range(1, a.nodes)]
        for s in sims:
            assert s.cmd("wait_synced 120000"), f"{s.name} did not sync within 120 s"
            assert s.cmd(f"load {tmp / 'targets.txt'}") == targets
        rev0, t0 = etcd.revision(), time.monotonic()
        # one voter after the other (a first round of 30,000 votes is 235 transactions; nine
        # at once swamp a small etcd), then every node must see every target up
        for s in sims:
            s.cmd(f"votes {targets} up")
            while s.cmd("count")["votes_written"] < targets:
                time.sleep(0.05)
        while True:
            counts = [s.cmd(f"verdicts 0 {targets}") for s in sims]
            if all(c["up"] == targets for c in counts):
                break
            if time.monotonic() - t0 > 300:
                raise SystemExit(f"fill did not converge: {counts}")
            time.sleep(0.05)
        # every sim sees all up; wait until every sim has written all its votes
        while min(s.cmd("count")["votes_written"] for s in sims) < targets:
            time.sleep(0.1)
        fill_s = time.monotonic() - t0
        rev1 = etcd.revision()
        result["fill"] = {"seconds": round(fill_s, 2), "etcd_revisions": rev1 - rev0,
                          "votes": sims_n * targets,
                          "votes_per_second": round(sims_n * targets / fill_s),
                          "transactions_per_second": round((rev1 - rev0) / fill_s, 1)}
        print("fill:", result["fill"], flush=True)
        time.sleep(2)

        # C. quiet
        result["fleet_on_quiet"], result["fleet_off_quiet"] = cpu_window([g, g_off], a.window)
        print("quiet:", result["fleet_on_quiet"], "off:", result["fleet_off_quiet"], flush=True)

        # D. churn + convergence samples
        down_sims = sims[:majority]
        churn_n = max(1, int(targets * a.churn))
        churn_state = {"next": time.monotonic(), "first": None, "last": None}
        conv_sims, conv_gslbd, conv_all = [], [], []
        slow = []  # (convergence, seconds since the last churn batch was sent)

        def churn_tick():
            now = time.monotonic()
            if now < churn_state["next"]:
                return
            churn_state["next"] = now + a.interval
            churn_state["last"] = now
            if churn_state["first"] is not None:  # last round's batch comes back up
                for s in down_sims:
                    s.cmd(f"setvotes up {churn_state['first']} {churn_n}")
                churn_state["first"] = None
            else:  # a batch from the secondaries and tertiaries (records' answers stay)
                first = 3 * a.records // 2 + (int(now) % 1000) * 3
                first = min(first, targets - churn_n)
                for s in down_sims:
                    s.cmd(f"setvotes down {first} {churn_n}")
                churn_state["first"] = first

        def sample(record, want_down):
            """Flip record's primary target; seconds until each node answers it."""
            t = 3 * record
            want = [address(t + 1)] if want_down else [address(t)]
            verdict = "down" if want_down else "up"
            t0 = time.monotonic()
            for s in down_sims:
                s.cmd(f"setvotes {verdict} {t} 1")
            pending = set(range(len(sims)))
            got = {}
            g_done = None
            while (pending or g_done is None) and time.monotonic() - t0 < 30:
                for i in list(pending):
                    if sims[i].cmd(f"verdicts {t} 1")[verdict] == 1:
                        got[i] = time.monotonic() - t0
                        pending.discard(i)
                if g_done is None and g.answer(record) == want:
                    g_done = time.monotonic() - t0
                time.sleep(0.002)
            if pending or g_done is None:
                raise SystemExit(f"record {record} not converged: sims {pending}, gslbd {g_done}")
            conv_sims.extend(got.values())
            conv_gslbd.append(g_done)
            conv_all.append(max(max(got.values()), g_done))
            last = churn_state["last"]
            slow.append((round(conv_all[-1], 4),
                         None if last is None else round(t0 - last, 3)))

        def run_samples(deadline):
            i = 0
            while i < a.samples or time.monotonic() < deadline:
                churn_tick()
                record = (i * 7919) % (a.records // 2)  # primaries of the first half
                sample(record, True)
                churn_tick()
                sample(record, False)
                i += 1
                time.sleep(0.2)

        rev2, t2, lc2 = etcd.revision(), time.monotonic(), etcd.leader_changes()
        cpu2 = etcd_cpu(etcd)
        result["fleet_on_churn"], result["fleet_off_churn"] = cpu_window([g, g_off], a.window,
                                                                         run_samples)
        t3 = time.monotonic()
        rev3, lc3, cpu3 = etcd.revision(), etcd.leader_changes(), etcd_cpu(etcd)
        result["churn"] = {"targets_per_round": churn_n,
                           "etcd_writes_per_second": round((rev3 - rev2) / (t3 - t2), 1),
                           "etcd_leader_changes": lc3 - lc2,
                           "etcd_cpu_percent": round(100 * (cpu3 - cpu2) / (t3 - t2), 1),
                           "seconds": round(t3 - t2, 1)}
        print("churn:", result["fleet_on_churn"], "off:", result["fleet_off_churn"],
              result["churn"], flush=True)
        result["convergence"] = {
            "samples": len(conv_gslbd), "flipping_voters": majority,
            "all_nodes_p50_s": pct(conv_all, 50), "all_nodes_p99_s": pct(conv_all, 99),
            "all_nodes_max_s": pct(conv_all, 100),
            "gslbd_dns_p50_s": pct(conv_gslbd, 50), "gslbd_dns_p99_s": pct(conv_gslbd, 99),
            "gslbd_dns_max_s": pct(conv_gslbd, 100),
            "simulated_p50_s": pct(conv_sims, 50), "simulated_p99_s": pct(conv_sims, 99),
            "all_nodes_sorted_s": sorted(round(x, 4) for x in conv_all),
            "slowest_with_seconds_after_churn_batch": sorted(slow, reverse=True)[:5]}
        print("convergence:", result["convergence"], flush=True)
        result["fleet_work_cpu_percent"] = {
            "quiet": round(result["fleet_on_quiet"]["cpu_percent"]
                           - result["fleet_off_quiet"]["cpu_percent"], 2),
            "churn": round(result["fleet_on_churn"]["cpu_percent"]
                           - result["fleet_off_churn"]["cpu_percent"], 2),
            "fleet_threads_quiet": round(sum(v for k, v in result["fleet_on_quiet"]["by_thread"]
                                             .items() if k.startswith("gslbd-fleet")), 2),
            "fleet_threads_churn": round(sum(v for k, v in result["fleet_on_churn"]["by_thread"]
                                             .items() if k.startswith("gslbd-fleet")), 2)}
        c = result["convergence"]
        result["goals"] = {"p99_convergence_le_1s": c["all_nodes_p99_s"] <= 1.0,
                           "fleet_work_lt_5pct": result["fleet_work_cpu_percent"]["churn"] < 5.0}
        result["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    finally:
        for s in sims:
            s.quit()
        for node in (g, g_off):
            if node is not None:
                node.stop()
        if etcd is not None:
            etcd.stop()
        http.stop()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "fleet.md").write_text(markdown(result) + "\n")
    print(markdown(result))


def markdown(r):
    c, w = r["convergence"], r["fleet_work_cpu_percent"]
    return "\n".join([
        f"# Fleet benchmark: {r['nodes']} nodes ({r['real_gslbd_nodes']} real gslbd + "
        f"{r['simulated_nodes']} simulated voters) x {r['targets']} targets, "
        f"{r['interval_s']} s interval, {r['etcd_members']}-member etcd on loopback",
        "",
        f"Run `bench/fleet/fleet_bench.py build --etcd-members {r['etcd_members']}` "
        f"({r['machine']['date']}, "
        f"{r['machine']['cpu']}, {r['machine']['cores']} cores, load average "
        f"{' '.join(r['machine']['loadavg_start'])} at start, "
        f"{' '.join(r['machine'].get('loadavg_end', []))} at end: a shared machine).",
        "",
        "| measure | value | goal |",
        "| --- | --- | --- |",
        f"| convergence, every node (p50 / p99 / max) | {c['all_nodes_p50_s']} / "
        f"{c['all_nodes_p99_s']} / {c['all_nodes_max_s']} s over {c['samples']} flips | "
        "p99 <= 1 s |",
        f"| convergence, gslbd answering over DNS (p50 / p99 / max) | {c['gslbd_dns_p50_s']} / "
        f"{c['gslbd_dns_p99_s']} / {c['gslbd_dns_max_s']} s | |",
        f"| convergence, simulated nodes (p50 / p99) | {c['simulated_p50_s']} / "
        f"{c['simulated_p99_s']} s | |",
        f"| etcd leader changes during the flips (raft heartbeat / election "
        f"{r['etcd_timing_ms']['heartbeat']} / {r['etcd_timing_ms']['election']} ms) | "
        f"{r['churn']['etcd_leader_changes']} | |",
        f"| the 5 slowest flips: (seconds, seconds since a churn batch of "
        f"{r['churn']['targets_per_round']} targets x {c['flipping_voters']} voters was sent) | "
        + ", ".join(f"({x}, {y})" for x, y in c["slowest_with_seconds_after_churn_batch"])
        + " | |",
        f"| gslbd CPU, quiet: fleet on / fleet off (same window) | "
        f"{r['fleet_on_quiet']['cpu_percent']} / {r['fleet_off_quiet']['cpu_percent']} % | |",
        f"| gslbd CPU, churn ({r['churn']['targets_per_round']} targets per "
        f"interval + the flips): fleet on / fleet off (same window) | "
        f"{r['fleet_on_churn']['cpu_percent']} / {r['fleet_off_churn']['cpu_percent']} % | |",
        f"| fleet work (on - off), quiet / churn | {w['quiet']} / {w['churn']} % of a core | "
        "< 5 % |",
        f"| fleet threads alone, quiet / churn | {w['fleet_threads_quiet']} / "
        f"{w['fleet_threads_churn']} % | |",
        f"| etcd writes (revisions: transactions) per second, churn | "
        f"{r['churn']['etcd_writes_per_second']} | |",
        f"| etcd CPU (all {r['etcd_members']} members), churn | "
        f"{r['churn']['etcd_cpu_percent']} % of a core | |",
        f"| fill: {r['fill']['votes']} votes of the simulated voters, one after the other | "
        f"{r['fill']['seconds']} s, {r['fill']['etcd_revisions']} etcd revisions "
        f"(transactions of <= 128 votes), {r['fill']['votes_per_second']} votes/s | |",
        "",
        "Per thread (% of a core), fleet on: quiet " +
        json.dumps(r["fleet_on_quiet"]["by_thread"]) +
        "; churn " + json.dumps(r["fleet_on_churn"]["by_thread"]) +
        ". Fleet off: quiet " + json.dumps(r["fleet_off_quiet"]["by_thread"]) +
        "; churn " + json.dumps(r["fleet_off_churn"]["by_thread"]),
    ])


if __name__ == "__main__":
    main()
