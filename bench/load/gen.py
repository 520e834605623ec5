#!/usr/bin/python3
"""Generate the benchmark's zone data, server configurations and query files from ONE description.

Run with Debian's /usr/bin/python3 (it needs python3-dnspython for the binary query files):

    /usr/bin/python3 bench/load/gen.py OUTDIR --port-base 5390 [--cache-entries N]
        [--veth-address 198.18.1.1] [--dpdk-device net_af_packet0,iface=veth-gslb]

Everything every server answers is derived from ZONE below, so the servers differ only in how
they express it:

  gslbd    main YAML + CoreDNS-GSLB zone file + location map: failover / weighted / geoip records;
           gslbd.yml with the response cache (cache.entries = --cache-entries), nocache/gslbd.yml
           without (entries 0), gslbd-dpdk.yml in DPDK mode on the testbed (--dpdk-device)
  gdnsd    zone file with DYNA records: simplefo (failover), weighted, geoip with a `nets` map
           (the same subnets as gslbd's location map, no MaxMind database); service_types = up
           (static "up": nothing is probed, as in gslbd where these backends have no health checks)
  dnsdist  packet cache in front of that gdnsd (UDP only towards the client side)
  knotd    a static zone: the same names, ONE address per name (the address the GSLB servers
           give a client without ECS), so it cannot vary answers by client

Query files (dnsperf's `-B` binary format: 2-byte length + DNS message, all queries with EDNS0,
UDP size 1232, no DO bit; dnsperf rewrites the message ID):

  cache.bin   few names (3 A queries), no ECS: every answer is cacheable and the same for all
  ecs.bin     GSLB with EDNS Client Subnet from 4,096 distinct client /24s: 70 % geo, 30 % other
  nx.bin      40 % positive A, 30 % NODATA (MX/TXT/AAAA at existing names), 30 % NXDOMAIN
              (10,000 distinct missing names)
  cg-*.bin    the same mixes cut to exactly 2,000 and 20,000 queries for callgrind
  kx-cache.txt, kx-nx.txt   the same queries as text for kxdpgun ("name type E": EDNS0, no DO);
              kxdpgun cannot send ECS options, so there is no kxdpgun file for the ecs mix

Kernel-stack servers listen on 127.0.0.1 and, with --veth-address, on that address too (the
testbed's veth-kern, reached from the netns gslbd-client), at the same port.
"""
import argparse
import ipaddress
import json
import os
import random
import struct
import sys

import dns.edns
import dns.message
import dns.rdatatype

ZONE = "gslb.example."
RECORD_TTL = 30
SOA = dict(mname="ns1.gslb.example.", rname="hostmaster.gslb.example.", serial=2026112201,
           refresh=3600, retry=600, expire=604800, minimum=60, ttl=3600)
NS_TTL = 3600
NS = [("ns1.gslb.example.", "127.0.0.1")]

DPDK_ADDRESS = "198.18.0.1"  # the testbed's DPDK side (scripts/testbed.sh)

# Location map: 198.18.0.0/15 cut into /20s and 100.64.0.0/10 cut into /16s, assigned
# round-robin to three locations, plus one /24 and loopback. Everything else (e.g. 172.16.0.0/12
# below) is unmapped and gets the default answer (failover order: the first location's address).
LOCATIONS = ["eu-fra", "us-east", "eu-ams"]


def location_subnets():
    nets = []
    base = ipaddress.ip_network("198.18.0.0/15")
    for i, sub in enumerate(base.subnets(new_prefix=20)):
        nets.append((str(sub), LOCATIONS[i % len(LOCATIONS)]))
    for i, sub in enumerate(ipaddress.ip_network("100.64.0.0/10").subnets(new_prefix=16)):
        nets.append((str(sub), LOCATIONS[(i + 1) % len(LOCATIONS)]))
    nets.append(("203.0.113.0/24", "eu-ams"))
    nets.append(("127.0.0.0/8", "eu-fra"))
    return nets


