"""Traffic moves gradually (issue 18, docs/gradual.md). Answers per backend: every answer
that hands out a backend, cache hits included, is counted per worker and summed at scrape
time in /metrics (gslbd_backend_answers_total) and /api/v1/status ("answers")."""
import re
from collections import Counter

from gslbd_test import addresses, make_query, udp


def answers_metric(text, name, address):
    pat = re.escape(f'gslbd_backend_answers_total{{name="{name}",address="{address}"}}') + \
        r" ([0-9.e+-]+)$"
    m = re.search(pat, text, re.M)
    assert m, f"gslbd_backend_answers_total for {name} {address} missing"
    return int(float(m.group(1)))


def metric(text, name):
    m = re.search(re.escape(name) + r" ([0-9.e+-]+)$", text, re.M)
    assert m, name + " missing"
    return float(m.group(1))


def status_answers(api, name):
    _, s = api.get("/api/v1/status")
    for z in s["zones"]:
        for r in z["records"]:
            if r["name"] == name:
                return {b["address"]: b["answers"] for b in r["backends"]}
    raise AssertionError(f"{name} not in status")


def scrape(api):
    status, text = api.get("/metrics")
    assert status == 200
    return text


def test_answers_per_backend_count_hits_and_match_what_clients_got(ctl_daemon):
    d, api = ctl_daemon()
    names = {"w.gslb.test.": ["192.0.2.41", "192.0.2.42"],
             "fo.gslb.test.": ["192.0.2.1", "192.0.2.2", "192.0.2.3"]}
    before = scrape(api)
    got = Counter()
    for _ in range(300):
        for name in names:
            for a in addresses(udp(d, make_query(name))):
                got[(name, a)] += 1
    # explain asks the data plane's code on the control side: nothing is handed out
    for _ in range(5):
        status, _ = api.get("/api/v1/explain?name=w.gslb.test.&client=127.0.0.1")
        assert status == 200
    after = scrape(api)
    hits = metric(after, "gslbd_cache_hits_total") - metric(before, "gslbd_cache_hits_total")
    assert hits >= 500, hits  # most answers came from the cache, and were still counted
    for name, addrs in names.items():
        for a in addrs:
            delta = answers_metric(after, name, a) - answers_metric(before, name, a)
            assert delta == got[(name, a)], (name, a, delta, got[(name, a)])
    # weighted 8:2 is followed by what clients got, and status tells the same sums
    assert got[("w.gslb.test.", "192.0.2.41")] > got[("w.gslb.test.", "192.0.2.42")] > 0
    st = status_answers(api, "w.gslb.test.")
    assert st["192.0.2.41"] == answers_metric(after, "w.gslb.test.", "192.0.2.41")
    assert st["192.0.2.42"] == answers_metric(after, "w.gslb.test.", "192.0.2.42")


def test_drained_backend_stops_counting(ctl_daemon):
    d, api = ctl_daemon()
    for _ in range(50):
        udp(d, make_query("w.gslb.test."))
    status, _ = api.post("/api/v1/backends/drain", {"address": "192.0.2.41"})
    assert status == 200
    first = scrape(api)
    for _ in range(200):
        assert addresses(udp(d, make_query("w.gslb.test."))) == ["192.0.2.42"]
    second = scrape(api)
    assert answers_metric(second, "w.gslb.test.", "192.0.2.41") == \
        answers_metric(first, "w.gslb.test.", "192.0.2.41")
    assert answers_metric(second, "w.gslb.test.", "192.0.2.42") - \
        answers_metric(first, "w.gslb.test.", "192.0.2.42") == 200
