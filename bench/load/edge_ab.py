#!/usr/bin/python3
"""Edge protection cost under load (docs/edge.md): gslbd with every edge feature on against the
same gslbd with none, in one run, on the cache-friendly mix of bench/load (3 names: failover,
weighted, geoip A; no ECS), dnsperf over loopback at full speed.

    /usr/bin/python3 bench/load/edge_ab.py --gslbd build/apps/gslbd/gslbd [--seconds 5]
        [--rounds 3] [--out bench/results/edge_ab.json]

"on" = an ACL of 8 rules over 5 prefix lengths (none matching the client), RRL with a rate
no client reaches (1,000,000/s: every response is debited, none limited), and DNS cookies.
Both servers run on core 1 (one worker), dnsperf on core 0; the rows alternate, `rounds`
times each, and the median answered qps of each is compared. Writes a JSON result with the
machine it ran on.
"""
import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EDGE = """
acl:
  rules:
    - {prefix: 10.0.0.0/8, action: drop}
    - {prefix: 10.1.0.0/16, action: refuse}
    - {prefix: 192.0.2.0/24, action: drop}
    - {prefix: 198.51.100.0/24, action: drop}
    - {prefix: 203.0.113.7/32, action: refuse}
    - {prefix: 172.16.0.0/12, action: drop}
    - {prefix: "2001:db8::/32", action: drop}
    - {prefix: "2001:db8:1::/48", action: refuse}
rrl:
  responses_per_second: 1000000
  slip: 2
cookies:
  secret: e5e973e5a6b2a43f48e7dc849e37bfcf
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port, edge):
    return f"""
listen:
  - 127.0.0.1:{port}
workers: 1
log_level: off
api:
  listen: off
geoip:
  location_map: {ROOT}/examples/location_map.yml
zones:
  - name: gslb.example.
    policy: {ROOT}/examples/gslb.example.yml
    ns:
      - name: ns1.gslb.example.
        addresses: [127.0.0.1]
{edge}
"""


def start(binary, path, port):
    p = subprocess.Popen(["taskset", "-c", "1", binary, "--config", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        r = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p", str(port),
                            "@127.0.0.1", "www.gslb.example", "A"], capture_output=True, text=True)
        if r.stdout.strip():
            return p
        time.sleep(0.1)
    p.kill()
    sys.exit(f"gslbd with {path} did not answer")


def dnsperf(port, qfile, seconds):
    out = subprocess.run(["taskset", "-c", "0", "dnsperf", "-s", "127.0.0.1", "-p", str(port),
                          "-d", qfile, "-l", str(seconds), "-c", "4", "-q", "200"],
                         capture_output=True, text=True).stdout
    return float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gslbd", required=True)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "edge_ab.json"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gslbd-edge-ab.")
    qfile = os.path.join(work, "cache.txt")
    with open(qfile, "w") as f:
        f.write("www.gslb.example A\nweighted.gslb.example A\ngeo.gslb.example A\n")
    rows = {}
    for name, edge in (("off", ""), ("on", EDGE)):
        port = free_port()
        path = os.path.join(work, f"{name}.yml")
        with open(path, "w") as f:
            f.write(config(port, edge))
        rows[name] = {"port": port, "proc": start(a.gslbd, path, port), "qps": []}
    try:
        for _ in range(a.rounds):
            for name in ("off", "on"):
                rows[name]["qps"].append(dnsperf(rows[name]["port"], qfile, a.seconds))
    finally:
        for r in rows.values():
            r["proc"].terminate()
            r["proc"].wait()
    off = statistics.median(rows["off"]["qps"])
    on = statistics.median(rows["on"]["qps"])
    result = {
        "what": "answered qps, cache mix, dnsperf over loopback, 1 worker on core 1",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
                   f"load {os.getloadavg()[0]:.2f}",
        "off_qps": rows["off"]["qps"], "on_qps": rows["on"]["qps"],
        "off_median": off, "on_median": on, "change": (on - off) / off,
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
