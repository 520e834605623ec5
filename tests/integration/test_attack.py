"""The attack (docs/edge.md): a dnsperf flood from one /24 in 127.0.0.0/8 for one name while a
resolver from another /24 asks at 1,000 qps. With RRL on, the resolver gets >= 99.9 % answers,
the flood gets at most the configured rate (per worker, times the seconds) plus the slipped
TCs, and the flood's bytes out are no more than its bytes in. Then with cookies: a flood from
the resolver's own /24 for the very name the resolver asks, without valid cookies, does not
starve the resolver that sends its cookie.

Sized for a 2-core machine: about 8 s of flood per phase. The flood rate is recorded; the
resolver's answer rate and the limits are asserted.
"""
import re
import socket
import subprocess
import threading
import time

import dns.edns
import dns.message
import dns.rcode

import gslbd_test
from gslbd_test import make_query

RATE = 500         # responses_per_second (per worker; the resolver asks 333/s per name)
WORKERS = 2
FLOOD_SECONDS = 8
FLOOD_QPS = 60000
RESOLVER_QPS = 1000
NAMES = ["fo.gslb.test.", "rr.gslb.test.", "host.deep.gslb.test."]


def start(start_gslbd, tmp_path, name):
    api_port = gslbd_test.free_port()
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    edge = f"""
rrl:
  responses_per_second: {RATE}
  window: 2
  slip: 2
cookies:
  secret: e5e973e5a6b2a43f48e7dc849e37bfcf
"""
    d = start_gslbd(name=name, workers=WORKERS,
                    extra=gslbd_test.api_block(api_port, directory) + edge)
    return d


def flood(d, source, name, tmp_path):
    """dnsperf from `source` for one name; returns its parsed report."""
    qfile = tmp_path / "flood.txt"
    qfile.write_text(f"{name} A\n")
    p = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-a", source,
                        "-d", str(qfile), "-l", str(FLOOD_SECONDS), "-Q", str(FLOOD_QPS),
                        "-c", "2", "-q", "30000", "-t", "1"],
                       capture_output=True, text=True, timeout=FLOOD_SECONDS + 30)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out

    def num(pattern):
        m = re.search(pattern, out)
        assert m, f"{pattern!r} not in dnsperf output:\n{out}"
        return float(m.group(1))

    return {
        "sent": num(r"Queries sent:\s+(\d+)"),
        "completed": num(r"Queries completed:\s+(\d+)"),
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "req_size": num(r"Average packet size:\s+request (\d+)"),
        "resp_size": num(r"Average packet size:\s+request \d+, response (\d+)"),
        "out": out,
    }


