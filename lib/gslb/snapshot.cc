#include "gslb/snapshot.hh"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "dns/query.hh"
#include "dns/response.hh"
#include "gslb/policy.hh"

namespace gslbd::gslb {

namespace {

using config::ConfigError;

std::string_view view_of(const std::uint8_t* p, std::size_t len) noexcept {
    return {reinterpret_cast<const char*>(p), len};
}

std::uint8_t count_labels(const WireName& n) noexcept {
    std::uint8_t labels = 0;
    for (std::size_t o = 0; o < n.len && n.bytes[o] != 0; o += n.bytes[o] + 1u) ++labels;
    return labels;
}

/// True when `name` equals `zone` or lies below it (both lower-case wire).
bool in_zone(const WireName& name, const WireName& zone) noexcept {
    for (std::size_t o = 0; o < name.len; o += name.bytes[o] + 1u) {
        if (name.len - o == zone.len && view_of(&name.bytes[o], zone.len) == zone.view()) {
            return true;
        }
        if (name.bytes[o] == 0) break;
    }
    return false;
}

std::string join(const std::vector<std::string>& items) {
    std::string s;
    for (const auto& i : items) {
        if (!s.empty()) s += ", ";
        s += i;
    }
    return s;
}

std::string known_locations(const geo::LocationMap& map) {
    constexpr std::size_t kListAtMost = 20;
    if (map.size() == 0) return " (the location map is empty)";
    if (map.size() > kListAtMost) return "";
    std::vector<std::string> names;
    for (std::size_t i = 0; i < map.size(); ++i) {
        names.push_back(map.name_of(static_cast<std::int32_t>(i)));
    }
    return " (known: " + join(names) + ")";
}

std::uint16_t code_of(const std::string& text, const config::Backend& b, const char* field) {
    std::uint16_t c = text.size() == 2 ? geo::pack_code(text) : 0;
    if (c == 0) throw ConfigError(b.pos, field, "'" + text + "' is not a two-letter code");
    return c;
}

BackendRt make_backend(const config::Backend& b, const geo::GeoDbs* geo, std::uint32_t id) {
    BackendRt rt;
    rt.addr = b.address;
    rt.addr_hash = address_hash(b.address);
    rt.id = id;
    rt.priority = b.priority;
    rt.weight = b.weight <= 0 ? 1u : static_cast<std::uint32_t>(b.weight);
    rt.enabled = b.enable;
    rt.cfg = &b;
    for (const auto& loc : b.locations) {
        if (geo == nullptr || !geo->locations) {
            throw ConfigError(b.pos, "location",
                              "location '" + loc + "' is used but no location map is configured");
        }
        std::int32_t lid = geo->locations->id_of(loc);
        if (lid < 0) {
            throw ConfigError(b.pos, "location",
                              "unknown location '" + loc + "'" + known_locations(*geo->locations));
        }
        rt.locations.push_back(lid);
    }
    for (const auto& c : b.countries) rt.countries.push_back(code_of(c, b, "country"));
    for (const auto& c : b.continents) rt.continents.push_back(code_of(c, b, "continent"));
    rt.cities = b.cities;
    rt.asns = b.asns;
    // "US-CA" names its country; "CA" belongs to each country the backend names, or to any.
    for (const auto& text : b.subdivisions) {
        const std::size_t dash = text.find('-');
        const std::uint32_t code =
            geo::pack_subdivision(dash == std::string::npos ? text : text.substr(dash + 1));
        if (code == 0) throw ConfigError(b.pos, "subdivision", "'" + text + "' is not a code");
        if (dash != std::string::npos)
            rt.subdivisions.push_back({code_of(text.substr(0, dash), b, "subdivision"), code});
        else if (rt.countries.empty())
            rt.subdivisions.push_back({0, code});
        else
            for (std::uint16_t c : rt.countries) rt.subdivisions.push_back({c, code});
    }
    if (b.has_coordinates) {
        rt.has_coords = true;
        rt.latitude = b.latitude;
        rt.longitude = b.longitude;
        rt.point = geo::unit_vector(b.latitude, b.longitude);
    }
    return rt;
}

/// `n` copied into the name arena, which build_topology sized for every name up front.
WireNameRef keep_name(std::vector<std::uint8_t>& arena, const WireName& n) {
    if (arena.size() + n.len > arena.capacity()) throw std::logic_error("name arena too small");
    const std::size_t at = arena.size();
    arena.insert(arena.end(), n.bytes.data(), n.bytes.data() + n.len);
    return WireNameRef{arena.data() + at, n.len};
}

/// Backend ids: those that `previous` gave to backends no record keeps, lowest first, then
/// new ones above the highest.
class IdAlloc {
  public:
    explicit IdAlloc(std::uint32_t next = 0) : next_(next) {}
    void add_free(std::uint32_t id) { free_.push_back(id); }
    std::uint32_t take() { return at_ < free_.size() ? free_[at_++] : next_++; }
    std::uint32_t end() const noexcept { return next_; }

