#pragma once
/// Client address -> location facts: subnet location maps and MaxMind databases.
/// Loaded on the control side (may throw); lookups are noexcept and allocation free.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hh"
#include "util/addr.hh"

struct MMDB_s;

namespace gslbd::geo {

/// An ISO 3166-2 subdivision code of 1 to 3 letters or digits ("CA", "IDF", "75") in 18
/// bits, 6 per character ('0'..'9' -> 1..10, 'A'..'Z' -> 11..36, lower case folded); 0 when
/// `code` is not such a code.
std::uint32_t pack_subdivision(std::string_view code) noexcept;
/// pack_subdivision() back to text ("" for 0).
std::string subdivision_text(std::uint32_t packed);

/// A point on the sphere as a unit vector: the nearest-backend steps compare the cosine of
/// the central angle (a dot product, no trigonometry per backend), which orders points
/// exactly as the great-circle (haversine) distance does.
struct UnitVector {
    double x = 0, y = 0, z = 0;
};
/// From decimal degrees.
UnitVector unit_vector(double latitude, double longitude) noexcept;
/// cos of the central angle between `a` and `b`: larger = nearer.
inline double closeness(const UnitVector& a, const UnitVector& b) noexcept {
    return a.x * b.x + a.y * b.y + a.z * b.z;
}
/// Great-circle distance in km (haversine, earth radius 6371 km), for explain and tests.
double distance_km(double lat1, double lon1, double lat2, double lon2) noexcept;

/// Two ASCII letters packed big-endian ("FR" -> 'F' << 8 | 'R'); 0 = unknown.
constexpr std::uint16_t pack_code(char a, char b) noexcept {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(a) << 8) |
                                      static_cast<unsigned char>(b));
}
/// Upper-cases; 0 unless `two_letters` is exactly two ASCII letters.
std::uint16_t pack_code(std::string_view two_letters) noexcept;

/// Longest-prefix match over subnet -> location entries (IPv4 and IPv6 kept apart).
/// Overlaps are resolved by prefix length alone, never by file order.
class LocationMap {
  public:
    struct Match {
        std::int32_t id = -1;  ///< location id, -1 = no match
        /// ECS scope (RFC 7871): length of a block around the address in which every address
        /// gets this same answer (also when id == -1); never shorter than `matched`.
        std::uint8_t prefix = 0;
        std::uint8_t matched = 0;  ///< length of the matched subnet (0 when id == -1)
        std::int32_t entry = -1;   ///< index of the matched entry (in the constructor's list)
    };
    /// Where the map places a matched address (the entry's `latitude`/`longitude`).
    struct Point {
        bool has = false;  ///< false: the entry gives no coordinates (or nothing matched)
        double latitude = 0, longitude = 0;
        UnitVector unit;
    };
    /// Throws config::ConfigError when the same subnet is listed twice with different
    /// locations or coordinates (naming both places).
    explicit LocationMap(const std::vector<config::LocationEntry>& entries);
    ~LocationMap();
    LocationMap(const LocationMap&) = delete;
    LocationMap& operator=(const LocationMap&) = delete;

    /// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up in the IPv4 entries; their
    /// scope is then given in IPv6 terms (96 + IPv4 scope). Family 0 -> {-1, 0, 0}.
    Match lookup(const util::IpAddr& addr) const noexcept;
    /// The coordinates of `m`'s entry (has == false when it has none or `m` matched
    /// nothing). Never allocates.
    const Point& point(const Match& m) const noexcept;
    /// True when some entry has coordinates (the nearest steps then consult the map).
    bool has_coordinates() const noexcept { return any_point_; }
    /// Location name -> id; -1 when the map never mentions it.
    std::int32_t id_of(std::string_view name) const noexcept;
    const std::string& name_of(std::int32_t id) const;
    std::size_t size() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    bool any_point_ = false;
};

/// One opened .mmdb (GeoIP2/GeoLite2 Country, City or ASN layout), memory-mapped.
class MaxMindDb {
  public:
    /// Throws std::runtime_error("PATH: reason") when the file cannot be opened.
    explicit MaxMindDb(const std::string& path);
    ~MaxMindDb();
    MaxMindDb(const MaxMindDb&) = delete;
    MaxMindDb& operator=(const MaxMindDb&) = delete;

