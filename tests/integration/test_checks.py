"""Health check kinds that are probe plug-ins (probes/, issue 16): grpc, mysql and lua,
each against a real server on loopback started by the test, probed by the real gslbd.

A record's backend A (probed) is preferred (priority 1) over B (192.0.2.x, never probed):
the answer is A while its check passes, B once it fails. /api/v1/status must show the check
kind and the failure reason.
"""
import subprocess
import time

import pytest

import gslbd_test
from gslbd_test import HEALTH_LIMIT as LIMIT
from gslbd_test import addresses, health_defaults, make_query, udp, wait_for

SOURCE = gslbd_test.Path(gslbd_test.os.environ.get("GSLBD_SOURCE_ROOT", "."))
GRPC_BACKEND = SOURCE / "tests/data/health/grpc_backend.py"


def record(name, addr, check_yaml, fallback="192.0.2.200", extra=""):
    return f"""  {name}.gslb.test.:
    mode: failover
{extra}    backends:
      - address: "{addr}"
        priority: 1
        healthchecks:
{check_yaml}      - address: "{fallback}"
        priority: 2
"""


def answer(d, name):
    return set(addresses(udp(d, make_query(f"{name}.gslb.test."))))


def backend_status(api, name, addr):
    status, body = api.get("/api/v1/status")
    assert status == 200, body
    for zone in body["zones"]:
        for rec in zone["records"]:
            if rec["name"] == f"{name}.gslb.test.":
                for b in rec["backends"]:
                    if b["address"] == addr:
                        return b
    raise AssertionError(f"{name} {addr} not in status: {body}")


def last_error(api, name, addr):
    b = backend_status(api, name, addr)
    return b.get("last_probe", {}).get("error_text", "")


@pytest.fixture
def daemon_with(start_gslbd, tmp_path):
    """daemon_with(zone_body) -> (Daemon, Api): probes every 300 ms, rise 2, fall 2."""

    def run(body, name="gslbd"):
        directory = tmp_path / name
        directory.mkdir(parents=True, exist_ok=True)
        api_port = gslbd_test.free_port()
        d = start_gslbd(name=name, zone_override=health_defaults(record_ttl=5) + body,
                        extra=gslbd_test.api_block(api_port, directory))
        api = gslbd_test.Api(api_port)
        gslbd_test.wait_api(api)
        return d, api

    return run


# --- grpc -----------------------------------------------------------------------------------

class GrpcBackend:
    def __init__(self, addr, tmp, tls=None):
        self.addr = addr
        self.state = tmp / f"grpc-{addr}"
        self.set(**{"service.": "SERVING", "service.app": "SERVING"})
        args = ["/usr/bin/python3", str(GRPC_BACKEND), addr, "0", str(self.state)]
        if tls:
            args += [str(tls[0]), str(tls[1])]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"grpc backend on {addr} did not start: {line!r}"
        self.port = int(line.split()[1])

    def set(self, **kv):
        self.state.write_text("".join(f"{k}={v}\n" for k, v in kv.items()))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def grpc_check(port, service="", extra="", timeout="250ms"):
    return f"""          - type: grpc
            params: {{port: {port}, service: "{service}", timeout: {timeout}{extra}}}
"""


# TLS handshakes on a loaded CI box (or a sanitizer build) can take longer than 250 ms: the
# TLS records probe with a 2 s timeout every 2 s and decide on one round
TLS_RECORD = "    scrape_interval: 2s\n    scrape_timeout: 2s\n    rise: 1\n    fall: 1\n"
TLS_LIMIT = 12


