#!/usr/bin/python3
"""Load and efficiency benchmark driver: gslbd against its peers, in one run.

Called by scripts/bench.sh (which installs the peers, builds gslbd and runs gen.py first):

    /usr/bin/python3 bench/load/run.py --gen DIR --gslbd BIN --out bench/results [--quick]
        [--with-cache] [--with-dpdk] [--skip-callgrind] [--servers gslbd,knotd,...]

Every server gets core 1 (taskset -c 1), dnsperf gets core 0. Traffic is UDP over loopback only.
Per server and query mix it
  1. steps dnsperf's offered rate (-Q) up and keeps the highest step answered with < 1 % loss,
  2. runs one fixed rate that every server sustains with `dnsperf -v` (one line per query with
     its latency) and computes average, p50 and p99 from those lines,
  3. (efficiency) runs the server under valgrind --tool=callgrind, zeroes the counters, sends
     2,000 then 20,000 queries, dumps after each, and reports (Ir_20000 - Ir_2000) / (answered
     difference): user-space instructions per answered query, marginal, for every process of
     the row (dnsdist + gdnsd are summed).
Results: OUT/latest.json, OUT/latest.md, OUT/latest.png (gnuplot).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import dns.message
import dns.query

SERVER_CORE = "1"
CLIENT_CORE = "0"
MIXES = ["cache", "ecs", "nx"]
MIX_TEXT = {
    "cache": "cache-friendly: 3 names (failover, weighted, geoip A), no ECS",
    "ecs": "GSLB with ECS from 4,096 client /24s (70 % geoip, 30 % failover/weighted)",
    "nx": "40 % A, 30 % NODATA (MX/TXT/AAAA), 30 % NXDOMAIN (10,000 missing names)",
}
LOSS_LIMIT = 0.01


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


class Server:
    """One benchmark row: one or more processes started in order, queried on `port`."""

    def __init__(self, name, label, port, procs, note):
        self.name, self.label, self.port, self.procs, self.note = name, label, port, procs, note
        self.running = []

    def start(self, workdir, wrapper=None):
        for i, (pname, argv, ready_port) in enumerate(self.procs):
            full = ["taskset", "-c", SERVER_CORE] + (wrapper(pname) if wrapper else []) + argv
            log = open(os.path.join(workdir, f"{self.name}-{pname}.log"), "w")
            p = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            self.running.append((pname, p))
            if not wait_ready(ready_port, p, 120 if wrapper else 20):
                self.stop()
                raise RuntimeError(f"{self.name}: {pname} did not answer on port {ready_port}; "
                                   f"see {log.name}")

    def stop(self):
        for _, p in reversed(self.running):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in reversed(self.running):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.running = []


def wait_ready(port, proc, timeout):
    q = dns.message.make_query("www.gslb.example.", "A")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            if r.answer:
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def servers(gen, gslbd, args):
    m = json.load(open(os.path.join(gen, "manifest.json")))
    ports = m["ports"]
    rows = [Server("gslbd", "gslbd (socket, 1 worker, no cache)", ports["gslbd"],
                   [("gslbd", [gslbd, "--config", os.path.join(gen, "gslbd.yml")],
                     ports["gslbd"])],
                   "kernel UDP sockets (recvmmsg/sendmmsg), 1 worker thread, log off")]
    if args.with_cache:
        rows.append(Server("gslbd-cache", "gslbd (socket, 1 worker, response cache)",
                           ports["gslbd-cache"],
                           [("gslbd", [gslbd, "--config",
                                       os.path.join(gen, "cache", "gslbd.yml")],
                             ports["gslbd-cache"])],
                           f"as above plus the per-core response cache "
                           f"({args.cache_entries} entries)"))
    rows.append(Server(
        "dnsdist+gdnsd", "dnsdist 1.7.3 (packet cache) + gdnsd 3.8", ports["dnsdist"],
        [("gdnsd", ["gdnsd", "-c", os.path.join(gen, "gdnsd"), "start"], ports["gdnsd"]),
         ("dnsdist", ["dnsdist", "--supervised", "--disable-syslog", "-C",
                      os.path.join(gen, "dnsdist.conf")], ports["dnsdist"])],
        f"both on the one server core; dnsdist packet cache {args.cache_entries} entries "
        "(keyed on the whole query incl. ECS, parseECS on); gdnsd simplefo / weighted / geoip "
        "with a nets map equal to gslbd's location map, service_types up (nothing probed), "
        "1 UDP thread"))
    rows.append(Server("knotd", "knotd 3.2 (static zone, 1 UDP worker)", ports["knotd"],
                       [("knotd", ["knotd", "-c", os.path.join(gen, "knot", "knot.conf")],
                         ports["knotd"])],
                       "plain authoritative ceiling: the same names, one static address each, "
                       "ignores ECS"))
    if args.servers:
        keep = set(args.servers.split(","))
        rows = [r for r in rows if r.name in keep]
    return rows


DNSPERF_BASE = ["taskset", "-c", CLIENT_CORE, "dnsperf", "-B", "-s", "127.0.0.1", "-T", "1",
                "-c", "8", "-q", "500", "-t", "2"]


def parse_dnsperf(out):
    def num(pattern, default=0.0):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else default
    return {
        "sent": int(num(r"Queries sent:\s+(\d+)")),
        "completed": int(num(r"Queries completed:\s+(\d+)")),
        "lost": int(num(r"Queries lost:\s+(\d+)")),
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "avg_latency_ms": num(r"Average Latency \(s\):\s+([\d.]+)") * 1000,
    }


def dnsperf(port, datafile, seconds=None, rate=None, extra=()):
    argv = DNSPERF_BASE + ["-p", str(port), "-d", datafile] + list(extra)
    if seconds:
        argv += ["-l", str(seconds)]
    if rate:
        argv += ["-Q", str(rate)]
    r = subprocess.run(argv, capture_output=True, text=True)
    return r.stdout + r.stderr


def one_step(server, gen, mix, rate, seconds):
    s = parse_dnsperf(dnsperf(server.port, os.path.join(gen, f"{mix}.bin"), seconds, rate))
    s["offered"] = rate
    s["loss"] = s["lost"] / s["sent"] if s["sent"] else 1.0
    # dnsperf may fall short of the offered rate when the client itself is the limit
    s["client_short"] = s["sent"] < 0.95 * rate * seconds
    return s


def step_rates_interleaved(rows, gen, mix, rates, seconds, max_fails):
    """Step the offered rate; at each step every server still in the race gets its turn, in an
    order that rotates, so that a change in the machine's background load hits all alike."""
    st = {r.name: {"steps": [], "best": None, "fails": 0} for r in rows}
    for k, rate in enumerate(rates):
        alive = [r for r in rows if st[r.name]["fails"] < max_fails]
        if not alive:
            break
        alive = alive[k % len(alive):] + alive[:k % len(alive)]
        for srv in alive:
            x = st[srv.name]
            s = one_step(srv, gen, mix, rate, seconds)
            x["steps"].append(s)
            if s["loss"] < LOSS_LIMIT and not s["client_short"]:
                x["best"], x["fails"] = s, 0
            else:
                x["fails"] += 1
    out = {}
    for srv in rows:
        x = st[srv.name]
        u = parse_dnsperf(dnsperf(srv.port, os.path.join(gen, f"{mix}.bin"), seconds))
        u["loss"] = u["lost"] / u["sent"] if u["sent"] else 1.0
        best = x["best"]
        out[srv.name] = {"steps": x["steps"], "unlimited": u,
                         "max_rate_offered": best["offered"] if best else 0,
                         "max_rate_answered_qps": round(best["qps"]) if best else 0}
    return out


