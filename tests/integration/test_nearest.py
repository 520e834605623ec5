"""CoreDNS-GSLB's geo steps that need the city database (issue 15), over the wire with ECS
from the test City database (tests/data/geo/make_mmdb.pl lists its cities, subdivisions
and coordinates): the nearest backend by `latitude`/`longitude` (and the next one when it
is disabled), `subdivision` matching, `mode: geoip_affinity`, and `fail-specific` for a
family without fallback addresses. Every test runs with the response cache on and off."""
import dns.rcode
import dns.rdatatype
import pytest

import gslbd_test
from gslbd_test import addresses, dig, dig_answers, ecs_option, kdig, make_query, udp

CACHE = "cache:\n  entries: 65536\n  max_bytes: 16MiB\n"
# the city database goes inside the main file's geoip block (it ends the block's lines)
CITY_DB = f"  city_db: {gslbd_test.env_path('GSLBD_TEST_CITY_MMDB')}\n"

PARIS, NEW_YORK, SAN_JOSE = "48.8566, 2.3522", "40.7128, -74.0060", "37.3382, -121.8863"
TOKYO, SEATTLE, HONOLULU = "35.6762, 139.6503", "47.6062, -122.3321", "21.3069, -157.8583"

# clients (ECS /24) in the test database
C_PARIS, C_LYON, C_NEW_YORK = "198.51.100.7", "100.64.4.7", "203.0.113.7"
C_SAN_JOSE, C_OAKLAND, C_VANCOUVER = "100.64.1.7", "100.64.2.7", "100.64.3.7"


def at(address, coords, extra=""):
    lat, lon = coords.split(", ")
    return f"""      - address: "{address}"
        latitude: {lat}
        longitude: {lon}
{extra}"""


ZONE = """records:
  near.gslb.test.:
    mode: geoip
    backends:
""" + at("192.0.2.1", PARIS) + at("192.0.2.2", PARIS) + \
    at("192.0.2.3", PARIS, "        priority: 1\n") + at("192.0.2.4", NEW_YORK) + \
    at("192.0.2.5", SAN_JOSE) + at("192.0.2.6", TOKYO) + """
  sub.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.11"
        country: US
        subdivision: CA
      - address: "192.0.2.12"
        subdivision: CA-BC
      - address: "192.0.2.13"
        city: San Jose
      - address: "192.0.2.14"
        priority: 5
  affinity.gslb.test.:
    mode: geoip_affinity
    backends:
""" + at("192.0.2.21", SEATTLE, "        country: US\n") + \
    at("192.0.2.22", NEW_YORK, "        country: US\n") + \
    at("192.0.2.23", PARIS, "        country: FR\n") + \
    at("192.0.2.24", HONOLULU, "        country: US\n") + """
  affinity-far.gslb.test.:
    mode: geoip_affinity
    backends:
""" + at("192.0.2.31", HONOLULU, "        country: US\n") + \
    at("192.0.2.32", PARIS, "        country: FR\n") + """
  near-far.gslb.test.:
    mode: geoip
    backends:
""" + at("192.0.2.31", HONOLULU, "        country: US\n") + \
    at("192.0.2.32", PARIS, "        country: FR\n") + """
  order.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.51"
        location: us-east
      - address: "192.0.2.52"
        asn: 64501
      - address: "192.0.2.53"
        country: FR
      - address: "192.0.2.54"
        city: Paris
  contra.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.61"
        city: Paris
        country: US
      - address: "192.0.2.62"
        city: Paris
      - address: "192.0.2.63"
        city: Paris
        country: FR
      - address: "192.0.2.64"
        country: FR
        continent: NA
      - address: "192.0.2.65"
        country: FR
      - address: "192.0.2.66"
        priority: 5
  contra-sub.gslb.test.:
    mode: geoip
    backends:
      - address: "192.0.2.71"
        subdivision: CA
        country: US
        continent: EU
      - address: "192.0.2.72"
        subdivision: US-CA
      - address: "192.0.2.73"
        priority: 5
  aff-contra.gslb.test.:
    mode: geoip_affinity
    backends:
""" + at("192.0.2.81", "33.6609, -95.5555", "        city: Paris\n        country: US\n") + \
    at("192.0.2.82", "45.7640, 4.8357", "        country: FR\n") + """
  fs-v4only.gslb.test.:
    mode: failover
    failover_policy: {mode: fail-specific, fallback_ips: ["198.51.100.1"]}
    backends:
      - address: "192.0.2.41"
        enable: false
      - address: "2001:db8::41"
        enable: false
  fs-v6fallback.gslb.test.:
    mode: failover
    failover_policy: {mode: fail-specific, fallback_ips: ["198.51.100.1", "2001:db8::99"]}
    backends:
      - address: "192.0.2.42"
  fs-cname.gslb.test.:
    mode: failover
    failover_policy: {mode: fail-specific, fallback_cname: backup.cdn.example.net}
    backends:
      - address: "192.0.2.43"
"""


