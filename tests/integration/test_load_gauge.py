"""Health scores from a load gauge (issue 18 item 1, docs/gradual.md "Health scores"): an http
check reads one sample of the backend's Prometheus /metrics, and the record's `scoring.load`
turns a value over it into a smaller weight. Shares come from gslbd's own answer counters."""
import re
import subprocess

from gslbd_test import Api, HttpBackend, api_block, free_port, wait_api, wait_for

NAME = "ld.gslb.test."


def zone(a, b):
    def probed(h):
        return f"""      - address: {h.addr}
        healthchecks:
          - type: http
            params:
              port: {h.port}
              uri: /metrics
              timeout: 300ms
              load_gauge: 'backend_load{{instance="test"}}'
"""
    return f"""defaults:
  record_ttl: 30
  scrape_interval: 200ms
  scrape_timeout: 300ms
  rise: 1
  fall: 100
records:
  {NAME}:
    mode: weighted
    scoring: {{window: 3, min_success_percent: 50, load: 0.7, floor_percent: 10}}
    backends:
{probed(a)}{probed(b)}"""


def scrape(api):
    status, text = api.get("/metrics")
    assert status == 200
    return text


def gauge(text, metric, address, name=NAME):
    m = re.search(re.escape(f'{metric}{{name="{name}",address="{address}"}}') +
                  r" ([0-9.e+-]+)$", text, re.M)
    assert m, f"{metric} {address} missing"
    return float(m.group(1))


def score(api, h):
    _, s = api.get("/api/v1/status")
    for z in s["zones"]:
        for r in z["records"]:
            if r["name"] == NAME:
                b = [x for x in r["backends"] if x["address"] == h.addr][0]
                return b.get("gradual", {}).get("score", {})
    raise AssertionError("record missing")


def counted(d, api, tmp_path, n):
    """`n` queries with dnsperf; the answers per backend they added, from gslbd's counters,
    and the generation before and after (a change means the weights moved meanwhile)."""
    qfile = tmp_path / "q.txt"
    qfile.write_text(f"{NAME} A\n")
    before = scrape(api)
    p = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-d", str(qfile),
                        "-n", str(n), "-c", "2", "-q", "200", "-t", "2"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    m = re.search(r"Queries completed:\s+(\d+)", p.stdout)
    assert m and int(m.group(1)) >= 0.999 * n, p.stdout  # tiny UDP loss is tolerated
    after = scrape(api)
    return before, after


def test_load_gauge_scales_the_weight_and_it_returns(start_gslbd, tmp_path):
    a = HttpBackend("127.0.0.33", tmp_path)
    b = HttpBackend("127.0.0.34", tmp_path)
    try:
        a.set(status=200, gauge=0.2)
        b.set(status=200, gauge=1.4)
        directory = tmp_path / "load"
        directory.mkdir()
        api_port = free_port()
        d = start_gslbd(name="load", zone_override=zone(a, b),
                        extra=api_block(api_port, directory))
        api = Api(api_port)
        wait_api(api)
        # 1.4 over 0.7: 100 * 0.7 / 1.4 = 50 % of B's weight (docs/gradual.md)
        wait_for(lambda: score(api, b).get("percent"), 50, 10, lambda: f"B at 50: {score(api, b)}")
        assert score(api, b)["load"] == 1.4 and score(api, a)["percent"] == 100, score(api, b)
        text = scrape(api)
        assert gauge(text, "gslbd_backend_load", b.addr) == 1.4
        assert gauge(text, "gslbd_backend_load", a.addr) == 0.2
        assert gauge(text, "gslbd_backend_score_percent", b.addr) == 50
        for _ in range(3):
            before, after = counted(d, api, tmp_path, 100_000)
            if re.search(r"^gslbd_config_generation (\S+)$", before, re.M).group(1) == \
                    re.search(r"^gslbd_config_generation (\S+)$", after, re.M).group(1):
                break  # one weight for the whole run
        else:
            raise AssertionError("the weights kept changing during the runs")
        got = {h.addr: gauge(after, "gslbd_backend_answers_total", h.addr) -
               gauge(before, "gslbd_backend_answers_total", h.addr) for h in (a, b)}
        total = sum(got.values())
        assert total >= 99_900, got
        share, expected = got[b.addr] / total, 50 / 150
        print("B's share:", share, "expected:", expected, got)
        assert abs(share / expected - 1) < 0.02, (share, expected, got)
        # the gauge drops under the threshold: the full weight again
        b.set(status=200, gauge=0.3)
        wait_for(lambda: score(api, b).get("percent"), 100, 10, "B back to 100")
        assert gauge(scrape(api), "gslbd_backend_weight_percent", b.addr) == 100
        before, after = counted(d, api, tmp_path, 20_000)
        got = {h.addr: gauge(after, "gslbd_backend_answers_total", h.addr) -
               gauge(before, "gslbd_backend_answers_total", h.addr) for h in (a, b)}
        share = got[b.addr] / sum(got.values())
        assert abs(share - 0.5) < 0.02, (share, got)
        # a metrics page without the sample: no load, so no reduction (and the check passes)
        b.set(status=200, gauge=5.0, body="ok")
        wait_for(lambda: score(api, b).get("percent"), 10, 10, "B at the floor with 5.0")
        b.set(status=200)
        wait_for(lambda: score(api, b).get("load"), None, 10, "no load read once gone")
        assert score(api, b)["percent"] == 100
    finally:
        a.stop()
        b.stop()
