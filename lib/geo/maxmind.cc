#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "geo/geo.hh"

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

namespace {

// Static NULL-terminated paths for MMDB_aget_value: MMDB_get_value's varargs form
// copies the path into a heap array on every call.
const char* const kCountry[] = {"country", "iso_code", nullptr};
const char* const kRegistered[] = {"registered_country", "iso_code", nullptr};
const char* const kContinent[] = {"continent", "code", nullptr};
const char* const kCity[] = {"city", "names", "en", nullptr};
const char* const kAsn[] = {"autonomous_system_number", nullptr};

struct Lookup {
    MMDB_lookup_result_s res{};
    std::uint8_t prefix = 0;
};

Lookup lookup(const MMDB_s* db, const util::IpAddr& a) noexcept {
    Lookup l;
    int err = MMDB_SUCCESS;
    if (a.family == 4) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        std::memcpy(&sa.sin_addr, a.bytes.data(), 4);
        l.res = MMDB_lookup_sockaddr(db, reinterpret_cast<const sockaddr*>(&sa), &err);
        // An IPv6 database keeps IPv4 under ::/96 and reports the IPv6 netmask; a shorter
        // netmask means the whole IPv4 space shares one record (or none).
        unsigned nm = l.res.netmask;
        if (db->metadata.ip_version == 6) nm = nm >= 96 ? nm - 96 : 0;
        l.prefix = static_cast<std::uint8_t>(nm > 32 ? 32 : nm);
    } else if (a.family == 6) {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        std::memcpy(&sa.sin6_addr, a.bytes.data(), 16);
        l.res = MMDB_lookup_sockaddr(db, reinterpret_cast<const sockaddr*>(&sa), &err);
        unsigned nm = l.res.netmask;
        l.prefix = static_cast<std::uint8_t>(nm > 128 ? 128 : nm);
    }
    if (err != MMDB_SUCCESS) {
        l.res.found_entry = false;
        l.prefix = 0;
    }
    return l;
}

bool get(MMDB_entry_s& entry, const char* const* path, MMDB_entry_data_s& out) noexcept {
    return MMDB_aget_value(&entry, &out, path) == MMDB_SUCCESS && out.has_data;
}

std::uint16_t code_at(MMDB_entry_s& entry, const char* const* path) noexcept {
    MMDB_entry_data_s d{};
    if (!get(entry, path, d) || d.type != MMDB_DATA_TYPE_UTF8_STRING) return 0;
    return pack_code(std::string_view(d.utf8_string, d.data_size));
}

}  // namespace

MaxMindDb::MaxMindDb(const std::string& path) : path_(path), db_(new MMDB_s{}) {
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
    CountryResult r;
    Lookup l = lookup(db_, a);
    r.prefix = l.prefix;
    if (!l.res.found_entry) return r;
    r.country = code_at(l.res.entry, kCountry);
    if (r.country == 0) r.country = code_at(l.res.entry, kRegistered);
    r.continent = code_at(l.res.entry, kContinent);
    r.found = r.country != 0;
    return r;
}

MaxMindDb::CityResult MaxMindDb::city(const util::IpAddr& a) const noexcept {
    CityResult r;
    Lookup l = lookup(db_, a);
    r.prefix = l.prefix;
    if (!l.res.found_entry) return r;
    MMDB_entry_data_s d{};
    if (get(l.res.entry, kCity, d) && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size > 0) {
        r.name = std::string_view(d.utf8_string, d.data_size);
        r.found = true;
    }
    return r;
}

MaxMindDb::AsnResult MaxMindDb::asn(const util::IpAddr& a) const noexcept {
    AsnResult r;
    Lookup l = lookup(db_, a);
    r.prefix = l.prefix;
    if (!l.res.found_entry) return r;
    MMDB_entry_data_s d{};
    if (!get(l.res.entry, kAsn, d)) return r;
    switch (d.type) {
        case MMDB_DATA_TYPE_UINT16:
            r.asn = d.uint16;
            break;
        case MMDB_DATA_TYPE_UINT32:
            r.asn = d.uint32;
            break;
        case MMDB_DATA_TYPE_INT32:
            r.asn = static_cast<std::uint32_t>(d.int32);
            break;
        case MMDB_DATA_TYPE_UINT64:
            r.asn = d.uint64 > 0xffffffffu ? 0 : static_cast<std::uint32_t>(d.uint64);
            break;
        default:
            return r;
    }
    r.found = r.asn != 0;
    return r;
}

std::string MaxMindDb::type() const {
    const char* t = db_->metadata.database_type;
    return t ? std::string(t) : std::string();
}

}  // namespace gslbd::geo
