#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target into corpus/<target>/.

Run once by hand (needs Debian's python3-dnspython); the output is committed so test runs
need nothing but the files. Valid messages come from dnspython, malformed ones are
hand-assembled from them. Inputs that libFuzzer found (crashes fixed since, or new
coverage worth keeping) are added to the same directories by hand, named for what they are.
"""
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "parse_query")


def q(name, rdtype, **kw):
    m = dns.message.make_query(name, rdtype, **kw)
    m.id = 0x1234
    return m.to_wire()


def ecs(addr, src):
    return [dns.edns.ECSOption(addr, src)]


def main():
    os.makedirs(OUT, exist_ok=True)
    base = q("www.example.com", "A")
    edns = q("www.example.com", "A", use_edns=0, payload=1232)
    seeds = {
        "valid_a": base,
        "valid_mixed_case_aaaa": q("WwW.ExAmPle.CoM", "AAAA"),
        "valid_root_soa": q(".", "SOA"),
        "valid_any": q("example.com", "ANY"),
        "valid_edns": edns,
        "valid_edns_do": q("www.example.com", "TXT", use_edns=0, want_dnssec=True),
        "valid_ecs_v4": q("geo.example.com", "A", use_edns=0, options=ecs("192.0.2.0", 24)),
        "valid_ecs_v6": q("geo.example.com", "AAAA", use_edns=0,
                          options=ecs("2001:db8:1::", 56)),
        "valid_ecs_v4_20": q("geo.example.com", "A", use_edns=0, options=ecs("198.18.16.0", 20)),
        "valid_cookie_ecs": q("geo.example.com", "A", use_edns=0, options=[
            dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08"),
            *ecs("192.0.2.0", 24)]),
        # a TSIG-like record after the OPT: type 250, class ANY, compressed owner
        "valid_opt_then_tsig": edns[:11] + b"\x02" + edns[12:] +
        b"\xc0\x0c\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x04\xde\xad\xbe\xef",
        "bad_badvers": edns[:-5] + b"\x01" + edns[-4:],  # OPT VERSION 1
        "bad_qr_set": base[:2] + bytes([base[2] | 0x80]) + base[3:],
        "bad_opcode_notify": base[:2] + bytes([(base[2] & 0x87) | (4 << 3)]) + base[3:],
        "bad_short": base[:11],
        "bad_pointer_loop": base[:12] + b"\xc0\x0c\x00\x01\x00\x01",
        "bad_forward_pointer": base[:12] + b"\xc0\x12\x00\x01\x00\x01\x01a\x00",
        "bad_label_64": base[:12] + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
        "bad_two_opts": edns[:11] + b"\x02" + edns[12:] + edns[-11:],
        "bad_ecs_scope": q("geo.example.com", "A", use_edns=0,
                           options=[dns.edns.GenericOption(8, struct.pack("!HBB3s", 1, 24, 8,
                                                                          b"\xc0\x00\x02"))]),
        "bad_ecs_bits": q("geo.example.com", "A", use_edns=0,
                          options=[dns.edns.GenericOption(8, struct.pack("!HBB3s", 1, 20, 0,
                                                                         b"\xc0\x00\x1f"))]),
        "bad_trailing": base + b"\x00\x00",
        "bad_qdcount_2": base[:5] + b"\x02" + base[6:] + base[12:],
    }
    write("parse_query", seeds)
    pipeline_seeds(seeds)
    ecs_seeds()
    cookie_seeds()
    config_seeds()
    dnsprobe_seeds()
    api_json_seeds()
    dpdk_frame_seeds()


def write(target, seeds):
    out = os.path.join(HERE, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


def pipeline_seeds(parse_seeds):
    """Byte 0: bit 0 TCP, bits 1-2 health state, bits 3-5 source; then the message."""
    seeds = {}
    names = ["www", "rr", "shuffle", "weighted", "geo", "a.b.deep", "b.deep", "many", "ns1",
             "nothere", ""]
    ctl = 0
    for n in names:
        name = (n + "." if n else "") + "example.com"
        for t in ["A", "AAAA", "TXT", "ANY", "SOA", "NS", "MX"]:
            ctl = (ctl + 1) % 64
            seeds[f"{n or 'apex'}_{t.lower()}"] = bytes([ctl & ~1]) + q(name, t)
        seeds[f"{n or 'apex'}_edns_ecs"] = bytes([8]) + q(
            name, "A", use_edns=0, payload=4096, options=ecs("198.51.100.0", 24))
        seeds[f"{n or 'apex'}_tcp"] = bytes([1]) + q(name, "AAAA", use_edns=0)
    seeds["many_udp512"] = bytes([0]) + q("many.example.com", "A")
    seeds["many_edns_1232_do"] = bytes([2]) + q("many.example.com", "AAAA", use_edns=0,
                                                 want_dnssec=True)
    seeds["other_zone"] = bytes([0]) + q("www.example.net", "A")
    for k, v in parse_seeds.items():
        seeds["pq_" + k] = bytes([len(k) % 64 & ~1]) + v
    write("pipeline", seeds)


def ecs_seeds():
    """Byte 0: bit 0 cookie, bit 1 padding, bits 2-3 source, bits 5-6 health; then the ECS
    option payload."""
    seeds = {
        "v4_24": b"\x00" + struct.pack("!HBB", 1, 24, 0) + bytes([198, 51, 100]),
        "v4_32_cookie": b"\x01" + struct.pack("!HBB", 1, 32, 0) + bytes([203, 0, 113, 9]),
        "v4_20": b"\x06" + struct.pack("!HBB", 1, 20, 0) + bytes([198, 18, 16]),
        "v4_0": b"\x04" + struct.pack("!HBB", 1, 0, 0),
        "v6_56": b"\x08" + struct.pack("!HBB", 2, 56, 0) + bytes.fromhex("20010db8010000"),
        "v6_128": b"\x0c" + struct.pack("!HBB", 2, 128, 0) + bytes(16),
        "v4_untrusted": b"\x0c" + struct.pack("!HBB", 1, 24, 0) + bytes([127, 0, 0]),
        "bad_scope": b"\x00" + struct.pack("!HBB", 1, 24, 8) + bytes([198, 51, 100]),
        "bad_family": b"\x00" + struct.pack("!HBB", 3, 24, 0) + bytes([198, 51, 100]),
        "bad_host_bits": b"\x00" + struct.pack("!HBB", 1, 20, 0) + bytes([198, 18, 31]),
        "bad_long_addr": b"\x00" + struct.pack("!HBB", 1, 8, 0) + bytes([10, 0]),
        "bad_short": b"\x00\x00\x01\x18",
        "bad_prefix_33": b"\x00" + struct.pack("!HBB", 1, 33, 0) + bytes(5),
        "bad_v6_129": b"\x00" + struct.pack("!HBB", 2, 129, 0) + bytes(17),
        "empty": b"\x00",
    }
    write("ecs", seeds)


def cookie_seeds():
    """Byte 0: bits 0-1 config (0 no cookies, 1 cookies, 2 enforced), bit 2 TCP, bits 3-4
    source, bit 5 forge a real server cookie, bit 6 under the previous secret, bit 7 flip a
    bit of it; bytes 1-2 the forged cookie's age (signed seconds); byte 3 the bit to flip;
    then the COOKIE option payload."""
    client = bytes.fromhex("0102030405060708")

    def ctl(config, tcp=0, src=0, forge=0, previous=0, flip=0):
        return config | tcp << 2 | src << 3 | forge << 5 | previous << 6 | flip << 7

    def seed(c, age=0, bit=0, payload=client):
        return bytes([c]) + struct.pack("!hB", age, bit) + payload

    seeds = {
        "client_only": seed(ctl(1)),
        "client_only_enforced": seed(ctl(2)),
        "client_only_enforced_tcp": seed(ctl(2, tcp=1)),
        "client_only_off": seed(ctl(0)),
        "forged_fresh": seed(ctl(1, forge=1), age=10, payload=client + bytes(16)),
        "forged_fresh_v6": seed(ctl(2, src=2, forge=1), age=1, payload=client + bytes(16)),
        "forged_previous": seed(ctl(2, forge=1, previous=1), age=100, payload=client + bytes(16)),
        "forged_old": seed(ctl(2, forge=1), age=3601, payload=client + bytes(16)),
        "forged_hour": seed(ctl(2, forge=1), age=3600, payload=client + bytes(16)),
        "forged_future": seed(ctl(2, forge=1), age=-301, payload=client + bytes(16)),
        "forged_future_ok": seed(ctl(2, forge=1), age=-300, payload=client + bytes(16)),
        "forged_flipped": seed(ctl(2, forge=1, flip=1), age=5, bit=77, payload=client + bytes(16)),
        "forged_version": seed(ctl(2, forge=1, flip=1), age=5, bit=0, payload=client + bytes(16)),
        "server_random_16": seed(ctl(2), payload=client + bytes(range(16))),
        "server_8": seed(ctl(1), payload=client + bytes(8)),
        "server_32": seed(ctl(1, src=1), payload=client + bytes(32)),
        "bad_len_7": seed(ctl(1), payload=client[:7]),
        "bad_len_12": seed(ctl(2), payload=client + bytes(4)),
        "bad_len_41": seed(ctl(1), payload=client + bytes(33)),
        "bad_len_0": seed(ctl(0), payload=b""),
    }
    write("cookie", seeds)


def config_seeds():
    """Byte 0: 0 main file, 1 zone policy file, 2 location map; then the YAML."""
    data = os.path.join(HERE, "data")
    def read(name):
        with open(os.path.join(data, name), "rb") as f:
            return f.read()
    main_yml = read("gslbd.yml")
    seeds = {
        "main": b"\x00" + main_yml,
        "zone": b"\x01" + read("zone.yml"),
        "locmap": b"\x02" + read("location_map.yml"),
        "main_minimal": b"\x00listen: [127.0.0.1:53]\nzones: []\n",
        "main_flow": b"\x00{listen: ['[::1]:53'], workers: 2, cache: {entries: 0}, zones: []}",
        "main_anchor": b"\x00listen: &l [127.0.0.1:53]\napi: {listen: off}\nx: *l\n",
        "main_dpdk": b"\x00io: dpdk\nlisten: [127.0.0.1:53]\ndpdk:\n  eal_args: [-l, '0']\n"
                     b"  ports:\n    - device: net_tap0\n      addresses: [198.18.0.1/24]\n",
        "main_bad_indent": b"\x00listen:\n - a\n  - b\n",
        "main_dup_key": b"\x00listen: [127.0.0.1:53]\nlisten: []\n",
        "main_sizes": b"\x00listen: [127.0.0.1:53]\ncache: {max_bytes: 99999999999TiB}\n"
                      b"tcp: {idle_timeout: 1h, max_connections: 0}\n",
        "zone_fallback": b"\x01records:\n  x.example.com.:\n    mode: weighted\n"
                         b"    fallback_policy: {mode: fallback_ips, fallback_ips: [192.0.2.1]}\n"
                         b"    backends: [{address: 192.0.2.2, weight: 3, tags: [a]}]\n",
        "zone_health": b"\x01records:\n  h.example.com.:\n    backends:\n"
                       b"      - address: 192.0.2.3\n        healthchecks:\n"
                       b"          - type: http\n            params: {uri: /, port: 80}\n",
        "zone_outside": b"\x01records:\n  www.example.net.: {backends: []}\n",
        "locmap_v6": b"\x02subnets:\n  - {subnet: '2001:db8::/32', location: x}\n",
        "locmap_bad": b"\x02subnets: [{subnet: 300.0.0.0/8, location: y}]\n",
        "empty": b"\x00",
        "nul": b"\x01\x00\x00\xff",
    }
    write("config", seeds)


def dnsprobe_seeds():
    """Byte 0: bits 0-1 qtype (A, AAAA, TXT), bits 2-3 expected rcode, bits 4-5 expected
    address (none, 192.0.2.10, 2001:db8::10); then the reply."""
    import dns.rrset
    def reply(rdtype, answers=(), rcode=0, qid=0x4242):
        m = dns.message.make_query("www.example.com", rdtype)
        m.id = qid
        r = dns.message.make_response(m)
        r.set_rcode(rcode)
        for a in answers:
            r.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", rdtype, a))
        return r.to_wire()
    ok_a = reply("A", ["192.0.2.10"])
    seeds = {
        "a_ok": b"\x10" + ok_a,
        "a_other_address": b"\x10" + reply("A", ["192.0.2.11", "192.0.2.12"]),
        "a_no_address_expected": b"\x00" + ok_a,
        "aaaa_ok": b"\x21" + reply("AAAA", ["2001:db8::10"]),
        "nxdomain": b"\x0c" + reply("A", rcode=3),
        "servfail": b"\x00" + reply("A", rcode=2),
        "txt": b"\x02" + reply("TXT", ['"hello"']),
        "wrong_id": b"\x10" + reply("A", ["192.0.2.10"], qid=1),
        "truncated": b"\x10" + ok_a[:-3],
        "compressed_loop": b"\x10" + ok_a[:12] + b"\xc0\x0c\x00\x01\x00\x01",
        "query_not_reply": b"\x10" + q("www.example.com", "A")[:0] + bytes.fromhex("4242") +
        q("www.example.com", "A")[2:],
    }
    write("dnsprobe", seeds)


def api_json_seeds():
    """Byte 0: 0..3 backends/{enable,disable,drain,weight}, 4 explain (4 + 5k: health
    state k); then the body."""
    seeds = {
        "enable_address": b'\x00{"address": "192.0.2.10"}',
        "disable_record": b'\x01{"record": "WWW.example.com", "tags": ["a", "b"]}',
        "drain_location": b'\x02{"location": "eu-fra", "tag": "x"}',
        "weight": b'\x03{"address": "2001:db8::10", "weight": 5}',
        "weight_missing": b'\x03{"address": "192.0.2.10"}',
        "weight_big": b'\x03{"record": "rr.example.com.", "weight": 1e300}',
        "weight_negative": b'\x03{"weight": -1}',
        "unknown_key": b'\x00{"nope": 1}',
        "not_object": b"\x01[1, 2, 3]",
        "empty": b"\x00",
        "bad_json": b'\x00{"address": ',
        "nested": b"\x00" + b"[" * 200 + b"]" * 200,
        "explain_geo": b'\x04{"name": "geo.example.com", "client": "198.51.100.7", "qtype": "A"}',
        "explain_ecs": b'\x09{"name": "www.example.com.", "client": "127.0.0.1", '
                       b'"ecs": "198.51.100.200/25", "type": "AAAA"}',
        "explain_txt": b'\x0e{"name": "many.example.com", "client": "::1", "qtype": "TXT"}',
        "explain_bad_name": b'\x04{"name": "a..b", "client": "127.0.0.1"}',
        "explain_type65": b'\x04{"name": "a.b.deep.example.com", "client": "127.0.0.1", '
                          b'"qtype": "TYPE65"}',
        "explain_outside": b'\x04{"name": "example.org", "client": "127.0.0.1"}',
    }
    write("api_json", seeds)


def dpdk_frame_seeds():
    """Byte 0: bit 0 checksum offload, bits 1-2 health state; then the Ethernet frame.
    Our port: 02:00:5e:10:00:01, 198.18.0.1/24, 2001:2::1/64, UDP 53."""
    our_mac = bytes.fromhex("02005e100001")
    cl_mac = bytes.fromhex("020000000002")
    our4, cl4 = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    our6 = bytes.fromhex("20010002000000000000000000000001")
    cl6 = bytes.fromhex("20010002000000000000000000000002")

    def csum(data):
        if len(data) % 2:
            data += b"\x00"
        s = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF

    def eth(etype, payload, vlan=None):
        h = our_mac + cl_mac
        if vlan is not None:
            h += struct.pack("!HH", 0x8100, vlan)
        return h + struct.pack("!H", etype) + payload

    def ip4(proto, payload, src=cl4, dst=our4, options=b""):
        ihl = 5 + len(options) // 4
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), 1, 0,
                        64, proto, 0, src, dst) + options
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return h + payload

    def udp4(payload, sport=40000, dport=53):
        u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ph = cl4 + our4 + struct.pack("!BBH", 0, 17, len(u))
        c = csum(ph + u) or 0xFFFF
        return u[:6] + struct.pack("!H", c) + u[8:]

    def ip6(nh, payload, src=cl6, dst=our6):
        return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + src + dst + payload

    def l4_6(nh, seg, src=cl6, dst=our6):
        ph = src + dst + struct.pack("!IxxxB", len(seg), nh)
        return csum(ph + seg)

    def udp6(payload, dport=53):
        u = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
        c = l4_6(17, u) or 0xFFFF
        return u[:6] + struct.pack("!H", c) + u[8:]

    dq = q("www.example.com", "A")
    dq_edns = q("many.example.com", "A", use_edns=0, payload=4096)
    icmp = b"\x08\x00\x00\x00\x12\x34\x00\x01" + b"ping" * 8
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + cl_mac + cl4 + bytes(6) + our4
    ns_target = our6
    sol_mc = bytes.fromhex("ff0200000000000000000001ff") + ns_target[-3:]
    ns = b"\x87\x00\x00\x00\x00\x00\x00\x00" + ns_target + b"\x01\x01" + cl_mac
    ns = ns[:2] + struct.pack("!H", l4_6(58, ns, dst=sol_mc)) + ns[4:]
    icmp6 = b"\x80\x00\x00\x00\x00\x01\x00\x01" + b"abcd"
    icmp6 = icmp6[:2] + struct.pack("!H", l4_6(58, icmp6)) + icmp6[4:]
    frag = ip4(17, udp4(dq))
    frag = frag[:6] + b"\x20\x00" + frag[8:]
    seeds = {
        "udp4_query": b"\x00" + eth(0x0800, ip4(17, udp4(dq))),
        "udp4_query_offload": b"\x01" + eth(0x0800, ip4(17, udp4(dq))),
        "udp4_vlan": b"\x02" + eth(0x0800, ip4(17, udp4(dq)), vlan=42),
        "udp4_many_edns": b"\x00" + eth(0x0800, ip4(17, udp4(dq_edns))),
        "udp4_options": b"\x04" + eth(0x0800, ip4(17, udp4(dq), options=b"\x01\x01\x01\x00")),
        "udp4_other_port": b"\x00" + eth(0x0800, ip4(17, udp4(dq, dport=5353))),
        "udp4_fragment": b"\x00" + eth(0x0800, frag),
        "udp4_bad_cksum": b"\x00" + eth(0x0800, ip4(17, udp4(dq)))[:-1] + b"\x00",
        "udp6_query": b"\x00" + eth(0x86DD, ip6(17, udp6(dq))),
        "udp6_many": b"\x01" + eth(0x86DD, ip6(17, udp6(dq_edns))),
        "arp_request": b"\x00" + eth(0x0806, arp),
        "icmp_echo": b"\x00" + eth(0x0800, ip4(1, icmp)),
        "icmp6_echo": b"\x00" + eth(0x86DD, ip6(58, icmp6)),
        "nd_solicit": b"\x00" + eth(0x86DD, ip6(58, ns, dst=sol_mc)),
        "lldp": b"\x00" + eth(0x88CC, b"\xab" * 46),
        "runt": b"\x00" + our_mac + cl_mac,
    }
    write("dpdk_frame", seeds)


if __name__ == "__main__":
    main()
