#!/usr/bin/python3
"""Edge protection cost under load (docs/edge.md "Cost"): gslbd with every edge feature on
against the same gslbd with none, in one run, on the load benchmark's cache mix.

    /usr/bin/python3 bench/load/edge_ab.py --gslbd build-bench/apps/gslbd/gslbd [--seconds 2]
        [--rounds 40] [--files cache,cookie] [--skip-callgrind] [--port-base 5490]
        [--out bench/results/edge_ab.json]

It reuses the load benchmark (bench/load): gen.py writes the zone, gslbd.yml (1 worker,
response cache of 65,536 entries) and the query files; run.py's Server, dnsperf and callgrind
code runs them: server on core 1, dnsperf (-B, 8 sockets, 500 outstanding) on core 0.

Rows (each a separate gslbd, all running at once):
  off   gslbd.yml as gen.py writes it
  on    the same plus an ACL of 8 rules over 6 prefix lengths (none matching the client: every
        length probed), RRL with a rate no client reaches (1,000,000/s: every response is
        debited, none limited), dynamic blocks on every threshold (queries, NXDOMAIN, ANY,
        response bytes; never reached: every query counted and checked) and DNS cookies
Query files:
  cache      gen.py's cache.bin: 3 A names, EDNS0, no cookie (most clients today)
  cookie     the same 3 queries with a COOKIE option (client cookie + a valid server cookie
             fetched from the "on" row first): on that row each query is verified (SipHash)
             and answered with a fresh cookie, and is exempt from RRL and dynamic blocks

Throughput, made to survive a shared, noisy machine: A/B pairs. Per round and query file,
"off" and "on" run back to back (unlimited dnsperf, `seconds` each), the order flipped every
round (ABBA: a load that rises or falls over a pair favours neither row). The figure is the
per-pair ratio on / off of answered qps (`pair_summary`: median over the pairs, a
distribution-free 95 % confidence interval of that median from order statistics, quartiles,
min, max, all as changes: -0.05 = 5 % fewer); the server's CPU time (user + kernel, from /proc)
per answered query is paired the same way (`pair_cpu_summary`, as answers per CPU-second).
Row medians (`median`, `change`, `cpu_us_median`, `capacity_change`) and the 1-minute load
average after each pair (`loadavg_1min`) are kept too. The callgrind figure (marginal
instructions per answered query, user space, every thread, run.py's method: N = 2,000 and
20,000 queries) comes after. Writes a JSON result with the machine.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

import dns.edns
import dns.message
import dns.query

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run as load  # noqa: E402  (bench/load/run.py)

SECRET = "e5e973e5a6b2a43f48e7dc849e37bfcf"
CLIENT_COOKIE = bytes.fromhex("0123456789abcdef")
EDGE = f"""
acl:
  rules:
    - {{prefix: 10.0.0.0/8, action: drop}}
    - {{prefix: 10.1.0.0/16, action: refuse}}
    - {{prefix: 192.0.2.0/24, action: drop}}
    - {{prefix: 198.51.100.0/24, action: drop}}
    - {{prefix: 203.0.113.7/32, action: refuse}}
    - {{prefix: 172.16.0.0/12, action: drop}}
    - {{prefix: "2001:db8::/32", action: drop}}
    - {{prefix: "2001:db8:1::/48", action: refuse}}
rrl:
  responses_per_second: 1000000
  slip: 2
dynamic_blocks:
  queries_per_second: 10000000
  nxdomains_per_second: 1000000
  any_per_second: 1000000
  response_bytes_per_second: 100000000
  window: 10
  duration: 60
cookies:
  secret: {SECRET}
