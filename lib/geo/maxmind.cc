#include <maxminddb.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "geo/geo.hh"
#include "util/hash.hh"
#include "util/sockaddr.hh"

namespace gslbd::geo {

std::uint16_t pack_code(std::string_view s) noexcept {
    auto up = [](char c) -> char {
        if (c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 'A');
        return c;
    };
    if (s.size() != 2) return 0;
    char a = up(s[0]), b = up(s[1]);
    if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z') return 0;
    return pack_code(a, b);
}

UnitVector unit_vector(double latitude, double longitude) noexcept {
    constexpr double kRad = 3.14159265358979323846 / 180.0;
    const double phi = latitude * kRad, lambda = longitude * kRad;
    return {std::cos(phi) * std::cos(lambda), std::cos(phi) * std::sin(lambda), std::sin(phi)};
}

double distance_km(double lat1, double lon1, double lat2, double lon2) noexcept {
    constexpr double kRad = 3.14159265358979323846 / 180.0;
    const double dphi = (lat2 - lat1) * kRad, dlambda = (lon2 - lon1) * kRad;
    const double a =
        std::sin(dphi / 2) * std::sin(dphi / 2) + std::cos(lat1 * kRad) * std::cos(lat2 * kRad) *
                                                      std::sin(dlambda / 2) * std::sin(dlambda / 2);
    return 6371.0 * 2 * std::atan2(std::sqrt(a), std::sqrt(1 - a));
}

std::uint32_t pack_subdivision(std::string_view s) noexcept {
    if (s.empty() || s.size() > 3) return 0;
    std::uint32_t v = 0;
    for (char c : s) {
        unsigned d;
        if (c >= '0' && c <= '9')
            d = static_cast<unsigned>(c - '0') + 1;
        else if (c >= 'A' && c <= 'Z')
            d = static_cast<unsigned>(c - 'A') + 11;
        else if (c >= 'a' && c <= 'z')
            d = static_cast<unsigned>(c - 'a') + 11;
        else
            return 0;
        v = v << 6 | d;
    }
    return v;
}

std::string subdivision_text(std::uint32_t v) {
    std::string out;
    for (; v != 0; v >>= 6) {
        const unsigned d = v & 63u;
        out.insert(out.begin(),
                   d <= 10 ? static_cast<char>('0' + d - 1) : static_cast<char>('A' + d - 11));
    }
    return out;
}

namespace {

// Static NULL-terminated paths for MMDB_aget_value: MMDB_get_value's varargs form
// copies the path into a heap array on every call.
const char* const kCountry[] = {"country", "iso_code", nullptr};
const char* const kRegistered[] = {"registered_country", "iso_code", nullptr};
const char* const kContinent[] = {"continent", "code", nullptr};
const char* const kCity[] = {"city", "names", "en", nullptr};
const char* const kAsn[] = {"autonomous_system_number", nullptr};
const char* const kSubdivision[] = {"subdivisions", "0", "iso_code", nullptr};
const char* const kLatitude[] = {"location", "latitude", nullptr};
const char* const kLongitude[] = {"location", "longitude", nullptr};

struct Lookup {
    MMDB_lookup_result_s res{};
    std::uint8_t prefix = 0;
};

Lookup lookup(const MMDB_s* db, const util::IpAddr& a) noexcept {
    Lookup l;
    if (a.family != 4 && a.family != 6) return l;
    sockaddr_storage sa;
    util::to_sockaddr(a, 0, sa);
    int err = MMDB_SUCCESS;
    l.res = MMDB_lookup_sockaddr(db, reinterpret_cast<const sockaddr*>(&sa), &err);
    if (err != MMDB_SUCCESS) {
        l.res.found_entry = false;
        return l;
    }
    unsigned nm = l.res.netmask;
    // An IPv6 database keeps IPv4 under ::/96 and reports the IPv6 netmask; a shorter
    // netmask means the whole IPv4 space shares one record (or none).
    if (a.family == 4 && db->metadata.ip_version == 6) nm = nm >= 96 ? nm - 96 : 0;
    l.prefix = static_cast<std::uint8_t>(std::min(nm, a.max_prefix()));
    return l;
}

// Looks `a` up; when the database has an entry for it, `fill(entry, result)` reads the
// facts. The matched prefix is set either way (it scopes negative answers too).
template <typename Result, typename Fill>
Result lookup_into(const MMDB_s* db, const util::IpAddr& a, Fill&& fill) noexcept {
    Result r;
    Lookup l = lookup(db, a);
    r.prefix = l.prefix;
    if (l.res.found_entry) fill(l.res.entry, r);
    return r;
}

bool get(MMDB_entry_s& entry, const char* const* path, MMDB_entry_data_s& out) noexcept {
    return MMDB_aget_value(&entry, &out, path) == MMDB_SUCCESS && out.has_data;
}

// The UTF-8 string at `path`; empty when absent or not a string.
std::string_view string_at(MMDB_entry_s& entry, const char* const* path) noexcept {
    MMDB_entry_data_s d{};
    if (!get(entry, path, d) || d.type != MMDB_DATA_TYPE_UTF8_STRING) return {};
    return std::string_view(d.utf8_string, d.data_size);
}

std::uint16_t code_at(MMDB_entry_s& entry, const char* const* path) noexcept {
    return pack_code(string_at(entry, path));
}

// The integer at `path` as 32 bits; 0 when absent, not an integer, or a uint64 above 32 bits.
std::uint32_t uint32_at(MMDB_entry_s& entry, const char* const* path) noexcept {
    MMDB_entry_data_s d{};
    if (!get(entry, path, d)) return 0;
    switch (d.type) {
        case MMDB_DATA_TYPE_UINT16:
            return d.uint16;
        case MMDB_DATA_TYPE_UINT32:
            return d.uint32;
        case MMDB_DATA_TYPE_INT32:
            return static_cast<std::uint32_t>(d.int32);
        case MMDB_DATA_TYPE_UINT64:
            return d.uint64 > 0xffffffffu ? 0 : static_cast<std::uint32_t>(d.uint64);
        default:
            return 0;
    }
}

// The double at `path` into `out`; false when absent or not a number.
bool double_at(MMDB_entry_s& entry, const char* const* path, double& out) noexcept {
    MMDB_entry_data_s d{};
    if (!get(entry, path, d)) return false;
    if (d.type == MMDB_DATA_TYPE_DOUBLE)
        out = d.double_value;
    else if (d.type == MMDB_DATA_TYPE_FLOAT)
        out = d.float_value;
    else
        return false;
    return true;
}

}  // namespace

namespace {
std::atomic<std::uint64_t> next_serial{1};
}

MaxMindDb::MaxMindDb(const std::string& path)
    : path_(path), db_(new MMDB_s{}), serial_(next_serial.fetch_add(1)) {
    errno = 0;
    int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, db_);
    if (status != MMDB_SUCCESS) {
        int saved = errno;
        std::string msg = path + ": " + MMDB_strerror(status);
        if ((status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) && saved != 0)
            msg += std::string(": ") + std::strerror(saved);
        delete db_;
        throw std::runtime_error(msg);
    }
}

