#!/usr/bin/python3
"""Tiny HTTP(S) health-check target for tests.

Behaviour is read from a state file on every request (so a test flips it by rewriting the file):
    status=200        HTTP status to answer with
    delay=0           seconds to sleep before answering
    body=ok           response body
    body_file=        when set, the response body is this file's content (several lines)
    refuse=           comma-separated client addresses answered with 503 (one node's view cut)
    gauge=            when set, GET /metrics answers Prometheus text in which
                      backend_load{instance="test",zone="a"} has this value (among decoys: the
                      same metric for another instance, a longer name, comments)
    keepalive=        when 1, the connection stays open after an answer (no "Connection: close")
Every request appends "<method> <path> host=<Host header> sni=<server name> x-probe=<X-Probe>
port=<client port> from=<client address>" to <state>.log.
Prints "PORT <n>" on stdout once listening (port 0 = pick a free one).
usage: http_backend.py ADDR PORT STATE [CERT KEY]
"""
import http.server
import socket
import socketserver
import ssl
import sys

sys.dont_write_bytecode = True
import backend_state  # noqa: E402  (tests/data/health, next to this script)
import time

addr, port, state = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tls = len(sys.argv) > 5
last_sni = {}


def read_state():
    return backend_state.read_state(state, {"status": "200", "delay": "0", "body": "ok",
                                            "refuse": "", "keepalive": "0"})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, with_body):
        st = read_state()
        sni = last_sni.get(self.connection.fileno(), "")
        with open(state + ".log", "a") as f:
            f.write(f"{self.command} {self.path} host={self.headers.get('Host', '')} sni={sni} "
                    f"x-probe={self.headers.get('X-Probe', '')} port={self.client_address[1]} "
                    f"from={self.client_address[0]}\n")
        time.sleep(float(st["delay"]))
        body = st["body"].encode()
        if st.get("gauge") and self.path.split("?")[0] == "/metrics":
            body = ("# HELP backend_load Load of this backend (test).\n"
                    "# TYPE backend_load gauge\n"
                    "backend_load{instance=\"other\",zone=\"a\"} 99\n"
                    "backend_load_total 7\n"
                    f"backend_load{{instance=\"test\",zone=\"a\"}} {st['gauge']}\n").encode()
        if st.get("body_file"):
            with open(st["body_file"], "rb") as f:
                body = f.read()
        refused = self.client_address[0] in st["refuse"].split(",")
        self.send_response(503 if refused else int(st["status"]))
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if st.get("keepalive") != "1":
            self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self.answer(True)

    def do_POST(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET


srv = Server((addr, port), Handler)
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])

    def remember_sni(sock, name, _ctx):
        last_sni[sock.fileno()] = name or ""

    ctx.sni_callback = remember_sni
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(f"PORT {srv.server_address[1]}", flush=True)
srv.serve_forever()
