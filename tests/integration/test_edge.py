"""Edge protection over the wire (docs/edge.md): the ACL (drop, REFUSED, longest prefix wins),
response rate limiting (rate, slip, exempt prefixes, log-only, TCP never limited), DNS cookies
(RFC 7873 with RFC 9018 server cookies: kdig +cookie, dnspython; BADCOOKIE, FORMERR, a valid
cookie exempt from RRL, secret rotation keeping the previous secret valid) and least
privilege (uid/gid and capability sets of the running daemon from /proc). Clients use their
own source addresses in 127.0.0.0/8, so each test is its own client prefix.
"""
import os
import re
import socket
import struct
import subprocess
import time

import dns.edns
import dns.message
import dns.rcode
import pytest

import gslbd_test
from gslbd_test import make_query, udp

FO = {"192.0.2.1", "192.0.2.2"}
SECRET_A = "e5e973e5a6b2a43f48e7dc849e37bfcf"
SECRET_B = "000102030405060708090a0b0c0d0e0f"
SECRET_C = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
BADCOOKIE = 23


def start(start_gslbd, tmp_path, name, edge, workers=2):
    api_port = gslbd_test.free_port()
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    d = start_gslbd(name=name, workers=workers,
                    extra=gslbd_test.api_block(api_port, directory) + edge)
    api = gslbd_test.Api(api_port)
    gslbd_test.wait_api(api)
    return d, api


def metrics(api):
    status, text = api.get("/metrics")
    assert status == 200
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def ask(d, q, source, timeout=1.0):
    """One UDP query from `source`; the response, or None when nothing came back."""
    try:
        return dns.query.udp(q, "127.0.0.1", port=d.port, source=source, timeout=timeout)
    except dns.exception.Timeout:
        return None


def burst(d, source, n, name="fo.gslb.test.", options=None, wait=0.6):
    """Sends n queries back to back from one socket bound to `source`, then collects what comes
    back until `wait` s of silence. Returns (responses, seconds the sending took)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    t0 = time.monotonic()
    for i in range(n):
        q = make_query(name)
        if options:
            q.use_edns(0, payload=1232, options=options)
        q.id = i
        s.sendto(q.to_wire(), ("127.0.0.1", d.port))
    took = time.monotonic() - t0
    out = []
    s.settimeout(wait)
    try:
        while True:
            data, _ = s.recvfrom(65535)
            out.append(dns.message.from_wire(data, ignore_trailing=True))
    except socket.timeout:
        pass
    s.close()
    return out, took


def cookie_of(r):
    for o in (r.options if r.edns >= 0 else []):
        if o.otype == dns.edns.COOKIE:
            return o.to_wire() if hasattr(o, "to_wire") else o.data
    return None


def cookie_option(data):
    return dns.edns.GenericOption(dns.edns.COOKIE, data)


# --- ACL ---------------------------------------------------------------------------------

ACL = """
acl:
  default: allow
  rules:
    - {prefix: 127.0.5.0/24, action: drop}
    - {prefix: [127.0.6.0/24, "::1/128"], action: refuse}
    - {prefix: 127.0.6.7/32, action: allow}
"""


def test_acl_drop_refuse_allow(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "acl", ACL)
    before = metrics(api)
    assert ask(d, make_query("fo.gslb.test."), "127.0.5.1", timeout=0.5) is None
    r = ask(d, make_query("fo.gslb.test."), "127.0.6.1")
    assert r is not None and r.rcode() == dns.rcode.REFUSED and not r.answer
    r = ask(d, make_query("fo.gslb.test."), "127.0.6.7")  # the /32 inside the refused /24
    assert r.rcode() == dns.rcode.NOERROR and set(gslbd_test.addresses(r)) <= FO
    r = ask(d, make_query("fo.gslb.test."), "127.0.0.1")  # default allow
    assert r.rcode() == dns.rcode.NOERROR and gslbd_test.addresses(r)
    out = gslbd_test.dig(d.port, "-b", "127.0.6.2", "fo.gslb.test.", "A")
    assert gslbd_test.dig_status(out) == "REFUSED"
    out = gslbd_test.dig(d.port, "fo.gslb.test.", "A", host="::1")
    assert gslbd_test.dig_status(out) == "REFUSED"
    after = metrics(api)
    assert after['gslbd_acl_total{action="drop"}'] - before.get('gslbd_acl_total{action="drop"}', 0) == 1
    assert after['gslbd_acl_total{action="refuse"}'] - before.get('gslbd_acl_total{action="refuse"}', 0) == 3


def test_acl_default_drop_config_errors(tmp_path):
    path = gslbd_test.write_config(tmp_path / "bad", gslbd_test.free_port(), extra="""
acl:
  rules:
    - {prefix: 127.0.5.1/24, action: drop}
