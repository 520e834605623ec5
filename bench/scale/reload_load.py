#!/usr/bin/python3
"""Reload under load (issue 20 item 4): does a worker feel a reload of a large configuration?

gslbd serves N failover records x 3 backends (bench/scale/scale.py's zone, default 100,000
records, 1 worker, response cache 1,024 entries) while dnsperf sends a fixed rate (default
20,000 qps) of A queries for 10,000 random records of the zone. Runs alternate:

  * `steady`: no reload during the run;
  * `reload`: SIGHUP after SIGHUP for the whole run, each reading a zone in which one record
    changed (alternately), the next sent as soon as the previous one is served (the API's
    status shows the generation), or with --every S one reload every S seconds;
  * `busy` (with --busy): steady load while a CPU burner (a Python busy loop, no memory
    traffic, not gslbd) keeps the control core busy: the control for what any busy control
    core costs the worker on this machine, reload or not.

Per run: queries sent, lost (unanswered within dnsperf's 2 s timeout), response codes, and
latency avg / p50 / p99 / p99.9 / max from `dnsperf -v` per-query lines (Debian's dnsperf 2.10
has no latency histogram). The goal: no query lost, and the p99 of a reload run within 2x the
p99 of a steady run.

Placement (2 cores): the worker thread (found as the busiest thread during a warm-up) and
dnsperf on core 1, every other gslbd thread (the reload runs on the signal thread) and this
script (it swaps the zone file and polls the API) on core 0, as a control core and a worker
core would be: the reload's own CPU time then does not delay
the generator or the worker, and what the worker feels of it is what the figure shows. A run
lasts --seconds or long enough for --reloads reloads (a reload is timed once before the runs,
without load), whichever is longer; steady and reload runs last the same.

Per run also: core 1's TLB shootdowns and function-call interrupts (/proc/interrupts) and how
often the worker was preempted.

Usage: bench/scale/reload_load.py GSLBD_BINARY [--records 100000] [--rate 20000]
           [--seconds 20] [--reloads 1] [--rounds 2] [--every S] [--busy]
           [--daemon-env NAME=VALUE] [--raw DIR] [--out bench/results]
Writes OUT/scale_reload.json and OUT/scale_reload.md (--raw DIR: each run's dnsperf output
and reload times as well). All traffic stays on loopback.
"""
import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import free_port, proc_status, start_gslbd, write_main, write_zone  # noqa: E402

TOKEN = "scale-bench-token"


def api_status(port):
    # records=0: the generation and reload counters only (the full status of 100,000
    # records is tens of MB of JSON, which polled every 50 ms was most of the control
    # core's work and allocations during a reload run)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/status?records=0",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=600) as r:  # the API waits while a reload builds
        return json.loads(r.read())


def threads_cpu(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(parts[11]) + int(parts[12])
        except OSError:
            pass
    return out


def cpu1_busy():
    """Busy jiffies of core 1 (everything but idle and iowait) from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu1 "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v) - v[3] - v[4]
    return 0


def core1_interrupts():
    """Core 1's TLB shootdowns and function-call interrupts (/proc/interrupts, x86): what the
    control core's memory unmapping and cross-CPU calls cost the worker's core."""
    out = {}
    with open("/proc/interrupts") as f:
        cpus = f.readline().split()
        if "CPU1" not in cpus:
            return out
        col = cpus.index("CPU1") + 1
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("TLB:", "CAL:") and len(parts) > col:
                out[parts[0].rstrip(":").lower()] = int(parts[col])
    return out


def worker_switches(pid):
    """The worker thread's involuntary context switches (it was preempted)."""
    try:
        with open(f"/proc/{pid}/task/{WORKER['tid']}/status") as f:
            m = re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", f.read())
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def task_jiffies(path):
    try:
        with open(path) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12])
    except OSError:
        return 0


WORKER = {}  # pid, tid of the worker once found
RAW_DIR = None  # --raw: where each run's dnsperf output and reload times go


