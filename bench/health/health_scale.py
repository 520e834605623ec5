#!/usr/bin/python3
"""Probe-scale and failover-delay benchmark for gslbd's health monitor (issue 3).

1. Scale: N records x 3 backends, each backend with an HTTP check every INTERVAL against
   local servers (one asyncio HTTP server bound to 0.0.0.0, reached at 127.x.y.z: every
   backend is a distinct probe target). Reports gslbd's CPU % (whole process: the idle
   workers cost nearly nothing, the health thread dominates) and resident memory after the
   first rounds, and the probe rate the HTTP server saw.
2. Failover delay: one failover record whose primary's HTTP server is stopped; reports
   the time from the stop to the first DNS answer without it, against interval x fall.

Usage: health_scale.py GSLBD_BIN [--records N] [--interval S] [--seconds S] [--json OUT]
All traffic stays on 127.0.0.0/8.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.message
import dns.query


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpCounter:
    """Minimal HTTP/1.1 responder (200 "ok", Connection: close) in its own thread."""

    def __init__(self, port, host="0.0.0.0"):
        self.port, self.host, self.requests, self.stopped = port, host, 0, False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        self.ready.wait(5)

    async def _handle(self, reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port, backlog=4096, reuse_address=True))
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        def _close():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(_close)
        self.thread.join(5)
        self.stopped = True


def main_config(port, zone_file):
    return f"""listen:
  - {{address: 127.0.0.1, port: {port}, tcp: false}}
workers: 1
log_level: warn
cache:
  entries: 0
zones:
  - name: scale.test.
    policy: {zone_file}
    ns:
      - name: ns1.scale.test.
        addresses: [127.0.0.1]
"""


def backend(addr, port, prio, interval):
    return f"""      - address: "{addr}"
        priority: {prio}
        healthchecks:
          - type: http
            params: {{port: {port}, uri: /health, timeout: 2s}}
"""


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_gslbd(binary, directory, zone_text):
    port = free_port(socket.SOCK_DGRAM)
    (directory / "zone.yml").write_text(zone_text)
    cfg = directory / "gslbd.yml"
    cfg.write_text(main_config(port, "zone.yml"))
    log = open(directory / "gslbd.log", "wb")
    proc = subprocess.Popen([binary, "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    q = dns.message.make_query("ns1.scale.test.", "A")
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"gslbd exited: {(directory / 'gslbd.log').read_text()}")
        try:
            dns.query.udp(q, "127.0.0.1", port=port, timeout=0.2)
            return proc, port
        except Exception:
            time.sleep(0.1)
    raise SystemExit("gslbd did not start")


def scale(binary, records, interval, seconds):
    http_port = free_port()
    srv = HttpCounter(http_port)
    lines = [f"defaults:\n  scrape_interval: {interval}s\n  scrape_timeout: 2s\nrecords:\n"]
    for i in range(records):
        lines.append(f"  r{i}.scale.test.:\n    mode: failover\n    backends:\n")
        for j in range(3):
            n = i * 3 + j
            addr = f"127.{1 + n // 62500}.{(n // 250) % 250}.{n % 250 + 1}"  # distinct targets
            lines.append(backend(addr, http_port, j + 1, interval))
    with tempfile.TemporaryDirectory() as d:
        proc, _ = start_gslbd(binary, Path(d), "".join(lines))
        # the first interval staggers the first probes: measure in steady state after it
        time.sleep(interval + 2)
        c0, r0, t0 = proc_cpu_seconds(proc.pid), srv.requests, time.monotonic()
        time.sleep(seconds)
        c1, r1, t1 = proc_cpu_seconds(proc.pid), srv.requests, time.monotonic()
        rss = proc_rss_mb(proc.pid)
        ts = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutdown = time.monotonic() - ts
    srv.stop()
    return {
        "records": records, "backends": records * 3, "interval_s": interval,
        "cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 2),
        "rss_mb": round(rss, 1),
        "probes_per_s": round((r1 - r0) / (t1 - t0), 1),
        "expected_probes_per_s": round(records * 3 / interval, 1),
        "shutdown_s": round(shutdown, 2),
    }


def failover_delay(binary, interval, fall, repeats=5):
    results = []
    for _ in range(repeats):
        port_a, port_b = free_port(), free_port()
        a, b = HttpCounter(port_a, "127.0.0.1"), HttpCounter(port_b, "127.0.0.1")
        zone = (f"defaults:\n  scrape_interval: {interval}s\n  scrape_timeout: {interval}s\n"
                f"  fall: {fall}\n  rise: 2\nrecords:\n  fo.scale.test.:\n    mode: failover\n"
                f"    record_ttl: 1\n    backends:\n"
                + backend("127.0.0.1", port_a, 1, interval).replace("timeout: 2s", f"timeout: {interval}s")
                + backend("127.0.0.2", port_b, 2, interval).replace("timeout: 2s", f"timeout: {interval}s")
                .replace(f"port: {port_b}", f"port: {port_b}"))
        # backend B's server listens on 127.0.0.1 but the probe goes to 127.0.0.2:port_b —
        # give B its own server on 127.0.0.2
        b.stop()
        b = HttpCounter(port_b, "127.0.0.2")
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
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--failover-interval", type=float, default=1.0)
    ap.add_argument("--fall", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {"machine": {"cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
                       "cores": os.cpu_count(), "kernel": os.uname().release,
                       "loadavg": open("/proc/loadavg").read().split()[:3],
                       "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
           "scale": scale(args.gslbd, args.records, args.interval, args.seconds),
           "failover": failover_delay(args.gslbd, args.failover_interval, args.fall)}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