"""


def write_bin(path, wires):
    with open(path, "wb") as f:
        for w in wires:
            f.write(struct.pack("!H", len(w)) + w)


def read_bin(path):
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        n = struct.unpack("!H", data[i:i + 2])[0]
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out


def cookie_files(gen, port):
    """cookie.bin and cg-cookie-{2000,20000}.bin: cache.bin's queries with the client cookie
    and the server cookie the "on" row gives 127.0.0.1 (valid for an hour)."""
    q = dns.message.make_query("www.gslb.example.", "A")
    q.use_edns(0, payload=1232, options=[dns.edns.GenericOption(dns.edns.COOKIE, CLIENT_COOKIE)])
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    opt = [o for o in r.options if o.otype == dns.edns.COOKIE]
    assert opt, "the edge row sent no cookie"
    cookie = opt[0].to_wire() if hasattr(opt[0], "to_wire") else opt[0].data
    assert len(cookie) == 24 and cookie[:8] == CLIENT_COOKIE, cookie.hex()
    wires = []
    for w in read_bin(os.path.join(gen, "cache.bin")):
        m = dns.message.from_wire(w)
        m.use_edns(0, payload=1232, options=[dns.edns.GenericOption(dns.edns.COOKIE, cookie)])
        wires.append(m.to_wire())
    write_bin(os.path.join(gen, "cookie.bin"), wires)
    for n in (2000, 20000):
        write_bin(os.path.join(gen, f"cg-cookie-{n}.bin"),
                  [wires[i % len(wires)] for i in range(n)])
    return cookie.hex()


def median_ci(xs, level=0.95):
    """Distribution-free confidence interval of the median (order statistics, sign test):
    the k-th smallest and k-th largest value, k the largest with P(Binom(n, 1/2) < k) within
    (1 - level) / 2. None when there are too few values for that level."""
    xs, n = sorted(xs), len(xs)
    k, tail = 0, 0.0
    while k < n:
        p = math.comb(n, k) / 2 ** n
        if tail + p > (1 - level) / 2:
            break
        tail += p
        k += 1
    return (xs[k - 1], xs[n - k]) if k >= 1 else None


def spread(ratios):
    """Median, its 95 % confidence interval, quartiles, min and max of per-pair ratios
    (on / off), as changes (-0.05 = 5 % fewer), and how many pairs."""
    q = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    ch = lambda x: round(x - 1, 4)
    ci = median_ci(ratios)
    return {"pairs": len(ratios), "median": ch(statistics.median(ratios)),
            "median_ci95": [ch(ci[0]), ch(ci[1])] if ci else None, "q1": ch(q[0]),
            "q3": ch(q[2]), "min": ch(min(ratios)), "max": ch(max(ratios))}


def cpu_seconds(pid):
    """User + system CPU time of process `pid` and its threads so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rows(gen, gslbd, ports):
    base = open(os.path.join(gen, "gslbd.yml")).read()
    on = base.replace(f"port: {ports['gslbd']},", f"port: {ports['on']},") + EDGE
    assert on != base + EDGE, "gslbd.yml's listen line changed: adjust edge_ab.py"
    open(os.path.join(gen, "gslbd-edge.yml"), "w").write(on)
    lo = lambda port: ("127.0.0.1", port, None)
    out = {}
    for name, cfg, port in (("off", "gslbd.yml", ports["gslbd"]),
                            ("on", "gslbd-edge.yml", ports["on"])):
        out[name] = load.Server(f"edge-{name}", f"gslbd, edge protection {name}",
                                [("gslbd", [gslbd, "--config", os.path.join(gen, cfg)],
                                  lo(port))], "", {"lo": ("127.0.0.1", port)}, None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gslbd", required=True)
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--port-base", type=int, default=5490)
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--files", default="cache,cookie", help="query files: cache, cookie")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "edge_ab.json"))
    a = ap.parse_args()
    gslbd = os.path.abspath(a.gslbd)
    work = tempfile.mkdtemp(prefix="gslbd-edge-ab.")
    gen = os.path.join(work, "gen")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), gen,
                    "--port-base", str(a.port_base)], check=True, capture_output=True)
    ports = json.load(open(os.path.join(gen, "manifest.json")))["ports"]
    ports["on"] = a.port_base + 9
    for p in (ports["gslbd"], ports["on"]):
        if not load.port_free(p):
            sys.exit(f"edge_ab: port {p} is busy; pass another --port-base")
    srv = rows(gen, gslbd, ports)
    res = {"what": "gslbd with ACL (8 rules), RRL, dynamic blocks and cookies on, against all "
                   "off; load benchmark cache mix (bench/load/gen.py cache.bin), and the same "
                   "queries carrying a valid DNS cookie; 1 worker on core 1, dnsperf on core 0",
           "machine": load.machine(), "seconds": a.seconds, "rounds": a.rounds, "edge": EDGE,
           "qps": {}, "cpu_us": {}, "pair_ratio": {}, "pair_cpu_ratio": {},
           "loadavg_1min": [], "callgrind": {}}
    files = tuple(a.files.split(","))
    assert set(files) <= {"cache", "cookie"}, files
    try:
        for s in srv.values():
            s.start(work)
        res["cookie"] = cookie_files(gen, ports["on"])
        # A/B pairs: per round and file, "off" and "on" back to back (ABBA: the order flips
        # every round, so a load that grows or shrinks over a pair favours neither row).
        # Both rows see nearly the same machine within a pair, so the per-pair ratio is the
        # figure; the medians of all rows come out of the same runs.
        for k in range(a.rounds):
            for f in files:
                pair = {}
                for r in (("off", "on") if k % 2 == 0 else ("on", "off")):
                    pid = srv[r].running[0][1].pid
                    cpu0 = cpu_seconds(pid)
                    out = load.dnsperf("lo", srv[r].targets["lo"],
                                       os.path.join(gen, f"{f}.bin"), a.seconds)
                    cpu = cpu_seconds(pid) - cpu0
                    s = load.parse_dnsperf(out)
                    # the server's CPU time (user + kernel) per answered query: what one core
                    # could answer, less disturbed by the machine's other load than the qps
                    us = cpu / s["completed"] * 1e6 if s["completed"] else None
                    pair[r] = (s["qps"], us)
                    res["qps"].setdefault(f, {}).setdefault(r, []).append(round(s["qps"]))
                    res["cpu_us"].setdefault(f, {}).setdefault(r, []).append(
                        us and round(us, 3))
                    print(f"edge_ab: round {k + 1} {f} {r}: {s['qps']:.0f} qps "
                          f"({s['lost']} lost), {us or 0:.2f} us CPU per answer", flush=True)
                if pair["off"][0] and pair["on"][0]:
                    res["pair_ratio"].setdefault(f, []).append(
                        round(pair["on"][0] / pair["off"][0], 4))
                if pair["off"][1] and pair["on"][1]:
                    res["pair_cpu_ratio"].setdefault(f, []).append(
                        round(pair["off"][1] / pair["on"][1], 4))
                res["loadavg_1min"].append(load.loadavg()[0])
    finally:
        for s in srv.values():
            s.stop()
    res["median"] = {f: {r: statistics.median(v) for r, v in res["qps"][f].items()}
                     for f in files}
    res["change"] = {f: round(res["median"][f]["on"] / res["median"][f]["off"] - 1, 4)
                     for f in files}
    res["cpu_us_median"] = {f: {r: statistics.median(x for x in v if x)
                                for r, v in res["cpu_us"][f].items()} for f in files}
    # answers per CPU-second, on against off
    res["capacity_change"] = {
        f: round(res["cpu_us_median"][f]["off"] / res["cpu_us_median"][f]["on"] - 1, 4)
        for f in files}
    # the goal's figure: answered queries, on against off, per A/B pair (median, quartiles)
    res["pair_summary"] = {f: spread(res["pair_ratio"][f]) for f in files}
    res["pair_cpu_summary"] = {f: spread(res["pair_cpu_ratio"][f]) for f in files}
    if not a.skip_callgrind:
        for r in ("off", "on"):
            cg = load.efficiency(srv[r], gen, work, list(files), 5000)
            res["callgrind"][r] = {f: cg[f]["total"] for f in files}
        res["callgrind_change"] = {
            f: res["callgrind"]["on"][f] - res["callgrind"]["off"][f] for f in files}
    res["machine"]["loadavg_end"] = load.loadavg()
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: res[k] for k in ("median", "change", "pair_summary", "pair_cpu_summary",
                                          "cpu_us_median", "capacity_change", "callgrind")},
                     indent=2))


if __name__ == "__main__":
    main()
