#!/usr/bin/python3
"""Load and efficiency benchmark driver: gslbd against its peers, in one run.

Called by scripts/bench.sh (which installs the peers, builds gslbd, brings the veth testbed up
and runs gen.py first):

    /usr/bin/python3 bench/load/run.py --gen DIR --gslbd BIN --out bench/results --work DIR
        [--quick] [--no-veth] [--no-dpdk] [--skip-callgrind] [--servers gslbd,knotd,...]

Every server gets core 1, the load generator core 0. Three paths, one generator each:

  lo        dnsperf over loopback (127.0.0.1), kernel-stack servers only
  veth      dnsperf from the netns gslbd-client over a veth pair: kernel servers on veth-kern
            (198.18.1.1), gslbd DPDK on veth-gslb (198.18.0.1, net_af_packet)
  xdp       kxdpgun (AF_XDP, knot-dnsutils) from the same netns over the same veths, pinned
            to core 0 (-F 0); no ECS (its query file cannot carry options): mixes cache and nx

Per server, path and mix the offered rate is searched (coarse steps up, then halving between
the last good and the first bad rate) for the highest rate answered with < 1 % loss; a step
the generator itself could not offer (sent < 95 %) ends the search with a lower bound. At each
step every server still searching gets its turn, in rotating order, so that the machine's
background load hits all rows alike. Latency (avg, p99 from `dnsperf -v` per-query lines) at
one fixed rate on the veth path, which every row shares. Efficiency: callgrind over loopback,
(Ir after 20,000 − Ir after 2,000 queries) / answered difference, user space only.
The DPDK row busy-polls core 1, so it runs in its own phase after the kernel-stack rows.
Results: OUT/latest.json, OUT/latest.md, OUT/latest.png (gnuplot); the tables also go into
bench/README.md and (headline) README.md between markers.
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
NETNS = "gslbd-client"
VETH = {"kern_if": "veth-kern", "kclient_if": "veth-kclient", "kclient_ip": "198.18.1.2",
        "dpdk_if": "veth-gslb", "client_if": "veth-client", "client_ip": "198.18.0.2"}
MIXES = ["cache", "ecs", "nx"]
MIX_TEXT = {
    "cache": "cache-friendly: 3 names (failover, weighted, geoip A), no ECS",
    "ecs": "GSLB with ECS from 4,096 client /24s (70 % geoip, 30 % failover/weighted); "
           "dnsperf only (kxdpgun's query file cannot carry ECS)",
    "nx": "40 % A, 30 % NODATA (MX/TXT/AAAA), 30 % NXDOMAIN (10,000 missing names)",
}
PATHS = {
    "lo": {"gen": "dnsperf", "text": "dnsperf, loopback", "mixes": MIXES},
    "veth": {"gen": "dnsperf", "text": "dnsperf from the netns over a veth", "mixes": MIXES},
    "xdp": {"gen": "kxdpgun", "text": "kxdpgun (AF_XDP) from the netns over a veth",
            "mixes": ["cache", "nx"]},
}
LOSS_LIMIT = 0.01
SHORT_LIMIT = 0.95
PIDFILE = None  # WORK/pids: every process we start, for scripts/bench.sh's clean-up trap


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def note_pid(pid):
    if PIDFILE:
        with open(PIDFILE, "a") as f:
            f.write(f"{pid}\n")


class Server:
    """One benchmark row: processes started in order; `targets` maps a path to (address, port)."""

    def __init__(self, name, label, procs, note, targets, ready, dpdk=False):
        self.name, self.label, self.procs, self.note = name, label, procs, note
        self.targets, self.ready, self.dpdk = targets, ready, dpdk
        self.running = []

    def start(self, workdir, wrapper=None):
        for pname, argv, ready in self.procs:
            full = ((["taskset", "-c", SERVER_CORE] if not self.dpdk else [])
                    + (wrapper(pname) if wrapper else []) + argv)
            log = open(os.path.join(workdir, f"{self.name}-{pname}.log"), "w")
            p = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            note_pid(p.pid)
            self.running.append((pname, p))
            if not wait_ready(ready, p, 120 if wrapper else 30):
                self.stop()
                raise RuntimeError(f"{self.name}: {pname} did not answer on {ready}; "
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


def wait_ready(target, proc, timeout):
    """target: (address, port, netns or None); ready when www answers with an address."""
    addr, port, ns = target
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if ns:
                r = subprocess.run(["ip", "netns", "exec", ns, "dig", "+short", "+time=1",
                                    "+tries=1", "-p", str(port), f"@{addr}",
                                    "www.gslb.example", "A"], capture_output=True, text=True,
                                   timeout=5)
                if re.search(r"^\d+\.\d+\.\d+\.\d+$", r.stdout, re.M):
                    return True
            else:
                q = dns.message.make_query("www.gslb.example.", "A")
                if dns.query.udp(q, addr, port=port, timeout=0.5).answer:
                    return True
        except Exception:
            pass
        time.sleep(0.3)
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


def servers(gen, gslbd, args, manifest):
    ports, veth = manifest["ports"], manifest.get("veth_address")
    entries = manifest.get("cache_entries", 65536)

    def kern(port):
        t = {"lo": ("127.0.0.1", port)}
        if veth:
            t["veth"] = t["xdp"] = (veth, port)
        return t

    def cfg(f):
        return os.path.join(gen, f)

    lo = lambda port: ("127.0.0.1", port, None)
    rows = [
        Server("gslbd", f"gslbd (socket, 1 worker, response cache {entries:,})",
               [("gslbd", [gslbd, "--config", cfg("gslbd.yml")], lo(ports["gslbd"]))],
               f"kernel UDP sockets (recvmmsg/sendmmsg), 1 worker thread, log off, per-worker "
               f"response cache of {entries:,} entries (gslbd's default `cache.entries`)",
               kern(ports["gslbd"]), None),
        Server("gslbd-nocache", "gslbd (socket, 1 worker, no cache)",
               [("gslbd", [gslbd, "--config", cfg("gslbd-nocache.yml")],
                 lo(ports["gslbd-nocache"]))],
               "as above with `cache.entries: 0`: every answer built by the policy engine; "
               "run on the kxdpgun path and under callgrind only (time)",
               {k: v for k, v in kern(ports["gslbd-nocache"]).items() if k == "xdp"}, None),
        Server("dnsdist+gdnsd", "dnsdist 1.7.3 (packet cache) + gdnsd 3.8",
               [("gdnsd", ["gdnsd", "-c", cfg("gdnsd"), "start"], lo(ports["gdnsd"])),
                ("dnsdist", ["dnsdist", "--supervised", "--disable-syslog", "-C",
                             cfg("dnsdist.conf")], lo(ports["dnsdist"]))],
               f"both on the one server core; dnsdist packet cache {entries:,} entries "
               "(keyed on the whole query incl. ECS, parseECS on); gdnsd simplefo / weighted / "
               "geoip with a nets map equal to gslbd's location map, service_types up (nothing "
               "probed), 1 UDP thread",
               kern(ports["dnsdist"]), None),
        Server("knotd", "knotd 3.2 (static zone, 1 UDP worker)",
               [("knotd", ["knotd", "-c", os.path.join(gen, "knot", "knot.conf")],
                 lo(ports["knotd"]))],
               "plain authoritative ceiling: the same names, one static address each, "
               "ignores ECS",
               kern(ports["knotd"]), None),
    ]
    if manifest.get("dpdk_address") and not args.no_dpdk:
        a = manifest["dpdk_address"]
        rows.append(Server(
            "gslbd-dpdk", f"gslbd (DPDK, 1 worker lcore, response cache {entries:,})",
            [("gslbd", [gslbd, "--config", cfg("gslbd-dpdk.yml")], (a, 53, NETNS))],
            "io: dpdk, EAL `-l 0,1`: worker lcore on core 1 busy-polls net_af_packet on "
            "veth-gslb (framecnt=8192, qdisc_bypass=1); the main/control lcore 0 shares core 0 "
            "with the generator and is nearly idle (no health checks, no API traffic); TAP "
            "exception device idle; the kernel's veth and af_packet work for the port is done "
            "in softirq on whichever core sends", {"veth": (a, 53), "xdp": (a, 53)},
            None, dpdk=True))
    if args.servers:
        keep = set(args.servers.split(","))
        rows = [r for r in rows if r.name in keep]
    if not veth:
        for r in rows:
            r.targets = {k: v for k, v in r.targets.items() if k == "lo"}
        rows = [r for r in rows if r.targets]
    return rows


# ---- generators -----------------------------------------------------------------------------

def in_netns(path):
    return [] if path == "lo" else ["ip", "netns", "exec", NETNS]


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


def dnsperf(path, target, datafile, seconds=None, rate=None, extra=()):
    argv = in_netns(path) + ["taskset", "-c", CLIENT_CORE, "dnsperf", "-B", "-s", target[0],
                             "-p", str(target[1]), "-T", "1", "-c", "8", "-q", "500", "-t", "2",
                             "-d", datafile] + list(extra)
    if seconds:
        argv += ["-l", str(seconds)]
    if rate:
        argv += ["-Q", str(rate)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=(seconds or 60) + 60)
    return r.stdout + r.stderr


def parse_kxdpgun(out):
    """kxdpgun 3.2.6 prints `total queries: N (R pps)`, `total replies: N (R pps) (P%)` and
    `responded RCODE: N` lines (plus `thread#00: sent N, received M`)."""
    q = re.search(r"total queries:\s+(\d+)", out)
    r = re.search(r"total replies:\s+(\d+)", out)
    d = re.search(r"duration:\s+([\d.]+)", out)
    rcodes = {m.group(1): int(m.group(2)) for m in re.finditer(r"responded (\w+):\s+(\d+)", out)}
    return {"sent": int(q.group(1)) if q else 0, "completed": int(r.group(1)) if r else 0,
            "duration": float(d.group(1)) if d else 0.0, "rcodes": rcodes,
            "mode": (re.search(r"UDP, (\w+) mode", out) or [None, None])[1]}


def mac(ifname, ns=None):
    argv = (["ip", "netns", "exec", ns] if ns else []) + ["cat", f"/sys/class/net/{ifname}/address"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def kxdpgun(target, qfile, seconds, rate, dpdk):
    """kxdpgun from the netns: interface, local address and remote MAC given explicitly (the
    DPDK port answers ARP itself, but an explicit -R does not depend on the neighbour table)."""
    ifname, local, peer = ((VETH["client_if"], VETH["client_ip"], VETH["dpdk_if"]) if dpdk
                           else (VETH["kclient_if"], VETH["kclient_ip"], VETH["kern_if"]))
    argv = ["ip", "netns", "exec", NETNS, "taskset", "-c", CLIENT_CORE, "kxdpgun", "-t",
            str(seconds), "-Q", str(rate), "-F", CLIENT_CORE, "-I", ifname, "-l", local,
            "-R", mac(peer), "-p", str(target[1]), "-i", qfile, target[0]]
    for attempt in range(4):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
            out = r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            out = f"timeout: {e}"
        # right after the previous run the XDP socket may not be released yet: it then fails
        # to start and sends nothing; that is not the generator's limit, so try again
        if re.search(r"total queries:\s+[1-9]", out):
            break
        print(f"bench:     kxdpgun sent nothing (attempt {attempt + 1}): "
              f"{out.strip()[-200:]}", flush=True)
        time.sleep(2)
    return out


def xdp_off():
    """kxdpgun leaves its XDP program attached to the netns interfaces; take it off."""
    for ifname in (VETH["client_if"], VETH["kclient_if"]):
        subprocess.run(["ip", "-n", NETNS, "link", "set", ifname, "xdp", "off"],
                       capture_output=True)


def one_step(srv, path, gen, mix, rate, seconds):
    t = srv.targets[path]
    if PATHS[path]["gen"] == "kxdpgun":
        out = kxdpgun(t, os.path.join(gen, f"kx-{mix}.txt"), seconds, rate, srv.dpdk)
        s = parse_kxdpgun(out)
        s["lost"] = max(0, s["sent"] - s["completed"])
        s["qps"] = s["completed"] / seconds
        if not s["sent"]:
            s["error"] = out.strip()[-300:]
    else:
        s = parse_dnsperf(dnsperf(path, t, os.path.join(gen, f"{mix}.bin"), seconds, rate))
    s["offered"] = rate
    s["loss"] = s["lost"] / s["sent"] if s["sent"] else 1.0
    # the generator may fall short of the offered rate: then it is the limit, not the server
    s["client_short"] = s["sent"] < SHORT_LIMIT * rate * seconds
    return s


class Search:
    """Highest offered rate with < 1 % loss: up in steps of max(coarse, rate × (grow − 1)),
    rounded to `fine` (so fast machines reach their limit in a few steps and slow ones are
    still measured finely), then halve the gap between the last good and the first bad rate
    down to `fine`. The first failure is retried once (one background hiccup does not end a
    row). A step the generator could not offer ends the search: the result is then a lower
    bound set by the generator."""

    def __init__(self, start, coarse, fine, top, retry, grow=1.0):
        self.coarse, self.fine, self.top, self.retry = coarse, fine, top, retry
        self.grow = grow
        self.next, self.lo, self.hi, self.best = start, 0, None, None
        self.steps, self.done, self.limit = [], False, None

    def record(self, s):
        self.steps.append(s)
        r = s["offered"]
        if s["client_short"]:
            if self.retry:  # the generator's core may just have been busy: once more
                self.retry = False
                return
            self.done, self.limit = True, "generator"
            return
        if s["loss"] < LOSS_LIMIT:
            self.best, self.lo = s, r
        elif self.retry:
            self.retry = False
            return  # same rate again
        else:
            self.hi = r
        if self.hi is None:
            step = max(self.coarse, round(r * (self.grow - 1) / self.fine) * self.fine)
            if r + step > self.top:
                self.done, self.limit = True, "top step"
            self.next = r + step
        elif self.hi - self.lo <= self.fine:
            self.done = True
        else:
            half = (self.hi - self.lo) / 2
            self.next = self.lo + max(self.fine, round(half / self.fine) * self.fine)
            if self.next >= self.hi:
                self.done = True

    def result(self):
        b = self.best
        return {"steps": self.steps, "max_rate_offered": b["offered"] if b else 0,
                "max_rate_answered_qps": round(b["qps"]) if b else 0,
                "limit": self.limit if b else self.limit}


def search_interleaved(rows, path, gen, mix, plan, seconds):
    srch = {r.name: Search(**plan) for r in rows}
    k = 0
    while True:
        alive = [r for r in rows if not srch[r.name].done]
        if not alive:
            break
        alive = alive[k % len(alive):] + alive[:k % len(alive)]
        k += 1
        for srv in alive:
            x = srch[srv.name]
            s = one_step(srv, path, gen, mix, x.next, seconds)
            x.record(s)
            print(f"bench:     {path}/{mix} {srv.name}: offered {s['offered']}, sent "
                  f"{s['sent']}, answered {s['completed']} ({s['loss'] * 100:.2f} % lost"
                  f"{', generator short' if s['client_short'] else ''})", flush=True)
    return {r.name: srch[r.name].result() for r in rows}


def latency(srv, gen, mix, rate, seconds):
    path = "veth" if "veth" in srv.targets else "lo"
    out = dnsperf(path, srv.targets[path], os.path.join(gen, f"{mix}.bin"), seconds, rate, ["-v"])
    lat = sorted(float(m.group(1)) for m in re.finditer(r"^> [A-Z]+ .* ([\d.]+)$", out, re.M))
    timeouts = len(re.findall(r"^> T ", out, re.M))
    s = parse_dnsperf(out)
    if not lat:
        return {"rate": rate, "path": path, "samples": 0, "timeouts": timeouts}
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    return {"rate": rate, "path": path, "samples": len(lat), "timeouts": timeouts,
            "avg_ms": sum(lat) / len(lat) * 1000, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
            "max_ms": lat[-1] * 1000, "dnsperf_avg_ms": s["avg_latency_ms"], "lost": s["lost"]}


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


def efficiency(srv, gen, workdir, mixes, rate):
    outdir = os.path.join(workdir, f"callgrind-{srv.name}")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    srv.start(workdir, callgrind_wrapper(outdir))
    result = {}
    try:
        for mix in mixes:
            per, answered = {}, {}
            for n in (2000, 20000):
                for pname, p in srv.running:
                    subprocess.run(["callgrind_control", "-z", str(p.pid)], capture_output=True,
                                   timeout=120)
                out = dnsperf("lo", srv.targets["lo"], os.path.join(gen, f"cg-{mix}-{n}.bin"),
                              None, rate, ["-n", "1", "-t", "10"])
                answered[n] = parse_dnsperf(out)["completed"]
                for pname, p in srv.running:
                    per.setdefault(pname, {})[n] = callgrind_dump(p.pid, outdir, pname,
                                                                  f"{mix}-{n}")
            d = answered[20000] - answered[2000]
            procs = {pname: round((v[20000] - v[2000]) / d) if d > 0 else None
                     for pname, v in per.items()}
            result[mix] = {"answered": answered, "ir": per, "per_process": procs,
                           "total": sum(v for v in procs.values() if v) if d > 0 else None}
    finally:
        srv.stop()
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
    def gdnsd():  # gdnsd has no --version; checkconf names it in its first lines
        try:
            r = subprocess.run(["gdnsd", "-c", "/nonexistent", "checkconf"],
                               capture_output=True, text=True, timeout=10)
        except Exception:
            return "unknown"
        return next((l for l in r.stderr.splitlines() if "version" in l), "unknown")
    return {"dnsdist": first(["dnsdist", "--version"]), "gdnsd": gdnsd(),
            "knotd": first(["knotd", "--version"]), "dnsperf": first(["dnsperf", "-h"]),
            "kxdpgun": first(["kxdpgun", "--version"]),
            "valgrind": first(["valgrind", "--version"])}


def ratio(a, b):
    return round(a / b, 1) if a and b else None


def cell(x):
    if not x:
        return "—"
    if not x["max_rate_answered_qps"]:
        return "< first step" + (" (generator short)" if x.get("limit") == "generator" else "")
    lb = "≥ " if x.get("limit") else ""
    why = {"generator": " ᵍ", "top step": " ᵗ"}.get(x.get("limit"), "")
    return f"{lb}{x['max_rate_answered_qps']:,}{why}"


def capacity_table(res, rows):
    md = ["| server | " + " | ".join(f"{p}: {m}" for p in PATHS for m in PATHS[p]["mixes"])
          + " |", "| --- | " + " | ".join("---:" for p in PATHS for _ in PATHS[p]["mixes"]) + " |"]
    for r in rows:
        md.append(f"| {r['label']} | " + " | ".join(
            cell(r["load"].get(p, {}).get(m)) for p in PATHS for m in PATHS[p]["mixes"]) + " |")
    return md


def dpdk_capacity_md(out):
    path = os.path.join(out, "dpdk_capacity.json")
    if not os.path.exists(path):
        return []
    md = ["\n## In-process DPDK capacity of one worker (bench/dpdk/bench_dpdk_capacity, "
          "`dpdk_capacity.json`)\n"]
    try:
        d = json.load(open(path))
        m = d.get("machine", {})
        md.append(f"* {', '.join(f'{k} {v}' for k, v in m.items())}; EAL `{d.get('eal', '')}`; "
                  "no kernel on the packet path (vdevs inside the process)\n")
        md.append("| mix | mode | packets | seconds | qps | cycles/packet | ns/packet |")
        md.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for x in d.get("results", []):
            md.append(f"| {x.get('mix')} | {x.get('mode')} | {x.get('packets', 0):,} | "
                      f"{x.get('seconds', 0):.2f} | {x.get('qps', 0):,.0f} | "
                      f"{x.get('cycles_per_packet', 0):,.0f} | {x.get('ns_per_packet', 0):,.1f} |")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        md.append(f"(unreadable: {e})")
    return md


def write_outputs(res, out):
    json.dump(res, open(os.path.join(out, "latest.json"), "w"), indent=2)
    rows = res["servers"]
    md = []
    m = res["machine"]
    md.append("# gslbd vs peers: latest run\n")
    md.append(f"* machine: {m['cpu']}, {m['cores']} cores, kernel {m['kernel']}, {m['date']}")
    md.append(f"* mode: {res['mode']} ({res['step_seconds']} s per rate step); load average "
              f"at start {m['loadavg_start']}, at end {res['loadavg_end']}, per phase "
              f"{res.get('loadavg_phase')} (a shared machine: compare rows of the same run)")
    md.append(f"* server core {SERVER_CORE}, generator core {CLIENT_CORE}; kernel-stack servers "
              "run at once (idle ones sleep), the DPDK row alone afterwards; at every rate step "
              "each server still searching gets its turn (rotating order); generated by "
              f"`scripts/bench.sh{' --quick' if res['mode'] == 'quick' else ''}` in "
              f"{res.get('elapsed_s', 0) / 60:.1f} min\n")
    md.append("## Highest offered rate answered with < 1 % loss: qps answered at that step\n")
    md.append("Paths: " + "; ".join(f"**{p}** = {v['text']}" for p, v in PATHS.items())
              + ". ≥ … ᵍ: the generator could not offer more (lower bound: the most it got "
              "answered with < 1 % loss); ≥ … ᵗ: top step "
              "reached (lower bound); — : not run on that path.\n")
    md += capacity_table(res, rows)
    md.append("\n## Ratios in this run (the claim)\n")
    for line in res["ratios_text"]:
        md.append(f"* {line}")
    lr = res["latency_rate"]
    md.append(f"\n## Latency at {lr:,} qps offered (every server sustains it), dnsperf over "
              "the veth (kernel rows: veth-kern, DPDK: veth-gslb), from `dnsperf -v` per-query "
              "lines: avg / p99 in ms\n")
    md.append("| server | " + " | ".join(MIXES) + " |")
    md.append("| --- | " + " | ".join("---:" for _ in MIXES) + " |")
    for r in rows:
        cells = []
        for mix in MIXES:
            x = r["latency"].get(mix)
            cells.append(f"{x['avg_ms']:.3f} / {x['p99_ms']:.3f}" if x and x.get("samples")
                         else "—")
        md.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    md.append("\n## Unlimited dnsperf (no -Q), cache mix: answered qps (lost)\n")
    md.append("| server | lo | veth |")
    md.append("| --- | ---: | ---: |")
    for r in rows:
        u = r.get("unlimited", {})
        md.append(f"| {r['label']} | " + " | ".join(
            f"{u[p]['qps']:,.0f} ({u[p]['loss'] * 100:.1f} %)" if p in u else "—"
            for p in ("lo", "veth")) + " |")
    if any(r.get("callgrind") for r in rows):
        md.append("\n## Instructions per answered query (callgrind over loopback, user space "
                  "only, marginal: (Ir after 20,000 − Ir after 2,000) / answered difference)\n")
        md.append("| server | " + " | ".join(MIXES) + " |")
        md.append("| --- | " + " | ".join("---:" for _ in MIXES) + " |")
        for r in rows:
            cg = r.get("callgrind") or {}
            if not cg:
                continue
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
    md += dpdk_capacity_md(out)
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
    if res["mode"] == "smoke":
        return  # a smoke run measures nothing: the READMEs keep the last real run
    root = os.path.join(out, "..", "..")
    # bench/README.md shows the latest tables, README.md the headline, between markers
    body = "\n".join(md[1:]).split("\n## Unlimited")[0].strip()
    replace_between(os.path.join(out, "..", "README.md"), "<!-- latest:begin -->",
                    "<!-- latest:end -->", body)
    head = md[1:3] + [""] + capacity_table(res, rows) + ["", "Ratios in this run:", ""] + [
        f"* {line}" for line in res["ratios_text"] if "dnsdist+gdnsd" in line]
    replace_between(os.path.join(root, "README.md"), "<!-- bench:begin -->",
                    "<!-- bench:end -->", "\n".join(head))


def replace_between(path, a, b, body):
    if not os.path.exists(path):
        return
    text = open(path).read()
    if a in text and b in text:
        text = text[:text.index(a) + len(a)] + "\n" + body + "\n" + text[text.index(b):]
        open(path, "w").write(text)


def chart(res, out):
    if not shutil.which("gnuplot"):
        return
    dat = os.path.join(out, ".chart.dat")
    cols = [(p, m) for p in PATHS for m in PATHS[p]["mixes"]]
    with open(dat, "w") as f:
        f.write("col " + " ".join(f'"{r["name"]}"' for r in res["servers"]) + "\n")
        for p, m in cols:
            f.write(f"{p}/{m} " + " ".join(
                str(r["load"].get(p, {}).get(m, {}).get("max_rate_answered_qps", 0))
                for r in res["servers"]) + "\n")
    n = len(res["servers"])
    # headroom above the highest bar: gnuplot's autoscale ends at a bar that sits on a tic
    top = max([r["load"].get(p, {}).get(m, {}).get("max_rate_answered_qps", 0)
               for r in res["servers"] for p, m in cols] + [1])
    script = f"""set terminal pngcairo size 1100,520 font ",10"
