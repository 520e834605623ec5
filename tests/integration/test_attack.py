"""The attack (docs/edge.md "The attack"): a dnsperf flood of >= 50,000 qps from one /24 in
127.0.0.0/8 for one name while a resolver from another /24 asks at 1,000 qps.

* RRL: the resolver gets >= 99.9 % answers; the flood gets at most the configured rate (per
  worker it lands on, per second) plus the slipped TCs; the flood's bytes out are no more than
  its bytes in (no amplification).
* Cookies: a flood from the resolver's own /24, for the very name the resolver asks, without
  valid cookies does not starve the resolver that sends its server cookie (it asks at twice
  the RRL rate, so without the exemption it would be limited).
* Dynamic blocks: the flooding /24 is blocked as a whole while the resolver is answered.

What the flood got is counted on both sides: by dnsperf (what came back, timed-out answers
included) and by gslbd's /metrics (what it sent, less what the resolver received): both must
stay within the limits. Sized for CI on 2 cores: 6 s of flood per phase, about 25 s in all.
When the machine is too busy for dnsperf to reach 50,000 qps, a phase runs again (at most
six times, after a pause of 2 s) and fails if it never does: the limits are only ever asserted under a real flood.
"""
import os
import re
import socket
import subprocess
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode

from gslbd_test import make_query
from test_edge import metrics, start

RATE = 500          # responses_per_second (per worker); the resolver asks 333/s per name
WORKERS = 2
FLOOD_SECONDS = 6
FLOOD_QPS = 55000   # offered; at least MIN_FLOOD_QPS must go out
# Under ASan+UBSan (CI's second pass) gslbd needs 2-3 times the CPU per query and leaves
# dnsperf less of the 2 cores: there the flood must reach 15,000 qps, still 3 times the
# dynamic block's threshold and 15 times the RRL rate of both workers.
MIN_FLOOD_QPS = 15000 if os.environ.get("GSLBD_SANITIZED") == "1" else 50000
RESOLVER_QPS = 1000
NAMES = ["fo.gslb.test.", "rr.gslb.test.", "host.deep.gslb.test."]
SECRET = "e5e973e5a6b2a43f48e7dc849e37bfcf"
EDGE = f"""
rrl:
  responses_per_second: {RATE}
  window: 2
  slip: 2
cookies:
  secret: {SECRET}
"""


def flood(d, source, name, tmp_path):
    """dnsperf from `source` for one name, two sockets (so both workers get their share) on two
    sending threads; its report. The short timeout keeps dnsperf sending: a dropped query holds one of its
    outstanding slots (at most 65,535) until it times out, so with 1 s it could not pass
    about 65,000 lost queries a second. Answers that come after the timeout are reported as
    unexpected and counted here too. Niced, so that on a busy machine gslbd and the resolver
    come first and the generator gets what is left (its rate is checked)."""
    qfile = tmp_path / "flood.txt"
    qfile.write_text(f"{name} A\n")
    p = subprocess.run(["nice", "-n", "5", "dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-a", source,
                        "-d", str(qfile), "-l", str(FLOOD_SECONDS), "-Q", str(FLOOD_QPS),
                        "-c", "2", "-T", "2", "-q", "65535", "-t", "0.5", "-O", "suppress=timeouts"],
                       capture_output=True, text=True, timeout=FLOOD_SECONDS + 30)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out

    def num(pattern):
        m = re.search(pattern, out)
        assert m, f"{pattern!r} not in dnsperf output:\n{out[-3000:]}"
        return float(m.group(1))

    sent = num(r"Queries sent:\s+(\d+)")
    seconds = num(r"Run time \(s\):\s+([\d.]+)")
    return {
        "source": source,
        "sent": sent,
        "seconds": seconds,
        "qps": sent / seconds,
        "received": num(r"Queries completed:\s+(\d+)") + out.count("unexpected"),
        "req_size": num(r"Average packet size:\s+request (\d+)"),
        "out": out[-3000:],
    }


