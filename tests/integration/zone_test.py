"""Helpers for the static-zone tests (issue 21): a master file with every type the zone
feature lists, a knotd started on loopback with its own configuration and storage, and a
gslbd serving the same file."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query

import gslbd_test

ORIGIN = "zt.test."

# Every type of the issue, wildcards, a delegation with glue, empty non-terminals and CNAME
# chains (inside the zone, out of it, dangling, into a wildcard, into a delegation).
ZONE_DB = r"""$ORIGIN zt.test.
$TTL 3600
@       IN SOA ns1.zt.test. hostmaster.zt.test. (
                2026120301 ; serial
                7200       ; refresh
                900        ; retry
                1209600    ; expire
                300 )      ; minimum
@               NS      ns1
@               NS      ns2.zt.test.
@               MX      10 mail
@               MX      20 mail2.other.test.
@               TXT     "v=spf1 ip4:192.0.2.0/24 -all"
@               CAA     0 issue "letsencrypt.org"
@       300     A       192.0.2.1
ns1             A       192.0.2.53
ns1             AAAA    2001:db8::53
ns2             A       192.0.2.54
mail            A       192.0.2.25
mail            AAAA    2001:db8::25
www             A       192.0.2.80
www             A       192.0.2.81
www             AAAA    2001:db8::80
www             SSHFP   1 1 0123456789abcdef0123456789abcdef01234567
_443._tcp.www   TLSA    3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
Alias   600     CNAME   www
chain1          CNAME   chain2
chain2          CNAME   alias
ext             CNAME   www.other.test.
dangling        CNAME   nothere
towild          CNAME   x.wild
todeleg         CNAME   host.sub
_sip._tcp       SRV     10 60 5060 sip
_sip._udp       SRV     10 60 5060 sip.other.test.
sip             A       192.0.2.60
1.2             PTR     www.zt.test.
naptr           NAPTR   100 10 "U" "E2U+sip" "!^.*$!sip:info@zt.test!" .
dname           DNAME   other.test.
svc             HTTPS   1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.80
svc2            SVCB    0 svc.zt.test.
selector._domainkey TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC" "second string"
escaped         TXT     "quote \" semi \; and \065"
opaque          TYPE65534 \# 4 01020304
opaque          TXT     "next to an unknown type"
a.b.c.ent       A       192.0.2.90
sub             NS      ns.sub
sub             NS      ns.other.test.
sub             DS      12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.sub          A       192.0.2.100
ns.sub          AAAA    2001:db8::100
deep.below.sub  A       192.0.2.101
*.wild          A       192.0.2.70
*.wild          TXT     "wildcard"
exist.wild      A       192.0.2.71
*.wcname        CNAME   www
$INCLUDE included.db
"""

INCLUDED_DB = r"""; $INCLUDE'd, with an $ORIGIN of its own
$ORIGIN inc.zt.test.
one     A       192.0.2.11
two     AAAA    2001:db8::11
"""

# Names the queries are made of: every owner, the empty non-terminals, and names that do not
# exist (below wildcards, below a delegation, below an ENT, beside everything).
EXISTING = ["@", "ns1", "ns2", "mail", "www", "_443._tcp.www", "alias", "chain1", "chain2", "ext",
            "dangling", "towild", "todeleg", "_sip._tcp", "_sip._udp", "sip", "1.2", "naptr",
            "dname", "svc", "svc2", "selector._domainkey", "escaped", "opaque", "a.b.c.ent",
            "sub", "ns.sub", "deep.below.sub", "*.wild", "exist.wild", "*.wcname",
            "one.inc", "two.inc"]
ENTS = ["b.c.ent", "c.ent", "_tcp.www", "_tcp", "_udp", "2", "_domainkey", "wild", "wcname",
        "below.sub", "inc"]
MISSING = ["nothere", "x.wild", "a.b.wild", "y.exist.wild", "z.wcname", "q.sub", "x.deep.below.sub",
           "zz.b.c.ent", "x.ent", "x.www", "nope.inc", "x.dname", "a.b.dname", "mail3",
           "x._tcp"]
TYPES = ["A", "AAAA", "NS", "SOA", "CNAME", "MX", "TXT", "SRV", "CAA", "PTR", "NAPTR", "TLSA",
         "SSHFP", "HTTPS", "SVCB", "DS", "DNAME", "TYPE65534", "HINFO", "ANY"]


def absolute(label):
    return ORIGIN if label == "@" else f"{label}.{ORIGIN}"


def write_zone(directory, text=ZONE_DB):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "zone.db").write_text(text)
    (directory / "included.db").write_text(INCLUDED_DB)
    return directory / "zone.db"


def knotd_bin():
    path = shutil.which("knotd") or "/usr/sbin/knotd"
    assert os.path.exists(path), "knotd is missing: scripts/setup.sh installs Debian's knot"
    return path


class Knotd:
    """knotd on 127.0.0.1:`port` serving `zones` {name: file}, its configuration, storage and
    run directory inside `directory`."""

    def __init__(self, directory, port, zones, extra="", address="127.0.0.1", conf=None):
        """`conf`: a whole knot.conf instead of the one made here (the secondary tests give
        keys, remotes, ACLs and journals); `address` is where it listens."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.address = address
        zone_lines = "".join(f"  - domain: {name}\n    file: {path}\n" for name, path in
                             zones.items())
        self.conf = self.dir / "knot.conf"
        self.conf.write_text(conf if conf is not None else f"""server:
    listen: {address}@{port}
    rundir: {self.dir}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: {self.dir}/knot.sock
database:
    storage: {self.dir}
log:
  - target: stderr
    any: info
{extra}
template:
  - id: default
    storage: {self.dir}
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
zone:
{zone_lines}""")
        self.log_path = self.dir / "knotd.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([knotd_bin(), "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_serving(self, zone, timeout=30.0):
        """Until knotd answers SOA for `zone` authoritatively; returns seconds taken."""
        start = time.monotonic()
        q = dns.message.make_query(zone, "SOA")
        while time.monotonic() - start < timeout:
            assert self.proc.poll() is None, f"knotd exited:\n{self.log()}"
            try:
                r = dns.query.udp(q, self.address, port=self.port, timeout=0.5)
                if r.rcode() == 0 and r.answer:
                    return time.monotonic() - start
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"knotd did not serve {zone} within {timeout} s:\n{self.log()}")

    def knotc(self, *args):
        """Runs knotc against this knotd's control socket; returns its output."""
        knotc = shutil.which("knotc") or "/usr/sbin/knotc"
        r = subprocess.run([knotc, "-c", str(self.conf), *args], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 0, f"knotc {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def gslbd_config(directory, port, zones_block, extra=""):
    """The tests' standard main file with `zones_block` as its zones."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "locations.yml").write_text(gslbd_test.LOCATION_MAP)
    text = gslbd_test.main_config(port, extra=extra)
    text = text[:text.index("zones:")] + zones_block
    path = directory / "gslbd.yml"
    path.write_text(text)
    return path
