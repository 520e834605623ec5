#include <algorithm>
#include <string>
#include <utility>

#include "geo/geo.hh"

namespace gslbd::geo {

namespace {

struct Node {
    std::int32_t child[2] = {-1, -1};
    std::int32_t id = -1;     ///< location id when a subnet ends here
    std::int32_t entry = -1;  ///< index of the entry that set `id`, for duplicate messages
};

/// One family's binary trie; node 0 is the root (the /0 network).
struct Trie {
    std::vector<Node> nodes{1};
    unsigned max_bits = 32;

    LocationMap::Match walk(const std::uint8_t* bytes) const noexcept {
        LocationMap::Match m;
        const Node* n = &nodes[0];
        unsigned d = 0;
        for (;;) {
            if (n->id >= 0) {
                m.id = n->id;
                m.matched = static_cast<std::uint8_t>(d);
                m.entry = n->entry;
            }
            if (d == max_bits) {
                m.prefix = static_cast<std::uint8_t>(d);
                return m;
            }
            unsigned b = (bytes[d >> 3] >> (7 - (d & 7))) & 1u;
            std::int32_t c = n->child[b];
            if (c < 0) {
                // Our half below this node is empty, so every address in it gets the answer
                // found so far; only a present sibling subtree may answer differently.
                bool sibling = n->child[b ^ 1u] >= 0;
                m.prefix = static_cast<std::uint8_t>(sibling ? d + 1 : d);
                return m;
            }
            n = &nodes[static_cast<std::size_t>(c)];
            ++d;
        }
    }
};

bool is_v4_mapped(const util::IpAddr& a) noexcept {
    for (int i = 0; i < 10; ++i)
        if (a.bytes[i] != 0) return false;
    return a.bytes[10] == 0xff && a.bytes[11] == 0xff;
}

}  // namespace

struct LocationMap::Impl {
    Trie v4, v6;
    std::vector<std::string> names;                             ///< id -> name
    std::vector<std::pair<std::string, std::int32_t>> by_name;  ///< sorted, for id_of
    std::vector<Point> points;                                  ///< per entry
    Point none;
};

LocationMap::LocationMap(const std::vector<config::LocationEntry>& entries)
    : impl_(std::make_unique<Impl>()) {
    impl_->v6.max_bits = 128;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        const auto& a = e.prefix.addr;
        if ((a.family != 4 && a.family != 6) || e.prefix.len > a.max_prefix())
            throw config::ConfigError(e.pos, "subnet", "not a valid subnet");
        if (e.location.empty()) throw config::ConfigError(e.pos, "location", "must not be empty");
        Point pt;
        if (e.has_coordinates) {
            pt = {true, e.latitude, e.longitude, unit_vector(e.latitude, e.longitude)};
            any_point_ = true;
        }
        impl_->points.push_back(pt);

        auto it = std::find(impl_->names.begin(), impl_->names.end(), e.location);
        auto id = static_cast<std::int32_t>(it - impl_->names.begin());
        if (it == impl_->names.end()) impl_->names.push_back(e.location);

        Trie& t = a.family == 4 ? impl_->v4 : impl_->v6;
        std::size_t n = 0;
        for (unsigned d = 0; d < e.prefix.len; ++d) {
            unsigned b = a.bit(d);
            if (t.nodes[n].child[b] < 0) {
                t.nodes[n].child[b] = static_cast<std::int32_t>(t.nodes.size());
                t.nodes.emplace_back();
            }
            n = static_cast<std::size_t>(t.nodes[n].child[b]);
        }
        Node& node = t.nodes[n];
        if (node.id >= 0 && node.id != id) {
            const auto& first = entries[static_cast<std::size_t>(node.entry)];
            throw config::ConfigError(e.pos, "subnet",
                                      e.prefix.to_string() + " is mapped to '" + e.location +
                                          "' here but to '" + first.location + "' at line " +
                                          std::to_string(first.pos.line) +
                                          "; a subnet may name one location only");
        }
        if (node.id >= 0) {
            const Point& was = impl_->points[static_cast<std::size_t>(node.entry)];
            if (was.has != pt.has || was.latitude != pt.latitude || was.longitude != pt.longitude)
                throw config::ConfigError(
                    e.pos, "subnet",
                    e.prefix.to_string() + " has other coordinates here than at line " +
                        std::to_string(entries[static_cast<std::size_t>(node.entry)].pos.line) +
                        "; a subnet has one place");
        }
        if (node.id < 0) {
            node.id = id;
            node.entry = static_cast<std::int32_t>(i);
        }
    }
    for (std::size_t id = 0; id < impl_->names.size(); ++id)
        impl_->by_name.emplace_back(impl_->names[id], static_cast<std::int32_t>(id));
    std::sort(impl_->by_name.begin(), impl_->by_name.end());
}

LocationMap::~LocationMap() = default;

LocationMap::Match LocationMap::lookup(const util::IpAddr& addr) const noexcept {
    if (addr.family == 4) return impl_->v4.walk(addr.bytes.data());
    if (addr.family != 6) return {};
    if (is_v4_mapped(addr)) {
        Match m = impl_->v4.walk(addr.bytes.data() + 12);
        m.prefix = static_cast<std::uint8_t>(m.prefix + 96);
        if (m.id >= 0) m.matched = static_cast<std::uint8_t>(m.matched + 96);
        return m;
    }
    Match m = impl_->v6.walk(addr.bytes.data());
    // Mapped addresses answer from the IPv4 entries, so the block must not reach into
    // ::ffff:0:0/96: shrink it to the half that excludes that range.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned common = 0;
    while (common < 96 && addr.bit(common) == ((kMapped[common >> 3] >> (7 - (common & 7))) & 1u))
        ++common;
    if (m.prefix <= common) m.prefix = static_cast<std::uint8_t>(common + 1);
    return m;
}

const LocationMap::Point& LocationMap::point(const Match& m) const noexcept {
    if (m.entry < 0 || static_cast<std::size_t>(m.entry) >= impl_->points.size())
        return impl_->none;
    return impl_->points[static_cast<std::size_t>(m.entry)];
}

std::int32_t LocationMap::id_of(std::string_view name) const noexcept {
    const auto& v = impl_->by_name;
    auto it = std::lower_bound(v.begin(), v.end(), name,
                               [](const auto& p, std::string_view n) { return p.first < n; });
    return it != v.end() && it->first == name ? it->second : -1;
}

const std::string& LocationMap::name_of(std::int32_t id) const {
    return impl_->names.at(static_cast<std::size_t>(id));
}

std::size_t LocationMap::size() const noexcept {
    return impl_->names.size();
}

}  // namespace gslbd::geo
