"""Helpers for the integration tests: write a configuration, run the real gslbd, query it,
wait for a condition, run health-check backends, call the control API and gslbctl.

Everything runs on loopback. The configuration written here is the reference for what the
tests expect; each test file states the answers it relies on. Fixtures are in conftest.py.
"""
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

ZONE = "gslb.test."
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "UndefinedBehaviorSanitizer")


def env_path(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the integration tests through `meson test`"
    return value


def gslbd_bin():
    return env_path("GSLBD_BIN")


def wait_for(fn, expect=True, timeout=5.0, what="condition"):
    """Polls fn() every 50 ms until it returns `expect`; returns the time.monotonic() when it
    did. After `timeout` seconds raises AssertionError naming `what` (a string, or a callable
    asked only then, e.g. for a daemon's log) and the last value."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = fn()
        if got == expect:
            return time.monotonic()
        time.sleep(0.05)
    what = what() if callable(what) else what
    raise AssertionError(f"{what}: expected {expect!r}, still {got!r} after {timeout} s")


_ports_given = set()  # every port free_port() returned in this process


def free_port():
    """A port free for UDP and TCP on 127.0.0.1 and ::1 (checked, then released).

    Drawn at random below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so
    the source port of some client socket (dnsperf, a probe, an etcd client) cannot take it
    between this check and the daemon's bind; the check catches tests running in parallel.
    Never the same port twice in one process: a daemon's DNS and API ports are drawn one
    after the other and bound only when it starts, so a repeat would make it fail to listen
    (seen in CI: "api ...: cannot listen (Address already in use)")."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        if port in _ports_given:
            continue
        try:
            socks = []
            for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(fam, typ)
                    socks.append(s)
                    s.bind((addr, port))
            _ports_given.add(port)
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port pair found")


# --- configuration ---------------------------------------------------------------------

LOCATION_MAP = """\
# subnet -> location (CoreDNS-GSLB location map format)
subnets:
  - subnet: "127.0.0.0/8"
    location: eu-fra
  - subnet: "198.51.100.0/24"
    location: us-east
  - subnet: "198.51.100.128/25"
    location: eu-fra
  - subnet: "2001:db8:100::/48"
    location: us-east
"""


def big_backends(n=40):
    return "".join(f'      - address: "192.0.2.{100 + i}"\n        priority: 1\n'
                   for i in range(n))


ZONE_FILE = """\
# CoreDNS-GSLB zone file used by the integration tests
defaults:
  owner: tests
  record_ttl: 30
  scrape_interval: 10s

records:
  fo.gslb.test.:
    mode: failover
    backends:
      - address: "192.0.2.1"
        priority: 1
      - address: "192.0.2.2"
        priority: 1
      - address: "192.0.2.3"
        priority: 2
      - address: "2001:db8::1"
        priority: 1
      - address: "2001:db8::2"
        priority: 2
  fo-disabled.gslb.test.:
    mode: failover
    backends:
      - address: "192.0.2.11"
        priority: 1
        enable: false
      - address: "192.0.2.12"
        priority: 2
      - address: "192.0.2.13"
        priority: 3
  rr.gslb.test.:
    mode: round-robin
    backends:
      - address: "192.0.2.21"
      - address: "192.0.2.22"
      - address: "192.0.2.23"
  rand.gslb.test.:
    mode: random
    backends:
      - address: "192.0.2.31"
      - address: "192.0.2.32"
      - address: "192.0.2.33"
      - address: "192.0.2.34"
  w.gslb.test.:
    mode: weighted
    backends:
      - address: "192.0.2.41"
        weight: 8
      - address: "192.0.2.42"
        weight: 2
  geo.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.51"
        location: eu-fra
        priority: 1
      - address: "192.0.2.52"
        location: us-east
        priority: 2
      - address: "2001:db8::51"
        location: eu-fra
        priority: 1
      - address: "2001:db8::52"
        location: us-east
        priority: 2
  geo-country.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.61"
        country: FR
        priority: 1
      - address: "192.0.2.62"
        country: [US, CA]
        priority: 2
  geo-asn.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.71"
        asn: 64501
        priority: 1
      - address: "192.0.2.72"
        asn: "AS64502"
        priority: 2
  host.deep.gslb.test.:
    mode: failover
    backends:
      - address: "192.0.2.81"
  big.gslb.test.:
    mode: failover
    backends:
""" + big_backends()


def main_config(port, *, workers=2, idle_timeout="10s", max_connections=64, extra="",
                listen=("127.0.0.1:{port}", '"[::1]:{port}"')):
    listen_lines = "".join(f"  - {item.format(port=port)}\n" for item in listen)
    return f"""\
# gslbd main configuration written by tests/integration/gslbd_test.py
listen:
{listen_lines}workers: {workers}
log_level: info

edns:
  udp_size: 1232

ecs:
  enabled: true
  trust: []

tcp:
  idle_timeout: {idle_timeout}
  max_connections: {max_connections}

geoip:
  location_map: locations.yml
  country_db: {env_path("GSLBD_TEST_COUNTRY_MMDB")}
  asn_db: {env_path("GSLBD_TEST_ASN_MMDB")}
{extra}
zones:
  - name: gslb.test.
    policy: zone.yml
    soa:
      mname: ns1.gslb.test.
      rname: hostmaster.gslb.test.
      serial: 2026010101
      refresh: 3600
      retry: 600
      expire: 604800
      minimum: 60
      ttl: 3600
    ns_ttl: 3600
    ns:
      - name: ns1.gslb.test.
        addresses: [127.0.0.1, "::1"]
"""


def write_config(directory, port, zone=ZONE_FILE, locations=LOCATION_MAP, **kw):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "zone.yml").write_text(zone)
    (directory / "locations.yml").write_text(locations)
    path = directory / "gslbd.yml"
    path.write_text(main_config(port, **kw))
    return path


