#!/usr/bin/env python3
"""Reload CPU by kind of edit (issue 20's incremental zone-file read), binaries interleaved.

bench/scale/scale.py's zone (N failover records x 3 backends, `defaults` + `records:`) is
loaded by a daemon per binary; then, ROUNDS times each, two reloads through the API:
  * one_record: one backend of the middle record changed (scale.py's `changed` file);
  * comment:    a comment line added at the top of the file (removed again the next round),
                so that every record moves one line down and nothing else changes.
For each reload: CPU seconds of the daemon (user + system, /proc), wall time of the call, and
the reload log's counts (records parsed / moved / shared, files read by record or whole).
Binaries run A B B A (ABBA), each in a fresh daemon, so that load drift cancels out.

Usage: bench/scale/reload_edit.py BEFORE_BINARY AFTER_BINARY [--records 100000] [--rounds 3]
Prints one JSON object per reload and a summary (medians per binary and kind).
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import free_port, proc_cpu, start_gslbd, write_main, write_zone  # noqa: E402

COUNTS = re.compile(r"(\d+) parsed, (\d+) moved .*?zone files read by record: (\d+), whole: (\d+)")
SHARED = re.compile(r"unchanged \((\d+) shared")


def run(binary, label, n, rounds, work):
    zone = os.path.join(work, "zone.yml")
    main = os.path.join(work, "main.yml")
    token = os.path.join(work, "token")
    log = os.path.join(work, f"log-{label}.txt")
    with open(token, "w") as f:
        f.write("reload-edit-token\n")
    write_zone(zone, n)
    dns_port, api_port = free_port(), free_port()
    write_main(main, zone, dns_port, api_port, token, log_level="info")
    out = []
    p, _ = start_gslbd(binary, main, dns_port, n, log=log, timeout=300)
    try:
        changed = False
        comment = False
        for r in range(rounds):
            for kind in ("one_record", "comment"):
                if kind == "one_record":
                    changed = not changed
                    write_zone(zone, n, changed=changed)
                    if comment:
                        with open(zone) as f:
                            text = f.read()
                        with open(zone, "w") as f:
                            f.write("# a comment line above everything\n" + text)
                else:
                    comment = not comment
                    with open(zone) as f:
                        text = f.read()
                    if comment:
                        text = "# a comment line above everything\n" + text
                    else:
                        text = text.split("\n", 1)[1]
                    with open(zone, "w") as f:
                        f.write(text)
                before_log = os.path.getsize(log)
                req = urllib.request.Request(
                    f"http://127.0.0.1:{api_port}/api/v1/reload", method="POST", data=b"",
                    headers={"Authorization": "Bearer reload-edit-token"})
                load = os.getloadavg()[0]
                cpu0 = proc_cpu(p.pid)
                t1 = time.monotonic()
                with urllib.request.urlopen(req, timeout=600) as resp:
                    body = json.loads(resp.read())
                wall = time.monotonic() - t1
                cpu = proc_cpu(p.pid) - cpu0
                if not body.get("ok"):
                    raise RuntimeError(f"reload failed: {body}")
                time.sleep(0.3)
                with open(log) as f:
                    f.seek(before_log)
                    tail = f.read()
                m, s = COUNTS.search(tail), SHARED.search(tail)
                row = {"binary": label, "kind": kind, "round": r, "reload_cpu_s": round(cpu, 3),
                       "reload_wall_s": round(wall, 3), "load_average_1m": round(load, 2)}
                if m:
                    row.update(parsed=int(m.group(1)), moved=int(m.group(2)),
                               files_by_record=int(m.group(3)), files_whole=int(m.group(4)))
                if s:
                    row["shared"] = int(s.group(1))
                print(json.dumps(row), flush=True)
                out.append(row)
    finally:
        p.terminate()
        p.wait(timeout=60)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gslbd-reload-edit-") as work:
        for label in ("before", "after", "after", "before"):
            binary = os.path.abspath(getattr(args, label))
            rows += run(binary, label, args.records, args.rounds, work)
    print("summary (median reload CPU seconds):")
    for label in ("before", "after"):
        for kind in ("one_record", "comment"):
            xs = [r["reload_cpu_s"] for r in rows if r["binary"] == label and r["kind"] == kind]
            loads = [r["load_average_1m"] for r in rows if r["binary"] == label]
            print(f"  {label:6} {kind:10} {statistics.median(xs):.3f} s  "
                  f"(n={len(xs)}, min {min(xs):.3f}, max {max(xs):.3f}; load {min(loads)}-{max(loads)})")


if __name__ == "__main__":
    main()
