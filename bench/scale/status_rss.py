#!/usr/bin/python3
"""The control API at scale: memory and time of a full GET /api/v1/status and of /metrics, and
a full status asked while a reload runs (bench/scale/status.md).

Starts gslbd on scale.py's zone (N failover records x 3 backends, no health checks), then:
  * for each of /api/v1/status (full, with records) and /metrics, R times: the daemon's peak
    RSS during the request (VmHWM reset through clear_refs just before) against its RSS
    before, the request's wall time and the daemon's CPU seconds, the bytes received (and, for
    the status, that it parses with N records);
  * a reload through the API (one record changed; --reload-whole: the daemon runs with
    GSLBD_RELOAD_WHOLE=1, so that the reload parses every record and lasts longer) with a
    full status asked 0.3 s after the reload call went out: when its first byte came, when it
    ended, when the reload ended, and which generation the status showed.
All traffic stays on loopback.

--checks gives every backend a tcp check, one hour apart (the first rounds spread over that
hour), and takes the backends' addresses from 127.0.9.0/24 (loopback: nothing listens on port
9 there, so a probe is refused at once and never leaves the machine) instead of 192.0.2.0/24:
the 200 distinct addresses make 200 probe targets, but every backend is a probed
one in the monitor, so that the status reads the monitor's state for 300,000 backends and a
reload carries it over.

Usage: bench/scale/status_rss.py GSLBD_BINARY [--records 100000] [--repeat 2] [--reload-whole]
                                 [--checks]
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import free_port, proc_cpu, proc_status, start_gslbd, write_main, write_zone  # noqa: E402

TOKEN = "scale-bench-token"


def write_zone_checked(path, n, changed=False):
    """scale.py's zone with a tcp check on every backend, addresses in 127.0.9.0/24."""
    write_zone(path, n, changed, net="127.0.9.", head="  scrape_interval: 1h\n",
               backend_extra="        healthchecks:\n          - type: tcp\n"
                             "            params: {port: 9, timeout: 200ms}\n")


def get(url, timeout=600):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read(), r.headers


def measure_get(pid, url):
    before = proc_status(pid, "VmRSS")
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    cpu0, t0 = proc_cpu(pid), time.monotonic()
    body, headers = get(url)
    row = {"wall_s": round(time.monotonic() - t0, 3), "cpu_s": round(proc_cpu(pid) - cpu0, 3),
           "bytes": len(body), "rss_before_mb": round(before, 1),
           "peak_mb": round(proc_status(pid, "VmHWM"), 1),
           "rss_after_mb": round(proc_status(pid, "VmRSS"), 1),
           "transfer_encoding": headers.get("Transfer-Encoding", ""),
           "load_1m": round(os.getloadavg()[0], 2)}
    row["peak_growth_mb"] = round(row["peak_mb"] - before, 1)
    return row, body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--reload-whole", action="store_true")
    ap.add_argument("--checks", action="store_true")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.reload_whole:
        env["GSLBD_RELOAD_WHOLE"] = "1"
    n = args.records
    with tempfile.TemporaryDirectory(prefix="gslbd-status-rss-") as work:
        zone, main_file = os.path.join(work, "zone.yml"), os.path.join(work, "main.yml")
        token = os.path.join(work, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        zone_writer = write_zone_checked if args.checks else write_zone
        zone_writer(zone, n)
        port, api_port = free_port(), free_port()
        write_main(main_file, zone, port, api_port, token)
        base = f"http://127.0.0.1:{api_port}"
        p, _ = start_gslbd(args.binary, main_file, port, n, env=env)
        try:
            time.sleep(1.0)
            print(json.dumps({"records": n, "checks": args.checks, "steady_rss_mb": round(proc_status(p.pid, "VmRSS"), 1)}),
                  flush=True)
            for i in range(args.repeat):
                row, body = measure_get(p.pid, base + "/api/v1/status")
                doc = json.loads(body)
                row["records_listed"] = sum(len(z["records"]) for z in doc["zones"])
                row["backends_listed"] = sum(len(r["backends"]) for z in doc["zones"]
                                             for r in z["records"])
                del doc
                if row["records_listed"] != n:
                    raise RuntimeError(f"status lists {row['records_listed']} records, not {n}")
                print(json.dumps({"what": "status", "run": i + 1, **row}), flush=True)
            for i in range(args.repeat):
                row, body = measure_get(p.pid, base + "/metrics")
                row["lines"] = body.count(b"\n")
                print(json.dumps({"what": "metrics", "run": i + 1, **row}), flush=True)

            # a full status asked while a reload runs
            zone_writer(zone, n, changed=True)
            done = {}

            def reload():
                req = urllib.request.Request(base + "/api/v1/reload", method="POST", data=b"",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, timeout=600) as r:
                    done["reload_body"] = json.loads(r.read())
                done["reload_end"] = time.monotonic()

            t0 = time.monotonic()
            th = threading.Thread(target=reload)
            th.start()
            time.sleep(0.3)
            ts = time.monotonic()
            c = http.client.HTTPConnection("127.0.0.1", api_port, timeout=600)
            c.request("GET", "/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
            r = c.getresponse()
            first = r.read(1)
            tf = time.monotonic()
            body = first + r.read()
            te = time.monotonic()
            c.close()
            th.join()
            doc = json.loads(body)
            print(json.dumps({"what": "status during reload",
                              "status_asked_at_s": round(ts - t0, 3),
                              "status_first_byte_s": round(tf - ts, 3),
                              "status_wall_s": round(te - ts, 3),
                              "first_byte_before_reload_end": tf < done["reload_end"],
                              "reload_wall_s": round(done["reload_end"] - t0, 3),
                              "status_done_before_reload_end": te < done["reload_end"],
                              "status_generation": doc["generation"],
                              "reload_generation": done["reload_body"].get("generation"),
                              "load_1m": round(os.getloadavg()[0], 2)}), flush=True)
        finally:
            p.terminate()
            p.wait(timeout=60)


if __name__ == "__main__":
    main()