# --- the daemon --------------------------------------------------------------------------

class Daemon:
    """One running gslbd. stop() sends SIGTERM and checks a clean exit."""

    def __init__(self, config_path, port):
        self.config = Path(config_path)
        self.port = port
        self.log_path = self.config.parent / "gslbd.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([gslbd_bin(), "--config", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.wait_ready()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        q = dns.message.make_query(ZONE, "SOA")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gslbd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.2)
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except (dns.exception.Timeout, OSError):
                time.sleep(0.05)
        raise AssertionError(f"gslbd did not answer within {timeout} s:\n{self.log()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("gslbd did not exit within 10 s of SIGTERM:\n" + self.log())
        finally:
            self._log.close()
        log = self.log()
        assert rc == 0, f"gslbd exited with {rc}:\n{log}"
        for marker in SANITIZER_MARKERS:
            assert marker not in log, f"sanitizer report in gslbd output:\n{log}"
        return log


def run_gslbd(*args, timeout=30):
    """Runs gslbd to completion (flags, --check-config, failing starts)."""
    return subprocess.run([gslbd_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


# --- queries -------------------------------------------------------------------------------

def make_query(name, rdtype="A", *, edns=0, ecs=None, payload=1232, want_dnssec=False):
    """ecs: ("198.51.100.7", 24) adds an EDNS Client Subnet option."""
    options = []
    if ecs is not None:
        options.append(dns.edns.ECSOption(ecs[0], ecs[1]))
    q = dns.message.make_query(name, rdtype, use_edns=False)
    if edns is not None:
        # set explicitly: make_query(use_edns=1) would still send version 0
        q.use_edns(edns=edns, payload=payload, options=options,
                   ednsflags=dns.flags.DO if want_dnssec else 0)
    return q


def udp(daemon_or_port, q, host="127.0.0.1", sock=None, timeout=3.0):
    port = daemon_or_port if isinstance(daemon_or_port, int) else daemon_or_port.port
    return dns.query.udp(q, host, port=port, timeout=timeout, sock=sock)


def tcp(daemon_or_port, q, host="127.0.0.1", timeout=3.0):
    port = daemon_or_port if isinstance(daemon_or_port, int) else daemon_or_port.port
    return dns.query.tcp(q, host, port=port, timeout=timeout)


def read_exact(sock, n):
    """Exactly `n` bytes from a stream socket; EOFError when the peer closes first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_message(sock):
    """One length-prefixed DNS message (RFC 7766 framing) from a TCP socket."""
    (length,) = struct.unpack("!H", read_exact(sock, 2))
    return dns.message.from_wire(read_exact(sock, length))


def addresses(response, rdtype=dns.rdatatype.A):
    """Addresses in the answer section, in order."""
    out = []
    for rrset in response.answer:
        if rrset.rdtype == rdtype:
            out.extend(rd.address for rd in rrset)
    return out


def ecs_option(response):
    for opt in response.options:
        if isinstance(opt, dns.edns.ECSOption):
            return opt
    return None


def dig(port, *args, host="127.0.0.1"):
    r = subprocess.run(["dig", f"@{host}", "-p", str(port), "+tries=1", "+time=3", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"dig failed ({r.returncode}): {r.stdout}{r.stderr}"
    return r.stdout


def kdig(port, *args, host="127.0.0.1"):
    r = subprocess.run(["kdig", f"@{host}", "-p", str(port), "+retry=0", "+timeout=3", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"kdig failed ({r.returncode}): {r.stdout}{r.stderr}"
    return r.stdout


def dig_status(output):
    m = re.search(r"status: ([A-Z]+)", output)
    assert m, output
    return m.group(1)


def dig_answers(output, rdtype="A"):
    """Addresses in dig/kdig's ANSWER SECTION lines."""
    out = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 5 and not line.startswith(";") and parts[3] == rdtype:
            out.append(parts[4])
    return out


# --- health-check backends ----------------------------------------------------------------

HEALTH_BACKEND = Path(os.environ.get("GSLBD_SOURCE_ROOT", ".")) / "tests/data/health/http_backend.py"
HEALTH_INTERVAL = 0.3  # scrape_interval of health_defaults()
# fall (or rise) rounds, plus generous slack for a loaded CI box
HEALTH_LIMIT = 2 * 2 * HEALTH_INTERVAL + 3.0


def health_defaults(record_ttl):
    """The head of a zone file whose records are probed every HEALTH_INTERVAL, rise 2, fall 2."""
    return f"""defaults:
  record_ttl: {record_ttl}
  scrape_interval: 300ms
  scrape_timeout: 250ms
  rise: 2
  fall: 2
records:
"""


class HttpBackend:
    """tests/data/health/http_backend.py on `addr` (a free port); set() rewrites its state."""

    def __init__(self, addr, tmp):
        self.addr = addr
        self.state = tmp / f"state-{addr}"
        self.set(status=200, body="ok")
        self.proc = subprocess.Popen(["/usr/bin/python3", str(HEALTH_BACKEND), addr, "0",
                                      str(self.state)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"backend on {addr} did not start: {line!r}"
        self.port = int(line.split()[1])

    def set(self, **kv):
        self.state.write_text("".join(f"{k}={v}\n" for k, v in kv.items()))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def check(port, kind="http"):
    """A backend's `healthchecks:` block (zone file, backend indentation)."""
    if kind == "http":
        return f"""        healthchecks:
          - type: http
            params: {{port: {port}, uri: /health, timeout: 250ms, expected_code: 200}}
"""
    return f"""        healthchecks:
          - type: tcp
            params: {{port: {port}, timeout: 250ms}}
"""


# --- control API and gslbctl ----------------------------------------------------------------

TOKEN = "s3cr3t-token-for-tests"


def gslbctl_bin():
    return env_path("GSLBCTL_BIN")


class Api:
    """The control API on 127.0.0.1:`port`; call() returns (status, JSON or text)."""

    def __init__(self, port, token=TOKEN):
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.token = token

    def call(self, method, path, body=None, token="default", raw=None):
        token = self.token if token == "default" else token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
                status = r.status
                ctype = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            status = e.code
            ctype = e.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return status, json.loads(text)
        return status, text

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body if body is not None else {}, **kw)


def api_block(api_port, directory, *, token=True, read_requires_token=True, state=True,
              extra=""):
    """The main config's `api:` block; writes the token file into `directory`."""
    lines = [f"api:\n  listen: 127.0.0.1:{api_port}\n"]
    if token:
        (directory / "token").write_text(TOKEN + "\n")
        lines.append(f"  token_file: {directory / 'token'}\n")
    if not read_requires_token:
        lines.append("  read_requires_token: false\n")
    if state:
        lines.append(f"  state_file: {directory / 'state.json'}\n")
    lines.append(extra)
    return "".join(lines)


def wait_api(api, timeout=10):
    def answering():
        try:
            return api.get("/healthz")[0] in (200, 503)
        except OSError:
            return False

    wait_for(answering, True, timeout, "API did not come up")
