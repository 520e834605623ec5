// Location maps: `subnets: [{subnet, location}]`, the CoreDNS-GSLB format, with gslbd's
// optional `latitude` / `longitude` per entry. Overlaps are kept as written; lib/geo resolves
// them by longest prefix.
#include <array>
#include <map>
#include <tuple>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

std::vector<LocationEntry> load_location_map(const std::string& path, const SourcePos& blame,
                                             const std::string& field) {
    const yaml::Document doc = load_yaml_file(path, blame, field);
    const FileName file(path);
    Val root(file, doc);
    if (root.is_null()) root.fail("the location map is empty: it needs a 'subnets' list");
    MapReader top(root, {"subnets"});
    Val subnets = top.require("subnets");
    if (!subnets.is_seq()) subnets.fail("expected a list of {subnet, location}");

    std::vector<LocationEntry> out;
    // Index of each prefix in `out`: maps can hold many thousands of subnets.
    using Key = std::tuple<std::uint8_t, std::array<std::uint8_t, 16>, std::uint8_t>;
    std::map<Key, std::size_t> seen;
    for (const auto& item : subnets.items()) {
        MapReader m(item, {"subnet", "location", "latitude", "longitude"});
        Val sv = m.require("subnet");
        std::string text = sv.nonempty_str();
        auto prefix = util::IpPrefix::parse(text, true);
        if (!prefix) {
            if (auto loose = util::IpPrefix::parse(text, false)) {
                sv.fail("'" + text + "' has host bits set after the prefix length (did you mean " +
                        loose->to_string() + "?)");
            }
            sv.fail("'" + text + "' is not a subnet (10.0.0.0/24, 2001:db8::/48)");
        }
        Val lv = m.require("location");
        std::string location;
        if (lv.is_seq()) {
            auto names = lv.items();
            if (names.size() != 1)
                lv.fail("one subnet maps to exactly one location, got " +
                        std::to_string(names.size()));
            location = names[0].nonempty_str();
        } else {
            location = lv.nonempty_str();
        }
        LocationEntry entry{*prefix, location, sv.pos()};
        entry.has_coordinates = read_coordinates(m, entry.latitude, entry.longitude);
        Key key{entry.prefix.addr.family, entry.prefix.addr.bytes, entry.prefix.len};
        auto [it, fresh] = seen.emplace(key, out.size());
        if (fresh) {
            out.push_back(std::move(entry));
            continue;
        }
        const LocationEntry& first = out[it->second];
        if (first.location != entry.location) {
            sv.fail("subnet " + entry.prefix.to_string() + " maps to '" + entry.location +
                    "' here but to '" + first.location + "' at line " +
                    std::to_string(first.pos.line));
        }
        if (first.has_coordinates != entry.has_coordinates || first.latitude != entry.latitude ||
            first.longitude != entry.longitude) {
            auto where = [](const LocationEntry& e) {
                return e.has_coordinates
                           ? "at " + std::to_string(e.latitude) + ", " + std::to_string(e.longitude)
                           : std::string("without coordinates");
            };
            sv.fail("subnet " + entry.prefix.to_string() + " is placed " + where(entry) +
                    " here but " + where(first) + " at line " + std::to_string(first.pos.line) +
                    "; a subnet has one place");
        }
    }
    return out;
}

}  // namespace gslbd::config::detail