def latency(server, gen, mix, rate, seconds):
    out = dnsperf(server.port, os.path.join(gen, f"{mix}.bin"), seconds, rate, ["-v"])
    lat = sorted(float(m.group(1)) for m in re.finditer(r"^> [A-Z]+ .* ([\d.]+)$", out, re.M))
    timeouts = len(re.findall(r"^> T ", out, re.M))
    s = parse_dnsperf(out)
    if not lat:
        return {"rate": rate, "samples": 0, "timeouts": timeouts}
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    return {"rate": rate, "samples": len(lat), "timeouts": timeouts,
            "avg_ms": sum(lat) / len(lat) * 1000, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
            "max_ms": lat[-1] * 1000, "dnsperf_avg_ms": s["avg_latency_ms"],
            "lost": s["lost"]}


# ---- efficiency: callgrind, marginal instructions per answered query ------------------------

def callgrind_wrapper(outdir):
    def wrap(pname):
        return ["valgrind", "--tool=callgrind", "--vgdb=yes",
                f"--callgrind-out-file={outdir}/{pname}.%p.out", "--dump-instr=no",
                "--trace-children=no"]
    return wrap


def callgrind_dump(pid, outdir, pname, tag):
    """Dump the counters of pid, return the total Ir of that dump."""
    before = set(glob.glob(f"{outdir}/{pname}.{pid}.out*"))
    subprocess.run(["callgrind_control", "-d", tag, str(pid)], capture_output=True, timeout=120)
    deadline = time.time() + 60
    while time.time() < deadline:
        new = set(glob.glob(f"{outdir}/{pname}.{pid}.out*")) - before
        total = 0
        for path in new:
            with open(path) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        total += int(line.split()[1])
                        break
        if new and total:
            return total
        time.sleep(0.5)
    raise RuntimeError(f"callgrind dump of {pname} ({pid}) produced nothing")