# the tests' location map, plus an entry with coordinates inside a city-database network
# (Oakland's 100.64.2.0/24): the map's place wins over the city database's
NEAREST_MAP = gslbd_test.LOCATION_MAP + """\
  - subnet: "100.64.2.128/25"
    location: moved
    latitude: 35.6762
    longitude: 139.6503
"""

# private subnets placed by the location map alone (no city database in this world)
PRIVATE_MAP = gslbd_test.LOCATION_MAP + """\
  - subnet: "10.1.0.0/16"
    location: office-paris
    latitude: 48.8566
    longitude: 2.3522
  - {subnet: "10.2.0.0/16", location: office-ny, latitude: 40.7128, longitude: -74.0060}
  - subnet: "10.3.0.0/16"
    location: office-sj
"""

PRIVATE_ZONE = """records:
  mapnear.gslb.test.:
    mode: geoip
    backends:
""" + at("192.0.2.91", PARIS) + at("192.0.2.92", NEW_YORK) + at("192.0.2.93", SAN_JOSE) + """
  mapaff.gslb.test.:
    mode: geoip_affinity
    backends:
""" + at("192.0.2.94", SEATTLE, "        country: US\n") + \
    at("192.0.2.95", NEW_YORK, "        country: US\n") + \
    at("192.0.2.96", PARIS, "        country: FR\n")


def start(request, tmp_path_factory, zone, locations, extra=""):
    tmp = tmp_path_factory.mktemp(request.param)
    api_port = gslbd_test.free_port()
    extra += (CACHE if request.param == "cache" else "") + gslbd_test.api_block(api_port, tmp)
    port = gslbd_test.free_port()
    d = gslbd_test.Daemon(gslbd_test.write_config(tmp, port, zone=zone, locations=locations,
                                                  extra=extra), port)
    api = gslbd_test.Api(api_port)
    gslbd_test.wait_api(api)
    return d, api


@pytest.fixture(scope="module", params=["nocache", "cache"])
def world(request, tmp_path_factory):
    d, api = start(request, tmp_path_factory, ZONE, NEAREST_MAP, CITY_DB)
    yield d, api
    d.stop()


@pytest.fixture(scope="module", params=["nocache", "cache"])
def private_world(request, tmp_path_factory):
    d, api = start(request, tmp_path_factory, PRIVATE_ZONE, PRIVATE_MAP)
    yield d, api
    d.stop()


def ask(d, name, client, rdtype="A", prefix=24):
    """(addresses, ECS scope) for `client`/`prefix`; asked twice, the answers must agree."""
    t = dns.rdatatype.A if rdtype == "A" else dns.rdatatype.AAAA
    got = []
    for _ in range(2):
        r = udp(d, make_query(name, rdtype, ecs=(client, prefix)))
        assert r.rcode() == dns.rcode.NOERROR
        opt = ecs_option(r)
        assert opt is not None, "ECS option not echoed"
        got.append((sorted(addresses(r, t)), opt.scopelen))
    assert got[0] == got[1]
    return got[0]


