#!/usr/bin/env bash
# End to end through DPDK: testbed up (scripts/testbed.sh), gslbd in DPDK mode on the
# veth end, queried from the client namespace:
#   * UDP with dig and kdig (IPv4 and IPv6), answered by the DPDK worker: the worker's
#     telemetry counters (/gslbd/stats) must move by at least the queries sent
#   * TCP with dig and kdig, through the TAP exception path to the kernel TCP listener
#   * ICMP and ICMPv6 echo answered by the worker
#   * hostile DNS messages and L2/L3 frames (e2e_hostile.py): each refused or dropped and
#     counted under its reason, the daemon still serving after every one
#   * dnsperf, 5 s at 2000 qps: zero lost queries
#   * again with 2 queue pairs and 2 worker lcores: both answer, nothing lost
#   * edge protection (docs/edge.md): ACL refuse/drop, kdig +cookie, RRL under dnsperf, a
#     valid server cookie exempt from RRL, BADCOOKIE on slips to a client cookie alone,
#     FORMERR for malformed COOKIE options (e2e_edge.py), RRL exempt prefixes, a dynamic
#     block (dnsperf flood refused, cookie exempt, API list/lift, logged once), then a reload
#     into RRL log-only mode (answered, counted) and enforced cookies (BADCOOKIE), and the
#     daemon running as nobody with two capabilities (/proc/PID/status)
# then SIGTERM (clean exit) and testbed down. Needs root. Never skips: when the testbed
# cannot be built, the test fails and says why.
set -euo pipefail
# A command that fails outside `fail` (set -e) must not end the test silently: name it
set -E
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited with $?" >&2' ERR

SRC=${GSLBD_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${GSLBD_BIN:?GSLBD_BIN must point to the gslbd binary}
TESTBED="$SRC/scripts/testbed.sh"
TOOLS="$SRC/tests/dpdk/e2e_tools.py"
EDGE_TOOL="$SRC/tests/dpdk/e2e_edge.py"
NS=gslbd-client
PREFIX="gslbd-e2e-$$"
TEL="/var/run/dpdk/$PREFIX/dpdk_telemetry.v2"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
in_ns() { ip netns exec "$NS" "$@"; }

[[ $(id -u) -eq 0 ]] || fail "must run as root: the DPDK testbed needs hugepages, a netns and a veth pair"
for tool in dig kdig dnsperf ip; do
  command -v "$tool" >/dev/null || fail "'$tool' not installed (scripts/setup.sh)"
done
[[ -x $BIN ]] || fail "gslbd binary not found at $BIN"

work=$(mktemp -d /tmp/gslbd-e2e.XXXXXX)
pid=""
cleanup() {
  local rc=$?
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -f $work/gslbd.log ]]; then
    echo "--- gslbd log" >&2
    tail -50 "$work/gslbd.log" >&2
  fi
  "$TESTBED" down >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

"$TESTBED" up || fail "could not build the testbed (see the message above)"

# write_config FILE PREFIX TAP LCORES QUEUES: the testbed's DPDK config, QUEUES queue pairs
write_config() {
  cat >"$1" <<EOF
io: dpdk
dpdk:
  eal_args: [--lcores, "$4", --no-pci, --file-prefix=$2, --huge-dir=/dev/hugepages, -m, "256"]
  ports:
    - device: net_af_packet0,iface=veth-gslb,qpairs=$5
      addresses: [198.18.0.1/24, "2001:2::1/64"]
      queues: $5
      exception: net_tap0,iface=$3
listen:
  - {address: 198.18.0.1, port: 53, udp: false}
  - {address: "2001:2::1", port: 53, udp: false}
geoip:
  location_map: $SRC/examples/location_map.yml
zones:
  - name: gslb.example.
    policy: $SRC/examples/gslb.example.yml
    ns:
      - name: ns1.gslb.example.
        addresses: [198.18.0.1]
EOF
}
# start_gslbd CONFIG: starts gslbd in the background (pid in $pid), waits until it is ready
# The log is emptied here, before the fork: a `>` redirection in the background child may
# truncate it only after the loop below has read the previous daemon's "gslbd ready".
start_gslbd() {
  : >"$work/gslbd.log"
  "$BIN" --config "$1" >>"$work/gslbd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    grep -q "gslbd ready" "$work/gslbd.log" && break
    kill -0 "$pid" 2>/dev/null || fail "gslbd exited during start-up"
    sleep 0.2
  done
  grep -q "gslbd ready" "$work/gslbd.log" || fail "gslbd not ready after 20 s"
  grep "DPDK:" "$work/gslbd.log" || fail "gslbd is ready but logged no 'DPDK:' start-up line"
}
# stop_gslbd: SIGTERM, a clean exit and the DPDK totals in the shutdown log
stop_gslbd() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [[ $rc -eq 0 ]] || fail "gslbd exited with $rc after SIGTERM"
  grep "DPDK: .* received" "$work/gslbd.log" || fail "no DPDK totals in the shutdown log"
}

