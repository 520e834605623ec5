#!/usr/bin/python3
"""Probe-scale and failover-delay benchmark for gslbd's health monitor (issue 3).

1. Scale: for each run TARGETS:MODE of --runs, TARGETS/3 records x 3 backends, each backend
   with an HTTP check every INTERVAL against local servers (bench/health/http_responder, a
   one-thread epoll C++ responder bound to 0.0.0.0 and reached at 127.x.y.z: every backend is
   a distinct probe target). MODE `close`: a fresh connection per probe (the responder closes
   after each answer); `keep`: the checks say `keepalive: true` and the responder keeps
   connections (HTTP/1.1 keep-alive). Reports gslbd's CPU % (whole process and the health
   thread alone, each split into user and kernel time from /proc) and resident memory in
   steady state after the first interval, the probe rate and the new connections the
   responder saw, the start-up time and main-thread CPU until the first DNS answer, and how
   long SIGTERM takes.
2. Failover delay: one failover record whose primary's HTTP server is stopped; reports
   the time from the stop to the first DNS answer without it, against interval x fall.

Usage: health_scale.py GSLBD_BIN [--runs 30000:close,10000:keep,30000:keep] [--interval S]
                       [--seconds S] [--json OUT] [--skip-failover]
                       [--responder PATH]  (default: <build>/bench/health/http_responder)
As root the hard RLIMIT_NOFILE is raised too (one descriptor per kept connection on each
side; gslbd's connection cache holds up to half its limit). All traffic stays on 127.0.0.0/8.
"""
import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RESPONDER = None  # path of bench/health/http_responder, set in main()


def raise_nofile(want):
    """Soft RLIMIT_NOFILE -> hard limit, the hard limit to `want` when allowed (root); both
    are inherited by the responder and gslbd."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            print(f"health_scale: cannot raise the nofile hard limit {hard} to {want} "
                  "(not root?): keepalive runs will reconnect", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class HttpCounter:
    """The C++ responder (200 "ok"; mode close or keep) as a child process."""

    def __init__(self, port, host="0.0.0.0", mode="close"):
        self.port, self.host, self.stopped = port, host, False
        self.proc = subprocess.Popen([RESPONDER, host, str(port), mode], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"http_responder did not start on {host}:{port}")

    def ask(self, what):
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    @property
    def requests(self):
        return self.ask("count")

    @property
    def connections(self):
        return self.ask("conns")

    def cpu_seconds(self):
        return proc_cpu_seconds(self.proc.pid)

    def cpu_split(self):
        return proc_cpu_split(self.proc.pid)

    def stop(self):
        """SIGKILL: the listening socket disappears at once, new connects are refused."""
        if not self.stopped:
            self.proc.kill()
            self.proc.wait(5)
            self.stopped = True


BATCH_WINDOW = None  # --batch-window: health.batch_window in ms (None: gslbd's default)


def main_config(port, zone_file):
    health = "" if BATCH_WINDOW is None else f"health:\n  batch_window: {BATCH_WINDOW}ms\n"
    return f"""listen:
  - {{address: 127.0.0.1, port: {port}, tcp: false}}
workers: 1
log_level: warn
{health}cache:
  entries: 0
zones:
  - name: scale.test.
    policy: {zone_file}
    ns:
      - name: ns1.scale.test.
        addresses: [127.0.0.1]
"""


def backend(addr, port, prio, interval, keepalive=False):
    ka = ", keepalive: true" if keepalive else ""
    return f"""      - address: "{addr}"
        priority: {prio}
        healthchecks:
          - type: http
            params: {{port: {port}, uri: /health, timeout: 2s{ka}}}
"""


def proc_cpu_split(pid, tid=None):
    """(user, kernel) CPU seconds of a process (or one of its threads) from /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(parts[11]) / tck, int(parts[12]) / tck


def proc_cpu_seconds(pid):
    return sum(proc_cpu_split(pid))


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def thread_wakeups(pid, name="gslbd-health"):
    """Voluntary context switches of the threads called `name`: how often they slept and were
    woken (each return from epoll_wait after a sleep is one)."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                n += next(int(l.split()[1]) for l in f if l.startswith("voluntary_ctxt_switches"))
        except (OSError, StopIteration):
            continue
    return n


def thread_cpu(pid, split=False):
    """{thread name: CPU seconds} (threads of one name summed); split: (user, kernel)."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        if int(tid) == pid:
            name = "main"
        parts = st.rsplit(")", 1)[1].split()
        u, k = int(parts[11]) / tck, int(parts[12]) / tck
        if split:
            pu, pk = out.get(name, (0.0, 0.0))
            out[name] = (pu + u, pk + k)
        else:
            out[name] = out.get(name, 0.0) + u + k
    return out


