"""Hostile traffic against the running daemon (issue 19; docs/reliability.md lists what is
sent). UDP: malformed and truncated messages, compression loops, bogus counts, hostile
OPT/ECS, responses, other opcodes and random bytes; TCP: garbage framing, huge and zero
length prefixes, half-sent and trickled messages, idle connections up to and past the
limit. After every hostile message a valid query is answered correctly, the daemon stays up
(and exits cleanly: the fixture checks), and /metrics accounts for every bad message under
the counter that says why: `gslbd_dropped_total{reason="not_a_query"}` for what gets no
answer, `gslbd_responses_total{rcode="FORMERR"|"NOTIMP"|"BADVERS"}` for what is refused,
`gslbd_tcp_connections_total{event=...}` for TCP connections closed by the server.
"""
import random
import re
import socket
import struct
import time

import dns.message
import dns.rcode
import pytest

import gslbd_test
import hostile_cases
from hostile_cases import header, walk
from gslbd_test import make_query, read_exact, read_message, udp

FO = {"192.0.2.1", "192.0.2.2"}
MAX_CONN = 8


@pytest.fixture
def hostile(start_gslbd, tmp_path):
    """gslbd with the control API (for /metrics), a 1 s TCP idle timeout and a limit of
    MAX_CONN connections."""
    directory = tmp_path / "hostile"
    directory.mkdir()
    api_port = gslbd_test.free_port()
    d = start_gslbd(name="hostile", idle_timeout="1s", max_connections=MAX_CONN,
                    extra=gslbd_test.api_block(api_port, directory))
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


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def assert_serving(d):
    assert d.proc.poll() is None, "gslbd died:\n" + d.log()
    r = udp(d, make_query("fo.gslb.test."))
    assert r.rcode() == dns.rcode.NOERROR
    assert set(gslbd_test.addresses(r)) <= FO and gslbd_test.addresses(r)


