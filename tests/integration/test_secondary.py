"""Secondary zones (issue 21 item 4, docs/zones.md): a real knotd on 127.0.21.1 is the primary
of three zones; gslbd transfers them (AXFR first, then IXFR from knotd's journal), follows
NOTIFY within a second, signs and verifies with TSIG hmac-sha256, refuses NOTIFY from anyone
else, overlays its GSLB records on a transferred zone, keeps a disk copy that a restart serves
without the primary, and answers SERVFAIL once a zone has expired."""
import base64
import re
import socket
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.exception
import pytest

import gslbd_test
import zone_test

PRIMARY = "127.0.21.1"    # knotd, and the source of its NOTIFYs (`via`)
HOSTILE = "127.0.21.2"    # a primary that answers garbage (listed first for hostile.test.)
STRANGER = "127.0.21.9"   # a NOTIFY sender that no zone lists
SECRET = base64.b64encode(b"gslbd-secondary-test-key-32bytes").decode()
WRONG = base64.b64encode(b"not-the-secret-the-primary-knows").decode()
KEY = "xfr.key."


def zone_text(origin, serial, extra="", refresh=3600, retry=1, expire=1209600):
    return f"""$ORIGIN {origin}
$TTL 300
@       SOA ns1 hostmaster {serial} {refresh} {retry} {expire} 60
@       NS  ns1
ns1     A   192.0.2.53
@       MX  10 mail
mail    A   192.0.2.25
www     A   192.0.2.80
app     TXT "static data beside a GSLB name"
{extra}"""


def knot_conf(d, port, gport, files):
    return f"""server:
    listen: {PRIMARY}@{port}
    rundir: {d}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: {d}/knot.sock
database:
    storage: {d}
log:
  - target: stderr
    any: info
key:
  - id: {KEY}
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: gslbd
    address: 127.0.0.1@{gport}
    via: {PRIMARY}
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
  - id: xfr_tsig
    key: {KEY}
    action: transfer
template:
  - id: default
    storage: {d}
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
    notify: gslbd
zone:
  - domain: sec.test.
    file: {files['sec.test.']}
    acl: xfr
  - domain: tsig.test.
    file: {files['tsig.test.']}
    acl: xfr_tsig
  - domain: exp.test.
    file: {files['exp.test.']}
    acl: xfr
  - domain: hostile.test.
    file: {files['hostile.test.']}
    acl: xfr
"""


def gslbd_zones(d, kport, hport, secret=SECRET):
    return f"""secondary_dir: {d / 'state'}
tsig_keys:
  - name: {KEY}
    algorithm: hmac-sha256
    secret: {secret}
zones:
  - name: sec.test.
    primaries: ["{PRIMARY}:{kport}"]
    policy: {d / 'sec.yml'}
  - name: tsig.test.
    primaries:
      - address: {PRIMARY}:{kport}
        key: {KEY}
  - name: exp.test.
    primaries: ["{PRIMARY}:{kport}"]
  - name: hostile.test.
    primaries: ["{HOSTILE}:{hport}", "{PRIMARY}:{kport}"]
"""


POLICY = gslbd_test.health_defaults(record_ttl=20) + """  app.sec.test.:
    mode: failover
    backends:
      - address: "192.0.2.101"
        priority: 1
      - address: "192.0.2.102"
        priority: 2
"""


class HostilePrimary:
    """A TCP 'primary' on HOSTILE that answers each connection in the next bad way."""
    MODES = ["garbage", "short", "wrong_id", "query_back", "close", "huge_length"]

    def __init__(self):
        self.port = gslbd_test.free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOSTILE, self.port))
        self.sock.listen(16)
        self.served = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                mode = self.MODES[len(self.served) % len(self.MODES)]
                self.served.append(mode)
                try:
                    query = gslbd_test.read_message(conn)
                    if mode == "garbage":
                        conn.sendall(b"\x00\x20" + bytes(range(7, 39)))
                    elif mode == "short":
                        conn.sendall(b"\x01\x00" + b"\x12" * 40)  # 256 announced, 40 sent
                    elif mode in ("wrong_id", "query_back"):
                        r = dns.message.make_response(query)
                        if mode == "wrong_id":
                            r.id = (query.id + 1) & 0xFFFF
                        wire = r.to_wire()
                        if mode == "query_back":
                            wire = query.to_wire()
                        conn.sendall(len(wire).to_bytes(2, "big") + wire)
                    elif mode == "huge_length":
                        conn.sendall(b"\xff\xff" + b"\x00" * 12)
                    time.sleep(0.05)
                except (OSError, dns.exception.DNSException):
                    pass

    def stop(self):
        self.stopping = True
        self.sock.close()


