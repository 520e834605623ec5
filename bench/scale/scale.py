#!/usr/bin/env python3
"""Control-side scale benchmark (issue 20): config load, steady memory and reload of N records.

For each N (default 1,000, 10,000, 100,000 failover records x 3 backends, no health checks so
that only the configuration side is measured):
  * `gslbd --check-config`: wall time, user + system CPU, peak RSS (one child, getrusage);
  * the daemon started on loopback: time until the first DNS answer, steady RSS;
  * a reload through the API with one record changed: wall time of the call, RSS after, and
    the peak (VmHWM) during it, against the steady RSS.
Writes OUT/scale.json, OUT/scale.md and OUT/scale.png (gnuplot, when installed).

Usage: bench/scale/scale.py GSLBD_BINARY [--sizes 1000,10000,100000] [--out bench/results]
"""
import argparse
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_zone(path, n, changed=False, net="192.0.2.", head="", backend_extra=""):
    """N failover records x 3 backends at NET.10-209; `changed` moves one backend of the
    middle record to NET.99. `head` goes into `defaults`, `backend_extra` under each backend
    (both as indented YAML lines)."""
    with open(path, "w") as f:
        f.write(f"defaults:\n  record_ttl: 30\n{head}records:\n")
        for i in range(n):
            f.write(f"  r{i}.scale.test.:\n    mode: failover\n    backends:\n")
            for j in range(3):
                last = 99 if (changed and i == n // 2 and j == 2) else (i * 3 + j) % 200 + 10
                f.write(f'      - address: "{net}{last}"\n        priority: {j + 1}\n{backend_extra}')


def write_main(path, zone, dns_port, api_port, token_file, log_level="warning"):
    with open(path, "w") as f:
        f.write(f"""listen: [127.0.0.1:{dns_port}]
workers: 1
log_level: {log_level}
cache: {{entries: 1024}}
api:
  listen: 127.0.0.1:{api_port}
  token_file: {token_file}
zones:
  - name: scale.test.
    policy: {zone}
    soa: {{mname: ns1.scale.test., rname: h.scale.test., serial: 1, refresh: 3600, retry: 600, expire: 604800, minimum: 60, ttl: 3600}}
    ns:
      - name: ns1.scale.test.
        addresses: [127.0.0.1]
""")


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # MB
    return 0.0


def proc_cpu(pid):
    """User + system CPU seconds of process `pid` so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gslbd(binary, main, dns_port, n, env=None, log=None, timeout=600):
    """Starts `binary --config main` and waits until it answers the zone's last record.
    Returns (process, seconds until then). Its output goes to the file `log`, else stderr is
    kept for the error raised when it exits first."""
    out = open(log, "w") if log else None
    p = subprocess.Popen([os.path.abspath(binary), "--config", main], env=env,
                         stdout=out or subprocess.DEVNULL, stderr=out or subprocess.PIPE)
    if out:
        out.close()
    t0 = time.monotonic()
    while not dns_answers(dns_port, f"r{n - 1}.scale.test."):
        if p.poll() is not None:
            why = open(log).read()[-2000:] if log else p.stderr.read().decode()
            raise RuntimeError("gslbd exited: " + why)
        if time.monotonic() - t0 > timeout:
            p.kill()
            p.wait()
            raise RuntimeError(f"gslbd did not answer within {timeout} s")
    return p, time.monotonic() - t0


def dns_answers(port, name):
    """One A query over UDP with a hand-built packet (no dnspython needed); True on NOERROR."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(q, ("127.0.0.1", port))
            r = s.recv(4096)
            return len(r) > 4 and r[:2] == b"\x12\x34" and (r[3] & 0x0F) == 0
        except OSError:
            return False


def measure(binary, n, work):
    zone = os.path.join(work, f"zone{n}.yml")
    main = os.path.join(work, f"main{n}.yml")
    token = os.path.join(work, "token")
    with open(token, "w") as f:
        f.write("scale-bench-token\n")
    write_zone(zone, n)
    dns_port, api_port = free_port(), free_port()
    write_main(main, zone, dns_port, api_port, token)
    out = {"records": n, "backends": 3 * n, "zone_bytes": os.path.getsize(zone),
           "load_average_1m": round(os.getloadavg()[0], 2)}

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run([binary, "--check-config", main], check=True, stdout=subprocess.DEVNULL)
    out["check_wall_s"] = round(time.monotonic() - t0, 3)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["check_cpu_s"] = round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 3)
    # ru_maxrss of children is the largest child so far: sizes run in ascending order
    out["check_peak_rss_mb"] = round(after.ru_maxrss / 1024.0, 1)

    p, started = start_gslbd(binary, main, dns_port, n, timeout=300)
    try:
        out["start_to_answer_s"] = round(started, 3)
        out["start_cpu_s"] = round(proc_cpu(p.pid), 3)
        time.sleep(1.0)
        out["steady_rss_mb"] = round(proc_status(p.pid, "VmRSS"), 1)
        out["steady_hwm_mb"] = round(proc_status(p.pid, "VmHWM"), 1)
        out["rss_bytes_per_record"] = round(out["steady_rss_mb"] * 1048576 / n)

        write_zone(zone, n, changed=True)
        # The reload's own peak: reset the high-water mark (Linux: "5" > clear_refs), so that
        # the start-up's peak (the first load, recorded above as steady_hwm_mb) is not counted.
        with open(f"/proc/{p.pid}/clear_refs", "w") as f:
            f.write("5")
        req = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v1/reload", method="POST",
                                     headers={"Authorization": "Bearer scale-bench-token"}, data=b"")
        out["reload_load_average_1m"] = round(os.getloadavg()[0], 2)
        cpu0 = proc_cpu(p.pid)
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=600) as r:
            body = json.loads(r.read())
        out["reload_wall_s"] = round(time.monotonic() - t0, 3)
        out["reload_cpu_s"] = round(proc_cpu(p.pid) - cpu0, 3)
        if not body.get("ok"):
            raise RuntimeError(f"reload failed: {body}")
        time.sleep(1.0)
        out["reload_rss_after_mb"] = round(proc_status(p.pid, "VmRSS"), 1)
        out["reload_peak_mb"] = round(proc_status(p.pid, "VmHWM"), 1)
        out["reload_peak_growth_pct"] = round(
            100.0 * (out["reload_peak_mb"] - out["steady_rss_mb"]) / out["steady_rss_mb"], 1)
        if not dns_answers(dns_port, f"r{n // 2}.scale.test."):
            raise RuntimeError("no answer after the reload")
    finally:
        p.terminate()
        p.wait(timeout=60)
    return out


