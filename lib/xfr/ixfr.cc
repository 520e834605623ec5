// RFC 1995 §4 answer forms, for a query carrying our SOA with serial B and a primary at N:
//   SOA(N)                                       -> up to date (N == B) or "ask AXFR" (N > B)
//   SOA(N) RR ... SOA(N)                         -> the whole zone (AXFR form)
//   SOA(N) SOA(B) del... SOA(s1) add... SOA(s1) del... SOA(N) add... SOA(N)  -> increments
#include "xfr/ixfr.hh"

#include <unordered_map>

namespace gslbd::xfr {

namespace {

constexpr std::uint16_t kSoa = zone::kTypeSOA;

std::uint32_t serial_of(const zone::Rr& rr) {
    zone::SoaTimers t;
    if (!zone::soa_timers(rr.rdata, t)) throw XfrError("malformed SOA RDATA");
    return t.serial;
}

std::string text_name(const std::string& wire) {
    std::string out;
    std::size_t o = 0;
    while (o < wire.size() && wire[o] != 0) {
        const auto len = static_cast<unsigned char>(wire[o]);
        out.append(wire, o + 1, len);
        out += '.';
        o += len + 1u;
    }
    return out.empty() ? "." : out;
}

// An RR's identity inside an RRset (RFC 2181: TTL is not part of it).
std::string key_of(const zone::Rr& rr) {
    std::string k;
    k.reserve(rr.owner.size() + 3 + rr.rdata.size());
    k += rr.owner;
    k += static_cast<char>(rr.type >> 8);
    k += static_cast<char>(rr.type & 0xff);
    k += rr.rdata;
    return k;
}

std::shared_ptr<zone::Contents> whole_zone(std::span<const zone::Rr> rrs) {
    // AXFR form: SOA(N) ... SOA(N); the closing SOA is the opening one again.
    auto z = std::make_shared<zone::Contents>();
    if (!zone::soa_timers(rrs.front().rdata, z->soa)) throw XfrError("malformed SOA RDATA");
    z->rrs.assign(rrs.begin(), rrs.end() - 1);
    for (std::size_t i = 1; i < z->rrs.size(); ++i)
        if (z->rrs[i].type == kSoa && z->rrs[i].owner == rrs.front().owner)
            throw XfrError("a second SOA inside the zone (RR " + std::to_string(i + 1) + ")");
    return z;
}

}  // namespace

const char* kind_name(Kind k) noexcept {
    switch (k) {
        case Kind::UpToDate:
            return "none";
        case Kind::Axfr:
            return "AXFR";
        case Kind::Ixfr:
            return "IXFR";
        case Kind::NeedAxfr:
            return "AXFR";
    }
    return "?";
}

void StreamEnd::add(const zone::Rr& rr) noexcept {
    ++n_;
    if (done_) {
        done_ = false;  // data after the end: never complete (the reader reports it)
        n_ = static_cast<std::size_t>(-1) / 2;
        return;
    }
    if (rr.type != kSoa) return;
    zone::SoaTimers t;
    if (!zone::soa_timers(rr.rdata, t)) return;
    if (n_ == 1) {
        serial_ = t.serial;
        seen_ = 1;
        return;
    }
    if (n_ == 2) incremental_ = ixfr_;  // SOA second: IXFR increments
    if (t.serial == serial_) ++seen_;
    // AXFR form closes with the second SOA(N); increments with the third (the last
    // increment's "to" SOA, then the closing one).
    if (seen_ == (incremental_ ? 3u : 2u)) done_ = true;
}

bool StreamEnd::complete_at_message_end() const noexcept {
    if (done_) return true;
    return ixfr_ && n_ == 1 && seen_ == 1;  // a single SOA answers an IXFR
}

Result interpret(std::span<const zone::Rr> rrs, const std::string& origin,
                 const zone::Contents* base, bool ixfr) {
    Result res;
    if (rrs.empty()) throw XfrError("empty answer (no SOA)");
    const zone::Rr& first = rrs.front();
    if (first.type != kSoa || first.owner != origin)
        throw XfrError("the answer does not start with the zone's SOA");
    const std::uint32_t to = serial_of(first);
    if (rrs.size() == 1) {
        if (!ixfr) throw XfrError("AXFR answer holds only an SOA (the zone is incomplete)");
        if (base != nullptr && !serial_newer(to, base->soa.serial)) {
            if (to != base->soa.serial)
                throw XfrError("the primary's serial " + std::to_string(to) +
                               " is older than ours (" + std::to_string(base->soa.serial) + ")");
            res.kind = Kind::UpToDate;
        } else {
            res.kind = Kind::NeedAxfr;
        }
        return res;
    }
    const zone::Rr& last = rrs.back();
    if (last.type != kSoa || last.owner != origin || serial_of(last) != to)
        throw XfrError("the answer does not end with the zone's SOA (serial " + std::to_string(to) +
                       "): truncated transfer");
    if (base != nullptr && !serial_newer(to, base->soa.serial))
        throw XfrError("the primary sent serial " + std::to_string(to) + ", not newer than ours (" +
                       std::to_string(base->soa.serial) + "): wrong serial order");

    if (!ixfr || rrs[1].type != kSoa || rrs[1].owner != origin) {
        res.kind = Kind::Axfr;
        res.zone = whole_zone(rrs);
        return res;
    }
    if (base == nullptr) throw XfrError("IXFR increments without a copy to apply them to");

    // Increments, applied to a keyed copy of ours.
    std::unordered_map<std::string, zone::Rr> work;
    work.reserve(base->rrs.size() + 16);
    for (const zone::Rr& rr : base->rrs)
        if (rr.type != kSoa || rr.owner != origin) work.emplace(key_of(rr), rr);
    std::uint32_t at = base->soa.serial;
    std::size_t i = 1;
    const std::size_t end = rrs.size() - 1;  // the closing SOA
    while (i < end) {
        // SOA(from) deletions SOA(next) additions
        const std::uint32_t from = serial_of(rrs[i]);
        if (from != at)
            throw XfrError("increment from serial " + std::to_string(from) + " but ours is " +
                           std::to_string(at));
        ++i;
        while (i < end && !(rrs[i].type == kSoa && rrs[i].owner == origin)) {
            if (work.erase(key_of(rrs[i])) == 0)
                throw XfrError("increment " + std::to_string(from) +
                               " deletes an RR we do not have (" + text_name(rrs[i].owner) +
                               " type " + std::to_string(rrs[i].type) + ")");
            ++res.changes;
            ++i;
        }
        if (i >= end) throw XfrError("increment from " + std::to_string(from) + " has no end SOA");
        const std::uint32_t next = serial_of(rrs[i]);
        if (!serial_newer(next, from))
            throw XfrError("increment goes from serial " + std::to_string(from) + " to " +
                           std::to_string(next) + ": wrong serial order");
        ++i;
        while (i < end && !(rrs[i].type == kSoa && rrs[i].owner == origin)) {
            work.insert_or_assign(key_of(rrs[i]), rrs[i]);
            ++res.changes;
            ++i;
        }
        at = next;
        // the closing SOA comes right after the last increment's additions
        if (i == end) break;
    }
    if (at != to)
        throw XfrError("increments end at serial " + std::to_string(at) + ", not at " +
                       std::to_string(to));
    auto z = std::make_shared<zone::Contents>();
    if (!zone::soa_timers(last.rdata, z->soa)) throw XfrError("malformed SOA RDATA");
    z->rrs.reserve(work.size() + 1);
    z->rrs.push_back(last);
    for (auto& [k, rr] : work) z->rrs.push_back(std::move(rr));
    res.kind = Kind::Ixfr;
    res.zone = std::move(z);
    return res;
}

}  // namespace gslbd::xfr