class World:
    def __init__(self, d):
        self.d = d
        self.data = d / "data"
        self.data.mkdir()
        self.files = {z: self.data / f"{z}zone"
                      for z in ("sec.test.", "tsig.test.", "exp.test.", "hostile.test.")}
        self.write("sec.test.", 1)
        self.write("hostile.test.", 1)
        self.write("tsig.test.", 1)
        self.write("exp.test.", 1, refresh=1, expire=3)
        self.kport = gslbd_test.free_port()
        self.port = gslbd_test.free_port()
        self.api_port = gslbd_test.free_port()
        self.hostile = HostilePrimary()
        self.knot = zone_test.Knotd(d / "knot", self.kport, {}, address=PRIMARY,
                                    conf=knot_conf(d / "knot", self.kport, self.port, self.files))
        for z in self.files:
            self.knot.wait_serving(z)
        (d / "gslbd").mkdir()
        (d / "sec.yml").write_text(POLICY)
        self.config = self.write_gslbd(SECRET)
        self.api = gslbd_test.Api(self.api_port)
        self.g = gslbd_test.Daemon(self.config, self.port)
        gslbd_test.wait_api(self.api)

    def write(self, zone, serial, extra="", **kw):
        self.files[zone].write_text(zone_text(zone, serial, extra, **kw))

    def write_gslbd(self, secret):
        return zone_test.gslbd_config(
            self.d / "gslbd", self.port, gslbd_zones(self.d, self.kport, self.hostile.port, secret),
            extra=gslbd_test.api_block(self.api_port, self.d / "gslbd"))

    def ask(self, name, rdtype="SOA", port=None):
        q = dns.message.make_query(name, rdtype)
        return gslbd_test.udp(port or self.port, q)

    def serial(self, zone):
        r = self.ask(zone)
        if r.rcode() != dns.rcode.NOERROR or not r.answer:
            return None
        return r.answer[0][0].serial

    def status(self, zone):
        st, body = self.api.get("/api/v1/status")
        assert st == 200, body
        for z in body["zones"]:
            if z["name"] == zone:
                return z
        raise AssertionError(f"{zone} not in status: {body}")

    def metric(self, name, **labels):
        st, text = self.api.get("/metrics")
        assert st == 200
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            m = re.match(r'^(\w+)\{([^}]*)\} (\S+)$', line)
            if m and m.group(1) == name and ",".join(sorted(m.group(2).split(","))) == want:
                return float(m.group(3))
        return None


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("secondary"))
    yield w
    try:
        w.g.stop()
    finally:
        w.knot.stop()
        w.hostile.stop()