def start_gslbd(binary, directory, zone_text, client=None):
    port = free_port(socket.SOCK_DGRAM)
    (directory / "zone.yml").write_text(zone_text)
    cfg = directory / "gslbd.yml"
    cfg.write_text(main_config(port, "zone.yml"))
    log = open(directory / "gslbd.log", "wb")
    t0 = time.monotonic()
    env = dict(os.environ)
    env.pop("GSLBD_HTTP_CLIENT", None)
    if client == "curl":
        env["GSLBD_HTTP_CLIENT"] = "curl"  # every http check on libcurl (the former client)
    proc = subprocess.Popen([binary, "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    q = dns.message.make_query("ns1.scale.test.", "A")
    for _ in range(6000):
        if proc.poll() is not None:
            raise SystemExit(f"gslbd exited: {(directory / 'gslbd.log').read_text()}")
        try:
            dns.query.udp(q, "127.0.0.1", port=port, timeout=0.2)
            proc.startup_s = time.monotonic() - t0
            proc.startup_cpu = thread_cpu(proc.pid).get("main", 0.0)
            return proc, port
        except Exception:
            time.sleep(0.02)
    raise SystemExit("gslbd did not start")


def scale(binary, targets, mode, interval, seconds, client="native"):
    records = (targets + 2) // 3
    keep = mode == "keep"
    http_port = free_port()
    srv = HttpCounter(http_port, mode=mode)
    lines = [f"defaults:\n  scrape_interval: {interval}s\n  scrape_timeout: 2s\nrecords:\n"]
    for i in range(records):
        lines.append(f"  r{i}.scale.test.:\n    mode: failover\n    backends:\n")
        for j in range(3):
            n = i * 3 + j
            addr = f"127.{1 + n // 62500}.{(n // 250) % 250}.{n % 250 + 1}"  # distinct targets
            lines.append(backend(addr, http_port, j + 1, interval, keep))
    with tempfile.TemporaryDirectory() as d:
        proc, _ = start_gslbd(binary, Path(d), "".join(lines), client)
        # the first interval staggers the first probes (and opens the kept connections):
        # measure in steady state after it
        time.sleep(interval + 2)
        load0 = os.getloadavg()
        c0, r0, t0 = proc_cpu_split(proc.pid), srv.requests, time.monotonic()
        th0, s0, n0 = thread_cpu(proc.pid, True), srv.cpu_split(), srv.connections
        w0 = thread_wakeups(proc.pid)
        rss_samples = []
        while time.monotonic() - t0 < seconds:
            time.sleep(min(1.0, seconds - (time.monotonic() - t0)))
            rss_samples.append(proc_rss_mb(proc.pid))
        c1, r1, t1 = proc_cpu_split(proc.pid), srv.requests, time.monotonic()
        th1, s1, n1 = thread_cpu(proc.pid, True), srv.cpu_split(), srv.connections
        w1 = thread_wakeups(proc.pid)
        load1 = os.getloadavg()
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        ts = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutdown = time.monotonic() - ts
    srv.stop()
    span = t1 - t0
    pct = lambda a, b: round(100 * (b - a) / span, 2)

    def split(a, b):
        return {"user": pct(a[0], b[0]), "kernel": pct(a[1], b[1]),
                "total": pct(a[0] + a[1], b[0] + b[1])}

    threads = {k: split(th0.get(k, (0, 0)), th1[k]) for k in th1}
    probes = max(r1 - r0, 1)
    per_probe = lambda a, b: round(1e6 * (b - a) / probes, 1)
    return {
        "mode": mode, "keepalive": keep, "client": client,
        "records": records, "backends": records * 3, "interval_s": interval,
        "measured_s": round(span, 1),
        "cpu_percent": pct(sum(c0), sum(c1)),
        "cpu_percent_split": split(c0, c1),
        "cpu_percent_by_thread": threads,
        "cpu_us_per_probe": {"user": per_probe(c0[0], c1[0]), "kernel": per_probe(c0[1], c1[1]),
                             "total": per_probe(sum(c0), sum(c1))},
        "batch_window_ms": BATCH_WINDOW,
        "health_thread_wakeups_per_s": round((w1 - w0) / span, 1),
        "probes_per_health_wakeup": round(probes / max(w1 - w0, 1), 2),
        "rss_mb": round(rss_samples[-1], 1),
        "rss_mb_max": round(max(rss_samples), 1),
        "open_fds": fds,
        "probes_per_s": round((r1 - r0) / span, 1),
        "expected_probes_per_s": round(records * 3 / interval, 1),
        "new_connections_per_s": round((n1 - n0) / span, 1),
        "responder_cpu_percent": pct(sum(s0), sum(s1)),
        "responder_cpu_percent_split": split(s0, s1),
        "startup_s": round(proc.startup_s, 2),
        "startup_main_thread_cpu_s": round(proc.startup_cpu, 2),
        "shutdown_s": round(shutdown, 2),
        "loadavg_during": [round(x, 2) for x in load0 + load1],
    }


def failover_delay(binary, interval, fall, repeats=5):
    results = []
    for _ in range(repeats):
        port_a, port_b = free_port(), free_port()
        a, b = HttpCounter(port_a, "127.0.0.1"), HttpCounter(port_b, "127.0.0.2")
        t = f"timeout: {interval}s"
        zone = (f"defaults:\n  scrape_interval: {interval}s\n  scrape_timeout: {interval}s\n"
                f"  fall: {fall}\n  rise: 2\nrecords:\n  fo.scale.test.:\n    mode: failover\n"
                f"    record_ttl: 1\n    backends:\n"
                + backend("127.0.0.1", port_a, 1, interval).replace("timeout: 2s", t)
                + backend("127.0.0.2", port_b, 2, interval).replace("timeout: 2s", t))
        with tempfile.TemporaryDirectory() as d:
            proc, port = start_gslbd(binary, Path(d), zone)
            q = dns.message.make_query("fo.scale.test.", "A")
            time.sleep(interval * 3)
            first = [rd.address for rr in dns.query.udp(q, "127.0.0.1", port=port, timeout=1).answer for rd in rr]
            assert first == ["127.0.0.1"], first
            a.stop()
            t0 = time.monotonic()
            while True:
                ans = [rd.address for rr in dns.query.udp(q, "127.0.0.1", port=port, timeout=1).answer for rd in rr]
                if ans == ["127.0.0.2"]:
                    break
                if time.monotonic() - t0 > 60:
                    raise SystemExit("no failover within 60 s")
                time.sleep(0.005)
            results.append(time.monotonic() - t0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        b.stop()
    return {"interval_s": interval, "fall": fall, "theoretical_s": interval * fall,
            "measured_s": [round(x, 3) for x in results],
            "mean_s": round(sum(results) / len(results), 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gslbd")
    ap.add_argument("--runs", default="30000:close,10000:keep,30000:keep",
                    help="comma list of TARGETS:MODE[:CLIENT], MODE close (a connection per "
                         "probe) or keep (keepalive: true), CLIENT native (default) or curl "
                         "(GSLBD_HTTP_CLIENT=curl: the libcurl client, for before/after)")
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--failover-interval", type=float, default=1.0)
    ap.add_argument("--fall", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--responder")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--batch-window", type=int, metavar="MS",
                    help="health.batch_window for every run (default: gslbd's own, 20 ms)")
    args = ap.parse_args()
    global RESPONDER, BATCH_WINDOW
    BATCH_WINDOW = args.batch_window
    RESPONDER = args.responder or str(
        Path(args.gslbd).resolve().parents[2] / "bench" / "health" / "http_responder")
    runs = []
    for item in args.runs.split(","):
        n, _, rest = item.partition(":")
        mode, _, client = rest.partition(":")
        if mode not in ("close", "keep") or client not in ("", "native", "curl"):
            raise SystemExit(f"--runs: {item}: MODE must be close or keep, CLIENT native or curl")
        runs.append((int(n), mode, client or "native"))
    # a kept connection holds a descriptor on both sides; gslbd's cache takes half its limit
    nofile = raise_nofile(max(65536, 4 * max(r[0] for r in runs) + 16384))
    out = {"machine": {"cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
                       "cores": os.cpu_count(), "kernel": os.uname().release,
                       "loadavg": open("/proc/loadavg").read().split()[:3],
                       "rlimit_nofile": list(nofile),
                       "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
           "scale": [],
           "failover": None}
    for n, mode, client in runs:
        r = scale(args.gslbd, n, mode, args.interval, args.seconds, client)
        print(json.dumps(r), flush=True)
        out["scale"].append(r)
    if not args.skip_failover:
        out["failover"] = failover_delay(args.gslbd, args.failover_interval, args.fall)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
