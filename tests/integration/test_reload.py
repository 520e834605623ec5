"""Hot reload under load: no query lost, no wrong answer (SIGHUP and the API, many times),
also while a large zone (5,000 records x 3 backends) reloads again and again under dnsperf load;
a bad config keeps the old one serving, and the optional file watch (api.watch).

While reloading, the config alternates between two versions that differ only in a record
the load does not ask for (so every answer of the load stays the same and is checkable):
fo.gslb.test. A must always be exactly {192.0.2.1, 192.0.2.2}."""
import random
import re
import signal
import subprocess
import threading
import time

from gslbd_test import addresses, make_query, udp, wait_for

EXPECTED = ["192.0.2.1", "192.0.2.2"]
RELOADS = 24


class Checker(threading.Thread):
    """Sends fo.gslb.test. A in a loop on its own socket and checks every answer."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.sent = self.ok = 0
        self.bad = []

    def run(self):
        q = make_query("fo.gslb.test.")
        while not self.stop.is_set():
            self.sent += 1
            try:
                r = udp(self.port, q, timeout=2.0)
            except Exception as e:  # a timeout is a lost query
                self.bad.append(repr(e))
                continue
            got = sorted(addresses(r))
            if r.rcode() == 0 and got == EXPECTED:
                self.ok += 1
            else:
                self.bad.append(f"rcode {r.rcode()} {got}")


def flip(zone_path, original, i):
    # change the TTL of a record the load never asks for: a real new config every time
    zone_path.write_text(original.replace("  rr.gslb.test.:\n",
                                          f"  rr.gslb.test.:\n    record_ttl: {100 + i}\n", 1))


def test_zero_lost_queries_while_reloading(ctl_daemon, tmp_path):
    d, api = ctl_daemon("load")
    zone = tmp_path / "load" / "zone.yml"
    original = zone.read_text()
    qfile = tmp_path / "queries.txt"
    qfile.write_text("fo.gslb.test. A\nrr.gslb.test. A\ngeo.gslb.test. A\nnothing.gslb.test. A\n")
    gen0 = api.get("/api/v1/status")[1]["generation"]

    checker = Checker(d.port)
    checker.start()
    perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-d", str(qfile),
                             "-l", "6", "-Q", "8000", "-c", "4", "-t", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    for i in range(RELOADS):
        flip(zone, original, i)
        if i % 2 == 0:
            d.signal(signal.SIGHUP)
        else:
            status, body = api.post("/api/v1/reload")
            assert status == 200, body
        time.sleep(0.2)
    out, _ = perf.communicate(timeout=60)
    checker.stop.set()
    checker.join(timeout=10)

    assert perf.returncode == 0, out
    m = re.search(r"Queries sent:\s+(\d+)", out)
    assert m and int(m.group(1)) > 10000, out
    assert re.search(r"Queries lost:\s+0 \(", out), out
    # every dnsperf answer was NOERROR or the NXDOMAIN of nothing.gslb.test. (1 in 4)
    codes = re.search(r"Response codes:\s+(.*)", out).group(1)
    assert set(re.findall(r"([A-Z]+) \d+", codes)) <= {"NOERROR", "NXDOMAIN"}, codes
    sent = int(m.group(1))
    nx = int(re.search(r"NXDOMAIN (\d+)", codes).group(1))
    assert abs(nx - sent / 4) <= 2, codes
    assert checker.bad == [], checker.bad[:10]
    assert checker.ok > 500 and checker.ok == checker.sent
    # every reload landed: generation moved at least once per reload, none failed
    _, s = api.get("/api/v1/status")
    assert s["reloads"]["ok"] >= RELOADS // 2 and s["reloads"]["failed"] == 0
    assert s["generation"] >= gen0 + RELOADS
    log = d.log()
    assert log.count("reload (SIGHUP): serving generation") + \
        log.count("reload (API): serving generation") == RELOADS


def large_zone(n, changed=False):
    """n failover records x 3 backends (bench/scale's shape); `changed` moves one backend of
    the middle record, so that every reload reads a different file."""
    lines = ["records:\n"]
    for i in range(n):
        lines.append(f"  r{i}.gslb.test.:\n    mode: failover\n    backends:\n")
        for j in range(3):
            last = 99 if (changed and i == n // 2 and j == 0) else (i * 3 + j) % 200 + 10
            lines.append(f'      - address: "192.0.2.{last}"\n        priority: {j + 1}\n')
    return "".join(lines)


def test_zero_lost_queries_while_reloading_a_large_zone(start_gslbd, tmp_path):
    # The workers must not feel a reload however long it takes to build the new topology
    # (issue 20): SIGHUP after SIGHUP of a 5,000-record zone (each reading a changed file,
    # the next one sent once the previous one serves) while dnsperf asks 2,000 of its names.
    n = 5000
    d = start_gslbd(name="large", zone_override=large_zone(n))
    zone = tmp_path / "large" / "zone.yml"
    rng = random.Random(4)
    qfile = tmp_path / "large-queries.txt"
    qfile.write_text("".join(f"r{rng.randrange(n)}.gslb.test. A\n" for _ in range(2000)))
    middle = make_query(f"r{n // 2}.gslb.test.")
    assert addresses(udp(d, middle)) == [f"192.0.2.{(n // 2 * 3) % 200 + 10}"]

    perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-d", str(qfile),
                             "-l", "10", "-Q", "5000", "-c", "4", "-t", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    landed, flip = 0, False
    while perf.poll() is None:
        flip = not flip
        zone.write_text(large_zone(n, changed=flip))
        d.signal(signal.SIGHUP)
        wait_for(lambda: d.log().count("reload (SIGHUP): serving generation"), landed + 1, 60,
                 d.log)
        if perf.poll() is None:
            landed += 1
    out, _ = perf.communicate(timeout=60)

    assert perf.returncode == 0, out
    assert landed >= 3, f"only {landed} reloads landed while dnsperf ran:\n{d.log()}"
    m = re.search(r"Queries sent:\s+(\d+)", out)
    assert m and int(m.group(1)) > 30000, out
    assert re.search(r"Queries lost:\s+0 \(", out), out
    codes = re.search(r"Response codes:\s+(.*)", out).group(1)
    assert re.fullmatch(r"NOERROR \d+ \(100\.00%\)", codes.strip()), codes
    assert "reload failed" not in d.log()
    # the last reload really changed what is served
    want = "192.0.2.99" if flip else f"192.0.2.{(n // 2 * 3) % 200 + 10}"
    assert addresses(udp(d, middle)) == [want]


def test_bad_config_keeps_serving_and_is_counted(ctl_daemon, tmp_path):
    d, api = ctl_daemon("bad")
    zone = tmp_path / "bad" / "zone.yml"
    good = zone.read_text()
    zone.write_text(good.replace("    mode: failover\n", "    mode: nonsense\n", 1))
    checker = Checker(d.port)
    checker.start()
    d.signal(signal.SIGHUP)
    status, body = api.post("/api/v1/reload")
    time.sleep(0.5)
    checker.stop.set()
    checker.join(timeout=10)
    assert status == 422 and "nonsense" in body["error"]
    assert checker.bad == [] and checker.ok > 10
    _, s = api.get("/api/v1/status")
    assert s["reloads"]["failed"] == 2 and s["reloads"]["last_ok"] is False
    assert "nonsense" in s["reloads"]["last_error"]
    assert "reload failed (SIGHUP), still serving generation" in d.log()


def test_reload_keeps_health_and_admin_state(ctl_daemon, tmp_path):
    d, api = ctl_daemon("keep")
    api.post("/api/v1/backends/disable", {"address": "192.0.2.1"})
    assert sorted(addresses(udp(d, make_query("fo.gslb.test.")))) == ["192.0.2.2"]
    status, _ = api.post("/api/v1/reload")
    assert status == 200
    # the override is part of what is published: it survives the new topology
    assert sorted(addresses(udp(d, make_query("fo.gslb.test.")))) == ["192.0.2.2"]


def test_file_watch_reloads_on_change(ctl_daemon, tmp_path):
    d, api = ctl_daemon("watch", extra="  watch: true\n")
    zone = tmp_path / "watch" / "zone.yml"
    text = zone.read_text()
    # editors write a new file and rename it over the old one: watch the directory
    tmp = zone.with_suffix(".new")
    tmp.write_text(text.replace('- address: "192.0.2.1"', '- address: "192.0.2.7"', 1))
    tmp.rename(zone)
    wait_for(lambda: sorted(addresses(udp(d, make_query("fo.gslb.test.")))),
             ["192.0.2.2", "192.0.2.7"], 10, d.log)
    assert "reload (file change): serving generation" in d.log()
    # a broken save is refused, the old config serves
    zone.write_text("records: [\n")
    wait_for(lambda: "reload failed (file change)" in d.log(), True, 10, d.log)
    assert sorted(addresses(udp(d, make_query("fo.gslb.test.")))) == ["192.0.2.2", "192.0.2.7"]


def reload_with_typo_in_rr(api, zone, text):
    """Writes `text` with a typo under the record rr.gslb.test. and reloads: refused (422),
    the error names the file, the line of the key and its column."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, l in enumerate(lines) if l.startswith("  rr.gslb.test.:"))
    lines.insert(at + 1, "    modee: failover\n")
    zone.write_text("".join(lines))
    status, body = api.post("/api/v1/reload")
    assert status == 422
    assert f"zone.yml:{at + 2}:5: records.\"rr.gslb.test.\".modee: unknown key 'modee'" in body[
        "error"], body["error"]


def test_reload_parses_only_what_changed_and_blames_the_line(ctl_daemon, tmp_path):
    """Issue 20: a reload reads the zone file by record. One record changed: one parsed, the
    others shared, answers as a fresh start would give; a bad record keeps the old
    configuration and names its file, line and column; status?records=0 stays cheap."""
    d, api = ctl_daemon("inc")
    zone = tmp_path / "inc" / "zone.yml"
    good = zone.read_text()
    assert "  rr.gslb.test.:\n" in good
    zone.write_text(good.replace("  rr.gslb.test.:\n", "  rr.gslb.test.:\n    record_ttl: 77\n", 1))
    status, _ = api.post("/api/v1/reload")
    assert status == 200
    r = udp(d.port, make_query("rr.gslb.test."))
    assert r.rcode() == 0 and r.answer and r.answer[0].ttl == 77
    assert sorted(addresses(udp(d.port, make_query("fo.gslb.test.")))) == EXPECTED
    # the records below rr moved down a line: copied with their positions, not parsed
    m = re.findall(r"records: 0 added, 1 changed, 0 removed, (\d+) unchanged \((\d+) shared "
                   r"with the previous load, not parsed again\); 1 parsed, (\d+) moved", d.log())
    assert m, d.log()
    unchanged, shared, moved = (int(x) for x in m[-1])
    assert unchanged == shared + moved and shared > 0 and moved > 0
    # no name changed: the topology kept the name index of the one in force
    assert "; names shared (the same at the same positions)" in d.log(), d.log()
    # a typo on one record: the error names the file, the line of the key and its column
    reload_with_typo_in_rr(api, zone, good)
    r = udp(d.port, make_query("rr.gslb.test."))
    assert r.answer and r.answer[0].ttl == 77  # the previous configuration still serves
    _, full = api.get("/api/v1/status")
    _, brief = api.get("/api/v1/status?records=0")
    assert brief["generation"] == full["generation"]
    assert brief["reloads"] == full["reloads"] and brief["reloads"]["last_ok"] is False
    assert [z["name"] for z in brief["zones"]] == [z["name"] for z in full["zones"]]
    assert all(z["records"] == [] for z in brief["zones"])
    assert any(z["records"] for z in full["zones"])
    # a record renamed: the names are indexed anew; the new name answers, the old one is gone
    zone.write_text(good.replace("  rr.gslb.test.:\n", "  rr2.gslb.test.:\n", 1))
    status, _ = api.post("/api/v1/reload")
    assert status == 200
    assert "; names indexed anew" in d.log(), d.log()
    assert re.findall(r"records: 1 added, 0 changed, 1 removed, \d+ unchanged", d.log()), d.log()
    assert udp(d.port, make_query("rr2.gslb.test.")).answer
    assert udp(d.port, make_query("rr.gslb.test.")).rcode() == 3  # NXDOMAIN


def test_reload_after_a_comment_above_the_records_parses_none(ctl_daemon, tmp_path):
    """A comment added at the top of a zone file moves every record one line down: the reload
    copies them with their lines shifted (none parsed), answers stay, and a typo after it still
    names its own line."""
    d, api = ctl_daemon("headcomment")
    zone = tmp_path / "headcomment" / "zone.yml"
    good = zone.read_text()
    zone.write_text("# generated by a deploy tool\n\n" + good)
    status, _ = api.post("/api/v1/reload")
    assert status == 200
    m = re.findall(r"; (\d+) parsed, (\d+) moved \(copied with their lines shifted\); zone files "
                   r"read by record: (\d+), whole: (\d+)", d.log())
    assert m, d.log()
    parsed, moved, by_record, whole = (int(x) for x in m[-1])
    assert parsed == 0 and moved > 0 and by_record >= 1 and whole == 0, m[-1]
    assert sorted(addresses(udp(d.port, make_query("fo.gslb.test.")))) == EXPECTED
    reload_with_typo_in_rr(api, zone, "# generated by a deploy tool\n\n" + good)