write_config "$work/gslbd.yml" "$PREFIX" gslbd-e2e "0@0,1@1" 1
start_gslbd "$work/gslbd.yml"

# stat NAME: one counter from /gslbd/stats
stat() {
  "$PY" "$TOOLS" telemetry "$TEL" /gslbd/stats |
    "$PY" -c "import json,sys; print(json.load(sys.stdin)['/gslbd/stats']['$1'])"
}
expect_answer() {  # WANT CMD...
  local want=$1 got
  shift
  got=$(in_ns "$@" 2>"$work/stderr") || fail "'$*' failed: $got $(cat "$work/stderr")"
  [[ $got == "$want" ]] || fail "'$*' answered '$got', expected '$want'"
  echo "ok: $* -> $got"
}

rx0=$(stat rx)
replies0=$(stat dns_replies)
kernel0=$(stat to_kernel)

# UDP through the DPDK worker
expect_answer 192.0.2.10 dig +short +time=2 +tries=2 @198.18.0.1 www.gslb.example A
expect_answer 2001:db8::10 dig +short +time=2 +tries=2 @2001:2::1 www.gslb.example AAAA
expect_answer 192.0.2.10 kdig +short +timeout=2 @198.18.0.1 www.gslb.example A
expect_answer 2001:db8::10 kdig +short +timeout=2 @2001:2::1 www.gslb.example AAAA
out=$(in_ns dig +time=2 +tries=2 @198.18.0.1 nope.gslb.example A 2>&1) || true
[[ $out == *"status: NXDOMAIN"* ]] || fail "nope.gslb.example: no NXDOMAIN answer: $out"
echo "ok: NXDOMAIN over UDP"
replies1=$(stat dns_replies)
((replies1 - replies0 >= 5)) || fail "DPDK dns_replies moved by $((replies1 - replies0)), expected >= 5"
(($(stat rx) - rx0 >= 5)) || fail "DPDK rx counter did not move"
echo "ok: DPDK counters: rx $rx0 -> $(stat rx), dns_replies $replies0 -> $replies1"

# TCP through the exception path and the kernel-socket TCP server
expect_answer 192.0.2.10 dig +short +tcp +time=3 +tries=1 @198.18.0.1 www.gslb.example A
expect_answer 2001:db8::10 kdig +short +tcp +timeout=3 @2001:2::1 www.gslb.example AAAA
(($(stat to_kernel) > kernel0)) || fail "TCP did not go through the exception path (to_kernel unchanged)"
(($(stat dns_replies) == replies1)) || fail "TCP queries were answered by the DPDK worker?"
echo "ok: TCP via the exception path (to_kernel $kernel0 -> $(stat to_kernel))"

# echo
echo0=$(stat echo_replies)
in_ns "$PY" "$TOOLS" ping 198.18.0.1 3 || fail "ICMP echo to 198.18.0.1 lost"
in_ns "$PY" "$TOOLS" ping 2001:2::1 3 || fail "ICMPv6 echo to 2001:2::1 lost"
(($(stat echo_replies) - echo0 == 6)) || fail "echo_replies moved by $(($(stat echo_replies) - echo0)), expected 6"