class Resolver(threading.Thread):
    """Asks at RESOLVER_QPS from one socket bound to `source` until stopped; with `cookie`,
    learns a server cookie first and sends it with every query. Counts questions and answers
    (NOERROR with data, no TC). Like a real resolver it asks again when 300 ms pass without an
    answer, at most twice: on 2 cores the flood can fill gslbd's socket buffer, and the kernel
    then drops the resolver's datagram with the flood's before gslbd sees it."""

    def __init__(self, d, source, names, cookie=False):
        super().__init__(daemon=True)
        self.d, self.names = d, names
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.stop = threading.Event()
        self.drained = False
        self.sent = 0
        self.retries = 0
        self.received = 0  # datagrams, duplicates and refusals included
        self.pending = []
        self.answered = set()
        self.options = []
        if cookie:
            q = make_query(names[0])
            q.use_edns(0, payload=1232,
                       options=[dns.edns.GenericOption(dns.edns.COOKIE, b"resolver")])
            r = dns.query.udp(q, "127.0.0.1", port=d.port, sock=self.sock, timeout=2)
            c = [o for o in r.options if o.otype == dns.edns.COOKIE]
            assert c, "no cookie in the answer"
            data = c[0].to_wire() if hasattr(c[0], "to_wire") else c[0].data
            assert len(data) == 24
            self.options = [dns.edns.GenericOption(dns.edns.COOKIE, data)]
        self.receiver = threading.Thread(target=self.receive, daemon=True)

    def receive(self):
        self.sock.settimeout(0.2)
        while not self.drained:
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            self.received += 1
            r = dns.message.from_wire(data, ignore_trailing=True)
            if r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC and r.answer:
                self.answered.add(r.id)

    def resend_due(self, now):
        while self.pending and self.pending[0][0] <= now:
            _, qid, tries, wire = self.pending.pop(0)
            if qid in self.answered or tries >= 3:
                continue
            self.sock.sendto(wire, ("127.0.0.1", self.d.port))
            self.retries += 1
            self.pending.append((now + 0.3, qid, tries + 1, wire))

    def run(self):
        self.receiver.start()
        wires = []
        for name in self.names:
            q = make_query(name)
            if self.options:
                q.use_edns(0, payload=1232, options=self.options)
            wires.append(bytearray(q.to_wire()))
        t0 = time.monotonic()
        while not self.stop.is_set() and self.sent < 65536:  # the ID is unique
            due = t0 + self.sent / RESOLVER_QPS
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            w = wires[self.sent % len(wires)]
            qid = self.sent
            w[0], w[1] = qid >> 8, qid & 0xFF
            self.sock.sendto(w, ("127.0.0.1", self.d.port))
            self.pending.append((now + 0.3, qid, 1, bytes(w)))
            self.sent += 1
            self.resend_due(now)
        while self.pending:  # the last retries
            time.sleep(max(0.0, self.pending[0][0] - time.monotonic()))
            self.resend_due(time.monotonic())

    def finish(self):
        self.stop.set()
        self.join()
        time.sleep(0.5)  # late answers
        self.drained = True
        self.receiver.join()
        return self.sent, len(self.answered)


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


def attack(d, api, tmp_path, flood_source, make_resolver, attempts=6):
    """Runs a resolver (make_resolver(attempt)) around a flood from flood_source(attempt);
    (flood report, metrics before, metrics after, resolver). When dnsperf did not reach
    MIN_FLOOD_QPS (the generator shares 2 cores with gslbd, the resolver and whatever else
    runs), the attempt says so and runs again from fresh prefixes; the test fails when no
    attempt reached it. The limits are asserted only on an attempt that did."""
    rates = []
    for attempt in range(attempts):
        resolver = make_resolver(attempt)
        before = metrics(api)
        resolver.start()
        time.sleep(0.3)
        f = flood(d, flood_source(attempt), "fo.gslb.test.", tmp_path)
        sent, answered = resolver.finish()
        after = metrics(api)
        counts = {k: delta(after, before, f"gslbd_{k}") for k in (
            'udp_packets_total{direction="rx"}', 'udp_packets_total{direction="tx"}',
            'rrl_total{action="drop"}', 'rrl_total{action="slip"}', 'rrl_total{action="exempt"}',
            'dynblock_queries_total{reason="queries"}')}
        print(f"attempt {attempt + 1}: flood {f['sent']:.0f} sent in {f['seconds']:.1f} s = "
              f"{f['qps']:.0f} qps, {f['received']:.0f} came back; resolver: {answered}/{sent} "
              f"answered ({resolver.retries} retries); gslbd: {counts}")
        rates.append(round(f["qps"]))
        if f["qps"] >= MIN_FLOOD_QPS:
            break
        time.sleep(2)  # CI's shared host: let a burst of other load pass
    else:
        raise AssertionError(f"dnsperf never reached {MIN_FLOOD_QPS} qps (got {rates}): the "
                             "machine is too busy to generate the flood\n" + f["out"])
    assert sent >= RESOLVER_QPS * FLOOD_SECONDS * 0.9, f"the resolver asked only {sent}"
    assert answered >= 0.999 * sent, f"resolver answered {answered} of {sent}"
    return f, before, after, resolver