MaxMindDb::~MaxMindDb() {
    MMDB_close(db_);
    delete db_;
}

MaxMindDb::CountryResult MaxMindDb::country(const util::IpAddr& a) const noexcept {
    return lookup_into<CountryResult>(db_, a, [](MMDB_entry_s& e, CountryResult& r) {
        r.country = code_at(e, kCountry);
        if (r.country == 0) r.country = code_at(e, kRegistered);
        r.continent = code_at(e, kContinent);
        r.found = r.country != 0;
    });
}

MaxMindDb::CityResult MaxMindDb::city(const util::IpAddr& a) const noexcept {
    return lookup_into<CityResult>(db_, a, [](MMDB_entry_s& e, CityResult& r) {
        r.name = string_at(e, kCity);
        r.found = !r.name.empty();
    });
}

MaxMindDb::AsnResult MaxMindDb::asn(const util::IpAddr& a) const noexcept {
    return lookup_into<AsnResult>(db_, a, [](MMDB_entry_s& e, AsnResult& r) {
        r.asn = uint32_at(e, kAsn);
        r.found = r.asn != 0;
    });
}

MaxMindDb::PlaceResult MaxMindDb::place(const util::IpAddr& a) const noexcept {
    return lookup_into<PlaceResult>(db_, a, [](MMDB_entry_s& e, PlaceResult& r) {
        r.found = true;
        r.city = string_at(e, kCity);
        r.subdivision = pack_subdivision(string_at(e, kSubdivision));
        r.country = code_at(e, kCountry);
        if (r.country == 0) r.country = code_at(e, kRegistered);
        r.continent = code_at(e, kContinent);
        r.has_coordinates =
            double_at(e, kLatitude, r.latitude) && double_at(e, kLongitude, r.longitude);
    });
}

struct PlaceMemo::Entry {
    std::uint64_t serial = 0;                         ///< MaxMindDb::serial(); 0 = empty
    std::uint64_t net[2] = {0, 0}, mask[2] = {0, 0};  ///< the network, as two native words
    std::uint8_t family = 0;
    Place place;
};

namespace {

// The address as two native-order words (the same layout for keys and masks, so the
// byte order of the machine never matters).
void words(const util::IpAddr& a, std::uint64_t (&w)[2]) noexcept {
    std::memcpy(&w[0], a.bytes.data(), 8);
    std::memcpy(&w[1], a.bytes.data() + 8, 8);
}

}  // namespace

PlaceMemo::PlaceMemo(std::size_t slots) {
    const std::size_t n = std::bit_ceil(std::max<std::size_t>(slots, 1));
    entries_ = std::make_unique<Entry[]>(n);
    mask_ = n - 1;
}

PlaceMemo::~PlaceMemo() = default;

const PlaceMemo::Place& PlaceMemo::place(const MaxMindDb& db, const util::IpAddr& a) noexcept {
    std::uint64_t w[2];
    words(a, w);
    // the slot: the /24 (IPv4) or /48 (IPv6) around the address
    static constexpr std::uint8_t k24[8] = {0xff, 0xff, 0xff, 0, 0, 0, 0, 0};
    static constexpr std::uint8_t k48[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0};
    std::uint64_t m;
    std::memcpy(&m, a.family == 4 ? k24 : k48, 8);
    Entry& e = entries_[util::mix64((w[0] & m) ^ a.family) & mask_];
    if (e.serial == db.serial() && e.family == a.family && (w[0] & e.mask[0]) == e.net[0] &&
        (w[1] & e.mask[1]) == e.net[1]) {
        ++hits_;
        return e.place;
    }
    ++misses_;
    e.place.result = db.place(a);
    const auto& r = e.place.result;
    e.place.point = r.has_coordinates ? unit_vector(r.latitude, r.longitude) : unit_vector(0, 0);
    util::IpAddr ones = a;
    ones.bytes.fill(0xff);
    words(ones.masked(r.prefix), e.mask);
    e.net[0] = w[0] & e.mask[0];
    e.net[1] = w[1] & e.mask[1];
    e.family = a.family;
    e.serial = db.serial();
    return e.place;
}

std::string MaxMindDb::type() const {
    const char* t = db_->metadata.database_type;
    return t ? std::string(t) : std::string();
}

}  // namespace gslbd::geo