# hostile DNS messages and frames: each dropped or refused under its reason, still serving
in_ns "$PY" "$SRC/tests/dpdk/e2e_hostile.py" "$TEL" veth-client 198.18.0.1 2001:2::1 \
  www.gslb.example 192.0.2.10 || fail "hostile traffic over DPDK (see above)"

# load: dnsperf, 5 s at 2000 qps, nothing lost
printf 'www.gslb.example A\nrr.gslb.example A\nwww.gslb.example AAAA\nnope.gslb.example A\n' >"$work/queries"
before=$(stat dns_replies)
declare -A drops0
for reason in tx_full exception_full kernel_tx_full l4_checksum ipv4_checksum; do
  drops0[$reason]=$(stat "drop_$reason")
done
in_ns dnsperf -s 198.18.0.1 -d "$work/queries" -l 5 -Q 2000 -c 4 -t 2 >"$work/dnsperf.txt" 2>&1 ||
  { cat "$work/dnsperf.txt"; fail "dnsperf failed"; }
grep -E "Queries (sent|completed|lost)|Queries per second" "$work/dnsperf.txt"
sent=$(awk '/Queries sent:/ {print $3}' "$work/dnsperf.txt")
lost=$(awk '/Queries lost:/ {print $3}' "$work/dnsperf.txt")
[[ -n $sent && $sent -ge 9000 ]] || fail "dnsperf sent only '$sent' queries"
[[ $lost == 0 ]] || fail "dnsperf lost $lost of $sent queries"
after=$(stat dns_replies)
((after - before >= sent)) || fail "DPDK answered $((after - before)) of $sent dnsperf queries"
for reason in tx_full exception_full kernel_tx_full l4_checksum ipv4_checksum; do
  n=$(($(stat "drop_$reason") - ${drops0[$reason]}))
  ((n == 0)) || fail "drops counted for $reason under load: $n"
done
"$PY" "$TOOLS" telemetry "$TEL" /gslbd/lcores

stop_gslbd

# Two queue pairs, two worker lcores (lcore 2 shares CPU 0: this machine has two): the
# af_packet PMD's kernel fanout spreads flows (hash of addresses and ports) over the queues.
# dnsperf with 32 sockets is 32 flows: every worker must answer some of them, none lost.
PREFIX="gslbd-e2e-mq-$$"
TEL="/var/run/dpdk/$PREFIX/dpdk_telemetry.v2"
write_config "$work/gslbd-mq.yml" "$PREFIX" gslbd-e2e-mq "0@0,1@1,2@0" 2
start_gslbd "$work/gslbd-mq.yml"
grep -q "2 queue(s)" "$work/gslbd.log" || fail "the port did not get 2 queue pairs"
expect_answer 192.0.2.10 dig +short +time=2 +tries=2 @198.18.0.1 www.gslb.example A
expect_answer 192.0.2.10 dig +short +tcp +time=3 +tries=1 @198.18.0.1 www.gslb.example A
in_ns dnsperf -s 198.18.0.1 -d "$work/queries" -l 3 -Q 2000 -c 32 -t 3 >"$work/dnsperf.txt" 2>&1 ||
  { cat "$work/dnsperf.txt"; fail "dnsperf (2 queues) failed"; }
grep -E "Queries (sent|completed|lost)" "$work/dnsperf.txt"
lost=$(awk '/Queries lost:/ {print $3}' "$work/dnsperf.txt")
[[ $lost == 0 ]] || fail "dnsperf lost $lost queries with 2 queue pairs"
"$PY" "$TOOLS" telemetry "$TEL" /gslbd/lcores >"$work/lcores.json"
"$PY" - "$work/lcores.json" <<'PYEOF' || fail "not every worker lcore answered (see above)"
import json, sys
lcores = json.load(open(sys.argv[1]))["/gslbd/lcores"]
for name, c in sorted(lcores.items()):
    print(f"{name}: queue {c['queue']}, rx {c['rx']}, dns_replies {c['dns_replies']}")