def check_flood_limited(f, before, after, resolver, answer_size):
    """The flood got at most RATE per worker per second (plus one second of start credit) in
    full answers, the rest of what it got is slipped TCs, and its bytes out <= bytes in."""
    slipped = delta(after, before, 'gslbd_rrl_total{action="slip"}')
    dropped = delta(after, before, 'gslbd_rrl_total{action="drop"}')
    tx = delta(after, before, 'gslbd_udp_packets_total{direction="tx"}')
    # what reached gslbd from the flood (the kernel drops the rest when gslbd's socket buffer
    # is full: on 2 cores dnsperf can send faster than two workers read)
    flood_rx = delta(after, before, 'gslbd_udp_packets_total{direction="rx"}') - (
        resolver.sent + resolver.retries)
    print(f"flood: {flood_rx:.0f} of {f['sent']:.0f} reached gslbd")
    assert dropped >= flood_rx / 3, f"RRL dropped only {dropped:.0f} of {flood_rx:.0f}"
    # slip 2: every 2nd limited response goes out truncated
    assert abs(slipped - dropped) <= 0.02 * dropped + 2 * WORKERS, (slipped, dropped)
    allowed = RATE * WORKERS * (f["seconds"] + 1.5)
    # gslbd's side: everything sent that the resolver did not receive went to the flood
    flood_full = tx - slipped - resolver.received
    assert flood_full <= allowed, f"the flood got {flood_full:.0f} answers (allowed {allowed:.0f})"
    # dnsperf's side: what came back is those answers plus the slipped TCs
    assert f["received"] <= allowed + slipped, (f["received"], allowed, slipped)
    bytes_in = f["sent"] * f["req_size"]
    # a slipped TC is the query's size (header and question, no OPT: dnsperf sends none)
    bytes_out = max(flood_full, 0) * answer_size + slipped * f["req_size"]
    print(f"flood bytes: {bytes_in:.0f} in, {bytes_out:.0f} out "
          f"({bytes_out / bytes_in:.3f}; a full answer is {answer_size} bytes)")
    assert bytes_out <= bytes_in, f"amplification: {bytes_out:.0f} bytes out for {bytes_in:.0f} in"


def plain_answer_size(d):
    """Bytes of the answer to dnsperf's query (no EDNS), asked from a prefix of its own."""
    q = dns.message.make_query("fo.gslb.test.", "A", use_edns=False)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.99.1", 0))
    s.settimeout(2)
    s.sendto(q.to_wire(), ("127.0.0.1", d.port))
    data = s.recv(65535)
    s.close()
    r = dns.message.from_wire(data)
    assert r.answer and not r.flags & dns.flags.TC
    return len(data)


def test_rrl_flood_from_one_prefix_does_not_starve_a_resolver(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "attack", EDGE, workers=WORKERS)
    f, before, after, res = attack(d, api, tmp_path, lambda i: f"127.0.{20 + i}.1",
                                   lambda i: Resolver(d, f"127.0.{30 + i}.1", NAMES))
    check_flood_limited(f, before, after, res, plain_answer_size(d))


def test_cookie_resolver_survives_flood_from_its_own_prefix(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "attack_cookie", EDGE, workers=WORKERS)
    # the resolver asks exactly the flooded name from the flooded /24, at twice RATE
    f, before, after, res = attack(
        d, api, tmp_path, lambda i: f"127.0.{40 + i}.99",
        lambda i: Resolver(d, f"127.0.{40 + i}.1", ["fo.gslb.test."], cookie=True))
    assert delta(after, before, 'gslbd_rrl_total{action="exempt"}') >= len(res.answered)
    assert delta(after, before, 'gslbd_cookies_total{result="valid"}') >= len(res.answered)
    check_flood_limited(f, before, after, res, plain_answer_size(d))


def test_dynamic_block_stops_the_flooding_prefix(start_gslbd, tmp_path):
    edge = f"""
cookies:
  secret: {SECRET}
dynamic_blocks:
  queries_per_second: 5000
  window: 2
  duration: 60
  action: drop
"""
    d, api = start(start_gslbd, tmp_path, "attack_dyn", edge, workers=WORKERS)
    f, before, after, res = attack(d, api, tmp_path, lambda i: f"127.0.{50 + i}.1",
                                   lambda i: Resolver(d, f"127.0.{60 + i}.1", NAMES))
    status, body = api.get("/api/v1/blocks")
    assert status == 200
    flood_prefix = f["source"].rsplit(".", 1)[0] + ".0/24"
    assert flood_prefix in [b["prefix"] for b in body["blocks"]], body
    assert not any(b["prefix"].startswith("127.0.6") for b in body["blocks"]), body
    # Before it blocks, a worker passes at most rate x window of a new prefix in its first
    # window bucket and, when that bucket held less, up to as much again in the next (the
    # two-bucket estimate weighs the previous bucket as if spread evenly): 2 x 5000 x 2.
    # Everything after that is dropped.
    assert f["received"] <= 2 * 5000 * 2 * WORKERS, f["received"]
    blocked = delta(after, before, 'gslbd_dynblock_queries_total{reason="queries"}')
    flood_rx = delta(after, before, 'gslbd_udp_packets_total{direction="rx"}') - (
        res.sent + res.retries)
    assert blocked >= flood_rx - 2 * 5000 * 2 * WORKERS, f"blocked {blocked:.0f} of {flood_rx:.0f}"