set output "{os.path.join(out, 'latest.png')}"
set title "Answered qps at the highest offered rate with < 1 % loss (one server core; generator on the other)\\nlo = dnsperf loopback, veth = dnsperf over a veth, xdp = kxdpgun over a veth; {res['machine']['cpu']}, {res['machine']['date']}, {res['mode']} run"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "qps"
set yrange [0:{round(top * 1.1)}]
set format y "%.0s%c"
set key top left
set grid ytics
plot for [i=2:{n + 1}] "{dat}" using i:xtic(1) title columnheader(i)
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.unlink(dat)


def finish(res, out):
    """Ratios and limits from the measurements; writes the outputs."""
    by = {r["name"]: r for r in res["servers"]}
    # A step the generator could not fully offer but that was answered with < 1 % loss still
    # shows the server doing at least that much: the better lower bound when it is higher.
    for r in res["servers"]:
        for x in (y for p in r["load"].values() for y in p.values()):
            if x.get("limit") != "generator":
                continue
            for s in x["steps"]:
                if s["client_short"] and s["loss"] < LOSS_LIMIT and \
                        s["qps"] > x["max_rate_answered_qps"]:
                    x["max_rate_answered_qps"] = round(s["qps"])
                    x["from_short_step"] = s["offered"]
    ratios, text = {}, []
    for g in ("gslbd-dpdk", "gslbd", "gslbd-nocache"):
        for base in ("dnsdist+gdnsd", "knotd"):
            if g not in by or base not in by:
                continue
            for path in PATHS:
                for mix in PATHS[path]["mixes"]:
                    a = by[g]["load"].get(path, {}).get(mix)
                    b = by[base]["load"].get(path, {}).get(mix)
                    if not a or not b:
                        continue
                    q = ratio(a["max_rate_answered_qps"], b["max_rate_answered_qps"])
                    if q is None:
                        continue
                    ratios[f"{g}/{base}/{path}/{mix}/qps"] = q
                    nums = (f"{a['max_rate_answered_qps']:,} vs "
                            f"{b['max_rate_answered_qps']:,} qps")
                    if a.get("limit") and b.get("limit"):
                        ratios[f"{g}/{base}/{path}/{mix}/qps"] = None
                        text.append(f"{path}/{mix}: {g} vs {base}: no ratio, both stopped by "
                                    f"the {a['limit']} ({nums})")
                    elif a.get("limit"):
                        text.append(f"{path}/{mix}: {g} ≥ {q}× {base} in the same run "
                                    f"({nums}; {g} stopped by the {a['limit']}: a lower bound)")
                    elif b.get("limit"):
                        text.append(f"{path}/{mix}: {g} ≤ {q}× {base} in the same run ({nums}; "
                                    f"{base} stopped by the {b['limit']}: an upper bound)")
                    else:
                        text.append(f"{path}/{mix}: {g} {q}× {base} in the same run ({nums})")
            for mix in MIXES:
                cg_g = (by[g].get("callgrind") or {}).get(mix, {}).get("total")
                cg_b = (by[base].get("callgrind") or {}).get(mix, {}).get("total")
                if cg_g and cg_b:
                    e = ratio(cg_b, cg_g)
                    ratios[f"{g}/{base}/{mix}/instructions"] = e
                    text.append(f"callgrind/{mix}: {base} executes {e}× the instructions per "
                                f"answered query of {g} (user space)")
    res["ratios"], res["ratios_text"] = ratios, text
    short = sorted({f"{r['name']}/{p}/{m}" for r in res["servers"]
                    for p, x in r["load"].items() for m, y in x.items()
                    if y.get("limit") == "generator"})
    res["limits"] = [
        "A 2-core VM: the generator's core also does kernel work for the server side (veth "
        "transmit runs the peer's receive path in softirq on the sending core; loopback charges "
        "both ends to both cores). dnsperf on one core tops out near 100–130k qps here; kxdpgun "
        "near 300k. A step the generator could not send 95 % of is marked client_short in "
        "latest.json and ends that row's search with a lower bound"
        + (f" (this run: {', '.join(short)})" if short else "") + ".",
        "The DPDK row reaches its port through net_af_packet on a veth: every packet is copied "
        "by the kernel into the af_packet ring and the transmit is a sendto() per burst, so this "
        "row measures the testbed as much as gslbd; the in-process table (if present) has no "
        "kernel on the path. kxdpgun drives the af_packet port in XDP native mode on "
        "veth-client (no generic mode, no program on the peer needed); it needs -I, -l and -R "
        "given explicitly only to not depend on the neighbour table.",
        "kxdpgun cannot put ECS options into its queries (its query file is `name type "
        "[E|D]`), so the ecs mix is measured with dnsperf only.",
        "Callgrind counts user-space instructions of the server processes only (no kernel, no "
        "generator); the marginal method cancels fixed costs but not timers that fire during "
        "the longer run (e.g. dnsdist's 1 s backend health check).",
        f"p99 comes from `dnsperf -v` per-query latencies at {res['latency_rate']:,} qps (this "
        "dnsperf 2.10 has no latency histogram option); with other work on the machine p99 "
        "reflects the scheduler (a time slice is ~4 ms), not the server.",
    ]
    if res.get("skipped"):
        res["limits"].append("Not run: " + "; ".join(res["skipped"]))
    write_outputs(res, out)
    return text