def chart(rows, out_dir):
    if shutil.which("gnuplot") is None:
        return None
    data = os.path.join(out_dir, "scale.dat")
    with open(data, "w") as f:
        for r in rows:
            f.write(f"{r['records']} {r['check_cpu_s']} {r['reload_cpu_s']} "
                    f"{r['check_peak_rss_mb']} {r['steady_rss_mb']} {r['reload_peak_mb']}\n")
    png = os.path.join(out_dir, "scale.png")
    script = f"""set terminal pngcairo size 1100,460 font ",10"
set output "{png}"
set multiplot layout 1,2 title "gslbd control side: N failover records x 3 backends"
set logscale xy
set key top left
set xlabel "records"
set ylabel "seconds"
set grid
plot "{data}" using 1:2 with linespoints title "check-config CPU", \\
     "{data}" using 1:3 with linespoints title "reload (1 record changed), CPU"
set ylabel "MB"
plot "{data}" using 1:4 with linespoints title "check-config peak RSS", \\
     "{data}" using 1:5 with linespoints title "daemon steady RSS", \\
     "{data}" using 1:6 with linespoints title "daemon peak RSS during reload"
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    os.unlink(data)
    return png


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "results"))
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="gslbd-scale-") as work:
        for n in sizes:
            r = measure(os.path.abspath(args.binary), n, work)
            print(json.dumps(r), flush=True)
            rows.append(r)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "load_average": os.getloadavg(), "kernel": platform.release(),
               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale.json"), "w") as f:
        json.dump({"machine": machine, "rows": rows}, f, indent=1)
    cols = [("records", "records"), ("load_average_1m", "load 1m"),
            ("check_cpu_s", "check-config CPU s"),
            ("check_wall_s", "wall s"), ("check_peak_rss_mb", "peak RSS MB"),
            ("start_to_answer_s", "start → answer s"), ("start_cpu_s", "start CPU s"),
            ("steady_rss_mb", "steady RSS MB"),
            ("rss_bytes_per_record", "RSS B/record"), ("reload_cpu_s", "reload CPU s"),
            ("reload_wall_s", "reload wall s"),
            ("reload_peak_mb", "reload peak MB"), ("reload_peak_growth_pct", "reload peak +%")]
    md = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + " --- |" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(f"{r[c[0]]:,}" if isinstance(r[c[0]], int) else str(r[c[0]])
                                      for c in cols) + " |")
    with open(os.path.join(args.out, "scale.md"), "w") as f:
        f.write(f"Machine: {machine}\n\n" + "\n".join(md) + "\n")
    chart(rows, args.out)
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