""")
    p = gslbd_test.run_gslbd("--check-config", str(path))
    assert p.returncode != 0
    assert re.search(r"gslbd\.yml:\d+:\d+: acl\.rules\[0\]\.prefix.*host bits", p.stderr + p.stdout)
    path = gslbd_test.write_config(tmp_path / "bad2", gslbd_test.free_port(), extra="""
acl:
  default: maybe
""")
    p = gslbd_test.run_gslbd("--check-config", str(path))
    assert p.returncode != 0 and "acl.default" in p.stderr + p.stdout


# --- RRL ---------------------------------------------------------------------------------

RRL = """
rrl:
  responses_per_second: 5
  window: 2
  slip: 2
  exempt: [127.0.9.0/24]
"""


def test_rrl_limits_slips_and_exempts(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "rrl", RRL)
    n = 60
    got, took = burst(d, "127.0.7.1", n)
    full = [r for r in got if not r.flags & dns.flags.TC]
    tc = [r for r in got if r.flags & dns.flags.TC]
    # one socket lands on one worker (SO_REUSEPORT hashes the 4-tuple): 5 per second there
    assert 1 <= len(full) <= 5 * (int(took) + 2), (len(full), took)
    assert all(set(gslbd_test.addresses(r)) <= FO for r in full)
    assert tc and all(not r.answer for r in tc), "slip 2 sends every 2nd limited response with TC"
    assert len(got) < n, "limited responses that do not slip are dropped"
    limited = n - len(full)
    assert abs(len(tc) - limited / 2) <= 2
    # the same /24: the same account; another name: another account
    r = ask(d, make_query("rr.gslb.test."), "127.0.7.99")
    assert r is not None and r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC
    # TCP is never limited
    r = gslbd_test.tcp(d, make_query("fo.gslb.test."))
    assert r.rcode() == dns.rcode.NOERROR
    # an exempt prefix gets everything
    got, _ = burst(d, "127.0.9.5", n)
    assert len(got) == n and not any(r.flags & dns.flags.TC for r in got)
    m = metrics(api)
    assert m['gslbd_rrl_total{action="drop"}'] > 0
    assert m['gslbd_rrl_total{action="slip"}'] >= len(tc)
    assert m['gslbd_rrl_total{action="exempt"}'] >= n


def test_rrl_log_only_answers_everything(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "rrl_log", """
rrl:
  responses_per_second: 2
  log_only: true