  private:
    std::vector<std::uint32_t> free_;
    std::size_t at_ = 0;
    std::uint32_t next_;
};

/// The same location names under the same ids in both (BackendRt::locations stays right).
bool same_locations(const geo::GeoDbs* a, const geo::GeoDbs* b) {
    if (a == b) return true;
    const geo::LocationMap* x = a != nullptr ? a->locations.get() : nullptr;
    const geo::LocationMap* y = b != nullptr ? b->locations.get() : nullptr;
    if (x == nullptr || y == nullptr) return x == y;
    if (x->size() != y->size()) return false;
    for (std::size_t i = 0; i < x->size(); ++i)
        if (x->name_of(static_cast<std::int32_t>(i)) != y->name_of(static_cast<std::int32_t>(i)))
            return false;
    return true;
}

/// `kept`: the previous topology's record built from the same config::Record object (its
/// backend arrays and ids are taken as they are), or null. `arena`: where a CNAME fallback's
/// target goes; null when the names are shared (rr.fallback.cname is then set already).
void build_record(std::vector<std::uint8_t>* arena, RecordRt& rr, const config::Record& r,
                  const config::Config& cfg, const geo::GeoDbs* geo, IdAlloc& ids,
                  const RecordRt* kept) {
    rr.ttl = r.ttl;
    rr.cfg = &r;
    rr.policy = resolve_policy(r.mode);
    rr.by_client = rr.policy != nullptr && rr.policy->by_client();
    if (rr.policy == nullptr) {
        throw ConfigError(r.pos, "mode",
                          "unknown mode '" + r.mode + "' (known: " + join(policy_names()) + ")");
    }
    if (kept != nullptr) {
        rr.v4 = kept->v4;
        rr.v6 = kept->v6;
    } else {
        std::size_t n4 = 0;
        for (const auto& b : r.backends) n4 += b.address.family == 4;
        std::vector<BackendRt> v4, v6;
        v4.reserve(std::min(n4, kMaxFamilyBackends));
        v6.reserve(std::min(r.backends.size() - n4, kMaxFamilyBackends));
        for (const auto& b : r.backends) {
            if (b.address.family != 4 && b.address.family != 6) {
                throw ConfigError(b.pos, "address", "backend has no address");
            }
            auto& family = b.address.family == 4 ? v4 : v6;
            if (family.size() >= kMaxFamilyBackends) {
                throw ConfigError(b.pos, "backends",
                                  "more than " + std::to_string(kMaxFamilyBackends) +
                                      " backends of one address family in record " + r.name);
            }
            family.push_back(make_backend(b, geo, ids.take()));
        }
        rr.v4 = std::move(v4);
        rr.v6 = std::move(v6);
    }
    if (r.geo_priority_line != 0 && !rr.policy->reads_geo_priority()) {
        throw ConfigError(
            config::SourcePos{r.pos.file, r.geo_priority_line, r.geo_priority_column},
            "geo_priority",
            "mode '" + r.mode +
                "' does not read geo_priority (it chooses what the geo steps that match "
                "several backends answer); remove it from this record");
    }
    rr.geo_best_priority = r.geo_priority == config::GeoPriority::Best;
    rr.policy->validate(r, cfg, geo);
    rr.state_words = rr.policy->state_words(rr);

    // one array for every record with the default list (h3, h2)
    static const AlpnWire kDefaultAlpn(std::make_shared<const std::vector<std::uint8_t>>(
        std::vector<std::uint8_t>{2, 'h', '3', 2, 'h', '2'}));
    if (r.alpn.empty()) {
        rr.svcb_alpn = kDefaultAlpn;
    } else {
        std::vector<std::uint8_t> alpn;
        for (const auto& id : r.alpn) {
            alpn.push_back(static_cast<std::uint8_t>(id.size()));
            alpn.insert(alpn.end(), id.begin(), id.end());
        }
        if (alpn.size() > 512)
            throw ConfigError(r.pos, "alpn", "the ALPN list is longer than 512 bytes");
        rr.svcb_alpn = AlpnWire(std::make_shared<const std::vector<std::uint8_t>>(std::move(alpn)));
    }
    for (const auto& b : r.backends) {
        if (b.port > 0) {
            rr.svcb_port = static_cast<std::uint16_t>(b.port);
            break;
        }
    }

    rr.fallback.mode = r.fallback.mode;
    rr.fallback.rcode = static_cast<dns::Rcode>(r.fallback.rcode);
    for (const auto& ip : r.fallback.ips) {
        if (ip.family == 4) rr.fallback.v4.push_back(ip);
        if (ip.family == 6) rr.fallback.v6.push_back(ip);
    }
    if (r.fallback.mode == config::FallbackMode::Cname) {
        if (r.fallback.cname.empty()) {
            throw ConfigError(r.pos, "fallback", "cname fallback needs a target name");
        }
        if (arena != nullptr)
            rr.fallback.cname =
                keep_name(*arena, WireName::from_text(r.fallback.cname, r.pos, "fallback"));
    }
}

/// Every proper ancestor (below the apex, `zone_len` bytes) of the names that exist in `z`
/// and is not itself one of them. The views are suffixes of the record/NS wire names, which
/// are themselves wire names.
void collect_ents(ZoneNames& z, std::size_t zone_len) {
    auto add_ancestors = [&z, zone_len](std::string_view name) {
        for (std::size_t o = static_cast<std::uint8_t>(name[0]) + 1u;
             o < name.size() && name.size() - o > zone_len;
             o += static_cast<std::uint8_t>(name[o]) + 1u) {
            std::string_view anc = name.substr(o);
            if (z.records.count(anc) == 0 && z.ns_names.count(anc) == 0) z.ents.emplace(anc, true);
        }
    };
    for (const auto& [name, id] : z.records) add_ancestors(name);
    for (const auto& [name, idx] : z.ns_names) add_ancestors(name);
}

/// The zone's SOA fields (negative answers) from its static data's apex SOA.
void soa_from_static(ZoneRt& zr) {
    const zone::StaticZone& st = *zr.stat;
    const zone::RRset* soa = st.rrset(st.apex(), zone::kTypeSOA);
    const zone::RRset* ns = st.rrset(st.apex(), zone::kTypeNS);
    const zone::Rdata r = st.first(*soa);
    std::size_t o = 0;
    auto take_name = [&](WireName& out) {
        const std::size_t start = o;
        while (o < r.len && r.data[o] != 0) o += r.data[o] + 1u;
        ++o;
        out.len = static_cast<std::uint8_t>(std::min<std::size_t>(o - start, dns::kMaxNameWire));
        dns::lower_name(r.data + start, out.bytes.data(), out.len);
    };
    take_name(zr.soa_mname);
    take_name(zr.soa_rname);
    auto u32 = [&](std::size_t at) {
        return (std::uint32_t{r.data[at]} << 24) | (std::uint32_t{r.data[at + 1]} << 16) |
               (std::uint32_t{r.data[at + 2]} << 8) | r.data[at + 3];
    };
    zr.soa.serial = u32(o);
    zr.soa.refresh = u32(o + 4);
    zr.soa.retry = u32(o + 8);
    zr.soa.expire = u32(o + 12);
    zr.soa.minimum = u32(o + 16);
    zr.soa.ttl = soa->ttl;
    zr.ns_ttl = ns->ttl;
}

/// The glue of an NS name of a zone: its addresses when the name lies inside the zone.
bool has_glue(const config::NameServer& ns, const WireName& ns_name, const WireName& zone) {
    return !ns.addresses.empty() && in_zone(ns_name, zone);
}

/// True when `cfg` has the names `prev` was built with at the same positions: the zones (and
/// their in-zone NS names with glue), every record's name and CNAME fallback target. Text
/// compared (the same text is the same wire name; a difference in case alone builds anew).
/// Then prev's name arena, ZoneNames and name index describe the topology built from `cfg`.
bool same_names(const config::Config& cfg, const Topology& prev) {
    if (prev.config == nullptr || prev.name_bytes == nullptr) return false;
    const config::Config& old = *prev.config;
    if (old.zones.size() != cfg.zones.size() || prev.zones.size() != cfg.zones.size()) return false;
    for (std::size_t zi = 0; zi < cfg.zones.size(); ++zi) {
        const config::Zone& z = cfg.zones[zi];
        const config::Zone& pz = old.zones[zi];
        if (prev.zones[zi].names == nullptr || z.name != pz.name ||
            z.records.size() != pz.records.size() || z.ns.size() != pz.ns.size())
            return false;
        for (std::size_t i = 0; i < z.ns.size(); ++i)
            if (z.ns[i].name != pz.ns[i].name ||
                z.ns[i].addresses.empty() != pz.ns[i].addresses.empty())
                return false;
        for (std::size_t i = 0; i < z.records.size(); ++i) {
            const config::Record& r = z.records[i];
            const config::Record& p = pz.records[i];
            if (&r == &p) continue;  // the same object (shared by the config load)
            const bool cname = r.fallback.mode == config::FallbackMode::Cname;
            if (r.name != p.name || cname != (p.fallback.mode == config::FallbackMode::Cname) ||
                (cname && r.fallback.cname != p.fallback.cname))
                return false;
        }
    }
    return true;
}

}  // namespace

BackendList::BackendList(std::vector<BackendRt> v) : n_(static_cast<std::uint32_t>(v.size())) {
    if (v.empty()) return;
    std::shared_ptr<BackendRt[]> a(new BackendRt[v.size()]);
    for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::move(v[i]);
    p_ = std::move(a);
}

void BackendList::push_back(const BackendRt& b) {
    std::vector<BackendRt> v(begin(), end());
    v.push_back(b);
    *this = BackendList(std::move(v));
}

BackendRt& BackendList::edit(std::size_t i) {
    if (p_.use_count() > 1) *this = BackendList(std::vector<BackendRt>(begin(), end()));
    // the array was made as BackendRt[] (the constructor): writing to it is allowed
    return const_cast<BackendRt&>(p_[i]);
}

WireName WireName::from_text(const std::string& text, const config::SourcePos& pos,
                             const std::string& field) {
    WireName n;
    std::size_t len = dns::name_from_text(text, n.bytes.data());
    if (len == 0 || len > dns::kMaxNameWire) {
        throw ConfigError(pos, field, "'" + text + "' is not a valid domain name");
    }
    n.len = static_cast<std::uint8_t>(len);
    return n;
}

const ZoneRt* Topology::find_zone(const std::uint8_t* lname, std::size_t len) const noexcept {
    // Walking the labels from the left finds the longest (most specific) zone first.
    for (std::size_t o = 0; o < len; o += lname[o] + 1u) {
        auto it = zone_index.find(view_of(lname + o, len - o));
        if (it != zone_index.end()) return &zones[it->second];
        if (lname[o] == 0) break;
    }
    return nullptr;
}

AnswerCounts::AnswerCounts(std::size_t backends, std::size_t stripes)
    : backends_(backends),
      stripes_(std::bit_ceil(std::clamp<std::size_t>(stripes, 1, kMaxStripes))) {
    stride_ = (std::max<std::size_t>(backends, 1) + 7) / 8 * 8;  // whole cache lines per row
    const std::size_t n = stride_ * stripes_;
    data_.reset(static_cast<std::uint64_t*>(
        ::operator new (n * sizeof(std::uint64_t), std::align_val_t{64})));
    std::fill_n(data_.get(), n, std::uint64_t{0});
}

void AnswerCounts::Free::operator()(std::uint64_t* p) const noexcept {
    ::operator delete (p, std::align_val_t{64});
}

std::uint64_t AnswerCounts::total(std::uint32_t id) const noexcept {
    if (id >= backends_) return 0;
    std::uint64_t sum = 0;
    for (std::size_t s = 0; s < stripes_; ++s)
        sum += std::atomic_ref<std::uint64_t>(row(s)[id]).load(std::memory_order_relaxed);
    return sum;
}

ClassCounts::ClassCounts(std::size_t slots, std::size_t stripes)
    : slots_(std::bit_ceil(std::max<std::size_t>(slots, 8))),
      stripes_(std::bit_ceil(std::clamp<std::size_t>(stripes, 1, kMaxStripes))),
      since_(std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
                 .count()) {
    const std::size_t n = (slots_ + 1) * stripes_;
    data_.reset(static_cast<Slot*>(::operator new (n * sizeof(Slot), std::align_val_t{64})));
    std::memset(static_cast<void*>(data_.get()), 0, n * sizeof(Slot));
}

void ClassCounts::Free::operator()(Slot* p) const noexcept {
    ::operator delete (p, std::align_val_t{64});
}

void ClassCounts::keep(SampleSlot& smp, const util::IpAddr& client, std::uint8_t source_prefix,
                       bool from_ecs) noexcept {
    std::atomic_ref<std::uint64_t> meta(smp.meta);
    std::uint64_t old = meta.load(std::memory_order_relaxed);
    if (old == kBusy || !meta.compare_exchange_strong(old, kBusy, std::memory_order_acquire,
                                                      std::memory_order_relaxed))
        return;  // another worker writes it now: this query is not sampled
    std::uint64_t a0 = 0, a1 = 0;
    std::memcpy(&a0, client.bytes.data(), 8);
    std::memcpy(&a1, client.bytes.data() + 8, 8);
    std::atomic_ref<std::uint64_t>(smp.a0).store(a0, std::memory_order_relaxed);
    std::atomic_ref<std::uint64_t>(smp.a1).store(a1, std::memory_order_relaxed);
    meta.store(1u | std::uint64_t{client.family} << 8 | std::uint64_t{source_prefix} << 16 |
                   std::uint64_t{from_ecs ? 1u : 0u} << 24 | ((old >> 32) + 1) << 32,
               std::memory_order_release);
}

std::vector<ClassCounts::Entry> ClassCounts::collect() const {
    std::vector<Entry> out;
    std::unordered_map<std::uint64_t, std::size_t> at;
    std::vector<Sample> got;
    for (std::size_t s = 0; s < stripes_; ++s) {
        const Slot* r = row(s);
        for (std::size_t i = 0; i < slots_; ++i) {
            Slot& slot = const_cast<Slot&>(r[i]);
            const std::uint64_t key =
                std::atomic_ref<std::uint64_t>(slot.key).load(std::memory_order_relaxed);
            const std::uint64_t n =
                std::atomic_ref<std::uint64_t>(slot.count).load(std::memory_order_relaxed);
            if (key == 0 || n == 0) continue;
            auto [it, fresh] = at.emplace(key, out.size());
            if (fresh) {
                Entry e;
                e.record = static_cast<std::uint32_t>((key >> 33) - 1);
                e.af = (key >> 32 & 1) != 0 ? 6 : 4;
                e.decision_class = static_cast<std::uint32_t>(key);
                out.push_back(e);
            }
            Entry& e = out[it->second];
            e.queries += n;
            got.clear();
            for (auto& smp : slot.samples) {
                std::atomic_ref<std::uint64_t> meta(smp.meta);
                const std::uint64_t m1 = meta.load(std::memory_order_acquire);
                if ((m1 & 1) == 0) continue;  // empty or being written
                const std::uint64_t a0 =
                    std::atomic_ref<std::uint64_t>(smp.a0).load(std::memory_order_relaxed);
                const std::uint64_t a1 =
                    std::atomic_ref<std::uint64_t>(smp.a1).load(std::memory_order_relaxed);
                std::atomic_thread_fence(std::memory_order_acquire);
                if (meta.load(std::memory_order_relaxed) != m1) continue;  // rewritten meanwhile
                Sample x;
                std::memcpy(x.client.bytes.data(), &a0, 8);
                std::memcpy(x.client.bytes.data() + 8, &a1, 8);
                x.client.family = static_cast<std::uint8_t>(m1 >> 8);
                x.source_prefix = static_cast<std::uint8_t>(m1 >> 16);
                x.from_ecs = (m1 >> 24 & 1) != 0;
                got.push_back(x);
            }
            for (auto& x : got) {
                x.weight = static_cast<double>(n) / static_cast<double>(got.size());
                e.samples.push_back(x);
            }
            if (e.client.family == 0 && !got.empty()) {
                e.client = got.front().client;
                e.source_prefix = got.front().source_prefix;
                e.from_ecs = got.front().from_ecs;
            }
        }
    }
    return out;
}

std::uint64_t ClassCounts::overflow() const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t s = 0; s < stripes_; ++s)
        sum += std::atomic_ref<std::uint64_t>(row(s)[slots_].count).load(std::memory_order_relaxed);
    return sum;
}

