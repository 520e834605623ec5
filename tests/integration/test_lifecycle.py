"""The daemon as an operator meets it: flags, --check-config, bad configurations refused
with file:line:col, bind errors, SIGHUP reload (good and bad), SIGTERM."""
import re
import signal
import socket
import subprocess

import dns.rcode

import gslbd_test
from gslbd_test import ZONE_FILE, addresses, make_query, run_gslbd, udp, wait_for, write_config

LOCATION = re.compile(r"\S+\.yml:\d+:\d+")


def test_version_and_help():
    r = run_gslbd("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"gslbd \d+\.\d+\.\d+\n", r.stdout)
    r = run_gslbd("--help")
    assert r.returncode == 0
    assert "--check-config" in r.stdout and "--config" in r.stdout


def test_unknown_flag_and_missing_config_are_usage_errors():
    r = run_gslbd("--frobnicate")
    assert r.returncode == 2
    assert "--frobnicate" in r.stderr and "usage:" in r.stderr
    r = run_gslbd()
    assert r.returncode == 2
    assert "usage:" in r.stderr
    r = run_gslbd("--config", "x.yml", "--log-level", "loud")
    assert r.returncode == 2


def test_check_config_ok(tmp_path):
    path = write_config(tmp_path, 5353)
    r = run_gslbd("--check-config", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{path}: OK"


def test_check_config_reports_the_place(tmp_path):
    zone = ZONE_FILE.replace('"192.0.2.3"', '"192.0.2.300"')
    path = write_config(tmp_path, 5353, zone=zone)
    r = run_gslbd("--check-config", str(path))
    assert r.returncode == 1
    m = LOCATION.search(r.stderr)
    assert m and "zone.yml" in m.group(0), r.stderr
    assert "192.0.2.300" in r.stderr


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bad_configs_are_refused_with_file_line_col(tmp_path):
    cases = {
        # unknown key in the main file
        "unknown_key": dict(extra="colour: blue\n"),
        # a mode nobody registered
        "bad_mode": dict(zone=ZONE_FILE.replace("mode: random", "mode: telepathy")),
        # a location the map never mentions
        "bad_location": dict(zone=ZONE_FILE.replace("location: us-east", "location: mars")),
        # YAML syntax error
        "bad_yaml": dict(zone=ZONE_FILE.replace("  rr.gslb.test.:", "  rr.gslb.test.: [")),
    }
    for name, kw in cases.items():
        port = gslbd_test.free_port()
        path = write_config(tmp_path / name, port, **kw)
        r = run_gslbd("--config", str(path))
        assert r.returncode == 1, f"{name}: exit {r.returncode}\n{r.stderr}"
        assert LOCATION.search(r.stderr), f"{name}: no file:line:col in\n{r.stderr}"
        # and nothing was left listening
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
    # the unknown key is pinpointed exactly
    path = tmp_path / "unknown_key" / "gslbd.yml"
    r = run_gslbd("--config", str(path))
    line = line_of(path.read_text(), "colour:")
    assert f"gslbd.yml:{line}:" in r.stderr, r.stderr
    assert "colour" in r.stderr


def test_missing_config_file(tmp_path):
    r = run_gslbd("--config", str(tmp_path / "absent.yml"))
    assert r.returncode == 1
    assert "absent.yml" in r.stderr


def test_address_in_use_is_a_clear_start_up_error(tmp_path):
    port = gslbd_test.free_port()
    path = write_config(tmp_path, port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind(("127.0.0.1", port))
        r = run_gslbd("--config", str(path))
    assert r.returncode == 1
    assert f"127.0.0.1:{port}" in r.stderr, r.stderr
    assert "in use" in r.stderr.lower(), r.stderr


def test_second_daemon_on_the_same_port_is_refused(start_gslbd, tmp_path):
    # Workers bind with SO_REUSEPORT; without the plain-bind probe a second gslbd would
    # silently take half of the first one's traffic.
    first = start_gslbd()
    path = write_config(tmp_path / "second", first.port)
    r = run_gslbd("--config", str(path))
    assert r.returncode == 1, r.stderr
    assert f"127.0.0.1:{first.port}" in r.stderr
    assert udp(first, make_query("fo.gslb.test.")).rcode() == dns.rcode.NOERROR


def test_sighup_reload_changes_answers_and_survives_a_bad_config(start_gslbd):
    d = start_gslbd()
    zone_path = d.config.parent / "zone.yml"

    def fo():
        return sorted(addresses(udp(d, make_query("fo.gslb.test."))))

    assert fo() == ["192.0.2.1", "192.0.2.2"]
    # the priority-1 backends are disabled in the new file: failover moves to .3
    new_zone = ZONE_FILE.replace(
        '      - address: "192.0.2.1"\n        priority: 1\n',
        '      - address: "192.0.2.1"\n        priority: 1\n        enable: false\n').replace(
        '      - address: "192.0.2.2"\n        priority: 1\n',
        '      - address: "192.0.2.2"\n        priority: 1\n        enable: false\n')
    assert new_zone != ZONE_FILE
    zone_path.write_text(new_zone)
    d.signal(signal.SIGHUP)
    wait_for(fo, ["192.0.2.3"], what=d.log)
    assert "generation 2" in d.log()

    # a broken file: the reload fails, the daemon keeps serving generation 2
    zone_path.write_text(new_zone.replace("mode: weighted", "mode: nonsense"))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in d.log(), what=d.log)
    assert fo() == ["192.0.2.3"]
    assert d.proc.poll() is None
    assert LOCATION.search(d.log().split("reload failed", 1)[1])

    log = d.stop()
    assert "shutting down" in log


def test_sigint_also_stops_cleanly(start_gslbd):
    d = start_gslbd()
    assert udp(d, make_query("fo.gslb.test.")).rcode() == dns.rcode.NOERROR
    d.signal(signal.SIGINT)
    assert d.proc.wait(timeout=10) == 0


def test_start_up_log_names_listeners_and_zones(server):
    log = server.log()
    assert f"127.0.0.1:{server.port}" in log
    assert f"[::1]:{server.port}" in log
    assert "gslb.test." in log
    assert re.search(r"\d+ records", log), log


def test_udp_sockets_get_a_large_receive_buffer(server):
    # Linux's default 212 KB queue overflows within milliseconds of a burst; gslbd forces
    # 4 MiB per worker socket while still root (the kernel reports twice what was set)
    out = subprocess.run(["ss", "-uamnp", "sport", f"= :{server.port}"], capture_output=True,
                         text=True, check=True).stdout
    mine = [b for b in out.split("users:")[1:] if f"pid={server.proc.pid}," in b]
    sizes = [int(m) for b in mine for m in re.findall(r"\brb(\d+)", b)]
    assert sizes and len(sizes) == len(mine), out
    assert min(sizes) >= 2 * (4 << 20), out