def efficiency(server, gen, workdir, mixes):
    outdir = os.path.join(workdir, f"callgrind-{server.name}")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    server.start(workdir, callgrind_wrapper(outdir))
    result = {}
    try:
        for mix in mixes:
            per = {}
            answered = {}
            for n in (2000, 20000):
                for pname, p in server.running:
                    subprocess.run(["callgrind_control", "-z", str(p.pid)], capture_output=True,
                                   timeout=120)
                out = dnsperf(server.port, os.path.join(gen, f"cg-{mix}-{n}.bin"), None, 2000,
                              ["-n", "1", "-t", "10"])
                answered[n] = parse_dnsperf(out)["completed"]
                for pname, p in server.running:
                    per.setdefault(pname, {})[n] = callgrind_dump(p.pid, outdir, pname,
                                                                  f"{mix}-{n}")
            d = answered[20000] - answered[2000]
            procs = {pname: round((v[20000] - v[2000]) / d) if d > 0 else None
                     for pname, v in per.items()}
            result[mix] = {"answered": answered, "ir": per, "per_process": procs,
                           "total": sum(v for v in procs.values() if v) if d > 0 else None}
    finally:
        server.stop()
    return result


# ---- output ---------------------------------------------------------------------------------

def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_start": loadavg()}


def versions():
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:
            return "unknown"
    return {"dnsdist": first(["dnsdist", "--version"]),
            "gdnsd": next((l for l in subprocess.run(["gdnsd", "-c", "/nonexistent", "checkconf"],
                                                     capture_output=True, text=True)
                           .stderr.splitlines() if "version" in l), "unknown"),
            "knotd": first(["knotd", "--version"]), "dnsperf": first(["dnsperf", "-h"]),
            "valgrind": first(["valgrind", "--version"])}


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def write_outputs(res, out):
    json.dump(res, open(os.path.join(out, "latest.json"), "w"), indent=2)
    rows = res["servers"]
    names = [r["name"] for r in rows]
    md = []
    m = res["machine"]
    md.append("# gslbd vs peers: latest run\n")
    md.append(f"* machine: {m['cpu']}, {m['cores']} cores, kernel {m['kernel']}, {m['date']}")
    md.append(f"* mode: {res['mode']} ({res['step_seconds']} s per rate step); "
              f"load average at start {m['loadavg_start']}, at end {res['loadavg_end']} "
              "(other builds ran on this machine at the same time: absolute numbers are noisy, "
              "compare rows of the same run)")
    md.append(f"* load average when each mix started: {res.get('loadavg_per_mix')}")
    md.append(f"* server core {SERVER_CORE}, dnsperf core {CLIENT_CORE}, UDP over loopback; all "
              "servers run at once, idle ones sleep, and at every rate step each server gets "
              "its turn (rotating order), so background load hits all rows alike; "
              f"generated by `scripts/bench.sh{' --quick' if res['mode'] == 'quick' else ''}`\n")
    md.append("## Highest offered rate answered with < 1 % loss (qps answered at that step)\n")
    md.append("| server | " + " | ".join(MIXES) + " | unlimited dnsperf (cache mix) |")
    md.append("| --- | " + " | ".join("---:" for _ in MIXES) + " | ---: |")
    for r in rows:
        cells = []
        for mix in MIXES:
            x = r["load"].get(mix)
            top = "≥ " if x and x["max_rate_offered"] >= res["rates"][-1] else ""
            cells.append(f"{top}{x['max_rate_offered']:,} ({x['max_rate_answered_qps']:,})"
                         if x else "—")
        u = r["load"].get("cache", {}).get("unlimited")
        cells.append(f"{u['qps']:,.0f} ({u['loss'] * 100:.1f} % lost)" if u else "—")
        md.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    lr = res["latency_rate"]
    md.append(f"\n## Latency at {lr:,} qps offered (every server sustains it), from `dnsperf -v`"
              " per-query lines: avg / p99 in ms\n")
    md.append("| server | " + " | ".join(MIXES) + " |")
    md.append("| --- | " + " | ".join("---:" for _ in MIXES) + " |")
    for r in rows:
        cells = []
        for mix in MIXES:
            x = r["latency"].get(mix)
            cells.append(f"{x['avg_ms']:.3f} / {x['p99_ms']:.3f}" if x and x.get("samples")
                         else "—")
        md.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    if any(r.get("callgrind") for r in rows):
        md.append("\n## Instructions per answered query (callgrind, user space only, marginal:"
                  " (Ir after 20,000 − Ir after 2,000) / answered difference)\n")
        md.append("| server | " + " | ".join(MIXES) + " |")
        md.append("| --- | " + " | ".join("---:" for _ in MIXES) + " |")
        for r in rows:
            cg = r.get("callgrind") or {}
            cells = []
            for mix in MIXES:
                x = cg.get(mix)
                if not x or not x.get("total"):
                    cells.append("—")
                    continue
                parts = x["per_process"]
                detail = (" (" + " + ".join(f"{k} {v:,}" for k, v in parts.items()) + ")"
                          if len(parts) > 1 else "")
                cells.append(f"{x['total']:,}{detail}")
            md.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    md.append("\n## Ratios in this run\n")
    for line in res["ratios_text"]:
        md.append(f"* {line}")
    md.append("\n## Rows\n")
    for r in rows:
        md.append(f"* **{r['label']}**: {r['note']}")
    md.append("\n## Query mixes\n")
    for mix in MIXES:
        md.append(f"* `{mix}`: {MIX_TEXT[mix]}")
    md.append("\n## Limits of this run\n")
    for line in res["limits"]:
        md.append(f"* {line}")
    micro = os.path.join(out, "micro.json")
    if os.path.exists(micro):
        md.append("\n## Micro benchmarks (google-benchmark, `micro.json` next to this file)\n")
        md.append("| benchmark | time per iteration |")
        md.append("| --- | ---: |")
        try:
            for b in json.load(open(micro))["benchmarks"]:
                md.append(f"| {b['name']} | {b['real_time']:,.1f} {b['time_unit']} |")
        except (ValueError, KeyError) as e:
            md.append(f"| (unreadable: {e}) | |")
    open(os.path.join(out, "latest.md"), "w").write("\n".join(md) + "\n")
    chart(res, out)
    readme = os.path.join(out, "..", "README.md")
    if os.path.exists(readme):  # bench/README.md shows the latest tables between markers
        text = open(readme).read()
        a, b = "<!-- latest:begin -->", "<!-- latest:end -->"
        if a in text and b in text:
            body = "\n".join(md[1:]).split("\n## Rows")[0].strip()
            text = text[:text.index(a) + len(a)] + "\n" + body + "\n" + text[text.index(b):]
            open(readme, "w").write(text)


