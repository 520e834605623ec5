"""Slow start for backends a reload adds (docs/gradual.md "Slow start"): nothing ramps at
process start; a backend new after a reload ramps from min_percent to its full weight over
the window, and its share of answers (from gslbd's own answer counters) follows the ramp."""
import socket
import time

from gslbd_test import make_query
from test_gradual import (WINDOW, expected_percent, ramp_state, start_with_api,
                          status_answers)


def zone(addresses):
    backends = "".join(f'      - address: "{a}"\n        weight: 1\n' for a in addresses)
    return f"""defaults:
  record_ttl: 30
records:
  ss.gslb.test.:
    mode: weighted
    slow_start: {{window: {int(WINDOW)}s, min_percent: 10}}
    backends:
{backends}"""


def send(d, name, n):
    """`n` queries one after the other; a lost datagram is not retried (the shares come from
    gslbd's counters, not from the replies)."""
    wire = make_query(name, edns=None).to_wire()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    for _ in range(n):
        sock.sendto(wire, ("127.0.0.1", d.port))
        try:
            sock.recv(4096)
        except socket.timeout:
            pass
    sock.close()


def test_a_backend_a_reload_adds_ramps_and_nothing_ramps_at_start(start_gslbd, tmp_path):
    old, new = "192.0.2.41", "192.0.2.42"
    d, api = start_with_api(start_gslbd, tmp_path, zone([old]))
    # process start: nothing to ramp from
    assert ramp_state(api, "ss.gslb.test.", old) == (100, None)
    (tmp_path / "gradual" / "zone.yml").write_text(zone([old, new]))
    status, r = api.post("/api/v1/reload")
    assert status == 200 and r["ok"], r
    # the backend that stays keeps its full weight; the new one ramps from the reload on
    assert ramp_state(api, "ss.gslb.test.", old) == (100, None)
    p, elapsed = ramp_state(api, "ss.gslb.test.", new)
    assert elapsed is not None and p <= 20, (p, elapsed)
    samples = []
    deadline = time.monotonic() + WINDOW + 3
    while time.monotonic() < deadline:
        tick = time.monotonic()
        p0, e0 = ramp_state(api, "ss.gslb.test.", new)
        a0 = status_answers(api, "ss.gslb.test.")
        send(d, "ss.gslb.test.", 800)
        a1 = status_answers(api, "ss.gslb.test.")
        p1, _ = ramp_state(api, "ss.gslb.test.", new)
        got = {k: a1[k] - a0[k] for k in a1}
        n = sum(got.values())
        assert n >= 799, got  # at most 0.1 % UDP loss (and answers are counted by gslbd)
        if p0 == p1:  # no step during the sample: the share of one weight
            samples.append((e0, p0, got[new] / n))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    print("samples (elapsed, percent, share of the new backend):", samples)
    steps = sorted({p for _, p, _ in samples})
    assert len(steps) >= 5 and steps[0] <= 30 and steps[-1] == 100, samples
    last = 0
    for elapsed, p, share in samples:
        expected = p / (p + 100)  # weights 1:1, the new one's scaled by its percent
        assert abs(share - expected) < 0.06, (elapsed, p, share, expected)
        assert p >= last, samples
        last = p
        if elapsed is not None:
            assert expected_percent(elapsed - 1.3) <= p <= expected_percent(elapsed + 0.2), \
                (elapsed, p, samples)
    assert samples[-1][1] == 100 and abs(samples[-1][2] - 0.5) < 0.06, samples
    # a reload that adds nothing starts no ramp
    status, r = api.post("/api/v1/reload")
    assert status == 200 and r["ok"], r
    assert ramp_state(api, "ss.gslb.test.", new) == (100, None)
    assert ramp_state(api, "ss.gslb.test.", old) == (100, None)