def test_initial_axfr(world):
    for zone in ("sec.test.", "tsig.test.", "exp.test."):
        gslbd_test.wait_for(lambda: world.serial(zone), 1, 10, f"{zone} transferred")
    r = world.ask("www.sec.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert gslbd_test.addresses(r) == ["192.0.2.80"]
    r = world.ask("sec.test.", "MX")
    assert r.answer and r.answer[0][0].exchange.to_text() == "mail.sec.test."
    z = world.status("sec.test.")
    assert z["source"] == "primaries" and z["serial"] == 1
    assert z["secondary"]["last_kind"] == "AXFR" and z["secondary"]["last_outcome"] == "ok"
    assert z["secondary"]["primary"] == f"{PRIMARY}:{world.kport}"
    assert world.metric("gslbd_zone_serial", zone="sec.test.") == 1
    assert world.metric("gslbd_zone_transfers_total", zone="sec.test.", kind="AXFR") >= 1
    assert world.metric("gslbd_zone_last_transfer_success_timestamp_seconds",
                        zone="sec.test.") > time.time() - 60
    assert (world.d / "state" / "sec.test.xfr").exists()
    # gslbctl shows serial, state, kind and outcome
    out = subprocess.run([gslbd_test.gslbctl_bin(), "--api", f"http://127.0.0.1:{world.api_port}",
                          "--token", gslbd_test.TOKEN, "status"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("sec.test."))
    assert row.split()[:5] == ["sec.test.", "1", "serving", "AXFR", "ok"], out.stdout


def test_gslb_name_in_transferred_zone_answers_from_policy(world):
    r = world.ask("app.sec.test.", "A")
    assert gslbd_test.addresses(r) == ["192.0.2.101"]  # failover's first backend
    r = world.ask("app.sec.test.", "TXT")
    assert r.answer and b"static data beside a GSLB name" in r.answer[0][0].strings[0]


def test_tsig_zone_transferred_with_the_key(world):
    z = world.status("tsig.test.")
    assert z["secondary"]["last_outcome"] == "ok" and z["secondary"]["last_kind"] == "AXFR"
    assert "TSIG verified" in world.g.log()


def test_notify_brings_new_serial_within_a_second_by_ixfr(world):
    world.write("sec.test.", 2, extra="new  A   192.0.2.99\n")
    start = time.monotonic()
    world.knot.knotc("zone-reload", "sec.test.")
    gslbd_test.wait_for(lambda: world.serial("sec.test."), 2, 5, "serial 2 served")
    took = time.monotonic() - start
    assert took < 1.0, f"serial 2 served after {took:.2f} s"
    assert gslbd_test.addresses(world.ask("new.sec.test.", "A")) == ["192.0.2.99"]
    z = world.status("sec.test.")
    assert z["secondary"]["last_kind"] == "IXFR", z
    assert z["secondary"]["notifies"] >= 1
    assert world.metric("gslbd_zone_transfers_total", zone="sec.test.", kind="IXFR") >= 1
    assert world.metric("gslbd_zone_serial", zone="sec.test.") == 2
    # the GSLB name still answers from its policy after the IXFR
    assert gslbd_test.addresses(world.ask("app.sec.test.", "A")) == ["192.0.2.101"]


def notify(world, source, zone="sec.test."):
    q = dns.message.make_query(zone, "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    q.flags |= dns.flags.AA
    q.flags &= ~dns.flags.RD
    return dns.query.udp(q, "127.0.0.1", port=world.port, source=source, timeout=3)


def test_notify_from_unlisted_address_refused(world):
    r = notify(world, STRANGER)
    assert r.opcode() == dns.opcode.NOTIFY and r.rcode() == dns.rcode.REFUSED
    r = notify(world, PRIMARY)
    assert r.opcode() == dns.opcode.NOTIFY and r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    # a zone that is not a secondary here: refused even from the primary
    r = notify(world, PRIMARY, "gslb.test.")
    assert r.rcode() == dns.rcode.REFUSED
    assert world.metric("gslbd_notify_total", result="refused") >= 2


def test_conflicting_transfer_refused_old_copy_kept(world):
    # A static A at the GSLB name app.sec.test.: the overlay refuses the zone, serial 2 stays.
    world.write("sec.test.", 3, extra="new  A   192.0.2.99\napp  A   192.0.2.66\n")
    world.knot.knotc("zone-reload", "sec.test.")
    gslbd_test.wait_for(lambda: world.status("sec.test.")["secondary"]["last_outcome"],
                        "refused", 5, "the conflicting serial 3 refused")
    assert world.serial("sec.test.") == 2
    assert gslbd_test.addresses(world.ask("app.sec.test.", "A")) == ["192.0.2.101"]
    err = world.status("sec.test.")["secondary"]["last_error"]
    assert "app.sec.test." in err and "GSLB" in err, err
    # the primary fixes it: serial 4 arrives
    world.write("sec.test.", 4, extra="new  A   192.0.2.99\nnewer A 192.0.2.98\n")
    world.knot.knotc("zone-reload", "sec.test.")
    gslbd_test.wait_for(lambda: world.serial("sec.test."), 4, 5, "serial 4 served")


def test_bad_tsig_key_fails_clearly_and_keeps_the_data(world):
    world.config = world.write_gslbd(WRONG)
    st, body = world.api.post("/api/v1/reload")
    assert st == 200 and body.get("ok"), body
    world.write("tsig.test.", 2, extra="more A 192.0.2.77\n")
    world.knot.knotc("zone-reload", "tsig.test.")

    def failed():
        s = world.status("tsig.test.")["secondary"]
        return s["last_outcome"] == "failed" and "TSIG" in s["last_error"]
    gslbd_test.wait_for(failed, True, 5, "a TSIG failure in the status")
    assert world.serial("tsig.test.") == 1  # the old copy is still served
    assert world.ask("more.tsig.test.", "A").rcode() == dns.rcode.NXDOMAIN
    assert world.ask("www.tsig.test.", "A").rcode() == dns.rcode.NOERROR
    # the right key again: serial 2 comes
    world.config = world.write_gslbd(SECRET)
    st, body = world.api.post("/api/v1/reload")
    assert st == 200 and body.get("ok"), body
    world.knot.knotc("zone-notify", "tsig.test.")
    gslbd_test.wait_for(lambda: world.serial("tsig.test."), 2, 5, "serial 2 with the good key")


def test_bad_primary_is_logged_and_the_next_one_serves(world):
    gslbd_test.wait_for(lambda: world.serial("hostile.test."), 1, 10, "hostile.test. from knotd")
    # every NOTIFY from the hostile primary's address makes gslbd ask it (first) again
    for _ in range(len(HostilePrimary.MODES) - 1):
        before = len(world.hostile.served)
        assert notify(world, HOSTILE, "hostile.test.").rcode() == dns.rcode.NOERROR
        gslbd_test.wait_for(lambda: len(world.hostile.served) > before, True, 5,
                            "gslbd asked the hostile primary again")
    gslbd_test.wait_for(lambda: world.status("hostile.test.")["secondary"]["checks"]
                        >= len(HostilePrimary.MODES), True, 5, "checks answered by knotd")
    log = world.g.log()
    for reason in ("malformed message", "connection closed by the primary", "a message with a wrong ID",
                   "not a response"):
        assert reason in log, f"no '{reason}' in the log:\n{log}"
    assert world.serial("hostile.test.") == 1
    assert world.g.proc.poll() is None
    z = world.status("hostile.test.")["secondary"]
    assert z["last_outcome"] == "up to date" and z["primary"] == f"{PRIMARY}:{world.kport}"


def test_restart_without_primary_serves_disk_copy_and_expires(world):
    world.knot.stop()
    # exp.test. has SOA expire 3 s (refresh 1, retry 1): with the primary gone it expires
    gslbd_test.wait_for(lambda: world.ask("www.exp.test.", "A").rcode(), dns.rcode.SERVFAIL, 8,
                        "exp.test. expired -> SERVFAIL")
    assert world.status("exp.test.")["secondary"]["expired"] is True
    world.g.stop()
    world.g = gslbd_test.Daemon(world.config, world.port)
    gslbd_test.wait_api(world.api)
    assert world.serial("sec.test.") == 4
    assert gslbd_test.addresses(world.ask("newer.sec.test.", "A")) == ["192.0.2.98"]
    assert gslbd_test.addresses(world.ask("app.sec.test.", "A")) == ["192.0.2.101"]
    assert world.serial("tsig.test.") == 2
    assert world.ask("www.exp.test.", "A").rcode() == dns.rcode.SERVFAIL  # still expired
    z = world.status("sec.test.")
    assert z["secondary"]["last_kind"] == "disk" and z["serial"] == 4
