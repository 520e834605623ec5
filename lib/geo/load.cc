#include <exception>
#include <initializer_list>
#include <string>

#include "geo/geo.hh"
#include "util/log.hh"

namespace gslbd::geo {

namespace {

bool type_has_any(const std::string& type, std::initializer_list<const char*> words) {
    for (const char* w : words)
        if (type.find(w) != std::string::npos) return true;
    return false;
}

std::unique_ptr<MaxMindDb> open_db(const config::Config& cfg, const std::string& path,
                                   const char* field,
                                   std::initializer_list<const char*> expected_types) {
    if (path.empty()) return nullptr;
    std::unique_ptr<MaxMindDb> db;
    try {
        db = std::make_unique<MaxMindDb>(path);
    } catch (const std::exception& e) {
        throw config::ConfigError(config::SourcePos{cfg.file}, field, e.what());
    }
    // A wrong kind of database opens fine but answers nothing: say so, but do not refuse,
    // since vendors name their types freely.
    std::string type = db->type();
    if (!type_has_any(type, expected_types))
        util::log_warn("{}: {}: database type '{}' does not look like the expected kind", path,
                       field, type);
    return db;
}

}  // namespace

std::shared_ptr<const GeoDbs> load_geo(const config::Config& cfg) {
    auto dbs = std::make_shared<GeoDbs>();
    if (!cfg.location_map.empty()) dbs->locations = std::make_unique<LocationMap>(cfg.locations);
    dbs->country_db =
        open_db(cfg, cfg.country_db, "geoip.country_db", {"Country", "City", "Enterprise"});
    dbs->city_db = open_db(cfg, cfg.city_db, "geoip.city_db", {"City", "Enterprise"});
    dbs->asn_db = open_db(cfg, cfg.asn_db, "geoip.asn_db", {"ASN", "ISP", "ASNum"});
    return dbs;
}

}  // namespace gslbd::geo
