#!/usr/bin/env bash
# DPDK testbed without a NIC (see docs/dpdk.md):
#
#   host (gslbd, DPDK)                              netns gslbd-client
#   veth-gslb  (no address; net_af_packet) <──────> veth-client 198.18.0.2/24, 2001:2::2/64
#   gslbd0     (TAP exception path, created by gslbd: 198.18.0.1/24, 2001:2::1/64)
#   veth-kern  198.18.1.1/24 (kernel stack) <─────> veth-kclient 198.18.1.2/24
#
# The second pair is for servers on the kernel stack (gslbd socket mode, knotd, dnsdist) so that
# the load benchmark (scripts/bench.sh) reaches them from the same namespace over a veth too.
#
#   scripts/testbed.sh up       hugetlbfs mounted, 2 MB pages reserved, netns + veth pair
#   scripts/testbed.sh down     netns and veth removed, hugepage reservation restored, hugepage
#                               files of DPDK processes that no longer exist removed
#   scripts/testbed.sh status   what is there now (exit 0 when the testbed is complete)
#
# Idempotent: `up` twice or `down` twice is fine. Needs root, iproute2 and ethtool.
# Environment: GSLBD_HUGEPAGES (default 256 pages of 2 MB).
set -euo pipefail

NS=gslbd-client
HOST_IF=veth-gslb
NS_IF=veth-client
CLIENT4=198.18.0.2/24
CLIENT6=2001:2::2/64
PAGES=${GSLBD_HUGEPAGES:-256}
HUGE_DIR=/dev/hugepages
NR=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
FREE=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
SAVED=/run/gslbd-testbed.nr_hugepages
KERN_IF=veth-kern
KCLIENT_IF=veth-kclient
KERN4=198.18.1.1/24
KCLIENT4=198.18.1.2/24

die() {
  echo "testbed: $*" >&2
  exit 1
}

need() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (hugepages, netns and veth need it)"
  for tool in ip ethtool mount; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install iproute2 ethtool)"
  done
  [[ -e $NR ]] || die "no 2 MB hugepage support in this kernel ($NR missing)"
}

up() {
  need
  mkdir -p "$HUGE_DIR"
  if ! mountpoint -q "$HUGE_DIR"; then
    mount -t hugetlbfs nodev "$HUGE_DIR" || die "cannot mount hugetlbfs on $HUGE_DIR"
  fi
  local cur
  cur=$(cat "$NR")
  [[ -e $SAVED ]] || echo "$cur" >"$SAVED"
  if ((cur < PAGES)); then
    echo "$PAGES" >"$NR" || die "cannot reserve $PAGES hugepages"
  fi
  cur=$(cat "$NR")
  ((cur >= PAGES)) || die "asked for $PAGES 2 MB hugepages, the kernel gave $cur (memory fragmented? try fewer with GSLBD_HUGEPAGES)"

  ip netns list | grep -qw "^$NS" || ip netns add "$NS"
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NS"
  fi
  # The host end belongs to DPDK: no addresses, no IPv6 autoconfiguration chatter.
  sysctl -qw "net.ipv6.conf.$HOST_IF.disable_ipv6=1"
  # The host kernel sees every frame on veth-gslb too (af_packet only copies them), and
  # with weak-host addressing it would take queries for 198.18.0.1 (an address of gslbd's
  # TAP) and answer "port unreachable" or a second TCP SYN-ACK. Strict reverse-path
  # filtering drops them: the client's subnet is routed via the TAP, not via veth-gslb.
  sysctl -qw "net.ipv4.conf.$HOST_IF.rp_filter=1"
  sysctl -qw "net.ipv4.conf.$HOST_IF.arp_ignore=8"
  ip link set "$HOST_IF" up
  # Without this the client's kernel leaves UDP checksums to "hardware" that a veth
  # never has, and af_packet hands DPDK frames with unfinished checksums.
  ip netns exec "$NS" ethtool -K "$NS_IF" tx off >/dev/null
  ethtool -K "$HOST_IF" tx off >/dev/null
  ip -n "$NS" link set lo up
  ip -n "$NS" link set "$NS_IF" up
  ip -n "$NS" addr replace "$CLIENT4" dev "$NS_IF"
  ip -n "$NS" -6 addr replace "$CLIENT6" dev "$NS_IF" nodad
  # Second pair, ordinary kernel networking on both ends.
  if ! ip link show "$KERN_IF" >/dev/null 2>&1; then
    ip link add "$KERN_IF" type veth peer name "$KCLIENT_IF" netns "$NS"
  fi
  sysctl -qw "net.ipv6.conf.$KERN_IF.disable_ipv6=1"
  ip addr replace "$KERN4" dev "$KERN_IF"
  ip link set "$KERN_IF" up
  ip -n "$NS" addr replace "$KCLIENT4" dev "$KCLIENT_IF"
  ip -n "$NS" link set "$KCLIENT_IF" up
  status >/dev/null || die "testbed incomplete after up: $(status 2>&1 | tr '\n' ' ')"
  echo "testbed: up (netns $NS with $CLIENT4 $CLIENT6 on $NS_IF; $HOST_IF for DPDK; $KERN_IF ${KERN4%/*} <-> $KCLIENT_IF ${KCLIENT4%/*}; $(cat "$NR") hugepages)"
}

