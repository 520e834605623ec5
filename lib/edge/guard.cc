#include "edge/guard.hh"

#include <algorithm>
#include <bit>
#include <cstring>

#include "util/hash.hh"
#include "util/random.hh"

namespace gslbd::edge {

namespace {

std::uint8_t acl_value(config::AclAction a) noexcept {
    switch (a) {
        case config::AclAction::Drop:
            return kAclDrop;
        case config::AclAction::Refuse:
            return kAclRefuse;
        default:
            return kAclAllow;
    }
}

// One random secret per process: a reload builds new rules but must not invalidate cookies.
const std::array<std::uint8_t, 16>& process_secret() {
    static const std::array<std::uint8_t, 16> s = [] {
        std::array<std::uint8_t, 16> k{};
        const std::uint64_t a = util::random_seed(), b = util::random_seed();
        std::memcpy(k.data(), &a, 8);
        std::memcpy(k.data() + 8, &b, 8);
        return k;
    }();
    return s;
}

inline std::uint64_t be64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

inline std::uint64_t keep_high(std::uint64_t w, unsigned bits) noexcept {
    return bits == 0 ? 0 : (bits >= 64 ? w : w & ~(~std::uint64_t{0} >> bits));
}

// The client's prefix as one word (IPv6 prefixes longer than 64 bits folded in).
inline std::uint64_t prefix_word(const util::IpAddr& a, unsigned v4, unsigned v6) noexcept {
    if (a.family == 4) return keep_high(be64(a.bytes.data()) & 0xffffffff00000000ull, v4) | 4;
    const std::uint64_t hi = keep_high(be64(a.bytes.data()), v6);
    const std::uint64_t lo = keep_high(be64(a.bytes.data() + 8), v6 > 64 ? v6 - 64 : 0);
    return util::mix64(hi ^ 6) ^ lo;
}

}  // namespace

std::shared_ptr<const Rules> build_rules(const config::Config& cfg) {
    const config::EdgeConfig& e = cfg.edge;
    auto r = std::make_shared<Rules>();
    r->acl_default = acl_value(e.acl_default);
    for (const auto& rule : e.acl) r->acl.add(rule.prefix, acl_value(rule.action));
    r->acl.freeze();
    r->acl_on = !e.acl.empty() || e.acl_default != config::AclAction::Allow;

    const config::RrlConfig& l = e.rrl;
    r->rrl_on = l.enabled;
    r->rrl_log_only = l.log_only;
    r->rrl_rate = {l.responses_per_second, l.nodata_per_second, l.nxdomains_per_second,
                   l.errors_per_second};
    r->rrl_window = l.window;
    r->rrl_slip = l.slip;
    r->rrl_v4_prefix = l.ipv4_prefix;
    r->rrl_v6_prefix = l.ipv6_prefix;
    for (const auto& p : l.exempt) r->rrl_exempt.add(p, 1);
    r->rrl_exempt.freeze();

    const config::CookieConfig& c = e.cookies;
    r->cookies_on = c.enabled;
    r->cookies_enforce = c.enforce;
    r->secrets.current = c.secret ? *c.secret : process_secret();
    if (c.previous_secret) {
        r->secrets.previous = *c.previous_secret;
        r->secrets.has_previous = true;
    }
    const config::DynBlockConfig& d = e.dynblocks;
    r->dyn.on = d.enabled;
    auto threshold = [](const config::DynBlockRule& x) {
        const BlockAction a = x.action == config::BlockAction::Refuse     ? BlockAction::Refuse
                              : x.action == config::BlockAction::Truncate ? BlockAction::Truncate
                                                                          : BlockAction::Drop;
        return DynThreshold{x.rate, a, x.duration};
    };
    r->dyn.thresholds = {threshold(d.queries), threshold(d.nxdomains), threshold(d.any),
                         threshold(d.response_bytes)};
    r->dyn.window = d.window;
    r->dyn.v4_prefix = d.ipv4_prefix;
    r->dyn.v6_prefix = d.ipv6_prefix;
    for (const auto& p : d.exempt) r->dyn.exempt.add(p, 1);
    r->dyn.exempt.freeze();
    if (!r->acl_on && !r->rrl_on && !r->cookies_on && !r->dyn.on) return nullptr;
    return r;
}

void add_relaxed(Counters& o, const Counters& c) noexcept {
    static_assert(sizeof(Counters) == 128, "a field was added to edge::Counters: sum it below");
    auto add = [](std::uint64_t& d, const std::uint64_t& s) {
        d += __atomic_load_n(&s, __ATOMIC_RELAXED);
    };
    add(o.acl_dropped, c.acl_dropped);
    add(o.acl_refused, c.acl_refused);
    add(o.rrl_dropped, c.rrl_dropped);
    add(o.rrl_slipped, c.rrl_slipped);
    add(o.rrl_would_limit, c.rrl_would_limit);
    add(o.rrl_exempt, c.rrl_exempt);
    add(o.cookie_queries, c.cookie_queries);
    add(o.cookie_valid, c.cookie_valid);
    add(o.badcookie, c.badcookie);
    add(o.dyn_started, c.dyn_started);
    add(o.dyn_exempt, c.dyn_exempt);
    for (std::size_t i = 0; i < kBlockReasons; ++i) add(o.dyn_blocked[i], c.dyn_blocked[i]);
}

Guard::Guard(std::size_t rrl_entries, std::size_t dyn_entries)
    : table_(std::make_unique<Entry[]>(std::bit_ceil(std::max<std::size_t>(64, rrl_entries)))),
      mask_(std::bit_ceil(std::max<std::size_t>(64, rrl_entries)) - 1),
      seed_(util::random_seed()),
      dyn_(dyn_entries) {}

Verdict Guard::rrl(const Rules& r, const util::IpAddr& src, RrlClass cls, std::uint64_t name_key,
                   std::uint32_t now) noexcept {
    const auto c = static_cast<unsigned>(cls);
    const std::int64_t rate = r.rrl_rate[c];
    if (rate == 0) return Verdict::Pass;
    if (!r.rrl_exempt.empty() && r.rrl_exempt.lookup(src) != 0) {
        ++counters.rrl_exempt;
        return Verdict::Pass;
    }
    const std::uint64_t key =
        util::mix64(seed_ ^ prefix_word(src, r.rrl_v4_prefix, r.rrl_v6_prefix) ^
                    util::mix64(name_key + c)) |
        1;

    // Four slots from the hashed one: the account, else a free slot, else the stalest.
    Entry* e = nullptr;
    Entry* victim = nullptr;
    for (std::size_t i = 0; i < 4; ++i) {
        Entry& s = table_[(key + i) & mask_];
        if (s.key == key) {
            e = &s;
            break;
        }
        if (victim == nullptr || s.key == 0 ||
            (victim->key != 0 && static_cast<std::int32_t>(s.last - victim->last) < 0))
            victim = &s;
    }
    std::int64_t balance;
    if (e == nullptr) {
        e = victim;
        e->key = key;
        e->slip = 0;
        balance = rate;
    } else {
        balance = e->balance;
        const auto elapsed = static_cast<std::int32_t>(now - e->last);
        if (elapsed > 0) {
            // Credit accrues at `rate` per second, never above one second's worth.
            balance += std::min<std::int64_t>(elapsed, r.rrl_window + 1) * rate;
            if (balance > rate) balance = rate;
        }
    }
    e->last = now;
    --balance;
    // BIND: the debt is bounded by `window` seconds of the rate, so a class that stops
    // flooding is answered again at most `window` seconds later.
    const std::int64_t floor = -static_cast<std::int64_t>(r.rrl_window) * rate;
    if (balance < floor) balance = floor;
    e->balance = static_cast<std::int32_t>(balance);
    if (balance >= 0) return Verdict::Pass;
    if (r.rrl_log_only) {
        ++counters.rrl_would_limit;
        return Verdict::Pass;
    }
    if (r.rrl_slip != 0 && ++e->slip >= r.rrl_slip) {
        e->slip = 0;
        ++counters.rrl_slipped;
        return Verdict::Slip;
    }
    ++counters.rrl_dropped;
    return Verdict::Drop;
}

namespace {

// Skips a (possibly compressed) name; false when it runs past `len`.
bool skip_name(const std::uint8_t* m, std::size_t len, std::size_t& pos) noexcept {
    while (pos < len) {
        const std::uint8_t b = m[pos];
        if (b == 0) {
            ++pos;
            return true;
        }
        if ((b & 0xC0) == 0xC0) {
            pos += 2;
            return pos <= len;
        }
        if (b > 63) return false;
        pos += 1 + b;
    }
    return false;
}

}  // namespace

std::size_t append_cookie(std::span<std::uint8_t> msg, std::size_t len, const std::uint8_t* client,
                          const std::uint8_t* server) noexcept {
    std::uint8_t* m = msg.data();
    if (len < 12 || len + kCookieOptionLen > msg.size()) return len;
    const unsigned qd = m[4] << 8 | m[5];
    const unsigned rrs = (m[6] << 8 | m[7]) + (m[8] << 8 | m[9]) + (m[10] << 8 | m[11]);
    std::size_t pos = 12;
    for (unsigned i = 0; i < qd; ++i) {
        if (!skip_name(m, len, pos)) return len;
        pos += 4;
    }
    for (unsigned i = 0; i < rrs; ++i) {
        if (!skip_name(m, len, pos) || pos + 10 > len) return len;
        const unsigned type = m[pos] << 8 | m[pos + 1];
        const std::size_t rdlen_at = pos + 8;
        const std::size_t rdlen = m[rdlen_at] << 8 | m[rdlen_at + 1];
        const std::size_t end = pos + 10 + rdlen;
        if (end > len) return len;
        if (type == 41) {
            std::memmove(m + end + kCookieOptionLen, m + end, len - end);
            std::uint8_t* o = m + end;
            o[0] = 0;
            o[1] = 10;  // COOKIE
            o[2] = 0;
            o[3] = kClientCookieLen + kServerCookieLen;
            std::memcpy(o + 4, client, kClientCookieLen);
            std::memcpy(o + 4 + kClientCookieLen, server, kServerCookieLen);
            const std::size_t nl = rdlen + kCookieOptionLen;
            m[rdlen_at] = static_cast<std::uint8_t>(nl >> 8);
            m[rdlen_at + 1] = static_cast<std::uint8_t>(nl);
            return len + kCookieOptionLen;
        }
        pos = end;
    }
    return len;
}

}  // namespace gslbd::edge
