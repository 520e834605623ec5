"""A real etcd cluster on loopback for the fleet tests: members on 127.0.0.21, .22, .23 (each
its own address, ports of their own), data in a temporary directory (under /dev/shm when it
exists: fsync on a busy CI disk would make elections flap). Short heartbeat and election
timeouts so that losing a member costs well under a second.

The etcd binary comes from Debian's etcd-server (scripts/setup.sh); without it the tests fail,
they never skip.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def etcd_bin():
    path = os.environ.get("GSLBD_ETCD_BIN") or shutil.which("etcd")
    assert path and os.access(path, os.X_OK), \
        "etcd not found: install etcd-server (scripts/setup.sh); the fleet tests need it"
    return path


def _free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EtcdCluster:
    """size members; with tls={"cert", "key", "ca", "client_cert", "client_key"} (paths) the
    client URLs are https:// with that server certificate and CA (--trusted-ca-file: clients
    show a certificate the CA signed), and the helpers here use the client certificate."""

    def __init__(self, size=3, first_ip=21, tls=None, heartbeat_ms=50, election_ms=500):
        self.tls = tls
        self.timing = (str(heartbeat_ms), str(election_ms))
        self.ssl = ssl.create_default_context(cafile=str(tls["ca"])) if tls else None
        if tls and tls.get("client_cert"):  # --trusted-ca-file: etcd asks for a client cert
            self.ssl.load_cert_chain(str(tls["client_cert"]), str(tls["client_key"]))
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = Path(tempfile.mkdtemp(prefix="gslbd-etcd-", dir=base))
        self.members = []
        for i in range(size):
            host = f"127.0.0.{first_ip + i}"
            self.members.append({
                "name": f"e{i + 1}", "host": host,
                "client": _free_port(host), "peer": _free_port(host),
                "data": self.dir / f"e{i + 1}", "proc": None,
                "log": self.dir / f"e{i + 1}.log",
            })
        self.initial = ",".join(f"{m['name']}=http://{m['host']}:{m['peer']}"
                                for m in self.members)
        try:
            for i in range(size):
                self.start_member(i, wait=False)
            for i in range(size):
                self.wait_healthy(i)
        except BaseException:
            self.stop()  # no member outlives a failed start
            raise

    def url(self, i):
        m = self.members[i]
        return f"{'https' if self.tls else 'http'}://{m['host']}:{m['client']}"

    @property
    def endpoints(self):
        return [self.url(i) for i in range(len(self.members))]

    def start_member(self, i, wait=True):
        m = self.members[i]
        assert m["proc"] is None or m["proc"].poll() is not None
        log = open(m["log"], "ab")
        m["proc"] = subprocess.Popen([
            etcd_bin(), "--name", m["name"], "--data-dir", str(m["data"]),
            "--listen-client-urls", self.url(i), "--advertise-client-urls", self.url(i),
            "--listen-peer-urls", f"http://{m['host']}:{m['peer']}",
            "--initial-advertise-peer-urls", f"http://{m['host']}:{m['peer']}",
            "--initial-cluster", self.initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", self.dir.name,
            "--heartbeat-interval", self.timing[0], "--election-timeout", self.timing[1],
            "--logger", "zap", "--log-level", "warn",
            *([] if not self.tls else ["--cert-file", str(self.tls["cert"]), "--key-file",
                                       str(self.tls["key"]), "--trusted-ca-file",
                                       str(self.tls["ca"])]),
        ], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            self.wait_healthy(i)

    def wait_healthy(self, i, timeout=20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            proc = self.members[i]["proc"]
            if proc.poll() is not None:
                raise AssertionError(f"etcd member {i + 1} exited with {proc.returncode}:\n"
                                     + self.members[i]["log"].read_text(errors="replace"))
            try:
                with urllib.request.urlopen(self.url(i) + "/health", timeout=1,
                                            context=self.ssl) as r:
                    last = json.loads(r.read())
                    if last.get("health") == "true":
                        return
            except (OSError, urllib.error.URLError, ValueError) as e:
                last = e
            time.sleep(0.1)
        raise AssertionError(f"etcd member {i + 1} not healthy after {timeout} s: {last}")

    def kill(self, i):
        proc = self.members[i]["proc"]
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def call(self, path, body, i=None, token=None):
        """One JSON-gateway call to the first live member (or member i)."""
        order = [i] if i is not None else range(len(self.members))
        last = None
        for j in order:
            proc = self.members[j]["proc"]
            if proc is None or proc.poll() is not None:
                continue
            req = urllib.request.Request(self.url(j) + path, data=json.dumps(body).encode(),
                                         method="POST")
            if token:
                req.add_header("Authorization", token)
            try:
                with urllib.request.urlopen(req, timeout=5, context=self.ssl) as r:
                    return json.loads(r.read())
            except OSError as e:
                last = e
        raise AssertionError(f"no etcd member answered {path}: {last}")

    def leader_changes(self):
        """Sum over live members of etcd_server_leader_changes_seen_total (from /metrics)."""
        total = 0
        for i, m in enumerate(self.members):
            if m["proc"] is None or m["proc"].poll() is not None:
                continue
            try:
                with urllib.request.urlopen(self.url(i) + "/metrics", timeout=5,
                                            context=self.ssl) as r:
                    for line in r.read().decode().splitlines():
                        if line.startswith("etcd_server_leader_changes_seen_total"):
                            total += int(float(line.split()[-1]))
            except OSError:
                pass
        return total

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": "AA=="})["header"]["revision"])

    def compact(self, revision=None):
        rev = revision or self.revision()
        self.call("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev

    def stop(self):
        for i in range(len(self.members)):
            self.kill(i)
        shutil.rmtree(self.dir, ignore_errors=True)
