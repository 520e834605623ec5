"""DNS over TCP (RFC 7766): pipelining on one connection, partial reads, connection
close on a zero-length message, idle timeout, connection limit."""
import socket
import struct
import time

import dns.message
import dns.rcode

from gslbd_test import addresses, make_query, read_exact, read_message, tcp


def frame(q):
    wire = q.to_wire()
    return struct.pack("!H", len(wire)) + wire


def closed_by_peer(sock, timeout):
    """True when the peer closes (EOF or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_several_pipelined_queries_on_one_connection(server):
    names = ["fo.gslb.test.", "fo-disabled.gslb.test.", "nope.gslb.test.", "big.gslb.test.",
             "host.deep.gslb.test."]
    queries = [make_query(n) for n in names]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"".join(frame(q) for q in queries))  # all at once, before any reply
        replies = [read_message(s) for _ in queries]
        # and the connection stays usable for a second round
        s.sendall(frame(queries[0]))
        again = read_message(s)
    by_id = {r.id: r for r in replies}
    assert sorted(by_id) == sorted(q.id for q in queries)
    for q in queries:
        r = by_id[q.id]
        assert r.question[0].name == q.question[0].name
    assert sorted(addresses(by_id[queries[0].id])) == ["192.0.2.1", "192.0.2.2"]
    assert addresses(by_id[queries[1].id]) == ["192.0.2.12"]
    assert by_id[queries[2].id].rcode() == dns.rcode.NXDOMAIN
    assert len(addresses(by_id[queries[3].id])) == 40
    assert sorted(addresses(again)) == ["192.0.2.1", "192.0.2.2"]


def test_query_split_into_single_bytes(server):
    q = make_query("fo-disabled.gslb.test.")
    data = frame(q)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in data:
            s.sendall(bytes([b]))
            time.sleep(0.002)
        r = read_message(s)
    assert r.id == q.id
    assert addresses(r) == ["192.0.2.12"]


def test_zero_length_message_closes_the_connection(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(frame(make_query("fo.gslb.test.")))
        assert read_message(s).rcode() == dns.rcode.NOERROR
        s.sendall(b"\x00\x00")
        assert closed_by_peer(s, 3)


def test_half_closed_client_still_gets_its_answers(server):
    queries = [make_query("fo.gslb.test."), make_query("rr.gslb.test.")]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"".join(frame(q) for q in queries))
        s.shutdown(socket.SHUT_WR)
        ids = {read_message(s).id for _ in queries}
        assert ids == {q.id for q in queries}
        assert closed_by_peer(s, 3)


def test_idle_timeout_closes_the_connection(start_gslbd):
    d = start_gslbd(idle_timeout="1s")
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(frame(make_query("fo.gslb.test.")))
        assert read_message(s).rcode() == dns.rcode.NOERROR
        start = time.monotonic()
        assert closed_by_peer(s, 5), "idle connection still open after 5 s"
        elapsed = time.monotonic() - start
    # the timer runs from the last activity: not much before 1 s, not much after
    assert 0.8 <= elapsed <= 2.5, elapsed
    # a busy connection is not idle: 3 queries 0.5 s apart outlive the 1 s timeout
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        for _ in range(3):
            s.sendall(frame(make_query("fo.gslb.test.")))
            assert read_message(s).rcode() == dns.rcode.NOERROR
            time.sleep(0.5)
        s.sendall(frame(make_query("fo.gslb.test.")))
        assert read_message(s).rcode() == dns.rcode.NOERROR


def test_connection_limit(start_gslbd):
    d = start_gslbd(max_connections=2)

    def served_connection():
        # wait_ready()'s own probe connection may not be reaped by gslbd yet; until it is,
        # it still counts against the limit, so retry briefly
        deadline = time.monotonic() + 3
        while True:
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            try:
                s.sendall(frame(make_query("fo.gslb.test.")))
                assert read_message(s).rcode() == dns.rcode.NOERROR
                return s
            except (EOFError, ConnectionError, OSError):
                s.close()
                assert time.monotonic() < deadline, "no connection slot within 3 s"
                time.sleep(0.1)

    held = [served_connection() for _ in range(2)]
    try:
        # the third is accepted by the kernel and closed by gslbd at once
        with socket.create_connection(("127.0.0.1", d.port), timeout=5) as extra:
            assert closed_by_peer(extra, 3)
        # the held ones still work
        held[0].sendall(frame(make_query("rr.gslb.test.")))
        assert len(addresses(read_message(held[0]))) == 1
        # free a slot: a new connection is served again
        held.pop().close()
        deadline = time.monotonic() + 3
        while True:
            try:
                r = tcp(d, make_query("fo.gslb.test."), timeout=1)
                break
            except (EOFError, ConnectionError, OSError):
                assert time.monotonic() < deadline, "slot never freed"
                time.sleep(0.1)
        assert r.rcode() == dns.rcode.NOERROR
    finally:
        for s in held:
            s.close()