std::shared_ptr<const Topology> build_topology(std::shared_ptr<const config::Config> cfg,
                                               std::shared_ptr<const geo::GeoDbs> geo,
                                               std::shared_ptr<const zone::Secondaries> secondaries,
                                               const Topology* previous) {
    if (!cfg) throw ConfigError({}, "", "no configuration to build from");
    auto topo = std::make_shared<Topology>();
    topo->config = cfg;
    topo->geo = geo;
    topo->secondaries = secondaries;
    topo->edns_udp_size = cfg->edns_udp_size;
    topo->edge = edge::build_rules(*cfg);
    topo->ecs_enabled = cfg->ecs_enabled;
    topo->ecs_trust = cfg->ecs_trust;
    topo->debug_txt = cfg->debug_txt;

    // The maps below hold string_views into WireNames stored in these vectors: reserve
    // up front so no element ever moves.
    std::size_t nrec = 0;
    for (const auto& z : cfg->zones) nrec += z.records.size();
    topo->records.reserve(nrec);
    topo->zones.reserve(cfg->zones.size());

    // The names: the previous topology's when they are the same at the same positions (a
    // reload that changed backends), else a new arena sized for every name up front.
    const bool share_names = previous != nullptr && same_names(*cfg, *previous);
    std::shared_ptr<std::vector<std::uint8_t>> arena;
    if (share_names) {
        topo->name_bytes = previous->name_bytes;
        topo->names_shared = true;
    } else {
        std::size_t name_bytes = 0;  // a wire name is at most its text plus two bytes
        for (const auto& z : cfg->zones) {
            for (const auto& ns : z.ns) name_bytes += ns.name.size() + 2;
            for (const auto& r : z.records)
                name_bytes +=
                    r.name.size() + 2 +
                    (r.fallback.mode == config::FallbackMode::Cname ? r.fallback.cname.size() + 2
                                                                    : 0);
        }
        arena = std::make_shared<std::vector<std::uint8_t>>();
        arena->reserve(name_bytes);
        topo->name_bytes = arena;
    }

    // A reload: records built from the same config::Record object keep their backend arrays
    // and ids (the same location map assumed: its ids are in them); the ids no kept record
    // uses are handed out again, lowest first.
    std::vector<const RecordRt*> kept(nrec, nullptr);
    IdAlloc ids;
    if (previous != nullptr && same_locations(previous->geo.get(), geo.get())) {
        // Records mostly stay where they were: the previous record at the same position is
        // asked first, and a map is made only of the previous records not found that way
        // (none when records changed in place, and no map of every record then).
        const auto& prev = previous->records;
        std::vector<const config::Record*> at_pos;
        at_pos.reserve(nrec);
        for (const auto& z : cfg->zones)
            for (const auto& r : z.records) at_pos.push_back(&r);
        std::vector<std::uint8_t> found(prev.size(), 0);
        std::size_t missing = 0;
        for (std::size_t at = 0; at < nrec; ++at) {
            if (at < prev.size() && prev[at].cfg == at_pos[at]) {
                kept[at] = &prev[at];
                found[at] = 1;
            } else {
                ++missing;
            }
        }
        if (missing != 0) {
            std::unordered_map<const config::Record*, const RecordRt*> by_cfg;
            for (std::size_t k = 0; k < prev.size(); ++k)
                if (found[k] == 0 && prev[k].cfg != nullptr) by_cfg.emplace(prev[k].cfg, &prev[k]);
            for (std::size_t at = 0; at < nrec && !by_cfg.empty(); ++at) {
                if (kept[at] != nullptr) continue;
                auto it = by_cfg.find(at_pos[at]);
                if (it != by_cfg.end()) kept[at] = it->second;
            }
        }
        std::vector<std::uint8_t> used(previous->backend_count, 0);
        for (std::size_t at = 0; at < nrec; ++at) {
            if (kept[at] == nullptr) continue;
            const RecordRt& old = *kept[at];
            kept[at] = nullptr;
            bool clash = false;  // the same object twice: only the first keeps the ids
            for (const auto* fam : {&old.v4, &old.v6})
                for (const auto& b : *fam) clash = clash || b.id >= used.size() || used[b.id];
            if (clash) continue;
            for (const auto* fam : {&old.v4, &old.v6})
                for (const auto& b : *fam) used[b.id] = 1;
            kept[at] = &old;
            ++topo->records_shared;
        }
        std::size_t kept_backends = 0;
        for (std::uint8_t u : used) kept_backends += u;
        if (kept_backends * 2 >= used.size()) {
            ids = IdAlloc(previous->backend_count);
            for (std::uint32_t id = 0; id < used.size(); ++id)
                if (used[id] == 0) ids.add_free(id);
        } else {
            // most of it went: dense ids again (holes stay under half of backend_count)
            std::fill(kept.begin(), kept.end(), nullptr);
            topo->records_shared = 0;
        }
    }

    for (const auto& z : cfg->zones) {
        auto zid = static_cast<std::uint32_t>(topo->zones.size());
        ZoneRt& zr = topo->zones.emplace_back();
        zr.name = WireName::from_text(z.name, z.pos, "zone");
        zr.labels = count_labels(zr.name);
        if (!topo->zone_index.emplace(zr.name.view(), zid).second) {
            throw ConfigError(z.pos, "zone", "zone '" + z.name + "' is listed twice");
        }
        std::unique_ptr<zone::ZoneBuilder> builder;
        if (!z.file.empty()) {
            builder = std::make_unique<zone::ZoneBuilder>(zr.name.span());
            zone::read_master_file(z.file, z.name, *builder);
        } else if (!z.primaries.empty()) {
            for (const auto& p : z.primaries) zr.primaries.push_back(p.addr);
            const zone::Transferred* t = nullptr;
            if (secondaries != nullptr) {
                auto it = secondaries->find(z.name);
                if (it != secondaries->end()) t = &it->second;
            }
            if (t != nullptr && t->data != nullptr && !t->expired) {
                builder = std::make_unique<zone::ZoneBuilder>(zr.name.span());
                config::SourcePos where = z.pos;
                where.file = config::FileName(z.pos.to_string() + ": zone " + z.name +
                                              " (transferred, serial " +
                                              std::to_string(t->data->soa.serial) + ")");
                where.line = 0;
                zone::add_contents(*t->data, *builder, where);
            } else {
                zr.servfail = true;  // nothing to serve yet, or expired
                zr.soa = z.soa;
                zr.soa_mname = WireName::from_text(z.name, z.pos, "soa.mname");
                zr.soa_rname = WireName::from_text(z.name, z.pos, "soa.rname");
            }
        } else {
            zr.soa = z.soa;
            zr.soa_mname = WireName::from_text(z.soa.mname, z.pos, "soa.mname");
            zr.soa_rname = WireName::from_text(z.soa.rname, z.pos, "soa.rname");
            zr.ns_ttl = z.ns_ttl;
        }

        std::shared_ptr<ZoneNames> zn;  // null: shared with the previous topology
        if (share_names) {
            zr.names = previous->zones[zid].names;
        } else {
            zn = std::make_shared<ZoneNames>();
            zn->arena = arena;
            zn->records.reserve(z.records.size());
            zr.names = zn;
        }
        zr.ns.reserve(z.ns.size());
        for (const auto& ns : z.ns) {
            auto idx = static_cast<std::uint32_t>(zr.ns.size());
            NsRt& n = zr.ns.emplace_back();
            n.name = WireName::from_text(ns.name, z.pos, "ns");
            if (!has_glue(ns, n.name, zr.name)) continue;
            n.glue = ns.addresses;
            if (zn != nullptr) zn->ns_names.emplace(keep_name(*arena, n.name).view(), idx);
        }

        for (const auto& r : z.records) {
            auto rid = static_cast<std::uint32_t>(topo->records.size());
            RecordRt& rr = topo->records.emplace_back();
            rr.id = rid;
            if (share_names) {
                // checked when `previous` was built: inside the zone, defined once
                const RecordRt& same = previous->records[rid];
                rr.name = same.name;
                rr.fallback.cname = same.fallback.cname;
            } else {
                const WireName name = WireName::from_text(r.name, r.pos, "name");
                if (!in_zone(name, zr.name)) {
                    throw ConfigError(r.pos, "name",
                                      "'" + r.name + "' is not inside zone '" + z.name + "'");
                }
                rr.name = keep_name(*arena, name);
                if (!zn->records.emplace(rr.name.view(), rid).second) {
                    throw ConfigError(r.pos, "name", "record '" + r.name + "' is defined twice");
                }
            }
            build_record(arena.get(), rr, r, *cfg, geo.get(), ids, kept[rid]);
            topo->backends += static_cast<std::uint32_t>(rr.v4.size() + rr.v6.size());
            rr.state_offset = static_cast<std::uint32_t>(topo->state_words);
            topo->state_words += rr.state_words;
            if (builder)
                builder->add_gslb_name(rr.name.span(), static_cast<std::int32_t>(rid), r.pos);
        }
        if (builder) {
            zr.stat = builder->build(z.file.empty() ? "primary" : z.file);
            builder.reset();
            soa_from_static(zr);
        }
        if (zn != nullptr) collect_ents(*zn, zr.name.len);
    }
    topo->backend_count = ids.end();
    topo->answers = std::make_shared<AnswerCounts>(ids.end(), std::size_t{cfg->workers} + 2);
    // four classes a record on average (A and AAAA, a few locations), 1 MB a stripe at most
    topo->classes = std::make_shared<ClassCounts>(
        std::clamp<std::size_t>(topo->records.size() * 4, 64, 4096), std::size_t{cfg->workers} + 2);
    if (share_names)
        topo->names = previous->names;  // shares the table
    else
        index_names(*topo);
    // one mark per RecordRt id (sized last: every record is in by now)
    if (cfg->idle_multiplier > 1 && cfg->idle_timeout.count() > 0)
        topo->marks = std::make_shared<const QueryMarks>(topo->records.size());
    return topo;
}

