#!/usr/bin/python3
"""Soak: the real gslbd under dnsperf load for a while, with everything that changes state at
once, checking that nothing grows, nothing is lost and nothing is wrong (scripts/soak.sh,
docs/reliability.md).

 - load: dnsperf at a fixed rate over UDP for the whole run, names of every policy, NXDOMAIN,
   NODATA and a 40-backend answer that truncates;
 - health flapping: two HTTP backends (tests/data/health/http_backend.py) probed every
   300 ms (rise 2, fall 2); one of them toggles between 200 and 503 every second;
 - reload: every 10 s the zone file is rewritten (one record's address alternates) and the
   daemon reloads (SIGHUP and the API's /reload in turn);
 - API overrides: every 3 s a backend of rr.gslb.test. is disabled, drained, weighted or
   enabled again through the control API;
 - correctness: a checker sends its own queries ten times a second and checks every answer
   against what the configuration allows at any moment;
 - resources: RSS, open file descriptors and threads of the daemon every second.

Fails when: after the warm-up, the second half of the samples reaches above the first half's
maximum by more than the tolerance (RSS: 4 MiB + 5 %, fds: 4, threads: 0); dnsperf lost a
query that the kernel did not drop for a full socket buffer (the one documented case:
/proc/net/snmp Udp RcvbufErrors); any checker answer was wrong or missing; the daemon died,
logged a sanitizer report or did not exit cleanly. Prints a summary; writes the samples to
--out (TSV) when given.

Usage: soak.py --gslbd BIN [--minutes N | --seconds N] [--qps N] [--out FILE]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
os.environ.setdefault("GSLBD_SOURCE_ROOT", str(HERE.parent.parent))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

import gslbd_test  # noqa: E402

FLAP_A, FLAP_B = "127.0.0.11", "127.0.0.12"
RR = ["192.0.2.21", "192.0.2.22", "192.0.2.23"]
GEN = ["192.0.2.201", "192.0.2.202"]


def zone(a, b, generation):
    head = gslbd_test.health_defaults(record_ttl=5)
    body = f"""  flap.gslb.test.:
    mode: failover
    backends:
      - address: "{a.addr}"
        priority: 1
{gslbd_test.check(a.port)}      - address: "{b.addr}"
        priority: 2
{gslbd_test.check(b.port)}  fo.gslb.test.:
    mode: failover
    backends:
      - {{address: "192.0.2.1", priority: 1}}
      - {{address: "192.0.2.2", priority: 1}}
      - {{address: "192.0.2.3", priority: 2}}
  rr.gslb.test.:
    mode: round-robin
    backends:
""" + "".join(f'      - {{address: "{x}"}}\n' for x in RR) + f"""  w.gslb.test.:
    mode: weighted
    backends:
      - {{address: "192.0.2.41", weight: 8}}
      - {{address: "192.0.2.42", weight: 2}}
  geo.gslb.test.:
    mode: geoip
    backends:
      - {{address: "192.0.2.51", location: eu-fra, priority: 1}}
      - {{address: "192.0.2.52", location: us-east, priority: 2}}
  gen.gslb.test.:
    mode: failover
    backends:
      - {{address: "{GEN[generation % 2]}"}}
  big.gslb.test.:
    mode: round-robin
    backends:
""" + gslbd_test.big_backends()
    return head + body


# What the checker accepts: name -> (rcode, allowed A addresses or None for "no A").
def allowed(name):
    return {
        "fo.gslb.test.": (0, {"192.0.2.1", "192.0.2.2"}),
        "rr.gslb.test.": (0, set(RR)),
        "w.gslb.test.": (0, {"192.0.2.41", "192.0.2.42"}),
        "geo.gslb.test.": (0, {"192.0.2.51"}),  # 127.0.0.1 maps to eu-fra
        "flap.gslb.test.": (0, {FLAP_A, FLAP_B}),
        "gen.gslb.test.": (0, set(GEN)),
        "nothere.gslb.test.": (3, None),
    }[name]


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Udp:")]
    head, vals = lines[0], lines[1]
    return int(vals[head.index("RcvbufErrors")])


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1))
    threads = int(re.search(r"Threads:\s+(\d+)", st).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


class Checker(threading.Thread):
    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop_evt = port, stop
        self.sent = self.ok = 0
        self.errors = []
        self.seen = {}  # name -> every address answered, to show the changes happened

    def run(self):
        names = ["fo.gslb.test.", "rr.gslb.test.", "w.gslb.test.", "geo.gslb.test.",
                 "flap.gslb.test.", "gen.gslb.test.", "nothere.gslb.test."]
        i = 0
        while not self.stop_evt.is_set():
            name = names[i % len(names)]
            i += 1
            self.sent += 1
            want_rcode, addrs = allowed(name)
            try:
                q = dns.message.make_query(name, "A")
                r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=2.0)
                got = set(gslbd_test.addresses(r))
                if r.rcode() != want_rcode:
                    raise AssertionError(f"rcode {dns.rcode.to_text(r.rcode())}")
                if addrs is None and got:
                    raise AssertionError(f"addresses {got} where none belong")
                if addrs is not None and (not got or not got <= addrs):
                    raise AssertionError(f"addresses {sorted(got)} not within {sorted(addrs)}")
                self.seen.setdefault(name, set()).update(got)
                self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.errors.append(f"{time.strftime('%H:%M:%S')} {name}: {e!r}")
            self.stop_evt.wait(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gslbd", required=True)
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--qps", type=int, default=3000)
    ap.add_argument("--out")
    args = ap.parse_args()
    duration = args.seconds or (args.minutes or 3) * 60
    warmup = min(60.0, duration / 4)
    os.environ["GSLBD_BIN"] = args.gslbd
    for k in ("COUNTRY", "ASN"):  # the test config names geo databases; these have none
        os.environ.setdefault(f"GSLBD_TEST_{k}_MMDB", "/nonexistent")

    tmp = Path(tempfile.mkdtemp(prefix="gslbd-soak."))
    a = gslbd_test.HttpBackend(FLAP_A, tmp)
    b = gslbd_test.HttpBackend(FLAP_B, tmp)
    port, api_port = gslbd_test.free_port(), gslbd_test.free_port()
    extra = gslbd_test.api_block(api_port, tmp)
    generation = 0
    path = gslbd_test.write_config(tmp, port, zone=zone(a, b, generation), extra=extra)
    # no MaxMind databases: drop those two lines of the standard main file
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.strip().startswith(("country_db:", "asn_db:")))
    path.write_text(text + "\n")
    d = gslbd_test.Daemon(path, port)
    api = gslbd_test.Api(api_port)
    gslbd_test.wait_api(api)

    names = ["fo", "rr", "w", "geo", "flap", "gen", "nothere", "big"]
    qfile = tmp / "queries.txt"
    qfile.write_text("".join(f"{n}.gslb.test. {t}\n" for n in names for t in ("A", "AAAA"))
                     + "gslb.test. SOA\ngslb.test. NS\nfo.gslb.test. TXT\n")
    buf0 = rcvbuf_errors()
    perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(qfile),
                             "-l", str(int(duration)), "-Q", str(args.qps), "-c", "4",
                             "-t", "2", "-q", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()
    checker = Checker(port, stop)
    checker.start()

    samples = []
    problems = []
    start = time.monotonic()
    last_flap = last_reload = last_api = start
    flap_up = True
    api_step = 0
    api_errors = 0
    reloads = 0
    while time.monotonic() - start < duration:
        time.sleep(0.2)
        now = time.monotonic()
        if d.proc.poll() is not None:
            problems.append(f"gslbd exited with {d.proc.returncode}")
            break
        if not samples or now - samples[-1][0] - start >= 1.0:
            samples.append((now - start, *sample(d.proc.pid)))
        if now - last_flap >= 1.0:
            flap_up = not flap_up
            a.set(status=200 if flap_up else 503, body="ok")
            last_flap = now
        if now - last_reload >= 10.0:
            generation += 1
            (tmp / "zone.yml").write_text(zone(a, b, generation))
            if generation % 2:
                d.signal(signal.SIGHUP)
            else:
                status, _ = api.post("/api/v1/reload")
                api_errors += status != 200
            reloads += 1
            last_reload = now
        if now - last_api >= 3.0:
            target = {"record": "rr.gslb.test.", "address": RR[api_step % 3]}
            verb = ["disable", "enable", "drain", "enable", "weight", "enable"][api_step % 6]
            body = dict(target, weight=3) if verb == "weight" else target
            status, _ = api.post(f"/api/v1/backends/{verb}", body)
            api_errors += status != 200
            api_step += 1
            last_api = now

    stop.set()
    out, _ = perf.communicate(timeout=120)
    checker.join(timeout=5)
    buf_drops = rcvbuf_errors() - buf0
    _, metrics = api.get("/metrics")
    log = d.stop()
    a.stop()
    b.stop()

    def stat(key):
        m = re.search(rf"{key}:\s+(\d+)", out)
        return int(m.group(1)) if m else None

    sent, completed, lost = stat("Queries sent"), stat("Queries completed"), stat("Queries lost")
    if sent is None or lost is None:
        problems.append("dnsperf gave no statistics:\n" + out)
    elif lost > buf_drops:
        problems.append(f"dnsperf lost {lost} queries; the kernel dropped only {buf_drops} "
                        "for full socket buffers")
    if checker.errors:
        problems.append(f"{len(checker.errors)} wrong or missing answers, first: "
                        + "; ".join(checker.errors[:5]))
    # The run did what it says: both flap backends and both generations were answered.
    for name, want in (("flap.gslb.test.", {FLAP_A, FLAP_B}), ("gen.gslb.test.", set(GEN))):
        if checker.seen.get(name, set()) != want and duration >= 30:
            problems.append(f"{name} answered only {sorted(checker.seen.get(name, set()))}: "
                            "the flapping or the reloads did not take effect")
    if api_errors:
        problems.append(f"{api_errors} control API calls failed")

    post = [s for s in samples if s[0] >= warmup]
    half = len(post) // 2
    growth = {}
    if half >= 5:
        first, second = post[:half], post[half:]
        for i, (what, tol) in enumerate((("rss_kb", None), ("fds", 4), ("threads", 0)), 1):
            base = max(s[i] for s in first)
            top = max(s[i] for s in second)
            limit = base + (4096 + base * 0.05 if tol is None else tol)
            growth[what] = (min(s[i] for s in post), base, top)
            if top > limit:
                problems.append(f"{what} grew after warm-up: first half max {base}, "
                                f"second half max {top} (limit {limit:.0f})")
    else:
        problems.append("run too short to judge growth (need 10 samples after warm-up)")
    if args.out:
        with open(args.out, "w") as f:
            f.write("seconds\trss_kb\tfds\tthreads\n")
            for s in samples:
                f.write(f"{s[0]:.1f}\t{s[1]}\t{s[2]}\t{s[3]}\n")

    formerr = re.search(r'gslbd_responses_total\{transport="udp",rcode="FORMERR"\} (\d+)',
                        metrics if isinstance(metrics, str) else "")
    print(f"soak: {duration:.0f} s, warm-up {warmup:.0f} s, {len(samples)} samples")
    print(f"  dnsperf: sent {sent}, completed {completed}, lost {lost} "
          f"(kernel socket-buffer drops {buf_drops})")
    print(f"  checker: {checker.ok}/{checker.sent} answers right")
    print(f"  reloads {reloads}, API overrides {api_step}, health flaps "
          f"{int(duration)} (FORMERR seen: {formerr.group(1) if formerr else 'n/a'})")
    for what, (lo, base, top) in growth.items():
        print(f"  {what}: min {lo}, first-half max {base}, second-half max {top}")
    if "reload" not in log.lower():
        problems.append("the daemon log shows no reload")
    if problems:
        print("soak: FAILED")
        for p in problems:
            print("  - " + p)
        print(f"  (files kept in {tmp})")
        return 1
    print("soak: passed")
    subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