assert len(lcores) == 2, f"{len(lcores)} worker lcores, expected 2"
assert all(c["dns_replies"] > 0 for c in lcores.values()), "a worker answered nothing"
assert sorted(c["queue"] for c in lcores.values()) == [0, 1]
PYEOF
echo "ok: 2 queue pairs, both worker lcores answered"
stop_gslbd
# Edge protection in DPDK mode (docs/edge.md): ACL, RRL, cookies and the privilege drop, all
# in the worker's pipeline. Two more client addresses in the namespace: one refused, one
# dropped by the ACL.
PREFIX="gslbd-e2e-edge-$$"
TEL="/var/run/dpdk/$PREFIX/dpdk_telemetry.v2"
# A free port below the kernel's ephemeral range (as tests/integration/gslbd_test.py's
# free_port): a random one inside it can be some client socket's source port by now
API_PORT=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import gslbd_test; print(gslbd_test.free_port())' \
  "$SRC/tests/integration") || fail "no free port for the API"
write_config "$work/gslbd-edge.yml" "$PREFIX" gslbd-e2e-edge "0@0,1@1" 1
cat >>"$work/gslbd-edge.yml" <<EOF
api:
  listen: 127.0.0.1:$API_PORT
  read_requires_token: false
  token_file: $work/token
acl:
  rules:
    - {prefix: 198.18.0.3/32, action: refuse}
    - {prefix: 198.18.0.4/32, action: drop}
rrl:
  responses_per_second: 5
  slip: 2
  exempt: [198.18.0.5/32, 198.18.0.6/32]   # the dynamic block phase
cookies:
  secret: e5e973e5a6b2a43f48e7dc849e37bfcf
dynamic_blocks:
  queries_per_second: 200
  window: 2
  duration: 60
  action: refuse
  ipv4_prefix: 32
  exempt: [198.18.0.2/32]