class Resolver(threading.Thread):
    """Asks at RESOLVER_QPS from `source` until stopped; with `cookie`, learns a server cookie
    first and sends it with every query. Counts questions and answers (NOERROR, no TC). Like a
    real resolver it asks a question again when 300 ms pass without an answer, at most twice
    (on this 2-core machine the flood and the server share the CPUs, so a datagram can be lost
    in a full socket buffer before gslbd sees it)."""

    def __init__(self, d, source, names, cookie=False):
        super().__init__(daemon=True)
        self.d, self.names, self.cookie = d, names, cookie
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.stop = threading.Event()
        self.sent = 0
        self.retries = 0
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
            self.options = [dns.edns.GenericOption(dns.edns.COOKIE, data)]
        self.receiver = threading.Thread(target=self.receive, daemon=True)

    def receive(self):
        self.sock.settimeout(0.2)
        while not (self.stop.is_set() and self.drained):
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            r = dns.message.from_wire(data, ignore_trailing=True)
            if r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC and r.answer:
                self.answered.add(r.id)

    def run(self):
        self.drained = False
        self.receiver.start()
        t0 = time.monotonic()
        wires = []
        for i in range(len(self.names)):
            q = make_query(self.names[i])
            if self.options:
                q.use_edns(0, payload=1232, options=self.options)
            wires.append(bytearray(q.to_wire()))
        while not self.stop.is_set():
            due = t0 + self.sent / RESOLVER_QPS
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            w = wires[self.sent % len(wires)]
            qid = self.sent & 0xFFFF
            w[0], w[1] = qid >> 8, qid & 0xFF
            self.sock.sendto(w, ("127.0.0.1", self.d.port))
            self.pending.append((now + 0.3, qid, 1, bytes(w)))
            self.sent += 1
            while self.pending and self.pending[0][0] <= now:
                _, rid, tries, wire = self.pending.pop(0)
                if rid in self.answered or tries >= 3:
                    continue
                self.sock.sendto(wire, ("127.0.0.1", self.d.port))
                self.retries += 1
                self.pending.append((now + 0.3, rid, tries + 1, wire))
            if self.sent >= 60000:
                break
        while self.pending:  # the last retries
            t, rid, tries, wire = self.pending.pop(0)
            time.sleep(max(0.0, t - time.monotonic()))
            if rid not in self.answered and tries < 3:
                self.sock.sendto(wire, ("127.0.0.1", self.d.port))
                self.retries += 1
                self.pending.append((time.monotonic() + 0.3, rid, tries + 1, wire))

    def finish(self):
        self.stop.set()
        self.join()
        time.sleep(1.0)  # late answers
        self.drained = True
        self.receiver.join()
        return self.sent, len(self.answered)


def test_flood_from_one_prefix_does_not_starve_a_resolver(start_gslbd, tmp_path):
    d = start(start_gslbd, tmp_path, "attack")
    res = Resolver(d, "127.0.30.1", NAMES)
    res.start()
    time.sleep(0.3)
    f = flood(d, "127.0.20.1", "fo.gslb.test.", tmp_path)
    sent, answered = res.finish()
    print(f"flood: {f['sent']:.0f} sent at {f['qps']:.0f} qps, {f['completed']:.0f} "
          f"answered; resolver: {answered}/{sent} ({res.retries} retries)")
    assert f["sent"] >= FLOOD_SECONDS * 20000, "the flood did not flood:\n" + f["out"]
    assert sent >= RESOLVER_QPS * FLOOD_SECONDS * 0.8
    assert answered >= 0.999 * sent, f"resolver answered {answered} of {sent}"
    # at most the rate per worker per second (+1 s of start credit), plus slipped TCs (every
    # 2nd limited response): completed = answered + TC; answered <= RATE*WORKERS*(secs+2)
    allowed = RATE * WORKERS * (FLOOD_SECONDS + 3)
    slipped_max = (f["sent"] - 0) / 2 + 1
    assert f["completed"] <= allowed + slipped_max
    bytes_in = f["sent"] * f["req_size"]
    bytes_out = f["completed"] * f["resp_size"]
    assert bytes_out <= bytes_in, f"amplification: {bytes_out} bytes out for {bytes_in} in"


def test_cookie_resolver_survives_flood_from_its_own_prefix(start_gslbd, tmp_path):
    d = start(start_gslbd, tmp_path, "attack_cookie")
    # the resolver asks exactly the flooded name from the flooded /24
    res = Resolver(d, "127.0.40.1", ["fo.gslb.test."], cookie=True)
    res.start()
    time.sleep(0.3)
    f = flood(d, "127.0.40.99", "fo.gslb.test.", tmp_path)
    sent, answered = res.finish()
    print(f"flood: {f['sent']:.0f} sent at {f['qps']:.0f} qps, {f['completed']:.0f} "
          f"answered; resolver with cookie: {answered}/{sent} ({res.retries} retries)")
    assert f["sent"] >= FLOOD_SECONDS * 20000, "the flood did not flood:\n" + f["out"]
    assert answered >= 0.999 * sent, f"resolver answered {answered} of {sent}"
    assert f["completed"] <= RATE * WORKERS * (FLOOD_SECONDS + 3) + f["sent"] / 2 + 1
