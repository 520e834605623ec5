"""DNS cookie and RRL checks for test_e2e.sh's edge phase (docs/edge.md), run in the client
namespace against gslbd in DPDK mode. Each command exits 1 with the reason when a check fails.

  e2e_edge.py rrl-cookie SERVER NAME ADDRESS COOKIE
      Run right after a flood of NAME A from this client's prefix, with RRL enforcing (slip 2):
      without a cookie the class is limited (TC slips, next to no answers); with COOKIE (a valid
      client + server cookie of this address) 50 queries in a row are all answered (exempt);
      with the client cookie alone the slipped responses are BADCOOKIE carrying a fresh
      server cookie (RFC 7873 5.2.3), no answers.
  e2e_edge.py formerr SERVER NAME
      COOKIE options of a wrong length (7, 12 and 41 bytes) are answered FORMERR (RFC 7873 5.2.2).
  e2e_edge.py answered SERVER NAME ADDRESS N
      N queries one after another, every one answered in full (NOERROR, ADDRESS, no TC).
  e2e_edge.py enforce SERVER NAME ADDRESS COOKIE
      With cookies.enforce: a client cookie alone and a wrong server cookie get BADCOOKIE with
      a fresh cookie (RFC 7873 5.2.3-5.2.4); the valid COOKIE and a query without a COOKIE
      option are answered.
"""
import socket
import sys

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

BADCOOKIE = 23
FORMERR = 1


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def query(name, cookie=None):
    q = dns.message.make_query(name, "A", use_edns=False)
    options = [dns.edns.GenericOption(dns.edns.COOKIE, cookie)] if cookie is not None else []
    q.use_edns(0, payload=1232, options=options)
    return q


def ask(server, q, timeout=1.0):
    """One query over UDP; the response, or None when nothing came back."""
    try:
        return dns.query.udp(q, server, timeout=timeout, ignore_trailing=True)
    except dns.exception.Timeout:
        return None


def blast(server, qs, wait=0.5):
    """Sends the queries back to back from one socket; what comes back until `wait` s of
    silence."""
    s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
    for i, q in enumerate(qs):
        q.id = i
        s.sendto(q.to_wire(), (server, 53))
    out = []
    s.settimeout(wait)
    try:
        while True:
            out.append(dns.message.from_wire(s.recv(65535), ignore_trailing=True))
    except socket.timeout:
        pass
    s.close()
    return out


def cookie_of(r):
    for o in (r.options if r is not None and r.edns >= 0 else []):
        if o.otype == dns.edns.COOKIE:
            return o.to_wire() if hasattr(o, "to_wire") else o.data
    return None


def full_answer(r, address):
    return (r is not None and r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC
            and any(address in [x.to_text() for x in rr] for rr in r.answer))


def badcookie_ok(r, client):
    """BADCOOKIE, no answer, a fresh 24-byte cookie for our client cookie."""
    c = cookie_of(r)
    return (r is not None and r.rcode() == BADCOOKIE and not r.answer and c is not None
            and len(c) == 24 and c[:8] == client)


def rrl_cookie(server, name, address, cookie):
    client = cookie[:8]
    got = blast(server, [query(name) for _ in range(20)])
    answered = sum(full_answer(r, address) for r in got)
    tc = sum(1 for r in got if r.flags & dns.flags.TC)
    if answered > 3 or tc < 5:
        fail(f"no cookie: {answered} of 20 answered, {tc} TC: the class is not limited "
             "(run this right after the flood)")
    print(f"ok: no cookie, limited: {answered} of 20 answered, {tc} slipped TC")
    for i in range(50):
        r = ask(server, query(name, cookie))
        if not full_answer(r, address):
            fail(f"query {i + 1} of 50 with a valid cookie not answered in full: {r}")
        c = cookie_of(r)
        if c is None or len(c) != 24 or c[:8] != client:
            fail(f"the answer to a valid cookie carries no fresh cookie: {c!r}")
    print("ok: a valid server cookie is exempt from RRL: 50 of 50 answered")
    got = blast(server, [query(name, client) for _ in range(20)])
    bad = [r for r in got if r.rcode() == BADCOOKIE]
    answered = sum(full_answer(r, address) for r in got)
    if len(bad) < 5 or not all(badcookie_ok(r, client) for r in bad) or answered > 3:
        fail(f"client cookie alone under RRL: {len(bad)} BADCOOKIE (>= 5 expected, each with a "
             f"fresh cookie, no answer), {answered} answered, rcodes "
             f"{sorted(r.rcode() for r in got)}")
    print(f"ok: client cookie alone under RRL: {len(bad)} BADCOOKIE with a fresh cookie, "
          f"{answered} answered")


def formerr(server, name):
    for n in (7, 12, 41):
        r = ask(server, query(name, bytes(range(1, n + 1))))
        if r is None or r.rcode() != FORMERR or r.answer:
            fail(f"a {n}-byte COOKIE option: {r and dns.rcode.to_text(r.rcode())}, "
                 "expected FORMERR")
    print("ok: COOKIE options of 7, 12 and 41 bytes answered FORMERR")


def answered(server, name, address, n):
    for i in range(n):
        r = ask(server, query(name))
        if not full_answer(r, address):
            fail(f"query {i + 1} of {n} not answered in full: {r}")
    print(f"ok: {n} of {n} answered in full")


def enforce(server, name, address, cookie):
    client = cookie[:8]
    r = ask(server, query(name, client))
    if not badcookie_ok(r, client):
        fail(f"enforce, client cookie alone: {r}")
    wrong = cookie[:-1] + bytes([cookie[-1] ^ 0xFF])
    r = ask(server, query(name, wrong))
    if not badcookie_ok(r, client):
        fail(f"enforce, wrong server cookie: {r}")
    for c, what in ((cookie, "valid cookie"), (None, "no COOKIE option")):
        r = ask(server, query(name, c))
        if not full_answer(r, address):
            fail(f"enforce, {what}: not answered in full: {r}")
    print("ok: cookies.enforce: BADCOOKIE for a client cookie alone and a wrong server "
          "cookie, answers for a valid cookie and for no cookie")


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "rrl-cookie":
        rrl_cookie(a[1], a[2], a[3], bytes.fromhex(a[4]))
    elif len(a) == 3 and a[0] == "formerr":
        formerr(a[1], a[2])
    elif len(a) == 5 and a[0] == "answered":
        answered(a[1], a[2], a[3], int(a[4]))
    elif len(a) == 5 and a[0] == "enforce":
        enforce(a[1], a[2], a[3], bytes.fromhex(a[4]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