user: nobody
group: nogroup
EOF
echo e2e-token >"$work/token"
chmod 644 "$work/token"
chmod 755 "$work"
for a in 3 4 5 6; do in_ns ip addr add "198.18.0.$a/24" dev veth-client 2>/dev/null || true; done
start_gslbd "$work/gslbd-edge.yml"
grep -q "running as user nobody" "$work/gslbd.log" || fail "no privilege drop in the log"
uid=$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$pid/status")
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
capbnd=$(awk '/^CapBnd:/ {print $2}' "/proc/$pid/status")
[[ $uid == 65534655346553465534 ]] || fail "DPDK gslbd runs with uids $uid, expected nobody"
[[ $((16#$capeff)) == $((0x2400)) && $((16#$capbnd)) == $((0x2400)) ]] ||
  fail "DPDK gslbd capabilities: CapEff $capeff CapBnd $capbnd, expected 2400 (net_bind_service, net_raw)"
# the rest of /proc/PID/status and every thread: the lcores that ran before the switch too
"$PY" - "$pid" <<'PYEOF' || fail "DPDK gslbd privileges (see above)"
import os, sys
CAPS = (1 << 10) | (1 << 13)  # CAP_NET_BIND_SERVICE, CAP_NET_RAW
def status(path):
    return {k: v.split() for k, v in (l.split(":", 1) for l in open(f"/proc/{path}/status"))}
st = status(sys.argv[1])
assert st["Gid"] == ["65534"] * 4 and st["Groups"] == ["65534"], (st["Gid"], st["Groups"])
assert int(st["CapPrm"][0], 16) == CAPS and int(st["CapInh"][0], 16) == 0, st["CapPrm"]
assert st["NoNewPrivs"] == ["1"], st["NoNewPrivs"]
tasks = os.listdir(f"/proc/{sys.argv[1]}/task")
for tid in tasks:
    t = status(f"{sys.argv[1]}/task/{tid}")
    assert t["Uid"] == ["65534"] * 4 and t["Gid"] == ["65534"] * 4, (t["Name"], t["Uid"], t["Gid"])
    assert int(t["CapEff"][0], 16) & ~CAPS == 0, (t["Name"], t["CapEff"])
print(f"ok: gid nogroup, CapPrm = CapEff, NoNewPrivs, all {len(tasks)} threads as nobody")
PYEOF
echo "ok: DPDK gslbd runs as nobody with CapEff $capeff"
expect_answer 192.0.2.10 dig +short +time=2 +tries=2 @198.18.0.1 www.gslb.example A
out=$(in_ns dig +time=2 +tries=1 -b 198.18.0.3 @198.18.0.1 www.gslb.example A 2>&1) || true
[[ $out == *"status: REFUSED"* ]] || fail "ACL refuse over DPDK: $out"
out=$(in_ns dig +time=1 +tries=1 -b 198.18.0.4 @198.18.0.1 www.gslb.example A 2>&1) || true
[[ $out == *"timed out"* || $out == *"no servers could be reached"* ]] || fail "ACL drop over DPDK answered: $out"
echo "ok: ACL refuse and drop over DPDK"
out=$(in_ns kdig +cookie +timeout=2 @198.18.0.1 www.gslb.example A 2>&1) || true
[[ $out =~ COOKIE:\ [0-9a-fA-F]{16}\ ?01000000[0-9a-fA-F]{24} ]] || fail "no RFC 9018 server cookie over DPDK: $out"
cookie2=$(sed -nE 's/.*COOKIE: ([0-9a-fA-F]{16}) ?([0-9a-fA-F]{32,64}).*/\1\2/p' <<<"$out" | head -1)
echo "ok: kdig +cookie over DPDK"
printf 'www.gslb.example A\n' >"$work/one"
in_ns dnsperf -s 198.18.0.1 -d "$work/one" -l 2 -Q 2000 -c 1 -q 4000 -t 1 >"$work/dnsperf.txt" 2>&1 || true
grep -E "Queries (sent|completed)" "$work/dnsperf.txt"
curl -s "http://127.0.0.1:$API_PORT/metrics" >"$work/metrics.txt" || fail "no /metrics"
# metric SAMPLE: one sample of /metrics now (the name with its labels, as printed)
metric() {
  curl -s "http://127.0.0.1:$API_PORT/metrics" | awk -v k="$1" '$1 == k {printf "%d\n", $2}'
}
drop=$(awk '/^gslbd_rrl_total\{action="drop"\}/ {print $2}' "$work/metrics.txt")
slip=$(awk '/^gslbd_rrl_total\{action="slip"\}/ {print $2}' "$work/metrics.txt")
completed=$(awk '/Queries completed:/ {print $3}' "$work/dnsperf.txt")
sent=$(awk '/Queries sent:/ {print $3}' "$work/dnsperf.txt")
[[ -n $drop && ${drop%.*} -ge $((sent / 4)) ]] || fail "RRL over DPDK dropped only '$drop' of $sent"
((completed <= 5 * 4 + ${slip%.*})) || fail "RRL over DPDK: $completed of $sent answered, $slip slipped"
echo "ok: RRL over DPDK: $sent sent, $completed answered ($slip slipped TC), $drop dropped"

# RRL and cookies over DPDK (RFC 7873): the flooded class of 198.18.0.2 is limited now. A
# valid server cookie of .2 (kdig's above) is exempt from RRL, a client cookie alone gets
# BADCOOKIE with a fresh cookie on the slips, malformed COOKIE options get FORMERR.
exempt0=$(metric 'gslbd_rrl_total{action="exempt"}')
valid0=$(metric 'gslbd_cookies_total{result="valid"}')
bad0=$(metric 'gslbd_cookies_total{result="badcookie"}')
in_ns "$PY" "$EDGE_TOOL" rrl-cookie 198.18.0.1 www.gslb.example 192.0.2.10 "$cookie2" ||
  fail "cookies against RRL over DPDK (see above)"
in_ns "$PY" "$EDGE_TOOL" formerr 198.18.0.1 www.gslb.example || fail "malformed cookies over DPDK"
(($(metric 'gslbd_rrl_total{action="exempt"}') - exempt0 >= 50)) || fail "RRL exemptions not counted"
(($(metric 'gslbd_cookies_total{result="valid"}') - valid0 >= 50)) || fail "valid cookies not counted"
(($(metric 'gslbd_cookies_total{result="badcookie"}') - bad0 >= 5)) || fail "BADCOOKIE not counted"

# Dynamic blocks over DPDK: 198.18.0.5 (exempt from RRL, as is .6, so every query is answered or
# refused) learns a server cookie, then floods at 2000 qps against 200/s over 2 s: it is
# refused after 400 to 800 answers (the two-bucket window), and the block is listed, counted,
# logged once and lifted through the API. Its cookie keeps it answered while blocked;
# 198.18.0.6 is another prefix and is answered throughout.
out=$(in_ns kdig +cookie +timeout=2 -b 198.18.0.5 @198.18.0.1 www.gslb.example A 2>&1) || true
cookie=$(sed -nE 's/.*COOKIE: ([0-9a-fA-F]{16}) ?([0-9a-fA-F]{32,64}).*/\1\2/p' <<<"$out" | head -1)
[[ -n $cookie ]] || fail "no server cookie for 198.18.0.5: $out"
rrl0=$(($(metric 'gslbd_rrl_total{action="drop"}') + $(metric 'gslbd_rrl_total{action="slip"}')))
exempt0=$(metric 'gslbd_rrl_total{action="exempt"}')
in_ns dnsperf -s 198.18.0.1 -a 198.18.0.5 -d "$work/one" -l 2 -Q 2000 -c 1 -q 4000 -t 1 \
  >"$work/dnsperf.txt" 2>&1 || true
grep -E "Queries (sent|completed)|Response codes" "$work/dnsperf.txt"
sent=$(awk '/Queries sent:/ {print $3}' "$work/dnsperf.txt")
noerror=$(grep -oE 'NOERROR [0-9]+' "$work/dnsperf.txt" | awk '{print $2}')
refused=$(grep -oE 'REFUSED [0-9]+' "$work/dnsperf.txt" | awk '{print $2}')
[[ -n $sent && $sent -ge 3000 ]] || fail "dnsperf from 198.18.0.5 sent only '$sent'"
[[ -n $noerror && $noerror -ge 390 && $noerror -le 810 ]] || fail "dynamic block over DPDK: $noerror answered before the block (400..800 expected, less the kdig query)"
[[ -n $refused && $((noerror + refused)) -ge $((sent * 99 / 100)) ]] || fail "dynamic block over DPDK: $refused REFUSED of $sent"
# RRL's exempt prefixes: .5's answers (far above 5/s) were neither dropped nor slipped
rrl1=$(($(metric 'gslbd_rrl_total{action="drop"}') + $(metric 'gslbd_rrl_total{action="slip"}')))
exempt1=$(metric 'gslbd_rrl_total{action="exempt"}')
((rrl1 == rrl0 && exempt1 - exempt0 >= noerror)) ||
  fail "RRL exempt prefix over DPDK: drop+slip $rrl0 -> $rrl1, exempt $exempt0 -> $exempt1 ($noerror answered)"
echo "ok: RRL exempt prefix over DPDK: $((exempt1 - exempt0)) exempt, none limited"
out=$(in_ns dig +time=2 +tries=1 -b 198.18.0.5 @198.18.0.1 www.gslb.example A 2>&1) || true
[[ $out == *"status: REFUSED"* ]] || fail "198.18.0.5 not refused while blocked: $out"
out=$(in_ns kdig +cookie="$cookie" +timeout=2 -b 198.18.0.5 @198.18.0.1 www.gslb.example A 2>&1) || true
[[ $out == *"status: NOERROR"* && $out == *"192.0.2.10"* ]] || fail "a valid cookie is not exempt from the block over DPDK: $out"
expect_answer 192.0.2.10 dig +short +time=2 +tries=1 -b 198.18.0.6 @198.18.0.1 www.gslb.example A
blocks=$(curl -s "http://127.0.0.1:$API_PORT/api/v1/blocks")
"$PY" -c '
import json, sys
b = json.loads(sys.argv[1])["blocks"]
assert [(x["prefix"], x["reason"], x["action"]) for x in b] == [("198.18.0.5/32", "queries", "refuse")], b
assert 50 <= b[0]["remaining_seconds"] <= 60 and b[0]["queries_blocked"] >= 1000, b
' "$blocks" || fail "GET /api/v1/blocks over DPDK: $blocks"
curl -s "http://127.0.0.1:$API_PORT/metrics" >"$work/metrics.txt" || fail "no /metrics"
active=$(awk '/^gslbd_dynblocks_active / {print $2}' "$work/metrics.txt")
dblocked=$(awk '/^gslbd_dynblock_queries_total\{reason="queries"\}/ {print $2}' "$work/metrics.txt")
[[ $active == 1 && ${dblocked%.*} -ge $refused ]] || fail "dynamic block metrics over DPDK: active '$active', blocked '$dblocked' (refused $refused)"
for _ in $(seq 1 20); do grep -q "dynamic block: 198.18.0.5/32 refuse" "$work/gslbd.log" && break; sleep 0.1; done
(($(grep -c "dynamic block: 198.18.0.5/32" "$work/gslbd.log") == 1)) || fail "the block is not logged exactly once"
code=$(curl -s -o "$work/lift.json" -w '%{http_code}' -X DELETE -H "Authorization: Bearer e2e-token" \
  "http://127.0.0.1:$API_PORT/api/v1/blocks/198.18.0.5/32")
[[ $code == 200 ]] || fail "DELETE /api/v1/blocks/198.18.0.5/32: $code $(cat "$work/lift.json")"
expect_answer 192.0.2.10 dig +short +time=2 +tries=1 -b 198.18.0.5 @198.18.0.1 www.gslb.example A
grep -q "dynamic block lifted by API: 198.18.0.5/32" "$work/gslbd.log" || fail "the lift is not logged"
echo "ok: dynamic block over DPDK: $noerror answered, $refused refused, cookie exempt, listed, logged once, lifted"

# Reload (same daemon, now unprivileged) into RRL log-only mode and enforced cookies:
# 198.18.0.2's flooded class is answered in full, each response over the rate counted as
# log_only and none dropped or slipped; a client cookie alone or a wrong server cookie gets
# BADCOOKIE.
sed -i -e 's/^  slip: 2$/&\n  log_only: true/' -e 's/^  secret: e5e973e5.*$/&\n  enforce: true/' \
  "$work/gslbd-edge.yml"
grep -q "log_only: true" "$work/gslbd-edge.yml" && grep -q "enforce: true" "$work/gslbd-edge.yml" ||
  fail "could not edit the config for the reload"
rrl0=$(($(metric 'gslbd_rrl_total{action="drop"}') + $(metric 'gslbd_rrl_total{action="slip"}')))
would0=$(metric 'gslbd_rrl_total{action="log_only"}')
code=$(curl -s -o "$work/reload.json" -w '%{http_code}' -X POST -H "Authorization: Bearer e2e-token" -d '{}' \
  "http://127.0.0.1:$API_PORT/api/v1/reload")
[[ $code == 200 ]] || fail "POST /api/v1/reload: $code $(cat "$work/reload.json")"
in_ns "$PY" "$EDGE_TOOL" answered 198.18.0.1 www.gslb.example 192.0.2.10 200 ||
  fail "RRL log_only over DPDK: not every query answered"
rrl1=$(($(metric 'gslbd_rrl_total{action="drop"}') + $(metric 'gslbd_rrl_total{action="slip"}')))
would1=$(metric 'gslbd_rrl_total{action="log_only"}')
((rrl1 == rrl0 && would1 - would0 >= 150)) ||
  fail "RRL log_only over DPDK: drop+slip $rrl0 -> $rrl1, log_only $would0 -> $would1 (200 queries at 5/s)"
for _ in $(seq 1 30); do grep -q "RRL log-only: [0-9]* responses over the rate" "$work/gslbd.log" && break; sleep 0.1; done
grep -q "RRL log-only: [0-9]* responses over the rate" "$work/gslbd.log" || fail "RRL log_only over DPDK: not logged"
echo "ok: RRL log_only over DPDK: 200 answered, $((would1 - would0)) counted as would-be-limited, logged"
in_ns "$PY" "$EDGE_TOOL" enforce 198.18.0.1 www.gslb.example 192.0.2.10 "$cookie2" ||
  fail "cookies.enforce over DPDK (see above)"
stop_gslbd
for a in 3 4 5 6; do in_ns ip addr del "198.18.0.$a/24" dev veth-client 2>/dev/null || true; done
echo "PASS: DPDK end to end"