def main():
    global PIDFILE
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--gslbd", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true",
                    help="one 1 s step at 2,000 qps per row, lo/cache only: checks that the "
                         "driver runs (the test suite's bench-smoke), measures nothing")
    ap.add_argument("--no-dpdk", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--servers", default="")
    ap.add_argument("--skipped", action="append", default=[],
                    help="a reason something was not run (from bench.sh), goes into the limits")
    ap.add_argument("--render-only", action="store_true",
                    help="recompute ratios and rewrite the outputs from OUT/latest.json")
    args = ap.parse_args()
    if args.render_only:
        res = json.load(open(os.path.join(args.out, "latest.json")))
        print("\n".join(finish(res, args.out)))
        return
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the finally blocks stop every server
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(f"bench: signal {_[0]}"))
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    PIDFILE = os.path.join(args.work, "pids")
    manifest = json.load(open(os.path.join(args.gen, "manifest.json")))

    lat_rate = 20000
    if args.smoke:
        seconds, lat_seconds, cg_mixes, lat_rate = 1, 1, ["cache"], 2000
        one = dict(start=2000, coarse=2000, fine=1000, top=2000, retry=False)
        plans = {"dnsperf": one, "kxdpgun": one}
        mixes = {"lo": ["cache"], "veth": ["cache"], "xdp": ["cache"]}
    elif args.quick:
        seconds, lat_seconds, cg_mixes = 2, 2, ["cache", "ecs"]
        plans = {"dnsperf": dict(start=40000, coarse=40000, fine=20000, top=800000, retry=False,
                                 grow=1.5),
                 "kxdpgun": dict(start=80000, coarse=80000, fine=40000, top=3000000, retry=False,
                                 grow=1.5)}
        mixes = {"lo": ["cache", "ecs"], "veth": ["cache", "ecs"], "xdp": ["cache"]}
    else:
        seconds, lat_seconds, cg_mixes = 4, 5, MIXES
        # the tops are far above what one generator core offers here (dnsperf ~400k, kxdpgun
        # ~1M): a row ends at its own limit or the generator's, never at a common ceiling
        plans = {"dnsperf": dict(start=40000, coarse=40000, fine=10000, top=800000, retry=True,
                                 grow=1.3),
                 "kxdpgun": dict(start=50000, coarse=50000, fine=12500, top=3000000, retry=True,
                                 grow=1.3)}
        mixes = {p: v["mixes"] for p, v in PATHS.items()}

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    res = {"machine": machine(), "versions": versions(), "mode": mode,
           "step_seconds": seconds, "plans": plans, "latency_rate": lat_rate,
           "loss_limit": LOSS_LIMIT, "mixes": MIX_TEXT, "paths": PATHS, "servers": [],
           "skipped": list(args.skipped), "loadavg_phase": {}}
    rows = servers(args.gen, args.gslbd, args, manifest)
    for srv in rows:
        for _, _, (_, port, ns) in srv.procs:
            if not ns and not port_free(port):
                sys.exit(f"bench: port {port} on 127.0.0.1 is busy; pass another --port-base")
    table = {srv.name: {"name": srv.name, "label": srv.label, "note": srv.note,
                        "targets": srv.targets, "load": {}, "latency": {}, "unlimited": {}}
             for srv in rows}

    def run_phase(phase_rows, tag):
        started = []
        try:
            for srv in phase_rows:
                srv.start(args.work)
                started.append(srv)
            res["loadavg_phase"][tag] = loadavg()
            for path in PATHS:
                plan = plans[PATHS[path]["gen"]]
                prow = [r for r in phase_rows if path in r.targets]
                if not prow:
                    continue
                for mix in mixes[path]:
                    print(f"bench: {tag}: {path}/{mix} ({PATHS[path]['text']}), {seconds} s "
                          f"per step: {', '.join(r.name for r in prow)}", flush=True)
                    for name, x in search_interleaved(prow, path, args.gen, mix, plan,
                                                      seconds).items():
                        table[name]["load"].setdefault(path, {})[mix] = x
                        print(f"bench:   {path}/{mix} {name}: {cell(x)}", flush=True)
                if PATHS[path]["gen"] == "kxdpgun":
                    xdp_off()
                elif path in ("lo", "veth"):
                    for srv in prow:
                        u = parse_dnsperf(dnsperf(path, srv.targets[path],
                                                  os.path.join(args.gen, "cache.bin"), seconds))
                        u["loss"] = u["lost"] / u["sent"] if u["sent"] else 1.0
                        table[srv.name]["unlimited"][path] = u
            for srv in phase_rows:
                if not ({"veth", "lo"} & set(srv.targets)):
                    continue
                for mix in mixes["veth"]:
                    lt = latency(srv, args.gen, mix, lat_rate, lat_seconds)
                    table[srv.name]["latency"][mix] = lt
                    print(f"bench:   latency {srv.name}/{mix} at {lat_rate}: avg "
                          f"{lt.get('avg_ms', 0):.3f} ms, p99 {lt.get('p99_ms', 0):.3f} ms",
                          flush=True)
        finally:
            xdp_off()
            for srv in started:
                srv.stop()

    kernel_rows = [r for r in rows if not r.dpdk]
    dpdk_rows = [r for r in rows if r.dpdk]
    if kernel_rows:
        run_phase(kernel_rows, "kernel")
    if dpdk_rows:
        run_phase(dpdk_rows, "dpdk")

    for srv in kernel_rows:
        if args.skip_callgrind or "lo" not in srv.targets and srv.name != "gslbd-nocache":
            continue
        srv.targets.setdefault("lo", ("127.0.0.1", srv.procs[-1][2][1]))
        print(f"bench: {srv.name}: callgrind ({', '.join(cg_mixes)})", flush=True)
        row = table[srv.name]
        try:
            row["callgrind"] = efficiency(srv, args.gen, args.work, cg_mixes, 2000)
            for mix, x in row["callgrind"].items():
                print(f"bench:   {mix}: {x['total']} Ir/query {x['per_process']}", flush=True)
        except Exception as e:  # a peer that does not run under valgrind is reported
            print(f"bench: {srv.name}: callgrind failed: {e}", file=sys.stderr)
            row["callgrind_error"] = str(e)
    res["servers"] = [table[srv.name] for srv in rows]
    res["loadavg_end"] = loadavg()
    res["elapsed_s"] = round(time.time() - t0)
    print("\n".join(finish(res, args.out)))


if __name__ == "__main__":
    main()