# name -> (mode, backends); a backend is (address, priority, weight, location)
RECORDS = {
    "www": ("failover", [("192.0.2.10", 1, 1, None), ("192.0.2.11", 2, 1, None)]),
    "weighted": ("weighted", [("192.0.2.40", 0, 8, None), ("192.0.2.41", 0, 2, None)]),
    "geo": ("geoip", [("192.0.2.50", 1, 1, "eu-fra"), ("192.0.2.51", 2, 1, "us-east"),
                      ("192.0.2.52", 3, 1, "eu-ams")]),
}
# 64 more failover names so that the non-cache mixes touch more than a handful of names
for i in range(64):
    RECORDS[f"app{i}"] = ("failover", [(f"192.0.2.{100 + i % 100}", 1, 1, None),
                                       (f"198.51.100.{i % 250 + 1}", 2, 1, None)])


def default_address(mode, backends):
    """What a client without ECS (source 127.0.0.1, location eu-fra) gets; knotd serves this."""
    if mode == "weighted":
        return max(backends, key=lambda b: b[2])[0]
    return min(backends, key=lambda b: b[1])[0]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def gen_gslbd(out, port, cache_entries, veth=None, dpdk=None, fname="gslbd.yml"):
    lines = ["defaults:", f"  record_ttl: {RECORD_TTL}", "records:"]
    for name, (mode, backends) in RECORDS.items():
        lines += [f"  {name}.{ZONE}:", f"    mode: {mode}", "    backends:"]
        for addr, prio, weight, loc in backends:
            lines += [f'      - address: "{addr}"', f"        priority: {prio}",
                      f"        weight: {weight}"]
            if loc:
                lines.append(f"        location: {loc}")
    write(os.path.join(out, "gslbd-zone.yml"), "\n".join(lines) + "\n")
    write(os.path.join(out, "gslbd-locations.yml"), "subnets:\n" + "".join(
        f'  - subnet: "{n}"\n    location: {loc}\n' for n, loc in location_subnets()))
    if dpdk:  # the worker lcore answers UDP on 198.18.0.1:53; listen = the TCP listener only
        io = f"""io: dpdk
dpdk:
  eal_args: [-l, "0,1", --no-pci, --file-prefix=gslbd-bench, --huge-dir=/dev/hugepages, -m, "128"]
  ports:
    - device: {dpdk}
      addresses: [{DPDK_ADDRESS}/24]
      queues: 1
      exception: net_tap0,iface=gslbd-bench
listen:
  - {{address: {DPDK_ADDRESS}, port: 53, udp: false}}
"""
    else:
        io = ("listen:\n" + "".join(
            f"  - {{address: {a}, port: {port}, udp: true, tcp: false}}\n"
            for a in ["127.0.0.1"] + ([veth] if veth else []))
              + "workers: 1\n")
    main = io + f"""log_level: off
edns:
  udp_size: 1232
ecs:
  enabled: true
  trust: []
geoip:
  location_map: gslbd-locations.yml
debug_txt: false
cache:
  entries: {cache_entries}
zones:
  - name: {ZONE}
    policy: gslbd-zone.yml
    soa: {{mname: {SOA['mname']}, rname: {SOA['rname']}, serial: {SOA['serial']}, refresh: {SOA['refresh']}, retry: {SOA['retry']}, expire: {SOA['expire']}, minimum: {SOA['minimum']}, ttl: {SOA['ttl']}}}
    ns_ttl: {NS_TTL}
    ns:
""" + "".join(f"      - {{name: {n}, addresses: [{a}]}}\n" for n, a in NS)
    write(os.path.join(out, fname), main)


def soa_rr():
    s = SOA
    return (f"@ {s['ttl']} SOA {s['mname']} {s['rname']} {s['serial']} {s['refresh']} "
            f"{s['retry']} {s['expire']} {s['minimum']}\n")


def ns_rrs():
    text = ""
    for n, a in NS:
        text += f"@ {NS_TTL} NS {n}\n"
        text += f"{n} {NS_TTL} A {a}\n"
    return text