def set_admin(api, action, record, address):
    status, body = api.post(f"/api/v1/backends/{action}", {"address": address, "record": record})
    assert status == 200, body


@pytest.mark.parametrize("client,prefix,want", [
    (C_PARIS, 24, ["192.0.2.1", "192.0.2.2"]),  # one site, best priority: not the priority-1
    (C_LYON, 24, ["192.0.2.1", "192.0.2.2"]),
    (C_NEW_YORK, 24, ["192.0.2.4"]),
    (C_OAKLAND, 24, ["192.0.2.5"]),
    ("192.0.2.200", 25, ["192.0.2.6"]),  # Tokyo is 192.0.2.128/25
    ("192.0.2.200", 24, ["192.0.2.1", "192.0.2.2"]),  # /24 says 192.0.2.0: Berlin -> Paris
])
def test_nearest_backend_by_coordinates(world, client, prefix, want):
    d, _ = world
    assert ask(d, "near.gslb.test.", client, prefix=prefix) == (want, prefix)


def test_nearest_with_dig_and_kdig(world):
    d, _ = world
    out = dig(d.port, "near.gslb.test.", "A", f"+subnet={C_NEW_YORK}/24")
    assert dig_answers(out) == ["192.0.2.4"], out
    assert "CLIENT-SUBNET: 203.0.113.0/24/24" in out, out
    out = kdig(d.port, "near.gslb.test.", "A", f"+subnet={C_OAKLAND}/24")
    assert "192.0.2.5" in out and "192.0.2.4" not in out, out


def test_next_nearest_when_the_nearest_is_disabled(world):
    d, api = world
    for a in ("192.0.2.1", "192.0.2.2"):
        set_admin(api, "disable", "near.gslb.test.", a)
    try:
        # the same site's priority-1 backend comes next, then New York
        assert ask(d, "near.gslb.test.", C_PARIS)[0] == ["192.0.2.3"]
        set_admin(api, "disable", "near.gslb.test.", "192.0.2.3")
        assert ask(d, "near.gslb.test.", C_PARIS)[0] == ["192.0.2.4"]
        assert ask(d, "near.gslb.test.", C_OAKLAND)[0] == ["192.0.2.5"]  # others unchanged
    finally:
        for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
            set_admin(api, "enable", "near.gslb.test.", a)
    assert ask(d, "near.gslb.test.", C_PARIS)[0] == ["192.0.2.1", "192.0.2.2"]


def test_geoip_steps_in_coredns_gslb_order(world):
    # 198.51.100.7 is Paris, FR, AS64501 and us-east in the location map: CoreDNS-GSLB's
    # order is the city database's city -> ... -> country, then ASN, then the location map;
    # disabling each winner in turn shows the next step
    d, api = world
    order = ["192.0.2.54", "192.0.2.53", "192.0.2.52", "192.0.2.51"]
    try:
        for i, want in enumerate(order):
            assert ask(d, "order.gslb.test.", C_PARIS)[0] == [want], f"step {i}"
            set_admin(api, "disable", "order.gslb.test.", want)
    finally:
        for a in order:
            set_admin(api, "enable", "order.gslb.test.", a)
    assert ask(d, "order.gslb.test.", C_PARIS) == (["192.0.2.54"], 24)


def test_client_without_coordinates_measured_from_origin(world):
    d, _ = world
    # 10.0.0.0/24 is not in the database: no coordinates, so, as CoreDNS-GSLB does, the
    # client is measured from latitude 0, longitude 0, to which Paris is the nearest site
    # (not failover, which would add New York, San Jose and Tokyo)
    got, scope = ask(d, "near.gslb.test.", "10.0.0.7")
    assert got == ["192.0.2.1", "192.0.2.2"]
    assert scope > 0