def test_grpc_serving_flips_the_answer(daemon_with, tmp_path):
    g = GrpcBackend("127.0.0.21", tmp_path)
    try:
        d, api = daemon_with(record("grpcall", g.addr, grpc_check(g.port)) +
                             record("grpcapp", g.addr, grpc_check(g.port, "app")) +
                             record("grpcnone", g.addr, grpc_check(g.port, "nosuch")))
        wait_for(lambda: answer(d, "grpcall"), {g.addr}, LIMIT, "grpc whole server SERVING")
        wait_for(lambda: answer(d, "grpcapp"), {g.addr}, LIMIT, "grpc service app SERVING")
        # an unknown service is NOT_FOUND: down, with the reason
        wait_for(lambda: answer(d, "grpcnone"), {"192.0.2.200"}, LIMIT, "unknown service down")
        assert "NOT_FOUND" in last_error(api, "grpcnone", g.addr)
        assert backend_status(api, "grpcapp", g.addr)["checks"][0]["type"] == "grpc"
        log = (tmp_path / f"grpc-{g.addr}.log").read_text()
        assert "service='app'" in log and "service=''" in log, log

        g.set(**{"service.": "SERVING", "service.app": "NOT_SERVING"})
        wait_for(lambda: answer(d, "grpcapp"), {"192.0.2.200"}, LIMIT, "app NOT_SERVING -> down")
        assert answer(d, "grpcall") == {g.addr}  # the whole server still serves
        b = backend_status(api, "grpcapp", g.addr)
        assert b["verdict"] == "down"
        assert "health status NOT_SERVING" in b["last_probe"]["error_text"], b
        assert "grpc check" in b["reason"], b
        status, e = api.get("/api/v1/explain?name=grpcapp.gslb.test.&client=127.0.0.1")
        assert status == 200, e
        c = [c for c in e["candidates"] if c["address"] == g.addr][0]
        assert c["checks"] == [{"type": "grpc", "verdict": "down"}], c
        assert "health status NOT_SERVING" in c["last_error"] and "grpc check" in c["health_reason"], c

        g.set(**{"service.": "SERVING", "service.app": "SERVING", "delay": "1"})
        wait_for(lambda: answer(d, "grpcapp"), {"192.0.2.200"}, LIMIT, "slow server -> down")
        wait_for(lambda: backend_status(api, "grpcapp", g.addr)["last_probe"].get("error"),
                 "timeout", LIMIT, "a timeout is reported as such")

        g.set(**{"service.": "SERVING", "service.app": "SERVING"})
        wait_for(lambda: answer(d, "grpcapp"), {g.addr}, LIMIT, "app SERVING again")
        g.stop()
        wait_for(lambda: answer(d, "grpcall"), {"192.0.2.200"}, LIMIT, "server gone -> down")
        wait_for(lambda: backend_status(api, "grpcall", g.addr)["last_probe"].get("error"),
                 "refused", LIMIT, "a refused connection is reported as such")
    finally:
        g.stop()


def make_ca(directory, ip):
    """A test CA and a server certificate for `ip` signed by it."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    # EC keys: handshakes stay cheap on a busy (or sanitized) build
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    run("req", "-x509", *ec, "-nodes", "-days", "1", "-subj", "/CN=gslbd test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", *ec, "-nodes", "-subj", f"/CN={ip}", "-keyout", "srv.key", "-out", "srv.csr")
    (directory / "ext.cnf").write_text(f"subjectAltName=IP:{ip}\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "ext.cnf", "-out", "srv.pem")
    return directory / "ca.pem", directory / "srv.pem", directory / "srv.key"


def test_grpc_over_tls(daemon_with, tmp_path):
    ca, cert, key = make_ca(tmp_path, "127.0.0.22")
    g = GrpcBackend("127.0.0.22", tmp_path, tls=(cert, key))
    try:
        d, api = daemon_with(
            record("grpctls", g.addr, grpc_check(g.port, extra=f", enable_tls: true, tls_ca: {ca}",
                                                  timeout="2s"), extra=TLS_RECORD) +
            record("grpcbadca", g.addr, grpc_check(g.port, extra=", enable_tls: true",
                                                   timeout="2s"), extra=TLS_RECORD) +
            record("grpch2c", g.addr, grpc_check(g.port, timeout="2s"), extra=TLS_RECORD))
        wait_for(lambda: backend_status(api, "grpctls", g.addr).get("last_probe", {}).get("ok"),
                 True, TLS_LIMIT, "grpc over TLS probed and up")
        wait_for(lambda: answer(d, "grpctls"), {g.addr}, TLS_LIMIT, "grpc over TLS with the test CA")
        # the system CAs do not know the test CA; cleartext against a TLS port fails
        wait_for(lambda: answer(d, "grpcbadca"), {"192.0.2.200"}, TLS_LIMIT, "unknown CA -> down")
        wait_for(lambda: backend_status(api, "grpcbadca", g.addr)["last_probe"].get("error"),
                 "tls", TLS_LIMIT, "an unknown CA is a tls error")
        wait_for(lambda: answer(d, "grpch2c"), {"192.0.2.200"}, TLS_LIMIT, "h2c to TLS -> down")
        g.set(**{"service.": "NOT_SERVING"})
        wait_for(lambda: answer(d, "grpctls"), {"192.0.2.200"}, TLS_LIMIT, "TLS NOT_SERVING -> down")
    finally:
        g.stop()


def test_grpc_bad_params_refused_at_load(tmp_path):
    port = gslbd_test.free_port()
    body = record("bad", "127.0.0.21", """          - type: grpc
            params: {port: 50051, servce: app}