def gen_gdnsd(out, port):
    d = os.path.join(out, "gdnsd")
    os.makedirs(os.path.join(d, "zones"), exist_ok=True)
    simplefo, weighted, geo = [], [], []
    zone = soa_rr() + ns_rrs()
    for name, (mode, backends) in RECORDS.items():
        if mode == "failover":
            by_prio = sorted(backends, key=lambda b: b[1])
            simplefo.append(f"    {name} => {{ primary => {by_prio[0][0]}, "
                            f"secondary => {by_prio[1][0]} }}")
            zone += f"{name} {RECORD_TTL} DYNA simplefo!{name}\n"
        elif mode == "weighted":
            weighted.append(f"    {name} => {{\n" + "".join(
                f"      h{i} = [ {a}, {w} ]\n" for i, (a, _, w, _) in enumerate(backends))
                + "    }")
            zone += f"{name} {RECORD_TTL} DYNA weighted!{name}\n"
        elif mode == "geoip":
            # one datacenter per location; default order = backend priority (failover)
            by_prio = sorted(backends, key=lambda b: b[1])
            dcmap = ", ".join(f"{b[3]} => {b[0]}" for b in by_prio)
            geo.append(f"    {name} => {{ map => locmap, service_types => up, dcmap => {{ {dcmap} }} }}")
            zone += f"{name} {RECORD_TTL} DYNA geoip!{name}\n"
    geo_order = [b[3] for b in sorted(RECORDS["geo"][1], key=lambda b: b[1])]
    nets = "".join(f"        {n} => [ {loc} ]\n" for n, loc in location_subnets())
    config = f"""options => {{
  listen => {{ 127.0.0.1:{port} => {{ udp_threads = 1, tcp_threads = 1 }} }}
  zones_default_ttl => {RECORD_TTL}
  run_dir => {d}/run
  state_dir => {d}/state
  edns_client_subnet => true
}}
service_types => {{ }}
plugins => {{
  simplefo => {{
    service_types => up
{chr(10).join(simplefo)}
  }}
  weighted => {{
    service_types => up
    multi => false
{chr(10).join(weighted)}
  }}
  geoip => {{
    maps => {{
      locmap => {{
        datacenters => [ {', '.join(geo_order)} ]
        nets => {{
{nets}        }}
      }}
    }}
    resources => {{
{chr(10).join(geo)}
    }}
  }}
}}
"""
    write(os.path.join(d, "config"), config)
    write(os.path.join(d, "zones", ZONE.rstrip(".")), f"$TTL {RECORD_TTL}\n" + zone)


def gen_dnsdist(out, port, backend_port, cache_entries, veth=None):
    conf = f"""-- dnsdist with its packet cache in front of gdnsd; generated by bench/load/gen.py
setSecurityPollSuffix("")      -- no security polling: loopback only
setLocal("127.0.0.1:{port}", {{ reusePort = true }})
setACL({{ "127.0.0.0/8", "198.18.0.0/15" }})  -- the default ACL would drop the veth's clients
{f'addLocal("{veth}:{port}", {{ reusePort = true }})' if veth else ''}
setMaxTCPClientThreads(1)
newServer({{ address = "127.0.0.1:{backend_port}", name = "gdnsd", checkName = "www.{ZONE}",
            checkInterval = 1, useClientSubnet = false }})
pc = newPacketCache({cache_entries}, {{ maxTTL = 86400, minTTL = 0, temporaryFailureTTL = 60,
                                    staleTTL = 60, dontAge = false, parseECS = true }})
getPool(""):setCache(pc)
"""
    write(os.path.join(out, "dnsdist.conf"), conf)


def gen_knot(out, port, veth=None):
    d = os.path.join(out, "knot")
    os.makedirs(os.path.join(d, "db"), exist_ok=True)
    zone = f"$ORIGIN {ZONE}\n$TTL {RECORD_TTL}\n" + soa_rr() + ns_rrs()
    for name, (mode, backends) in RECORDS.items():
        zone += f"{name} {RECORD_TTL} A {default_address(mode, backends)}\n"
    write(os.path.join(d, "gslb.example.zone"), zone)
    conf = f"""server:
    rundir: "{d}"
    listen: [ 127.0.0.1@{port}{f', {veth}@{port}' if veth else ''} ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: "{d}/db"
template:
  - id: default
    storage: "{d}"
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: {ZONE}
    file: "{d}/gslb.example.zone"
"""
    write(os.path.join(d, "knot.conf"), conf)


def query(name, qtype, ecs=None):
    opts = []
    if ecs is not None:
        net = ipaddress.ip_network(ecs)
        opts.append(dns.edns.ECSOption(str(net.network_address), net.prefixlen, 0))
    m = dns.message.make_query(name, qtype, use_edns=0, payload=1232, options=opts)
    return m.to_wire()


def write_bin(path, wires):
    with open(path, "wb") as f:
        for w in wires:
            f.write(struct.pack("!H", len(w)) + w)


