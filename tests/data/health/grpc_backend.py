#!/usr/bin/python3
"""A real gRPC server (Debian's python3-grpcio) with the standard health service
grpc.health.v1.Health/Check, implemented with grpc's generic handlers (the grpc_health
module is not packaged for Debian); protobuf is read and written by hand.

The answer is read from a state file on every call (a test flips it by rewriting the file):
    service.<name>=SERVING|NOT_SERVING|UNKNOWN|SERVICE_UNKNOWN   (name "" = the whole server)
    delay=0                seconds to sleep before answering
A service with no line is unknown: the call fails with NOT_FOUND, as grpc's own servicer does.
Prints "PORT <n>" on stdout once listening (port 0 = pick a free one).
usage: grpc_backend.py ADDR PORT STATE [CERT KEY]
"""
import sys
import time
from concurrent import futures

import grpc

sys.dont_write_bytecode = True
import backend_state  # noqa: E402  (tests/data/health, next to this script)

STATUS = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}
addr, port, state = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def service_of(request):
    """HealthCheckRequest.service (field 1, a string)."""
    i = 0
    while i < len(request):
        tag, i = read_varint(request, i)
        if tag & 7 != 2:
            raise ValueError("unexpected field")
        n, i = read_varint(request, i)
        if tag >> 3 == 1:
            return request[i:i + n].decode()
        i += n
    return ""


def check(request, context):
    st = backend_state.read_state(state, {"delay": "0"})
    time.sleep(float(st["delay"]))
    name = service_of(request)
    status = st.get("service." + name)
    with open(state + ".log", "a") as log:
        log.write(f"check service={name!r} from={context.peer()}\n")
    if status is None:
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
    return bytes([0x08, STATUS[status]])  # HealthCheckResponse{status}


handler = grpc.method_handlers_generic_handler(
    "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
if len(sys.argv) > 5:
    with open(sys.argv[4], "rb") as c, open(sys.argv[5], "rb") as k:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    bound = server.add_secure_port(f"{addr}:{port}", creds)
else:
    bound = server.add_insecure_port(f"{addr}:{port}")
server.start()
print(f"PORT {bound}", flush=True)
server.wait_for_termination()
