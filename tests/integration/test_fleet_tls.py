"""gslbd's fleet against an etcd that requires TLS and a user/password (docs/fleet.md).

At test time openssl makes a CA, a server certificate for the etcd member (127.0.0.24) and a
client certificate, plus a second CA that signed nothing here. One etcd member serves
https:// only (--cert-file, --key-file, --trusted-ca-file); etcdctl adds root, a user `gslbd`
with a role on the fleet's prefix only, and enables authentication. Then:
- TLS + the right credentials: gslbd joins (member record, votes written under its user);
- a wrong password, or a CA that did not sign etcd's certificate: gslbd keeps answering on its
  own verdicts (degraded), says why in its log and in /api/v1/fleet, and never crashes.
"""
import base64
import os
import subprocess

import pytest

import gslbd_test
from etcd_cluster import EtcdCluster
from gslbd_test import HttpBackend, addresses, health_defaults, make_query, udp, wait_for

A = "127.0.0.51"
PREFIX = "/gslbd-tls/"
HOST = "127.0.0.24"


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def make_cert(d, ca, name, san):
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
            cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_cert(d, "ca", "server", f"IP:{HOST}")
    make_cert(d, "ca", "client", "DNS:gslbd-node")
    return d


@pytest.fixture(scope="module")
def secure_etcd(pki):
    cluster = EtcdCluster(size=1, first_ip=24,
                          tls={"cert": pki / "server.pem", "key": pki / "server.key",
                               "ca": pki / "ca.pem", "client_cert": pki / "client.pem",
                               "client_key": pki / "client.key"})
    base = ["etcdctl", "--endpoints", cluster.url(0), "--cacert", str(pki / "ca.pem"),
            "--cert", str(pki / "client.pem"), "--key", str(pki / "client.key")]
    env = dict(os.environ, ETCDCTL_API="3")

    def ctl(*args, user="root:rootpw"):
        cmd = base + (["--user", user] if user else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env)
        assert r.returncode == 0, f"{' '.join(cmd)}: {r.stdout}{r.stderr}"
        return r.stdout

    ctl("user", "add", "root:rootpw", user=None)
    ctl("role", "add", "gslbd", user=None)
    ctl("role", "grant-permission", "gslbd", "--prefix=true", "readwrite", PREFIX, user=None)
    ctl("user", "add", "gslbd:n0de-secret", user=None)
    ctl("user", "grant-role", "gslbd", "gslbd", user=None)
    ctl("auth", "enable", user=None)
    cluster.ctl = ctl
    yield cluster
    cluster.stop()


@pytest.fixture
def backend(tmp_path):
    b = HttpBackend(A, tmp_path)
    yield b
    b.stop()


def zone(port):
    return health_defaults(record_ttl=1) + f"""  web.gslb.test.:
    mode: failover
    backends:
      - address: "{A}"
        priority: 1
        healthchecks:
          - type: http
            params: {{port: {port}, uri: /health, timeout: 250ms, expected_code: 200}}
      - address: "192.0.2.99"
        priority: 2
"""


@pytest.fixture
def node(secure_etcd, backend, pki, tmp_path):
    started = []

    def start(name, password="n0de-secret", ca="ca.pem"):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "etcd.password").write_text(password + "\n")
        api_port = gslbd_test.free_port()
        extra = gslbd_test.api_block(api_port, directory) + f"""cluster:
  endpoints: [{secure_etcd.url(0)}]
  tls: {{ca: {pki / ca}, cert: {pki / 'client.pem'}, key: {pki / 'client.key'}}}
  user: gslbd
  password_file: {directory / 'etcd.password'}
  prefix: {PREFIX}
  node: {name}
  lease_ttl: 5s
  timeout: 4s
"""
        port = gslbd_test.free_port()
        d = gslbd_test.Daemon(gslbd_test.write_config(directory, port, zone=zone(backend.port),
                                                      extra=extra), port)
        d.api = gslbd_test.Api(api_port)
        gslbd_test.wait_api(d.api)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.stop()


def fleet_status(d):
    status, f = d.api.get("/api/v1/fleet")
    assert status == 200, f
    return f


def answer(d):
    return addresses(udp(d, make_query("web.gslb.test.", "A"), timeout=1.0))


def test_tls_and_credentials_join_the_fleet(node, secure_etcd):
    d = node("tls-good")
    # TLS handshakes and etcd's bcrypt login are slow on a busy CI box: generous bounds
    wait_for(lambda: fleet_status(d)["connected"], True, 30, "connected over TLS with auth")
    # "connected" flips when the session is up; the member list fills from the first watch
    # event after it, a moment later under a sanitizer
    wait_for(lambda: [m["name"] for m in fleet_status(d)["members"]], ["tls-good"], 15,
             "the node lists itself as a member")
    f = fleet_status(d)
    assert not f["degraded"], f
    assert f["last_error"] == "", f
    # its vote is in etcd, written under its own user (the prefix is all it may touch)
    def keys():
        return secure_etcd.ctl("get", "--prefix", "--keys-only", PREFIX)

    wait_for(lambda: PREFIX + f"votes/{A}" in keys(), True, 15,
             lambda: f"the node's vote in etcd; keys under {PREFIX}: {keys()!r}; "
                     f"fleet: {fleet_status(d)}; status: {d.api.get('/api/v1/status')}; "
                     f"log:\n{d.log()}")
    assert answer(d) == [A]


def test_wrong_password_degraded_with_a_clear_error(node):
    d = node("tls-badpw", password="wrong")
    wait_for(lambda: "fleet: etcd" in d.log() and "authentication" in d.log().lower(), True, 30,
             "an authentication error in the log")
    f = fleet_status(d)
    assert not f["connected"] and f["degraded"], f
    assert "authentication" in f["last_error"].lower() or "auth" in f["last_error"], f
    assert answer(d) == [A]  # it answers on its own verdicts
    _, m = d.api.get("/metrics")
    assert "gslbd_fleet_degraded 1" in m and "gslbd_fleet_etcd_connected 0" in m
    assert d.proc.poll() is None


def test_untrusted_ca_degraded_with_a_clear_error(node):
    d = node("tls-badca", ca="otherca.pem")
    wait_for(lambda: "fleet: etcd" in d.log(), True, 30, "a TLS error in the log")
    f = fleet_status(d)
    assert not f["connected"] and f["degraded"], f
    err = f["last_error"].lower()
    assert "certificate" in err or "ssl" in err, f
    assert answer(d) == [A]
    assert d.proc.poll() is None