    struct CountryResult {
        bool found = false;
        std::uint16_t country = 0;    ///< pack_code of country.iso_code
        std::uint16_t continent = 0;  ///< pack_code of continent.code
        std::uint8_t prefix = 0;      ///< network the lookup matched, in the address's family
    };
    struct CityResult {
        bool found = false;
        std::string_view name;  ///< city.names.en, points into the mapped file
        std::uint8_t prefix = 0;
    };
    /// Everything the city database says about a place (the geoip modes' nearest and
    /// subdivision steps, and geoip_affinity): one lookup, several values read.
    struct PlaceResult {
        bool found = false;                  ///< the database has an entry for the address
        std::string_view city;               ///< city.names.en ("" when absent)
        std::uint32_t subdivision = 0;       ///< pack_subdivision(subdivisions[0].iso_code)
        std::uint16_t country = 0;           ///< as CountryResult::country
        std::uint16_t continent = 0;         ///< pack_code(continent.code)
        bool has_coordinates = false;        ///< location.latitude and .longitude both present
        double latitude = 0, longitude = 0;  ///< degrees
        std::uint8_t prefix = 0;
    };
    struct AsnResult {
        bool found = false;
        std::uint32_t asn = 0;  ///< autonomous_system_number
        std::uint8_t prefix = 0;
    };
    /// `found` means the database has that fact for the address (country: country.iso_code,
    /// else registered_country.iso_code). `prefix` is set also when nothing is found: the
    /// empty network around the address (an honest ECS scope either way).
    CountryResult country(const util::IpAddr& a) const noexcept;
    CityResult city(const util::IpAddr& a) const noexcept;
    AsnResult asn(const util::IpAddr& a) const noexcept;
    PlaceResult place(const util::IpAddr& a) const noexcept;
    const std::string& path() const noexcept { return path_; }
    /// database_type from the metadata, e.g. "GeoLite2-Country".
    std::string type() const;
    /// A number no other MaxMindDb of this process has had (never 0): PlaceMemo tells a
    /// database from one opened later at the same address by it.
    std::uint64_t serial() const noexcept { return serial_; }

  private:
    std::string path_;
    MMDB_s* db_;
    std::uint64_t serial_;
};

/// A per-worker memo of MaxMindDb::place(): a direct-mapped table of the networks looked up
/// last, so that the client of a warm cache hit (whose key, the decision class, needs the
/// client's place) costs a few loads instead of a database walk (about 800 ns).
///
/// Exact, not approximate: an entry keeps the network the database matched (PlaceResult::
/// prefix, also for addresses it does not know), and every address inside one database
/// network gets the same record, so an entry answers only addresses inside its network and
/// then exactly what place() would. The slot is picked by the address's /24 (IPv4) or /48
/// (IPv6); a network longer than that shares the slot with its neighbours (still exact).
/// Entries name the database by serial(): one reloaded at the same address never matches.
/// One instance per worker (not thread-safe); allocates only in its constructor.
class PlaceMemo {
  public:
    struct Place {
        MaxMindDb::PlaceResult result;
        UnitVector point;  ///< unit_vector of the coordinates; of (0, 0) without them
    };
    /// `slots` is rounded up to a power of two (at least 1).
    explicit PlaceMemo(std::size_t slots);
    ~PlaceMemo();
    PlaceMemo(const PlaceMemo&) = delete;
    PlaceMemo& operator=(const PlaceMemo&) = delete;

    /// db.place(a) with its unit vector, from the memo when a kept network holds `a` (else
    /// looked up and kept). The reference stays valid until the next call. Never allocates.
    const Place& place(const MaxMindDb& db, const util::IpAddr& a) noexcept;

    std::uint64_t hits() const noexcept { return hits_; }
    std::uint64_t misses() const noexcept { return misses_; }

  private:
    struct Entry;
    std::unique_ptr<Entry[]> entries_;
    std::size_t mask_ = 0;
    std::uint64_t hits_ = 0, misses_ = 0;
};

/// Every geo source the config names. Immutable once built; shared by snapshots.
struct GeoDbs {
    std::unique_ptr<LocationMap> locations;                  ///< null when no location map
    std::unique_ptr<MaxMindDb> country_db, city_db, asn_db;  ///< null when not configured
};

/// Opens what `cfg` names. Throws config::ConfigError (main file, field country_db etc.).
std::shared_ptr<const GeoDbs> load_geo(const config::Config& cfg);

}  // namespace gslbd::geo