# Hugepage files of DPDK processes that are gone (a crashed or killed run leaves them, and
# they keep their pages: the next `up` then finds too few free). Files some live process still
# maps are kept.
stale_hugepages() {
  local f used
  used=$( (cat /proc/[0-9]*/maps 2>/dev/null || true) | awk -v d="$HUGE_DIR/" 'index($6, d) == 1 {print $6}' | sort -u)
  for f in "$HUGE_DIR"/*map_*; do
    [[ -e $f ]] || continue
    grep -qxF "$f" <<<"$used" || rm -f "$f"
  done
}

down() {
  need
  mountpoint -q "$HUGE_DIR" && stale_hugepages
  ip netns list | grep -qw "^$NS" && ip netns del "$NS"
  ip link show "$HOST_IF" >/dev/null 2>&1 && ip link del "$HOST_IF"
  ip link show "$KERN_IF" >/dev/null 2>&1 && ip link del "$KERN_IF"
  if [[ -e $SAVED ]]; then
    echo "$(cat "$SAVED")" >"$NR" || true
    rm -f "$SAVED"
  fi
  echo "testbed: down"
}

status() {
  local ok=0
  if mountpoint -q "$HUGE_DIR"; then echo "hugetlbfs: mounted on $HUGE_DIR"; else echo "hugetlbfs: NOT mounted"; ok=1; fi
  echo "hugepages (2 MB): $(cat "$NR") reserved, $(cat "$FREE") free"
  (($(cat "$NR") >= PAGES)) || ok=1
  if ip netns list | grep -qw "^$NS"; then echo "netns: $NS"; else echo "netns: $NS MISSING"; ok=1; fi
  if ip link show "$HOST_IF" >/dev/null 2>&1; then
    echo "host veth: $(ip -br link show "$HOST_IF")"
  else
    echo "host veth: $HOST_IF MISSING"
    ok=1
  fi
  if ip -n "$NS" -br addr show "$NS_IF" 2>/dev/null | grep -q "${CLIENT4%/*}"; then
    echo "client: $(ip -n "$NS" -br addr show "$NS_IF")"
  else
    echo "client: $NS_IF without ${CLIENT4%/*}"
    ok=1
  fi
  if ip -n "$NS" -br addr show "$KCLIENT_IF" 2>/dev/null | grep -q "${KCLIENT4%/*}" &&
    ip -br addr show "$KERN_IF" 2>/dev/null | grep -q "${KERN4%/*}"; then
    echo "kernel pair: $KERN_IF ${KERN4%/*} <-> $KCLIENT_IF ${KCLIENT4%/*}"
  else
    echo "kernel pair: $KERN_IF/$KCLIENT_IF MISSING"
    ok=1
  fi
  if ip link show gslbd0 >/dev/null 2>&1; then echo "exception tap: $(ip -br addr show gslbd0)"; fi
  return $ok
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
