#pragma once
/// A zone's static data (RFC 1035 master file, later a transferred copy): compact and
/// immutable. Nodes sorted in canonical order (RFC 4034 §6.1), each with its RRsets in wire
/// form (uncompressed RDATA, back to back in one arena), found through one open-addressing
/// table keyed by the lower-case wire name. Built on the control side by ZoneBuilder (or
/// load_master_file()), then only read: resolve() and the accessors never allocate, lock,
/// block or throw, so workers call them per query.
///
/// Every ancestor of a name with data, up to the apex, is a node too (an empty non-terminal
/// has no RRsets), so "no such node" means NXDOMAIN unless a wildcard covers it. Each node
/// knows the topmost delegation (NS below the apex) at or above it (`cut`) and its wildcard
/// child `*.<node>` (`wild`), which makes RFC 4592 lookups one probe per ancestor.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.hh"

namespace gslbd::zone {

inline constexpr std::uint16_t kTypeA = 1, kTypeNS = 2, kTypeCNAME = 5, kTypeSOA = 6, kTypeMX = 15,
                               kTypeAAAA = 28, kTypeSRV = 33, kTypeDNAME = 39, kTypeDS = 43,
                               kTypeSVCB = 64, kTypeHTTPS = 65;

struct RRset {
    std::uint16_t type = 0;
    std::uint16_t count = 0;  ///< RRs; their RDATA is at StaticZone::rdata(*this)
    std::uint32_t ttl = 0;
    std::uint32_t data = 0;  ///< offset into the RDATA arena: per RR a 16-bit length, then bytes
};

struct Node {
    std::uint64_t hash = 0;  ///< dns::name_hash of the name
    std::uint32_t name = 0;  ///< offset into the name arena
    std::uint32_t rr = 0;    ///< first RRset (index); RRsets of a node are sorted by type
    std::uint16_t nrr = 0;
    std::uint8_t len = 0;    ///< wire length of the name
    std::uint8_t flags = 0;  ///< kApex
    std::int32_t cut = -1;   ///< topmost delegation at or above this node (node index), -1: none
    std::int32_t wild = -1;  ///< the node `*.<this>`, -1: none
    std::int32_t gslb = -1;  ///< GSLB record id (gslb::Topology::records) at this name, -1: none
};
inline constexpr std::uint8_t kApex = 1;

/// What one name is in the zone (resolve()).
enum class Match : std::uint8_t {
    Exact,     ///< `node` is the name (it may be an empty non-terminal)
    Wildcard,  ///< no such name; `node` is the wildcard `*.<closest encloser>` that covers it
    NxDomain,  ///< no such name and no wildcard; `node` is the closest encloser
    Referral,  ///< the name is at or below the delegation `cut`; `node` as for the others
};

struct Lookup {
    Match match = Match::NxDomain;
    bool exact = false;  ///< `node` is the name itself (also with Referral)
    const Node* node = nullptr;
    const Node* cut = nullptr;       ///< Referral only
    const Node* encloser = nullptr;  ///< the closest encloser (== node when exact)
};

/// One RR's RDATA inside an RRset (iterate with StaticZone::next()).
struct Rdata {
    const std::uint8_t* data = nullptr;
    std::uint16_t len = 0;
};

class StaticZone {
  public:
    /// The apex name (lower-case wire).
    std::span<const std::uint8_t> origin() const noexcept { return name_of(nodes_[apex_]); }
    const Node& apex() const noexcept { return nodes_[apex_]; }
    std::span<const Node> nodes() const noexcept { return nodes_; }
    std::size_t rr_count() const noexcept { return rr_count_; }
    std::uint32_t serial() const noexcept { return serial_; }
    /// The RFC 1035 file this came from ("" when built otherwise).
    const std::string& source() const noexcept { return source_; }

    /// The node named `lname` (lower-case wire, `len` bytes, `hash` its dns::name_hash()).
    const Node* find(const std::uint8_t* lname, std::size_t len,
                     std::uint64_t hash) const noexcept {
        if (mask_ == 0) return nullptr;
        for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
            const std::uint32_t s = slots_[i];
            if (s == 0) return nullptr;
            const Node& n = nodes_[s - 1];
            if (n.hash == hash && n.len == len && same(names_.data() + n.name, lname, len))
                return &n;
        }
    }
    /// Where `lname` (lower-case wire inside this zone; `hash` its name_hash()) leads:
    /// exact node, wildcard, NXDOMAIN or a delegation (RFC 1034 §4.3.2 with RFC 4592).
    /// A DS query at a delegation point itself is the caller's to treat as Exact.
    Lookup resolve(const std::uint8_t* lname, std::size_t len, std::uint64_t hash) const noexcept;