def chart(res, out):
    if not shutil.which("gnuplot"):
        return
    dat = os.path.join(out, ".chart.dat")
    with open(dat, "w") as f:
        f.write("mix " + " ".join(f'"{r["name"]}"' for r in res["servers"]) + "\n")
        for mix in MIXES:
            f.write(mix + " " + " ".join(str(r["load"].get(mix, {}).get("max_rate_answered_qps",
                                                                        0))
                                         for r in res["servers"]) + "\n")
    n = len(res["servers"])
    script = f"""set terminal pngcairo size 900,500 font ",10"
set output "{os.path.join(out, 'latest.png')}"
set title "Answered qps at the highest offered rate with < 1 % loss (one server core, dnsperf over loopback)\\n{res['machine']['cpu']}, {res['machine']['date']}, {res['mode']} run, load avg {res['machine']['loadavg_start'][0]}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "qps"
set yrange [0:*]
set key top right
set grid ytics
plot for [i=2:{n + 1}] "{dat}" using i:xtic(1) title columnheader(i)
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.unlink(dat)


def finish(res, out):
    """Ratios and limits from the measurements; writes latest.{json,md,png}."""
    rates, lat_rate = res["rates"], res["latency_rate"]
    by = {r["name"]: r for r in res["servers"]}
    ratios, text = {}, []
    for base in ("dnsdist+gdnsd", "knotd"):
        for g in ("gslbd", "gslbd-cache"):
            if g not in by or base not in by:
                continue
            for mix in MIXES:
                q = ratio(by[g]["load"][mix]["max_rate_answered_qps"],
                          by[base]["load"][mix]["max_rate_answered_qps"])
                ratios[f"{g}/{base}/{mix}/qps"] = q
                capped = [n for n in (g, base)
                          if by[n]["load"][mix]["max_rate_offered"] >= rates[-1]]
                if capped:
                    text.append(f"{mix}: {g} {q}× {base} in sustained qps (same run; "
                                f"{' and '.join(capped)} sustained the top step "
                                f"{rates[-1]:,}, where dnsperf is the limit: a lower bound "
                                f"for {'them' if len(capped) > 1 else capped[0]})")
                else:
                    text.append(f"{mix}: {g} {q}× {base} in sustained qps (same run)")
                cg_g = (by[g].get("callgrind") or {}).get(mix, {}).get("total")
                cg_b = (by[base].get("callgrind") or {}).get(mix, {}).get("total")
                if cg_g and cg_b:
                    e = ratio(cg_b, cg_g)
                    ratios[f"{g}/{base}/{mix}/instructions"] = e
                    text.append(f"{mix}: {base} executes {e}× the instructions per answered "
                                f"query of {g} (user space, callgrind)")
    res["ratios"], res["ratios_text"] = ratios, text
    client_limited = [f"{r['name']}/{mix}" for r in res["servers"] for mix in MIXES
                      if any(s["client_short"] for s in r["load"][mix]["steps"])]
    res["limits"] = [
        "dnsperf over loopback on one core tops out near 100–130k qps on this class of machine; "
        "a step where dnsperf could not send 95 % of the offered rate counts as not sustained "
        "and is marked client_short in latest.json"
        + (f" (this run: {', '.join(client_limited)})" if client_limited else "")
        + ". When several servers stop at the same step, the client is the limit, not them.",
        "2-core VM shared with other builds: the load average is recorded above; loopback "
        "traffic costs kernel time on both cores, which callgrind (user space only) does not see.",
        "Callgrind counts user-space instructions of the server processes only (no kernel, no "
        "dnsperf); the marginal method cancels start-up and per-run fixed costs but not timers "
        "that fire during the longer run (e.g. dnsdist's 1 s backend health check).",
        "p99 comes from `dnsperf -v` per-query latencies at a fixed rate (this dnsperf 2.10 has "
        "no latency histogram option); -v output costs client time, so it is only used at "
        f"{lat_rate:,} qps.",
        "The DPDK row (kxdpgun over a veth testbed) is a hook only until issue 5 lands "
        "(`scripts/bench.sh --with-dpdk`). The gslbd response-cache row needs issue 4 "
        "(`--with-cache`).",
    ]
    write_outputs(res, out)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--gslbd", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--with-cache", action="store_true")
    ap.add_argument("--with-dpdk", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--cache-entries", type=int, default=100000)
    ap.add_argument("--servers", default="")
    ap.add_argument("--render-only", action="store_true",
                    help="recompute ratios and rewrite the outputs from OUT/latest.json")
    args = ap.parse_args()
    if args.render_only:
        res = json.load(open(os.path.join(args.out, "latest.json")))
        print("\n".join(finish(res, args.out)))
        return
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)

    if args.quick:
        rates, seconds, lat_seconds, max_fails = list(range(20000, 200001, 10000)), 2, 3, 2
        cg_mixes = ["cache", "ecs"]
    else:
        rates = list(range(10000, 200001, 10000))
        seconds, lat_seconds, max_fails = 8, 10, 3
        cg_mixes = MIXES
    lat_rate = 20000

    res = {"machine": machine(), "versions": versions(), "mode": "quick" if args.quick else "full",
           "step_seconds": seconds, "rates": rates, "latency_rate": lat_rate,
           "loss_limit": LOSS_LIMIT, "mixes": MIX_TEXT, "servers": []}
    rows = servers(args.gen, args.gslbd, args)
    for srv in rows:
        for _, _, port in srv.procs:
            if not port_free(port):
                sys.exit(f"bench: port {port} on 127.0.0.1 is busy; pass another --port-base")
    if args.with_dpdk:
        # HOOK (issue 5, DPDK row): start scripts/testbed.sh (netns + veth, hugepages), run gslbd
        # with io: dpdk on one lcore bound to the veth end (net_af_packet vdev), and drive it
        # with kxdpgun (AF_XDP) from the namespace side pinned to core 0, e.g.
        #   ip netns exec bench kxdpgun -t 10 -Q RATE -i queries.txt -p 53 198.18.0.1
        # then add a row {"name": "gslbd-dpdk", "load": {...}} in the same shape as the others.
        print("bench: --with-dpdk: the DPDK row is not implemented yet (hook in run.py)",
              file=sys.stderr)
        res["dpdk"] = "not run: hook only (issue 5)"

    # all rows run at once on the server core (idle ones sleep); only one gets traffic at a time
    table = {srv.name: {"name": srv.name, "label": srv.label, "note": srv.note,
                        "port": srv.port, "load": {}, "latency": {}} for srv in rows}
    started = []
    try:
        for srv in rows:
            srv.start(args.work)
            started.append(srv)
        for mix in MIXES:
            print(f"bench: {mix}: rates {rates[0]}..{rates[-1]}, {seconds} s each, servers "
                  "interleaved", flush=True)
            res.setdefault("loadavg_per_mix", {})[mix] = loadavg()
            for name, x in step_rates_interleaved(rows, args.gen, mix, rates, seconds,
                                                  max_fails).items():
                table[name]["load"][mix] = x
            for srv in rows:
                table[srv.name]["latency"][mix] = latency(srv, args.gen, mix, lat_rate,
                                                          lat_seconds)
                x, lt = table[srv.name]["load"][mix], table[srv.name]["latency"][mix]
                print(f"bench:   {srv.name}: max {x['max_rate_offered']} offered, "
                      f"{x['max_rate_answered_qps']} answered; at {lat_rate}: avg "
                      f"{lt.get('avg_ms', 0):.3f} ms, p99 {lt.get('p99_ms', 0):.3f} ms",
                      flush=True)
    finally:
        for srv in started:
            srv.stop()

    for srv in rows:
        row = table[srv.name]
        if not args.skip_callgrind:
            print(f"bench: {srv.name}: callgrind ({', '.join(cg_mixes)})", flush=True)
            try:
                row["callgrind"] = efficiency(srv, args.gen, args.work, cg_mixes)
                for mix, x in row["callgrind"].items():
                    print(f"bench:   {mix}: {x['total']} Ir/query {x['per_process']}", flush=True)
            except Exception as e:  # a peer that does not run under valgrind is reported
                print(f"bench: {srv.name}: callgrind failed: {e}", file=sys.stderr)
                row["callgrind_error"] = str(e)
        res["servers"].append(row)

    res["loadavg_end"] = loadavg()
    print("\n".join(finish(res, args.out)))


if __name__ == "__main__":
    main()