""")
    path = gslbd_test.write_config(tmp_path, port, zone=health_defaults(record_ttl=5) + body)
    r = gslbd_test.run_gslbd("--check-config", str(path))
    assert r.returncode != 0
    assert "zone.yml:" in r.stderr and "unknown param 'servce'" in r.stderr, r.stderr


# --- mysql ----------------------------------------------------------------------------------

class MariaDb:
    """A real MariaDB server (Debian's mariadb-server) on `addr`, its own datadir under
    `tmp`, a check user gslbcheck/secret allowed to read database app."""

    def __init__(self, addr, tmp):
        self.addr = addr
        self.dir = tmp / "mariadb"
        self.dir.mkdir()
        self.port = gslbd_test.free_port()
        r = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}",
                            "--user=root", "--auth-root-authentication-method=socket",
                            "--skip-test-db"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"mariadb-install-db failed:\n{r.stdout}\n{r.stderr}"
        self.proc = None
        self.start()
        self.sql("CREATE USER 'gslbcheck'@'%' IDENTIFIED BY 'secret'; CREATE DATABASE app; "
                 "GRANT SELECT ON app.* TO 'gslbcheck'@'%'; CREATE TABLE app.t (x INT); "
                 "INSERT INTO app.t VALUES (1);")

    def start(self):
        sock = self.dir / "sock"
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.dir / 'data'}", "--user=root",
             f"--port={self.port}", f"--bind-address={self.addr}", f"--socket={sock}",
             f"--pid-file={self.dir / 'pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
             f"--log-error={self.dir / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.sql("SELECT 1", check=False) == 0, True, 30, "mariadb answers")

    def sql(self, statements, check=True):
        r = subprocess.run(["mariadb", "--no-defaults", "-S", str(self.dir / "sock"), "-u", "root",
                            "-e", statements], capture_output=True, text=True, timeout=10)
        if check:
            assert r.returncode == 0, r.stderr
        return r.returncode

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


def mysql_check(port, query="SELECT x FROM t", password="secret", database="app"):
    return f"""          - type: mysql
            params:
              port: {port}
              user: gslbcheck
              password: "{password}"
              database: {database}
              query: "{query}"
              timeout: 250ms
"""


def test_mysql_query_login_and_server_stop(daemon_with, tmp_path):
    db = MariaDb("127.0.0.31", tmp_path)
    try:
        d, api = daemon_with(
            record("mysqlok", db.addr, mysql_check(db.port)) +
            record("mysqlbadq", db.addr, mysql_check(db.port, query="SELECT x FROM nosuch")) +
            record("mysqlbadpw", db.addr, mysql_check(db.port, password="wrong")) +
            record("mysqlempty", db.addr, mysql_check(db.port, query="SELECT x FROM t WHERE x > 5")))
        wait_for(lambda: answer(d, "mysqlok"), {db.addr}, LIMIT, "mysql check passes")
        for name in ("mysqlbadq", "mysqlbadpw", "mysqlempty"):
            wait_for(lambda n=name: answer(d, n), {"192.0.2.200"}, LIMIT + 6, f"{name} is down")
        assert "doesn't exist" in last_error(api, "mysqlbadq", db.addr)
        assert "Access denied" in last_error(api, "mysqlbadpw", db.addr)
        assert "no rows" in last_error(api, "mysqlempty", db.addr)
        b = backend_status(api, "mysqlok", db.addr)
        assert b["checks"][0]["type"] == "mysql" and b["verdict"] == "up", b

        db.sql("DROP TABLE app.t")  # the same check now fails its query
        wait_for(lambda: answer(d, "mysqlok"), {"192.0.2.200"}, LIMIT, "query fails -> down")
        db.sql("CREATE TABLE app.t (x INT); INSERT INTO app.t VALUES (1);")
        wait_for(lambda: answer(d, "mysqlok"), {db.addr}, LIMIT, "query works again -> up")

        db.stop()
        wait_for(lambda: answer(d, "mysqlok"), {"192.0.2.200"}, LIMIT, "server stopped -> down")
        assert "connect" in last_error(api, "mysqlok", db.addr)
        db.start()
        wait_for(lambda: answer(d, "mysqlok"), {db.addr}, LIMIT + 5, "server back -> up")
    finally:
        db.stop()


# --- lua ------------------------------------------------------------------------------------

def lua_check(script, port=None, timeout="250ms"):
    lines = "".join(f"                {line}\n" for line in script.strip().splitlines())
    port_line = f"              port: {port}\n" if port else ""
    return f"""          - type: lua
            params:
              timeout: {timeout}
{port_line}              script: |
{lines}"""


METRICS = """# HELP app_connections_active_total Not the metric asked for (a longer name).
# TYPE app_connections_active_total counter
app_connections_active_total 99999
# HELP app_connections_active Connections open now.
# TYPE app_connections_active gauge
app_connections_active{{pool="a b}}",zone="eu"}} {value} 1700000000000
"""

JSON_SCRIPT = """
local h = json_decode(http_get("http://" .. backend.address .. ":" .. backend.port .. "/_cluster/health", 2))
return h ~= nil and h.status == "green" and h.nodes.count >= 3 and backend.priority == 1
"""


def test_lua_scripts_read_json_and_metrics(daemon_with, tmp_path):
    j = gslbd_test.HttpBackend("127.0.0.41", tmp_path)
    m = gslbd_test.HttpBackend("127.0.0.42", tmp_path)
    metrics = tmp_path / "metrics.txt"
    metrics.write_text(METRICS.format(value=42))
    j.set(status=200, body='{"status": "green", "nodes": {"count": 3, "names": ["a", "b", "c"]}}')
    m.set(status=200, body="", body_file=str(metrics))
    metric_script = f"""
local v = metric_get("http://{m.addr}:{m.port}/metrics", "app_connections_active", 2)
return v ~= nil and v < 100
"""
    try:
        d, api = daemon_with(record("luajson", j.addr, lua_check(JSON_SCRIPT, port=j.port)) +
                             record("luametric", m.addr, lua_check(metric_script)))
        wait_for(lambda: answer(d, "luajson"), {j.addr}, LIMIT, "json script returns true")
        wait_for(lambda: answer(d, "luametric"), {m.addr}, LIMIT, "metric script returns true")
        assert backend_status(api, "luajson", j.addr)["checks"][0]["type"] == "lua"
        wait_for(lambda: backend_status(api, "luajson", j.addr).get("last_probe", {}).get("ok"), True, LIMIT,
                 "json script probed")
        assert "GET /_cluster/health" in (tmp_path / f"state-{j.addr}.log").read_text()

        j.set(status=200, body='{"status": "red", "nodes": {"count": 3}}')
        metrics.write_text(METRICS.format(value=150))
        wait_for(lambda: answer(d, "luajson"), {"192.0.2.200"}, LIMIT, "json red -> down")
        wait_for(lambda: answer(d, "luametric"), {"192.0.2.200"}, LIMIT, "metric 150 -> down")
        assert last_error(api, "luajson", j.addr) == "script returned false"

        j.set(status=200, body='{"status": "green", "nodes": {"count": 5}}')
        metrics.write_text(METRICS.format(value=7))
        wait_for(lambda: answer(d, "luajson"), {j.addr}, LIMIT, "json green again -> up")
        wait_for(lambda: answer(d, "luametric"), {m.addr}, LIMIT, "metric 7 -> up")
        j.set(status=200, body="not json")  # json_decode gives nil, the script says false
        wait_for(lambda: answer(d, "luajson"), {"192.0.2.200"}, LIMIT, "bad JSON -> down")
        j.stop()  # http_get gives "" when the server is gone
        wait_for(lambda: last_error(api, "luajson", j.addr), "script returned false", LIMIT,
                 "server gone -> down")
    finally:
        j.stop()
        m.stop()


HOSTILE = {
    "lualoop": ("while true do end", "script stopped: "),
    "luapcall": ("while true do pcall(function() while true do end end) end", "script stopped: "),
    "luamem": ('local t = {} while true do t[#t + 1] = string.rep("x", 4096) .. #t end',
               "script stopped: memory limit"),
    "luaos": ('os.execute("touch /tmp/gslbd-lua-escaped") return true',
              "global 'os'"),
    "luaio": ('io.open("/etc/passwd") return true', "global 'io'"),
    "luarequire": ('require("os") return true', "global 'require'"),
    "luaload": ('return load("return true")()', "global 'load'"),
    "luanil": ("return nil", "script returned nil (expected true or false)"),
}


def test_lua_hostile_scripts_are_stopped_and_daemon_keeps_serving(daemon_with, tmp_path):
    body = record("luatrue", "127.0.0.43", lua_check("return backend.address == '127.0.0.43'"))
    for name, (script, _) in HOSTILE.items():
        # every round of a looping script burns its whole timeout on a pool thread: probe
        # them once a second so that the pool of 4 threads keeps up
        # filling 16 MiB takes a few hundred ms on a busy CI box: give luamem the time
        slow = name == "luamem"
        body += record(name, "127.0.0.44", lua_check(script, timeout="3s" if slow else "200ms"),
                       extra=f"    scrape_interval: {'4s' if slow else '1s'}\n"
                             f"    scrape_timeout: {'3s' if slow else '200ms'}\n"
                             "    rise: 1\n    fall: 1\n")
    d, api = daemon_with(body)
    wait_for(lambda: answer(d, "luatrue"), {"127.0.0.43"}, LIMIT, "a good script is up")
    for name, (_, reason) in HOSTILE.items():
        wait_for(lambda n=name: answer(d, n), {"192.0.2.200"}, LIMIT + 6, f"{name} is down")
        # a first round on a cold, busy machine may end in a plain timeout; later rounds give
        # the script's own reason
        wait_for(lambda n=name, r=reason: r in last_error(api, n, "127.0.0.44"), True, LIMIT + 6,
                 lambda n=name: f"{name}: {last_error(api, n, '127.0.0.44')!r}")
    # several rounds of every hostile script later the daemon still answers at once
    time.sleep(1.0)
    for _ in range(20):
        assert answer(d, "luatrue") == {"127.0.0.43"}
    assert not gslbd_test.Path("/tmp/gslbd-lua-escaped").exists()
    assert d.proc.poll() is None


def test_lua_refused_at_load(tmp_path):
    for script, expect in (
            ('return ssh_exec("127.0.0.1", "u", "p", "pgrep nginx") ~= ""',
             "ssh_exec is not available in gslbd"),
            ("return (", "the lua script does not compile"),
    ):
        port = gslbd_test.free_port()
        body = record("bad", "127.0.0.45", lua_check(script))
        path = gslbd_test.write_config(tmp_path / str(port), port,
                                       zone=health_defaults(record_ttl=5) + body)
        r = gslbd_test.run_gslbd("--check-config", str(path))
        assert r.returncode != 0
        assert "zone.yml:" in r.stderr and expect in r.stderr, r.stderr
