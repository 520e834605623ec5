#!/usr/bin/env python3
"""Static zone load benchmark (issue 21): a master file of N records (default 1,000,000:
A, AAAA, TXT, MX, CNAME in a mix, ENTs through two-label names), loaded by gslbd and by knotd
in the same run.

  * gslbd: the daemon started on loopback with the zone as `file:`; time until it answers
    the zone's SOA, and its peak RSS (VmHWM) once serving;
  * knotd: started with the same file (its own configuration and storage in a temporary
    directory, loopback port); time until it answers the SOA, and its VmHWM.
Goal (issue 21): gslbd under 10 s and under 1 GB. Writes OUT/zone_load.json and prints a table.

Usage: bench/scale/zone_load.py GSLBD_BINARY [--records 1000000] [--out bench/results]
"""
import argparse
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import tempfile
import time

ORIGIN = "big.test."


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_zone(path, n):
    kinds = 5
    with open(path, "w") as f:
        f.write(f"$ORIGIN {ORIGIN}\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
                "@ NS ns1\nns1 A 192.0.2.53\n")
        for i in range(n - 3):
            k = i % kinds
            name = f"h{i // kinds}.s{i % 97}"
            if k == 0:
                f.write(f"{name} A 198.18.{(i >> 8) & 255}.{i & 255}\n")
            elif k == 1:
                f.write(f"{name} AAAA 2001:db8::{i & 0xffff:x}\n")
            elif k == 2:
                f.write(f'{name} TXT "v=spf1 -all {i}"\n')
            elif k == 3:
                f.write(f"{name} MX 10 mail{i % 10}\n")
            else:
                f.write(f"c{i} CNAME {name}\n")


def soa_query():
    q = struct.pack("!HHHHHH", 0x1234, 0, 1, 0, 0, 0)
    for label in ORIGIN.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", 6, 1)


def wait_soa(port, proc, timeout):
    q = soa_query()
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() - start < timeout:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            s.sendto(q, ("127.0.0.1", port))
            try:
                r = s.recv(4096)
                # NOERROR with an answer
                if (r[3] & 0x0f) == 0 and struct.unpack("!H", r[6:8])[0] > 0:
                    return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"no SOA answer within {timeout} s")


def hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def run(cmd, port, timeout=120):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t = wait_soa(port, proc, timeout)
        return t, hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gslbd")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="zone-load-")
    try:
        zone = os.path.join(d, "big.zone")
        t0 = time.monotonic()
        write_zone(zone, a.records)
        gen = time.monotonic() - t0

        port = free_port()
        conf = os.path.join(d, "gslbd.yml")
        with open(conf, "w") as f:
            f.write(f"listen:\n  - 127.0.0.1:{port}\nworkers: 1\nlog_level: warn\n"
                    f"api:\n  listen: off\nzones:\n  - name: {ORIGIN}\n    file: {zone}\n")
        g_time, g_rss = run([a.gslbd, "--config", conf], port)

        kport = free_port()
        kdir = os.path.join(d, "knot")
        os.mkdir(kdir)
        kconf = os.path.join(kdir, "knot.conf")
        with open(kconf, "w") as f:
            f.write(f"server:\n    listen: 127.0.0.1@{kport}\n    rundir: {kdir}\n"
                    f"    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
                    f"database:\n    storage: {kdir}\n"
                    f"template:\n  - id: default\n    storage: {kdir}\n    semantic-checks: off\n"
                    f"    zonefile-sync: -1\n    journal-content: none\n"
                    f"zone:\n  - domain: {ORIGIN}\n    file: {zone}\n")
        knotd = shutil.which("knotd") or "/usr/sbin/knotd"
        k_time, k_rss = run([knotd, "-c", kconf], kport)
    finally:
        shutil.rmtree(d, ignore_errors=True)

    result = {
        "records": a.records, "machine": f"{platform.node()} {os.cpu_count()} cores",
        "zone_file_written_s": round(gen, 2),
        "gslbd": {"load_to_first_answer_s": round(g_time, 2), "peak_rss_mb": round(g_rss, 1)},
        "knotd": {"load_to_first_answer_s": round(k_time, 2), "peak_rss_mb": round(k_rss, 1)},
        "goal": "gslbd < 10 s and < 1024 MB",
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "zone_load.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"{a.records} records: gslbd {g_time:.2f} s {g_rss:.0f} MB | "
          f"knotd {k_time:.2f} s {k_rss:.0f} MB")
    ok = g_time < 10 and g_rss < 1024
    print("goal met" if ok else "goal NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
