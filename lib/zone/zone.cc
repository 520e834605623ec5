#include "zone/zone.hh"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "dns/query.hh"
#include "dns/response.hh"

namespace gslbd::zone {

namespace {

using config::ConfigError;

std::string text_of(const std::uint8_t* wire, std::size_t len) {
    char buf[1024];
    return dns::name_to_text(wire, len, buf, sizeof buf) != 0 ? std::string(buf) : "?";
}

std::string type_text(std::uint16_t t) {
    switch (t) {
        case kTypeA:
            return "A";
        case kTypeNS:
            return "NS";
        case kTypeCNAME:
            return "CNAME";
        case kTypeSOA:
            return "SOA";
        case kTypeAAAA:
            return "AAAA";
        case kTypeDNAME:
            return "DNAME";
        case kTypeSVCB:
            return "SVCB";
        case kTypeHTTPS:
            return "HTTPS";
        default:
            return "TYPE" + std::to_string(t);
    }
}

/// Offsets of the labels of a wire name, first label first; returns their count.
std::size_t label_offsets(const std::uint8_t* name, std::size_t len,
                          std::array<std::uint8_t, 128>& off) noexcept {
    std::size_t n = 0;
    for (std::size_t o = 0; o < len && name[o] != 0 && n < off.size(); o += name[o] + 1u)
        off[n++] = static_cast<std::uint8_t>(o);
    return n;
}

/// Appends the sort key of a lower-case wire name: plain byte order of two keys (memcmp,
/// shorter first) is the RFC 4034 §6.1 canonical order of the names. The labels from the
/// right, octets 0x00/0x01 escaped as 0x01 0x00/0x01, each label ended by 0x00: a label
/// sorts before any longer label it is a prefix of, an ancestor before its descendants.
void append_canonical_key(std::string_view name, std::string& out) {
    std::array<std::uint8_t, 128> off;
    const auto* p = reinterpret_cast<const std::uint8_t*>(name.data());
    for (std::size_t n = label_offsets(p, name.size(), off); n > 0; --n) {
        const std::uint8_t* l = p + off[n - 1];
        for (std::size_t i = 1; i <= l[0]; ++i) {
            if (l[i] <= 1) out.push_back('\x01');
            out.push_back(static_cast<char>(l[i]));
        }
        out.push_back('\0');
    }
}

bool below(std::string_view name, std::string_view zone) noexcept {
    if (name.size() < zone.size()) return false;
    for (std::size_t o = 0; o < name.size(); o += static_cast<std::uint8_t>(name[o]) + 1u) {
        if (name.size() - o == zone.size()) return name.substr(o) == zone;
        if (name[o] == 0) break;
    }
    return false;
}

}  // namespace

Lookup StaticZone::resolve(const std::uint8_t* lname, std::size_t len,
                           std::uint64_t hash) const noexcept {
    Lookup l;
    const Node* n = find(lname, len, hash);
    l.exact = n != nullptr;
    // Closest encloser: strip labels until a node exists (the apex always does).
    for (std::size_t o = 0; n == nullptr && o < len && lname[o] != 0;) {
        o += lname[o] + 1u;
        n = find(lname + o, len - o, dns::name_hash(lname + o, len - o));
    }
    if (n == nullptr) n = &nodes_[apex_];  // a name outside the zone: the caller's bug
    l.node = n;
    l.encloser = n;
    if (n->cut >= 0) {
        l.match = Match::Referral;
        l.cut = &nodes_[static_cast<std::size_t>(n->cut)];
        return l;
    }
    if (l.exact) {
        l.match = Match::Exact;
    } else if (n->wild >= 0) {
        l.match = Match::Wildcard;
        l.node = &nodes_[static_cast<std::size_t>(n->wild)];
    } else {
        l.match = Match::NxDomain;
    }
    return l;
}

std::size_t StaticZone::memory_bytes() const noexcept {
    return nodes_.capacity() * sizeof(Node) + rrsets_.capacity() * sizeof(RRset) +
           names_.capacity() + rdata_.capacity() + slots_.capacity() * sizeof(std::uint32_t);
}

ZoneBuilder::ZoneBuilder(std::span<const std::uint8_t> origin)
    : origin_(origin.begin(), origin.end()) {
    node_of(origin_.data(), origin_.size());
}

std::uint32_t ZoneBuilder::node_of(const std::uint8_t* lname, std::size_t len) {
    const std::string_view key(reinterpret_cast<const char*>(lname), len);
    if (auto found = index_.find(key); found != index_.end()) return found->second;
    auto [it, added] =
        index_.try_emplace(std::string(key), static_cast<std::uint32_t>(nodes_.size()));
    if (added) {
        PendingNode pn;
        pn.name = &it->first;
        nodes_.push_back(pn);
        // Every ancestor up to the apex is a node (an empty non-terminal when it has no data).
        if (len > origin_.size()) node_of(lname + lname[0] + 1, len - lname[0] - 1u);
    }
    return it->second;
}

config::SourcePos ZoneBuilder::pos_of(const PendingRR& rr) const {
    return config::SourcePos{files_[rr.file], static_cast<int>(rr.line), 0};
}

void ZoneBuilder::add(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint32_t ttl,
                      std::span<const std::uint8_t> rdata, const config::SourcePos& pos) {
    std::array<std::uint8_t, dns::kMaxNameWire> lower;
    if (owner.empty() || owner.size() > lower.size()) throw ConfigError(pos, "", "bad owner name");
    dns::lower_name(owner.data(), lower.data(), owner.size());
    const std::string_view lv(reinterpret_cast<const char*>(lower.data()), owner.size());
    const std::string_view ov(reinterpret_cast<const char*>(origin_.data()), origin_.size());
    if (!below(lv, ov)) {
        throw ConfigError(pos, "",
                          "owner " + text_of(lower.data(), owner.size()) + " is outside the zone " +
                              text_of(origin_.data(), origin_.size()));
    }
    if (rdata.size() > 65535) throw ConfigError(pos, "", "RDATA longer than 65535 bytes");
    // files_ holds the main file and its $INCLUDEs: a handful
    std::uint16_t file = 0;
    while (file < files_.size() && !(files_[file] == pos.file)) ++file;
    if (file == files_.size()) files_.push_back(pos.file);
    PendingRR rr;
    rr.node = node_of(lower.data(), owner.size());
    rr.type = type;
    rr.file = file;
    rr.ttl = ttl;
    rr.line = static_cast<std::uint32_t>(pos.line);
    rr.data = rdata_.size();
    rdata_.push_back(static_cast<std::uint8_t>(rdata.size() >> 8));
    rdata_.push_back(static_cast<std::uint8_t>(rdata.size()));
    rdata_.insert(rdata_.end(), rdata.begin(), rdata.end());
    rrs_.push_back(rr);
}

void ZoneBuilder::add_gslb_name(std::span<const std::uint8_t> name, std::int32_t record,
                                const config::SourcePos& where) {
    const std::uint32_t n = node_of(name.data(), name.size());
    nodes_[n].gslb = record;
    nodes_[n].gslb_pos = where;
}

std::shared_ptr<const StaticZone> ZoneBuilder::build(std::string source) {
    auto z = std::make_shared<StaticZone>();
    z->source_ = std::move(source);
    const std::string origin_text = text_of(origin_.data(), origin_.size());

    // Canonical order of the nodes; `order[new] = old`, `rank[old] = new`.
    // Sorted by a byte key made once per node: comparing the names label by label from the
    // right in every comparison was most of the load time of a zone of a million names.
    std::string keys;
    std::vector<std::uint32_t> key_at(nodes_.size() + 1);
    for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
        key_at[i] = static_cast<std::uint32_t>(keys.size());
        append_canonical_key(*nodes_[i].name, keys);
    }
    key_at[nodes_.size()] = static_cast<std::uint32_t>(keys.size());
    auto key = [&](std::uint32_t i) {
        return std::string_view(keys).substr(key_at[i], key_at[i + 1] - key_at[i]);
    };
    std::vector<std::uint32_t> order(nodes_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return key(a) < key(b); });
    std::vector<std::uint32_t> rank(nodes_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;

    // RRs grouped by node (canonical order), then type, then RDATA (duplicates dropped).
    auto rdata_of = [&](const PendingRR& r) {
        const std::uint8_t* p = rdata_.data() + r.data;
        return std::string_view(reinterpret_cast<const char*>(p + 2),
                                static_cast<std::size_t>((p[0] << 8) | p[1]));
    };
    std::sort(rrs_.begin(), rrs_.end(), [&](const PendingRR& a, const PendingRR& b) {
        if (a.node != b.node) return rank[a.node] < rank[b.node];
        if (a.type != b.type) return a.type < b.type;
        return rdata_of(a) < rdata_of(b);
    });

    std::size_t names_bytes = 0;
    for (const auto& n : nodes_) names_bytes += n.name->size();
    z->names_.reserve(names_bytes);
    z->nodes_.resize(nodes_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        const PendingNode& pn = nodes_[order[i]];
        Node& n = z->nodes_[i];
        n.name = static_cast<std::uint32_t>(z->names_.size());
        n.len = static_cast<std::uint8_t>(pn.name->size());
        z->names_.insert(z->names_.end(), pn.name->begin(), pn.name->end());
        n.hash = dns::name_hash(z->names_.data() + n.name, n.len);
        n.gslb = pn.gslb;
    }
    z->apex_ = rank[0];
    z->nodes_[z->apex_].flags |= kApex;

    // RRsets and their RDATA arena.
    std::size_t data_bytes = 0;
    for (const auto& r : rrs_) data_bytes += 2 + rdata_of(r).size();
    z->rdata_.reserve(data_bytes);
    const PendingRR* soa = nullptr;
    for (std::size_t i = 0; i < rrs_.size();) {
        const PendingRR& head = rrs_[i];
        const std::uint32_t node = rank[head.node];
        Node& n = z->nodes_[node];
        if (n.nrr == 0) n.rr = static_cast<std::uint32_t>(z->rrsets_.size());
        RRset s;
        s.type = head.type;
        s.ttl = head.ttl;
        s.data = static_cast<std::uint32_t>(z->rdata_.size());
        std::string_view last;
        for (; i < rrs_.size() && rrs_[i].node == head.node && rrs_[i].type == head.type; ++i) {
            const std::string_view d = rdata_of(rrs_[i]);
            if (s.count != 0 && d == last) continue;
            if (s.count == 0xffff) throw ConfigError(pos_of(head), "", "RRset too large");
            last = d;
            s.ttl = std::min(s.ttl, rrs_[i].ttl);
            z->rdata_.push_back(static_cast<std::uint8_t>(d.size() >> 8));
            z->rdata_.push_back(static_cast<std::uint8_t>(d.size()));
            z->rdata_.insert(z->rdata_.end(), d.begin(), d.end());
            ++s.count;
            ++z->rr_count_;
        }
        if (s.type == kTypeSOA) {
            if (node != z->apex_)
                throw ConfigError(pos_of(head), "",
                                  "SOA at " + text_of(z->names_.data() + n.name, n.len) +
                                      ", not at the zone's apex " + origin_text);
            if (s.count != 1) throw ConfigError(pos_of(head), "", "more than one SOA record");
            soa = &head;
        }
        z->rrsets_.push_back(s);
        ++n.nrr;
    }

    // Per node: CNAME alone, GSLB names without the types the GSLB record answers.
    std::size_t rr_index = 0;
    for (std::uint32_t i = 0; i < z->nodes_.size(); ++i) {
        Node& n = z->nodes_[i];
        const std::string owner =
            n.nrr != 0 || n.gslb >= 0 ? text_of(z->names_.data() + n.name, n.len) : "";
        const PendingNode& pn = nodes_[order[i]];
        for (std::uint16_t k = 0; k < n.nrr; ++k) {
            const RRset& s = z->rrsets_[n.rr + k];
            // the RR for errors: find the first pending RR of this set
            while (rr_index < rrs_.size() &&
                   (rank[rrs_[rr_index].node] < i ||
                    (rank[rrs_[rr_index].node] == i && rrs_[rr_index].type < s.type)))
                ++rr_index;
            const config::SourcePos at =
                rr_index < rrs_.size() ? pos_of(rrs_[rr_index]) : config::SourcePos{};
            if (s.type == kTypeCNAME && n.nrr > 1)
                throw ConfigError(at, "",
                                  "CNAME at " + owner +
                                      " beside other data (RFC 1034 §3.6.2: a CNAME stands alone)");
            if (s.type == kTypeCNAME && (n.flags & kApex) != 0)
                throw ConfigError(at, "", "CNAME at the zone's apex " + owner);
            if (n.gslb >= 0 && (s.type == kTypeA || s.type == kTypeAAAA || s.type == kTypeCNAME ||
                                s.type == kTypeHTTPS || s.type == kTypeSVCB)) {
                throw ConfigError(at, "",
                                  "static " + type_text(s.type) + " at " + owner +
                                      ", which is the GSLB record at " + pn.gslb_pos.to_string() +
                                      " (the GSLB record answers " + type_text(s.type) +
                                      "; remove one of them)");
            }
        }
    }
    if (soa == nullptr)
        throw ConfigError(
            config::SourcePos{files_.empty() ? config::FileName(z->source_) : files_.front(), 0, 0},
            "", "the zone " + origin_text + " has no SOA record at its apex");
    if (z->rrset(z->nodes_[z->apex_], kTypeNS) == nullptr)
        throw ConfigError(pos_of(*soa), "",
                          "the zone " + origin_text + " has no NS records at its apex");
    {
        const RRset& s = *z->rrset(z->nodes_[z->apex_], kTypeSOA);
        const Rdata r = z->first(s);
        // serial: after the two names
        std::size_t o = 0;
        for (int k = 0; k < 2; ++k) {
            while (o < r.len && r.data[o] != 0) o += r.data[o] + 1u;
            ++o;
        }
        if (o + 20 > r.len) throw ConfigError(pos_of(*soa), "", "malformed SOA");
        z->serial_ = (std::uint32_t{r.data[o]} << 24) | (std::uint32_t{r.data[o + 1]} << 16) |
                     (std::uint32_t{r.data[o + 2]} << 8) | r.data[o + 3];
    }

    // The index, then delegations and wildcards (which need it).
    std::size_t cap = 16;
    while (cap < 2 * z->nodes_.size()) cap <<= 1;
    z->slots_.assign(cap, 0);
    z->mask_ = cap - 1;
    for (std::uint32_t i = 0; i < z->nodes_.size(); ++i) {
        for (std::size_t k = z->nodes_[i].hash & z->mask_;; k = (k + 1) & z->mask_) {
            if (z->slots_[k] == 0) {
                z->slots_[k] = i + 1;
                break;
            }
        }
    }
    for (std::uint32_t i = 0; i < z->nodes_.size(); ++i) {
        Node& n = z->nodes_[i];
        const std::uint8_t* name = z->names_.data() + n.name;
        if (n.len > origin_.size() && name[0] == 1 && name[1] == '*') {
            const Node* parent =
                z->find(name + 2, n.len - 2u, dns::name_hash(name + 2, n.len - 2u));
            if (parent != nullptr)
                z->nodes_[static_cast<std::size_t>(parent - z->nodes_.data())].wild =
                    static_cast<std::int32_t>(i);
        }
        // the topmost NS-holding ancestor-or-self below the apex
        for (std::size_t o = 0; n.len - o > origin_.size(); o += name[o] + 1u) {
            const Node* a = z->find(name + o, n.len - o, dns::name_hash(name + o, n.len - o));
            if (a != nullptr && z->rrset(*a, kTypeNS) != nullptr)
                n.cut = static_cast<std::int32_t>(a - z->nodes_.data());
        }
        if (n.cut >= 0 && n.gslb >= 0) {
            throw ConfigError(nodes_[order[i]].gslb_pos, "name",
                              "GSLB record " + text_of(name, n.len) +
                                  " lies at or below a delegation (NS records in " +
                                  (z->source_.empty() ? std::string("the zone data") : z->source_) +
                                  ")");
        }
    }
    return z;
}

}  // namespace gslbd::zone