def pin(tid, cpu):
    subprocess.run(["taskset", "-p", "-c", str(cpu), str(tid)], check=True,
                   stdout=subprocess.DEVNULL)


def dnsperf(port, qfile, seconds, rate, verbose=True):
    argv = ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile,
            "-l", str(seconds), "-Q", str(rate), "-c", "8", "-T", "1", "-q", "500", "-t", "2"]
    if verbose:
        argv.append("-v")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def summarize(out):
    num = lambda p: int(m.group(1)) if (m := re.search(p, out)) else 0
    lat = sorted(float(m.group(1)) for m in re.finditer(r"^> [A-Z]+ .* ([\d.]+)$", out, re.M))
    codes = re.search(r"Response codes:\s+(.*)", out)
    r = {"sent": num(r"Queries sent:\s+(\d+)"), "completed": num(r"Queries completed:\s+(\d+)"),
         "lost": num(r"Queries lost:\s+(\d+)"), "rcodes": codes.group(1).strip() if codes else "",
         "samples": len(lat)}
    if lat:
        pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3)
        r.update(avg_ms=round(sum(lat) / len(lat) * 1000, 3), p50_ms=pick(0.5),
                 p99_ms=pick(0.99), p999_ms=pick(0.999), max_ms=round(lat[-1] * 1000, 3))
    return r


def burner():
    """A process that keeps the control core busy without touching gslbd: pure CPU, almost no
    memory (the `busy` runs: what any busy control core costs the worker, reload or not)."""
    return subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])