""")
    got, _ = burst(d, "127.0.8.1", 40)
    assert len(got) == 40 and not any(r.flags & dns.flags.TC for r in got)
    would = metrics(api)['gslbd_rrl_total{action="log_only"}']
    assert would >= 30
    # logged at once, as a count (never per packet)
    gslbd_test.wait_for(lambda: re.search(r"RRL log-only: \d+ responses over the rate", d.log())
                        is not None, True, 5, "the log-only report in the log")
    m = re.search(r"RRL log-only: (\d+) responses over the rate since the last report "
                  r"\((\d+) in all\), none limited", d.log())
    assert m and 1 <= int(m.group(1)) == int(m.group(2)) <= would, (m and m.group(0), would)
    burst(d, "127.0.8.1", 40)  # within 10 s of the first report: no second one yet
    time.sleep(1.5)
    assert d.log().count("RRL log-only:") == 1


# --- cookies -----------------------------------------------------------------------------

def cookies_edge(secret, previous=None, enforce=False, rate=None):
    text = f"\ncookies:\n  secret: {secret}\n  enforce: {'true' if enforce else 'false'}\n"
    if previous:
        text += f"  previous_secret: {previous}\n"
    if rate:
        text += f"rrl:\n  responses_per_second: {rate}\n  slip: 2\n"
    return text


def test_cookies_kdig_and_dnspython(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "cookies", cookies_edge(SECRET_A, rate=3))
    out = gslbd_test.kdig(d.port, "+cookie", "fo.gslb.test.", "A")
    m = re.search(r"COOKIE: ([0-9A-Fa-f]{16}) ([0-9A-Fa-f]{32})", out) or \
        re.search(r"COOKIE: ([0-9A-Fa-f]{16})([0-9A-Fa-f]{32})", out)
    assert m, out
    assert m.group(2).lower().startswith("01000000")
    out = gslbd_test.dig(d.port, "+cookie", "fo.gslb.test.", "A")
    assert re.search(r"COOKIE: [0-9a-f]{48} \(good\)", out), out

    client = bytes.fromhex("0102030405060708")
    q = make_query("fo.gslb.test.")
    q.use_edns(0, payload=1232, options=[cookie_option(client)])
    r = ask(d, q, "127.0.11.1")
    c = cookie_of(r)
    assert r.rcode() == dns.rcode.NOERROR and c is not None and len(c) == 24
    assert c[:8] == client and c[8] == 1 and c[9:12] == b"\0\0\0"
    assert abs(struct.unpack("!I", c[12:16])[0] - time.time()) < 10

    # malformed cookie option (5 bytes): FORMERR
    bad = make_query("fo.gslb.test.")
    bad.use_edns(0, payload=1232, options=[cookie_option(b"\1\2\3\4\5")])
    r = ask(d, bad, "127.0.11.1")
    assert r.rcode() == dns.rcode.FORMERR

    # a valid server cookie exempts from RRL (3/s): a burst is answered in full
    good = [cookie_option(c)]
    got, _ = burst(d, "127.0.11.1", 40, options=good)
    assert len(got) == 40 and not any(x.flags & dns.flags.TC for x in got)
    # the same burst without a valid cookie (a flood from the same address) is limited; a
    # client-cookie-only query that slips gets BADCOOKIE with a fresh cookie, no answer
    got, _ = burst(d, "127.0.11.1", 40, options=[cookie_option(client)])
    assert len(got) < 40
    bc = [x for x in got if x.rcode() == BADCOOKIE]
    assert bc and all(cookie_of(x) is not None and not x.answer for x in bc)
    mt = metrics(api)
    assert mt['gslbd_cookies_total{result="valid"}'] >= 40
    assert mt['gslbd_cookies_total{result="badcookie"}'] >= len(bc)


def test_cookie_enforce_and_secret_rotation(start_gslbd, tmp_path):
    d, api = start(start_gslbd, tmp_path, "rotate", cookies_edge(SECRET_A, enforce=True))
    client = bytes.fromhex("1112131415161718")
    q = make_query("fo.gslb.test.")
    q.use_edns(0, payload=1232, options=[cookie_option(client)])
    r = ask(d, q, "127.0.12.1")
    assert r.rcode() == BADCOOKIE and not r.answer and len(cookie_of(r)) == 24
    server = cookie_of(r)

    def with_server(cookie):
        q = make_query("fo.gslb.test.")
        q.use_edns(0, payload=1232, options=[cookie_option(cookie)])
        return ask(d, q, "127.0.12.1")

    assert with_server(server).rcode() == dns.rcode.NOERROR
    # another source address: the cookie is bound to the address
    q = make_query("fo.gslb.test.")
    q.use_edns(0, payload=1232, options=[cookie_option(server)])
    assert ask(d, q, "127.0.12.2").rcode() == BADCOOKIE
    # queries without any cookie are answered (nothing to send BADCOOKIE with)
    assert ask(d, make_query("fo.gslb.test."), "127.0.12.1").rcode() == dns.rcode.NOERROR

    def reload(secret, previous):
        d.config.write_text(gslbd_test.main_config(
            d.port, extra=gslbd_test.api_block(api.port, d.config.parent) +
            cookies_edge(secret, previous, enforce=True)))
        status, body = api.post("/api/v1/reload")
        assert status == 200, body

    reload(SECRET_B, SECRET_A)  # rotated: the old cookie stays valid
    assert with_server(server).rcode() == dns.rcode.NOERROR
    reload(SECRET_C, SECRET_B)  # two rotations later it is gone
    assert with_server(server).rcode() == BADCOOKIE


# --- least privilege ---------------------------------------------------------------------

def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


CAPS = (1 << 10) | (1 << 13)  # CAP_NET_BIND_SERVICE, CAP_NET_RAW


def test_drops_root_keeps_two_capabilities(start_gslbd, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("the privilege test must run as root (it checks the switch to nobody)")
    os.chmod(tmp_path, 0o755)
    d, api = start(start_gslbd, tmp_path, "priv", "\nuser: nobody\ngroup: nogroup\n")
    st = proc_status(d.proc.pid)
    assert st["Uid"] == ["65534"] * 4, st["Uid"]
    assert st["Gid"] == ["65534"] * 4, st["Gid"]
    assert st["Groups"] == ["65534"], st["Groups"]
    assert int(st["CapEff"][0], 16) == CAPS
    assert int(st["CapPrm"][0], 16) == CAPS
    assert int(st["CapBnd"][0], 16) == CAPS
    assert int(st["CapInh"][0], 16) == 0
    assert st["NoNewPrivs"] == ["1"]
    # every thread (workers started after the drop, threads that ran before it)
    for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
        t = proc_status(f"{d.proc.pid}/task/{tid}")
        assert t["Uid"] == ["65534"] * 4 and int(t["CapEff"][0], 16) & ~CAPS == 0
    assert "running as user nobody" in d.log()
    r = udp(d, make_query("fo.gslb.test."))
    assert r.rcode() == dns.rcode.NOERROR and gslbd_test.addresses(r)
    assert gslbd_test.tcp(d, make_query("fo.gslb.test.")).rcode() == dns.rcode.NOERROR


def test_unknown_user_is_a_config_error(tmp_path):
    path = gslbd_test.write_config(tmp_path / "u", gslbd_test.free_port(),
                                   extra="\nuser: no-such-user-gslbd\n")
    p = gslbd_test.run_gslbd("--check-config", str(path))
    assert p.returncode != 0 and "no such user 'no-such-user-gslbd'" in p.stderr + p.stdout