    std::span<const std::uint8_t> name_of(const Node& n) const noexcept {
        return {names_.data() + n.name, n.len};
    }
    std::span<const RRset> rrsets(const Node& n) const noexcept {
        return {rrsets_.data() + n.rr, n.nrr};
    }
    /// The RRset of `type` at `n`, or nullptr.
    const RRset* rrset(const Node& n, std::uint16_t type) const noexcept {
        for (const RRset& s : rrsets(n))
            if (s.type == type) return &s;
        return nullptr;
    }
    /// The first RR of `s`; then next() for the others (s.count in all).
    Rdata first(const RRset& s) const noexcept { return at(s.data); }
    Rdata next(const Rdata& r) const noexcept {
        return at(static_cast<std::uint32_t>(r.data + r.len - rdata_.data()));
    }
    const Node* node(std::int32_t idx) const noexcept {
        return idx >= 0 ? &nodes_[static_cast<std::size_t>(idx)] : nullptr;
    }
    /// Bytes held (names, RRsets, RDATA, index), for logs and the benchmark.
    std::size_t memory_bytes() const noexcept;

  private:
    friend class ZoneBuilder;
    static bool same(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept {
        for (std::size_t i = 0; i < n; ++i)
            if (a[i] != b[i]) return false;
        return true;
    }
    Rdata at(std::uint32_t off) const noexcept {
        const std::uint8_t* p = rdata_.data() + off;
        return Rdata{p + 2, static_cast<std::uint16_t>((p[0] << 8) | p[1])};
    }

    std::vector<Node> nodes_;  ///< canonical order
    std::vector<RRset> rrsets_;
    std::vector<std::uint8_t> names_;
    std::vector<std::uint8_t> rdata_;
    std::vector<std::uint32_t> slots_;  ///< node index + 1; 0 = empty
    std::size_t mask_ = 0;
    std::size_t apex_ = 0;
    std::size_t rr_count_ = 0;
    std::uint32_t serial_ = 0;
    std::string source_;
};

/// Collects RRs (control side), then build()s the StaticZone. Checks on build(): exactly one
/// SOA, at the apex; NS at the apex; every owner inside the zone; CNAME alone at its name
/// (RFC 1034 §3.6.2); a GSLB name (add_gslb_name) holds no static A, AAAA, CNAME, HTTPS or
/// SVCB (the GSLB record answers those); no GSLB name below a delegation. Problems throw
/// config::ConfigError naming the RR's file:line (and the GSLB record's place).
class ZoneBuilder {
  public:
    /// `origin`: the zone's name, lower-case wire.
    explicit ZoneBuilder(std::span<const std::uint8_t> origin);
    /// One RR (owner in wire form, any case; class IN). Identical RRs are kept once; RRs of
    /// one RRset with different TTLs take the smallest (RFC 2181 §5.2).
    void add(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint32_t ttl,
             std::span<const std::uint8_t> rdata, const config::SourcePos& pos);
    /// A GSLB record's name (lower-case wire) and id; `where` its place for errors.
    void add_gslb_name(std::span<const std::uint8_t> name, std::int32_t record,
                       const config::SourcePos& where);
    std::size_t size() const noexcept { return rrs_.size(); }
    std::shared_ptr<const StaticZone> build(std::string source);

  private:
    struct PendingRR {
        std::uint32_t node;
        std::uint16_t type;
        std::uint16_t file;  ///< index into files_
        std::uint32_t ttl;
        std::uint32_t line;
        std::uint64_t data;  ///< offset into rdata_ (16-bit length, then bytes)
    };
    struct PendingNode {
        const std::string* name = nullptr;  ///< the key in index_ (stable)
        std::int32_t gslb = -1;
        config::SourcePos gslb_pos;
    };
    std::uint32_t node_of(const std::uint8_t* lname, std::size_t len);
    config::SourcePos pos_of(const PendingRR& rr) const;

    std::vector<std::uint8_t> origin_;
    std::vector<PendingNode> nodes_;
    /// Looked up by string_view: no std::string is made for a name already known.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, std::uint32_t, NameHash, std::equal_to<>> index_;
    std::vector<PendingRR> rrs_;
    std::vector<std::uint8_t> rdata_;
    std::vector<config::FileName> files_;  ///< a file name per distinct source
};

/// Parses the RFC 1035 master file `path` for zone `origin` (text, "example.com.") with
/// libzscanner ($ORIGIN, $TTL, $INCLUDE, escapes, parentheses, RFC 3597 \# and every type
/// it knows) into `builder`. Errors throw config::ConfigError at the file:line of the
/// problem, with libzscanner's reason. Returns the number of RRs read.
std::size_t read_master_file(const std::string& path, const std::string& origin,
                             ZoneBuilder& builder);

}  // namespace gslbd::zone