def one_run(kind, port, api_port, pid, zone, n, qfile, seconds, rate, every=0.0):
    load0 = os.getloadavg()
    busy0 = cpu1_busy()
    wpath = f"/proc/{pid}/task/{WORKER['tid']}/stat"
    w0 = task_jiffies(wpath)
    irq0, sw0 = core1_interrupts(), worker_switches(pid)
    perf = dnsperf(port, qfile, seconds, rate)
    t_start = time.monotonic()
    reloads, stop = [], threading.Event()

    def reloader():
        flip = False
        gen = api_status(api_port)["generation"]
        time.sleep(0.5)
        while not stop.is_set() and perf.poll() is None:
            if reloads and every > 0:  # --every: one reload per period, not back to back
                time.sleep(max(0.0, t_start + reloads[-1]["at"] + every - time.monotonic()))
                if stop.is_set() or perf.poll() is not None:
                    break
            flip = not flip
            # the two variants were written once: a copy and a rename here, so that this
            # script's own CPU per reload is small (it runs on the control core, beside the
            # daemon's reload)
            shutil.copyfile(zone + (".b" if flip else ".a"), zone + ".next")
            os.replace(zone + ".next", zone)
            t0 = time.monotonic()
            os.kill(pid, signal.SIGHUP)
            while True:
                s = api_status(api_port)
                if s["generation"] > gen:
                    gen = s["generation"]
                    break
                if s["reloads"]["last_ok"] is False:
                    raise RuntimeError(f"reload failed: {s['reloads']}")
                time.sleep(0.05)
            reloads.append({"at": round(t0 - t_start, 4), "s": round(time.monotonic() - t0, 3),
                            "done_while_loaded":
                            perf.poll() is None, "rss_mb": round(proc_status(pid, "VmRSS"), 1)})

    th = threading.Thread(target=reloader) if kind == "reload" else None
    rss0 = proc_status(pid, "VmRSS")
    if th:
        th.start()
    hog = burner() if kind == "busy" else None
    # dnsperf's CPU, sampled until it exits (taskset exec'd it: same pid)
    pd, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            pd[0] = task_jiffies(f"/proc/{perf.pid}/stat") or pd[0]
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, _ = perf.communicate(timeout=seconds + 120)
    if hog:
        hog.kill()
        hog.wait()
    done.set()
    sampler.join()
    # what else ran on the worker's core: core 1's busy time less the worker and dnsperf
    # (other processes of the machine, kernel threads); a run with much of it is disturbed
    other = cpu1_busy() - busy0 - (task_jiffies(wpath) - w0) - pd[0]
    irq1, sw1 = core1_interrupts(), worker_switches(pid)
    stop.set()
    if th:
        th.join(timeout=600)
    r = summarize(out)
    if RAW_DIR:
        with open(os.path.join(RAW_DIR, f"run{len(os.listdir(RAW_DIR))}-{kind}.txt"), "w") as f:
            f.write(json.dumps(reloads) + "\n" + out)
    r.update(kind=kind, rate=rate, seconds=seconds, rss_before_mb=round(rss0, 1),
             core1_other_pct=round(max(0, other) * 100 / os.sysconf("SC_CLK_TCK") / seconds, 1),
             rss_after_mb=round(proc_status(pid, "VmRSS"), 1),
             loadavg=[round(x, 2) for x in load0 + os.getloadavg()],
             core1_irqs={k: irq1[k] - irq0.get(k, 0) for k in irq1},
             worker_preempted=sw1 - sw0)
    if th:
        landed = [x for x in reloads if x["done_while_loaded"]]
        r.update(reloads=len(landed), reload_s=[x["s"] for x in landed],
                 rss_after_each_mb=[x["rss_mb"] for x in reloads])
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--reloads", type=int, default=1, help="reloads a reload run lasts for")
    ap.add_argument("--rounds", type=int, default=2, help="steady/reload pairs, order alternating")
    ap.add_argument("--daemon-env", action="append", default=[], metavar="NAME=VALUE",
                    help="set in the daemon's environment only (experiments, e.g. GLIBC_TUNABLES)")
    ap.add_argument("--every", type=float, default=0.0, metavar="S",
                    help="a reload every S seconds in reload runs (default 0: back to back)")
    ap.add_argument("--busy", action="store_true",
                    help="a third run per round: steady load with a CPU burner on the control "
                         "core, no reload (how much of a reload run's latency any busy "
                         "control core causes on this machine)")
    ap.add_argument("--raw", metavar="DIR", help="keep each run's dnsperf output and reload times")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "results"))
    args = ap.parse_args()
    global RAW_DIR
    if args.raw:
        os.makedirs(args.raw, exist_ok=True)
        RAW_DIR = args.raw
    n = args.records
    runs = []
    with tempfile.TemporaryDirectory(prefix="gslbd-reload-load-") as work:
        zone, main = os.path.join(work, "zone.yml"), os.path.join(work, "main.yml")
        token = os.path.join(work, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        write_zone(zone, n)
        port, api_port = free_port(), free_port()
        write_main(main, zone, port, api_port, token)
        qfile = os.path.join(work, "queries.txt")
        rng = random.Random(20)
        with open(qfile, "w") as f:
            for _ in range(10000):
                f.write(f"r{rng.randrange(n)}.scale.test. A\n")
        env = dict(os.environ)
        env.update(kv.split("=", 1) for kv in args.daemon_env)
        p, start_s = start_gslbd(args.binary, main, port, n, env=env)
        try:
            # warm-up: the busiest thread under DNS load is the worker
            before = threads_cpu(p.pid)
            dnsperf(port, qfile, 3, args.rate, verbose=False).communicate(timeout=120)
            after = threads_cpu(p.pid)
            worker = max(after, key=lambda t: after[t] - before.get(t, 0))
            WORKER["tid"] = worker
            for tid in after:
                pin(tid, 1 if tid == worker else 0)
            # this script on the control core too: generating a zone of 100,000 records in
            # Python takes about half a second, which on the worker's core showed in the
            # reload runs' latency as if the daemon had caused it
            os.sched_setaffinity(0, {0})
            write_zone(zone + ".a", n)
            write_zone(zone + ".b", n, changed=True)
            # one reload without load: how long a run must last for --reloads of them
            gen = api_status(api_port)["generation"]
            write_zone(zone, n, changed=True)
            t1 = time.monotonic()
            p.send_signal(signal.SIGHUP)
            while api_status(api_port)["generation"] == gen:
                time.sleep(0.05)
            unloaded_reload_s = time.monotonic() - t1
            write_zone(zone, n)
            seconds = max(args.seconds, int(unloaded_reload_s * args.reloads * 1.5) + 5)
            for i in range(args.rounds):
                kinds = ("steady", "reload") + (("busy",) if args.busy else ())
                for kind in (kinds if i % 2 == 0 else kinds[::-1]):
                    r = one_run(kind, port, api_port, p.pid, zone, n, qfile, seconds, args.rate,
                                args.every)
                    print(json.dumps(r), flush=True)
                    runs.append(r)
        finally:
            p.terminate()
            p.wait(timeout=120)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "kernel": platform.release(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    steady = [r for r in runs if r["kind"] == "steady"]
    loaded = [r for r in runs if r["kind"] == "reload"]
    worst = lambda rs, k: max(r.get(k, 0) for r in rs)
    verdict = {
        "lost_steady": sum(r["lost"] for r in steady), "lost_reload": sum(r["lost"] for r in loaded),
        "p99_steady_ms_worst": worst(steady, "p99_ms"), "p99_reload_ms_worst": worst(loaded, "p99_ms"),
        "reloads": sum(r["reloads"] for r in loaded),
    }
    verdict["p99_ratio"] = round(verdict["p99_reload_ms_worst"] / max(1e-9, min(
        r.get("p99_ms", 0) for r in steady)), 2)
    # each reload run against the steady (and busy) run of its own round
    verdict["p99_ratios"] = [round(r["p99_ms"] / max(1e-9, s["p99_ms"]), 2)
                             for r, s in zip(loaded, steady)]
    busy = [r for r in runs if r["kind"] == "busy"]
    if busy:
        verdict["p99_ratios_to_busy"] = [round(r["p99_ms"] / max(1e-9, b["p99_ms"]), 2)
                                         for r, b in zip(loaded, busy)]
    verdict["goal_met"] = verdict["lost_reload"] == 0 and all(
        r["p99_ms"] <= 2 * s["p99_ms"] for r, s in zip(loaded, steady))
    res = {"machine": machine, "daemon_env": args.daemon_env, "every_s": args.every,
           "records": n, "backends": 3 * n, "start_s": round(start_s, 2),
           "unloaded_reload_s": round(unloaded_reload_s, 2), "rate": args.rate,
           "seconds": seconds, "runs": runs, "verdict": verdict}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale_reload.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = [f"Machine: {machine}; {n:,} records x 3 backends, dnsperf {args.rate:,} qps for "
          f"{seconds} s per run, worker and dnsperf on core 1, control threads on core 0; "
          f"start {start_s:.1f} s, one reload without load {unloaded_reload_s:.1f} s; reloads "
          + (f"one every {args.every:g} s" if args.every > 0 else "back to back")
          + (f"; daemon environment {' '.join(args.daemon_env)}" if args.daemon_env else "") + "\n",
          "| run | reloads (s each) | sent | lost | avg ms | p50 ms | p99 ms | p99.9 ms | max ms | load avg | core 1 other % | core 1 TLB / CAL irqs | worker preempted |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        rl = f"{r['reloads']} ({', '.join(str(x) for x in r['reload_s'])})" if "reloads" in r else "0"
        md.append(f"| {r['kind']} | {rl} | {r['sent']:,} | {r['lost']} | {r.get('avg_ms')} | "
                  f"{r.get('p50_ms')} | {r.get('p99_ms')} | {r.get('p999_ms')} | {r.get('max_ms')} | "
                  f"{r['loadavg'][0]} | {r['core1_other_pct']} | "
                  f"{r['core1_irqs'].get('tlb', '-')} / {r['core1_irqs'].get('cal', '-')} | "
                  f"{r['worker_preempted']} |")
    md.append(f"\nVerdict: {verdict}")
    with open(os.path.join(args.out, "scale_reload.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if verdict["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