def send_raw(port, payload, timeout=1.0):
    """Sends one datagram; returns the answer's bytes, or None when none came."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


UDP_CASES = hostile_cases.cases("www.gslb.test.")


def test_hostile_udp_messages_are_refused_and_counted(hostile):
    d, api = hostile
    before = metrics(api)
    expect = {}
    for what, payload, outcome in UDP_CASES:
        answer = send_raw(d.port, payload, timeout=0.5 if outcome == "drop" else 3)
        if outcome == "drop":
            assert answer is None, f"{what}: answered"
        else:
            assert answer is not None, f"{what}: no answer"
            assert answer[:2] == payload[:2], f"{what}: answer has another ID"
            assert answer[2] & 0x80, f"{what}: QR clear"
            rcode = dns.rcode.to_text(walk(answer))  # the answer itself is well-formed
            assert rcode == outcome, f"{what}: {rcode}"
        expect[outcome] = expect.get(outcome, 0) + 1
        assert_serving(d)
    after = metrics(api)
    assert delta(before, after, 'gslbd_dropped_total{reason="not_a_query"}') == expect["drop"]
    for rcode in ("FORMERR", "NOTIMP", "BADVERS"):
        key = f'gslbd_responses_total{{transport="udp",rcode="{rcode}"}}'
        assert delta(before, after, key) == expect[rcode], rcode


def test_random_bytes_and_mutations(hostile):
    """Fixed-seed random datagrams and byte flips of a valid query: every message is either
    answered with a well-formed message of its ID, or dropped and counted."""
    d, api = hostile
    rng = random.Random(19)
    valid = make_query("rr.gslb.test.", "A", ecs=("198.51.100.0", 24)).to_wire()
    payloads = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600)))
                for _ in range(150)]
    for _ in range(250):
        b = bytearray(valid)
        for _ in range(rng.randrange(1, 5)):
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        payloads.append(bytes(b[:rng.randrange(len(b) + 1)] if rng.random() < 0.3 else b))
    before = metrics(api)
    dropped_expected = checks = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        for i, p in enumerate(payloads):
            if len(p) < 12 or p[2] & 0x80:
                # never answered (shorter than a header, or a response): sent from a socket
                # of its own, so that an answer, were there one, could not be mistaken for
                # the next payload's; the counters below tell
                dropped_expected += 1
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as once:
                    once.sendto(p, ("127.0.0.1", d.port))
                continue
            s.sendto(p, ("127.0.0.1", d.port))
            a = s.recv(65535)
            assert a[:2] == p[:2] and a[2] & 0x80, f"payload {i}: bad answer header"
            walk(a)
            if i % 25 == 0:
                assert_serving(d)
                checks += 1
    # the last payloads may still be in another worker's socket: wait for the count
    drops = 'gslbd_dropped_total{reason="not_a_query"}'
    gslbd_test.wait_for(lambda: delta(before, metrics(api), drops), dropped_expected, 5,
                        "drops counted")
    after = metrics(api)
    # assert_serving's own queries were answered too
    assert delta(before, after, 'gslbd_queries_total{transport="udp"}') == len(payloads) + checks
    assert_serving(d)


def tcp_connect(d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    return s


def closed_by_peer(sock, timeout):
    sock.settimeout(timeout)
    try:
        while True:
            if sock.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def test_tcp_garbage_framing(hostile):
    d, api = hostile
    before = metrics(api)
    # garbage that frames as a runt: no answer, the stream is not trusted any more
    with tcp_connect(d) as s:
        s.sendall(b"\x00\x05hello")
        assert closed_by_peer(s, 3)
    assert_serving(d)
    # a zero-length message closes the connection
    with tcp_connect(d) as s:
        s.sendall(b"\x00\x00")
        assert closed_by_peer(s, 3)
    # a malformed message in a pipeline: FORMERR for it, answers for the valid ones
    with tcp_connect(d) as s:
        good = make_query("fo.gslb.test.").to_wire()
        s.sendall(frame(good) + frame(header() + b"\xc0\x0c\x00\x01\x00\x01") + frame(good))
        rcodes = [read_message(s).rcode() for _ in range(3)]
        assert rcodes == [dns.rcode.NOERROR, dns.rcode.FORMERR, dns.rcode.NOERROR]
    # random bytes as a stream: whatever happens, the server stays up
    rng = random.Random(7)
    for _ in range(20):
        with tcp_connect(d) as s:
            try:
                s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 3000))))
                s.shutdown(socket.SHUT_WR)
                closed_by_peer(s, 3)
            except (ConnectionError, OSError):
                pass
    assert_serving(d)
    after = metrics(api)
    assert delta(before, after, 'gslbd_dropped_total{reason="not_a_query"}') >= 2
    assert delta(before, after, 'gslbd_responses_total{transport="tcp",rcode="FORMERR"}') >= 1


def test_tcp_huge_length_and_half_sent_messages_time_out(hostile):
    d, api = hostile
    before = metrics(api)
    good = frame(make_query("fo.gslb.test.").to_wire())
    with tcp_connect(d) as huge, tcp_connect(d) as half:
        huge.sendall(b"\xff\xff" + b"x" * 1000)  # announces 65535 bytes, sends 1000
        half.sendall(good[: len(good) // 2])
        t0 = time.monotonic()
        assert closed_by_peer(huge, 5) and closed_by_peer(half, 5)
        assert time.monotonic() - t0 <= 4
    assert_serving(d)
    after = metrics(api)
    assert delta(before, after, 'gslbd_tcp_connections_total{event="timed_out"}') >= 2


def test_tcp_trickled_message_cannot_hold_a_connection(hostile):
    """A message sent one byte every 0.4 s (below the 1 s idle timeout) is still cut off:
    the timeout runs from the first byte of an incomplete message, so a slow sender cannot
    keep connection slots forever."""
    d, _ = hostile
    good = frame(make_query("fo.gslb.test.").to_wire())
    with tcp_connect(d) as s:
        t0 = time.monotonic()
        closed = False
        for b in good[:-1]:
            try:
                s.sendall(bytes([b]))
            except (ConnectionError, OSError):
                closed = True
                break
            if closed_by_peer(s, 0.4):
                closed = True
                break
        assert closed, "a trickling client held its connection for the whole message"
        assert time.monotonic() - t0 <= 3.5
    assert_serving(d)


def test_idle_connections_up_to_and_past_the_limit(hostile):
    d, api = hostile
    time.sleep(1.5)  # wait_ready's probe connections time out first
    before = metrics(api)
    held = [tcp_connect(d) for _ in range(MAX_CONN)]
    try:
        time.sleep(0.3)
        extra = [tcp_connect(d) for _ in range(4)]
        for s in extra:
            assert closed_by_peer(s, 3), "a connection past the limit was kept"
            s.close()
        assert_serving(d)  # UDP is unaffected
        # the held connections are idle: all closed after the idle timeout
        for s in held:
            assert closed_by_peer(s, 4)
    finally:
        for s in held:
            s.close()
    # and the slots are free again
    with tcp_connect(d) as s:
        s.sendall(frame(make_query("fo.gslb.test.").to_wire()))
        assert read_message(s).rcode() == dns.rcode.NOERROR
    after = metrics(api)
    assert delta(before, after, 'gslbd_tcp_connections_total{event="rejected"}') >= 4
    assert delta(before, after, 'gslbd_tcp_connections_total{event="timed_out"}') >= MAX_CONN