@pytest.mark.parametrize("client,want", [
    (C_SAN_JOSE, ["192.0.2.13"]),  # the city first
    (C_OAKLAND, ["192.0.2.11"]),  # US-CA
    (C_VANCOUVER, ["192.0.2.12"]),  # CA-BC
    (C_PARIS, ["192.0.2.11", "192.0.2.12", "192.0.2.13"]),  # no match: failover
])
def test_subdivision(world, client, want):
    d, _ = world
    assert ask(d, "sub.gslb.test.", client)[0] == want


@pytest.mark.parametrize("client,want", [
    (C_SAN_JOSE, ["192.0.2.21"]),  # the nearest US backend: Seattle
    (C_NEW_YORK, ["192.0.2.22"]),
    (C_LYON, ["192.0.2.23"]),
    (C_VANCOUVER, ["192.0.2.21"]),  # no CA backend: the nearest globally
])
def test_geoip_affinity(world, client, want):
    d, _ = world
    assert ask(d, "affinity.gslb.test.", client) == (want, 24)


def test_affinity_keeps_a_us_client_in_the_us_when_france_is_nearer(world):
    d, _ = world
    # from New York, Paris (5,837 km) is nearer than Honolulu (7,970 km)
    assert ask(d, "near-far.gslb.test.", C_NEW_YORK)[0] == ["192.0.2.32"]
    assert ask(d, "affinity-far.gslb.test.", C_NEW_YORK)[0] == ["192.0.2.31"]
    assert ask(d, "affinity-far.gslb.test.", C_PARIS)[0] == ["192.0.2.32"]


def test_fail_specific_without_an_address_of_the_family(world):
    d, _ = world
    # CoreDNS-GSLB: backends of the family exist, all down, no fallback address of that
    # family -> SERVFAIL
    assert addresses(udp(d, make_query("fs-v4only.gslb.test."))) == ["198.51.100.1"]
    r = udp(d, make_query("fs-v4only.gslb.test.", "AAAA"))
    assert r.rcode() == dns.rcode.SERVFAIL and not r.answer
    # no backend of the family but a fallback address of it: CoreDNS-GSLB answers it
    r = udp(d, make_query("fs-v6fallback.gslb.test.", "AAAA"))
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, dns.rdatatype.AAAA) == ["2001:db8::99"]
    assert addresses(udp(d, make_query("fs-v6fallback.gslb.test."))) == ["192.0.2.42"]
    # and a fallback CNAME answers both families
    out = kdig(d.port, "fs-cname.gslb.test.", "AAAA")
    assert "CNAME" in out and "backup.cdn.example.net." in out, out
    assert addresses(udp(d, make_query("fs-cname.gslb.test."))) == ["192.0.2.43"]


def test_explain_shows_the_nearest_decision(world):
    d, api = world
    status, e = api.post("/api/v1/explain", {"name": "near.gslb.test.", "client": "127.0.0.1",
                                             "ecs": f"{C_OAKLAND}/24"})
    assert status == 200, e
    assert e["decision"]["why"]["decided_by"] == "nearest"
    assert "km from the client" in e["decision"]["why"]["matched"]
    city = e["geo"]["city"]
    assert city["city"] == "Oakland" and city["subdivision"] == "CA"
    assert city["coordinates"] == pytest.approx([37.8044, -122.2711])
    selected = [c["address"] for c in e["candidates"] if c["selected"]]
    assert selected == ["192.0.2.5"]
    assert [c["coordinates"] for c in e["candidates"]][4] == pytest.approx([37.3382, -121.8863])
    _, e = api.post("/api/v1/explain", {"name": "affinity-far.gslb.test.",
                                        "client": "127.0.0.1", "ecs": f"{C_NEW_YORK}/24"})
    assert [c["address"] for c in e["candidates"] if c["selected"]] == ["192.0.2.31"]