// The zone that answers for a name may be another zone than the one that lists it (a
// longer zone below the listing one).
void index_names(Topology& topo) {
    std::size_t n = 0, bytes = 0;
    for (const auto& z : topo.zones) {
        n += 1;
        bytes += z.name.len;
        if (z.names == nullptr) continue;
        for (const auto* m : {&z.names->records, &z.names->ns_names}) {
            n += m->size();
            for (const auto& e : *m) bytes += e.first.size();
        }
        n += z.names->ents.size();
        for (const auto& e : z.names->ents) bytes += e.first.size();
    }
    topo.names.reserve(n, bytes);
    auto add = [&topo](std::string_view name) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(name.data());
        const ZoneRt* z = topo.find_zone(p, name.size());
        if (z == nullptr) return;  // cannot happen: every name lies inside its own zone
        NameInfo info;
        info.zone = static_cast<std::uint32_t>(z - topo.zones.data());
        if (z->names != nullptr) {
            const ZoneNames& zn = *z->names;
            if (auto it = zn.records.find(name); it != zn.records.end())
                info.record = static_cast<std::int32_t>(it->second);
            if (auto it = zn.ns_names.find(name); it != zn.ns_names.end())
                info.ns = static_cast<std::int32_t>(it->second);
            info.ent = zn.ents.count(name) != 0;
        }
        info.apex = name.size() == z->name.len;
        topo.names.insert(p, name.size(), dns::name_hash(p, name.size()), info);
    };
    for (const auto& z : topo.zones) {
        add(z.name.view());
        if (z.names == nullptr) continue;
        for (const auto& e : z.names->records) add(e.first);
        for (const auto& e : z.names->ns_names) add(e.first);
        for (const auto& e : z.names->ents) add(e.first);
    }
}

std::string_view to_string(AdminState s) noexcept {
    switch (s) {
        case AdminState::Disabled:
            return "disabled";
        case AdminState::Drained:
            return "drained";
        default:
            return "enabled";
    }
}

std::shared_ptr<const Health> all_up(const Topology& topo) {
    auto h = std::make_shared<Health>();
    h->up.assign(topo.backend_count, 1);
    return h;
}

}  // namespace gslbd::gslb
