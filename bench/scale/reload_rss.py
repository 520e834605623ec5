#!/usr/bin/python3
"""RSS over back-to-back reloads (issue 20): does memory come back after each reload?

Starts gslbd on scale.py's zone (N failover records x 3 backends, no DNS load), then reloads
it K times through POST /api/v1/reload (synchronous: the call returns once the generation is
served), one record changed each time (alternately), and prints per reload: the call's wall
time, the daemon's CPU seconds, RSS after it and the peak since the previous one (VmHWM reset
through clear_refs). Extra environment for gslbd (e.g. MALLOC_ARENA_MAX=1) is passed with
--env; all traffic stays on loopback.

Usage: bench/scale/reload_rss.py GSLBD_BINARY [--records 30000] [--reloads 8] [--env K=V ...]
"""
import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import free_port, proc_cpu, proc_status, start_gslbd, write_main, write_zone  # noqa: E402

TOKEN = "scale-bench-token"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--records", type=int, default=30000)
    ap.add_argument("--reloads", type=int, default=8)
    ap.add_argument("--env", action="append", default=[])
    args = ap.parse_args()
    env = dict(os.environ)
    for kv in args.env:
        k, v = kv.split("=", 1)
        env[k] = v
    n = args.records
    rows = []
    with tempfile.TemporaryDirectory(prefix="gslbd-reload-rss-") as work:
        zone, main = os.path.join(work, "zone.yml"), os.path.join(work, "main.yml")
        token = os.path.join(work, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        write_zone(zone, n)
        port, api_port = free_port(), free_port()
        write_main(main, zone, port, api_port, token)
        p, _ = start_gslbd(args.binary, main, port, n, env=env)
        try:
            time.sleep(1.0)
            steady = proc_status(p.pid, "VmRSS")
            print(f"records {n}: steady RSS {steady:.1f} MB, env {args.env}", flush=True)
            for i in range(args.reloads):
                write_zone(zone, n, changed=(i % 2 == 0))
                with open(f"/proc/{p.pid}/clear_refs", "w") as f:
                    f.write("5")
                req = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v1/reload",
                                             method="POST", data=b"",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
                cpu0, t1 = proc_cpu(p.pid), time.monotonic()
                with urllib.request.urlopen(req, timeout=600) as r:
                    body = json.loads(r.read())
                if not body.get("ok"):
                    raise RuntimeError(f"reload failed: {body}")
                row = {"reload": i + 1, "wall_s": round(time.monotonic() - t1, 3),
                       "cpu_s": round(proc_cpu(p.pid) - cpu0, 3),
                       "rss_mb": round(proc_status(p.pid, "VmRSS"), 1),
                       "peak_mb": round(proc_status(p.pid, "VmHWM"), 1),
                       "load_1m": round(os.getloadavg()[0], 2)}
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            p.terminate()
            p.wait(timeout=120)
    last = rows[-1]["rss_mb"] if rows else 0
    print(f"steady {steady:.1f} MB -> after {len(rows)} reloads {last:.1f} MB "
          f"({100.0 * (last - steady) / steady:+.1f} %), worst peak "
          f"{max(r['peak_mb'] for r in rows):.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