def test_location_map_coordinates_place_a_subnet_over_the_city_database(world):
    d, _ = world
    # 100.64.2.128/25 is Oakland in the city database but Tokyo in the location map
    assert ask(d, "near.gslb.test.", "100.64.2.200", prefix=25) == (["192.0.2.6"], 25)
    assert ask(d, "near.gslb.test.", "100.64.2.200", prefix=32) == (["192.0.2.6"], 25)
    # the other half of Oakland's network is not in the map: the city database decides
    assert ask(d, "near.gslb.test.", "100.64.2.7", prefix=25) == (["192.0.2.5"], 25)
    assert ask(d, "near.gslb.test.", C_OAKLAND) == (["192.0.2.5"], 24)


@pytest.mark.parametrize("client,want", [
    ("10.1.0.7", ["192.0.2.91"]),  # office-paris
    ("10.2.77.7", ["192.0.2.92"]),  # office-ny
    # office-sj has no coordinates and there is no city database: no point to measure
    # from, no other key matches, so failover over every eligible backend
    ("10.3.0.7", ["192.0.2.91", "192.0.2.92", "192.0.2.93"]),
])
def test_private_subnets_placed_by_the_location_map_without_maxmind(private_world, client,
                                                                     want):
    d, _ = private_world
    got, scope = ask(d, "mapnear.gslb.test.", client)
    assert got == want
    assert scope == 16  # the map entry decided: its /16, however long the ECS source
    out = dig(d.port, "mapnear.gslb.test.", "A", f"+subnet={client}/24")
    assert dig_answers(out) == want, out


def test_private_subnets_in_affinity_and_next_nearest(private_world):
    d, api = private_world
    # no MaxMind place for 10.x: no affinity level, so the nearest globally by the map
    assert ask(d, "mapaff.gslb.test.", "10.2.0.7") == (["192.0.2.95"], 16)
    assert ask(d, "mapaff.gslb.test.", "10.1.0.7") == (["192.0.2.96"], 16)
    set_admin(api, "disable", "mapnear.gslb.test.", "192.0.2.92")
    try:
        # New York down: from New York, San Jose (4,100 km) is nearer than Paris (5,837 km)
        assert ask(d, "mapnear.gslb.test.", "10.2.0.7")[0] == ["192.0.2.93"]
    finally:
        set_admin(api, "enable", "mapnear.gslb.test.", "192.0.2.92")
    assert ask(d, "mapnear.gslb.test.", "10.2.0.7")[0] == ["192.0.2.92"]


def test_geoip_drops_backends_that_contradict_the_client(world):
    # CoreDNS-GSLB's city step: "Paris, US" is not a Paris FR client's city; among the rest
    # a backend declaring the country comes before the city alone; its country step drops a
    # backend whose declared continent is not the client's
    d, api = world
    steps = [["192.0.2.63"], ["192.0.2.62"], ["192.0.2.65"]]
    try:
        for i, want in enumerate(steps):
            assert ask(d, "contra.gslb.test.", C_PARIS) == (want, 24), f"step {i}"
            set_admin(api, "disable", "contra.gslb.test.", want[0])
    finally:
        for want in steps:
            set_admin(api, "enable", "contra.gslb.test.", want[0])
    # a US client: no city or subdivision match, so the US country step takes "Paris, US"
    assert ask(d, "contra.gslb.test.", C_NEW_YORK) == (["192.0.2.61"], 24)
    # subdivision step: US-CA declared on a European backend does not hold an Oakland client
    assert ask(d, "contra-sub.gslb.test.", C_OAKLAND) == (["192.0.2.72"], 24)
    out = kdig(d.port, "contra.gslb.test.", "A", f"+subnet={C_LYON}/24")
    assert "192.0.2.65" in out and "192.0.2.64" not in out, out


def test_affinity_drops_backends_that_contradict_the_client(world):
    d, _ = world
    # "Paris, US" (Paris, Texas) is not the Paris FR client's city level: the country level
    # (FR) answers, not the backend at Paris, Texas
    assert ask(d, "aff-contra.gslb.test.", C_PARIS) == (["192.0.2.82"], 24)
    # a US client: the country level holds the Texan backend
    assert ask(d, "aff-contra.gslb.test.", C_NEW_YORK) == (["192.0.2.81"], 24)