def gen_queries(out, seed=42):
    rnd = random.Random(seed)
    fq = lambda n: f"{n}.{ZONE}"
    cache_q = [(fq(n), "A") for n in ("www", "weighted", "geo")]
    cache = [query(n, t) for n, t in cache_q]

    # 4,096 distinct client /24s: 3,584 mapped (all of 198.18.0.0/15 and 3,072 from
    # 100.64.0.0/10), 512 unmapped (172.16.0.0/12)
    def s24(net, n):
        return rnd.sample(list(ipaddress.ip_network(net).subnets(new_prefix=24)), n)
    subnets = (list(ipaddress.ip_network("198.18.0.0/15").subnets(new_prefix=24))
               + s24("100.64.0.0/10", 3072) + s24("172.16.0.0/12", 512))
    rnd.shuffle(subnets)
    others = [n for n in RECORDS if n != "geo"]
    ecs = []
    for i in range(20000):
        sn = subnets[i % len(subnets)]
        name = "geo" if rnd.random() < 0.7 else rnd.choice(others)
        ecs.append(query(fq(name), "A", ecs=str(sn)))

    missing = [f"nx{rnd.randrange(10**9)}" for _ in range(10000)]
    nx_q = []
    for i in range(20000):
        r = rnd.random()
        if r < 0.4:
            nx_q.append((fq(rnd.choice(list(RECORDS))), "A"))
        elif r < 0.7:
            name = fq(rnd.choice(list(RECORDS)))
            nx_q.append((name, rnd.choice(["MX", "TXT", "AAAA"])))
        else:
            nx_q.append((fq(missing[i % len(missing)]), "A"))
    nx = [query(n, t) for n, t in nx_q]
    for mix, qs in (("cache", cache_q), ("nx", nx_q)):
        write(os.path.join(out, f"kx-{mix}.txt"), "".join(f"{n} {t} E\n" for n, t in qs))

    mixes = {"cache": cache, "ecs": ecs, "nx": nx}
    for mix, wires in mixes.items():
        write_bin(os.path.join(out, f"{mix}.bin"), wires)
        # callgrind: exact counts, the same queries in the same order
        for n in (2000, 20000):
            write_bin(os.path.join(out, f"cg-{mix}-{n}.bin"),
                      [wires[i % len(wires)] for i in range(n)])
    return {m: len(w) for m, w in mixes.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--port-base", type=int, default=5390)
    ap.add_argument("--cache-entries", type=int, default=65536,
                    help="gslbd cache.entries (its default) and dnsdist's packet cache size")
    ap.add_argument("--veth-address", default="",
                    help="also listen here (kernel-stack servers; the testbed's veth-kern)")
    ap.add_argument("--dpdk-device", default="",
                    help="write gslbd-dpdk.yml: gslbd in DPDK mode on this vdev")
    a = ap.parse_args()
    a.outdir = os.path.abspath(a.outdir)  # the peers' configurations name absolute paths
    os.makedirs(a.outdir, exist_ok=True)
    ports = {"gslbd": a.port_base + 1, "gslbd-nocache": a.port_base + 2,
             "dnsdist": a.port_base + 3, "gdnsd": a.port_base + 4, "knotd": a.port_base + 5}
    veth = a.veth_address or None
    gen_gslbd(a.outdir, ports["gslbd"], a.cache_entries, veth)
    gen_gslbd(a.outdir, ports["gslbd-nocache"], 0, veth, fname="gslbd-nocache.yml")
    if a.dpdk_device:
        gen_gslbd(a.outdir, 53, a.cache_entries, dpdk=a.dpdk_device, fname="gslbd-dpdk.yml")
    gen_gdnsd(a.outdir, ports["gdnsd"])
    gen_dnsdist(a.outdir, ports["dnsdist"], ports["gdnsd"], a.cache_entries, veth)
    gen_knot(a.outdir, ports["knotd"], veth)
    counts = gen_queries(a.outdir)
    json.dump({"ports": ports, "query_counts": counts, "records": len(RECORDS),
               "veth_address": veth, "dpdk_address": DPDK_ADDRESS if a.dpdk_device else None,
               "cache_entries": a.cache_entries,
               "location_subnets": len(location_subnets())},
              open(os.path.join(a.outdir, "manifest.json"), "w"), indent=2)
    print(json.dumps({"ports": ports, "query_counts": counts}))


if __name__ == "__main__":
    sys.exit(main())
