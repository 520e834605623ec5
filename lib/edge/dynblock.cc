#include "edge/dynblock.hh"

#include <time.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>

#include "util/hash.hh"
#include "util/log.hh"
#include "util/random.hh"

namespace gslbd::edge {

const char* to_string(BlockReason r) noexcept {
    switch (r) {
        case BlockReason::Queries:
            return "queries";
        case BlockReason::NxDomain:
            return "nxdomain";
        case BlockReason::Any:
            return "any";
        case BlockReason::Bytes:
            return "bytes";
    }
    return "?";
}

const char* to_string(BlockAction a) noexcept {
    switch (a) {
        case BlockAction::Pass:
            return "pass";
        case BlockAction::Drop:
            return "drop";
        case BlockAction::Refuse:
            return "refuse";
        case BlockAction::Truncate:
            return "truncate";
    }
    return "?";
}

namespace {

// The slot fields the control side writes (until, lift) or reads while the worker runs go
// through relaxed atomics on both sides: plain moves on x86, and no data race.
template <typename T>
inline T ld(const T& v) noexcept {
    return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
template <typename T>
inline void st(T& v, T x) noexcept {
    __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}

inline std::uint64_t prefix_word(const util::IpAddr& a, unsigned len) noexcept {
    std::uint64_t w;
    std::memcpy(&w, a.bytes.data(), 8);
    w = __builtin_bswap64(w);
    if (a.family == 4) w &= 0xffffffff00000000ull;
    return len == 0 ? 0 : w & ~(~std::uint64_t{0} >> len);
}

inline bool active(const DynSlot& s, std::uint32_t now) noexcept {
    const std::uint32_t until = ld(s.until);
    return until != 0 && static_cast<std::int32_t>(now - until) < 0;
}

inline std::uint32_t sat_add(std::uint32_t a, std::size_t b) noexcept {
    const std::uint64_t s = std::uint64_t{a} + b;
    return s > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(s);
}

struct PrefixKey {
    std::uint8_t family, len;
    std::uint64_t word;
    auto operator<=>(const PrefixKey&) const = default;
};

util::IpPrefix to_prefix(std::uint8_t family, std::uint8_t len, std::uint64_t word) {
    util::IpPrefix p;
    p.addr.family = family;
    const std::uint64_t be = __builtin_bswap64(word);
    std::memcpy(p.addr.bytes.data(), &be, family == 4 ? 4 : 8);
    p.len = len;
    return p;
}

std::uint32_t mono_now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint32_t>(ts.tv_sec);
}

}  // namespace

DynTable::DynTable(std::size_t entries)
    : table_(std::make_unique<DynSlot[]>(std::bit_ceil(std::max<std::size_t>(64, entries)))),
      mask_(std::bit_ceil(std::max<std::size_t>(64, entries)) - 1),
      seed_(util::random_seed()) {
    BlockBoard::instance().add(this);
}

DynTable::~DynTable() {
    BlockBoard::instance().remove(this);
}

DynSlot* DynTable::find(const DynRules& r, const util::IpAddr& src, std::uint32_t now) noexcept {
    if (!r.exempt.empty() && r.exempt.lookup(src) != 0) return nullptr;
    const std::uint8_t len = src.family == 4 ? r.v4_prefix : r.v6_prefix;
    const std::uint64_t word = prefix_word(src, len);
    const std::uint64_t h = util::mix64(seed_ ^ word ^ (std::uint64_t{src.family} << 8 | len));

    // Four slots from the hashed one: the account, else a free slot, else the stalest slot
    // that blocks nobody (a flood of new prefixes must not push a block out), else the
    // stalest.
    DynSlot* s = nullptr;
    DynSlot* victim = nullptr;
    for (std::size_t i = 0; i < 4; ++i) {
        DynSlot& c = table_[(h + i) & mask_];
        if (c.word == word && c.family == src.family && c.len == len) {
            s = &c;
            break;
        }
        if (victim == nullptr) {
            victim = &c;
            continue;
        }
        if (victim->family == 0) continue;
        const bool vb = active(*victim, now), cb = active(c, now);
        if (c.family == 0 || (vb && !cb) ||
            (vb == cb && static_cast<std::int32_t>(c.last - victim->last) < 0))
            victim = &c;
    }
    if (s == nullptr) {
        s = victim;
        s->word = word;
        s->family = src.family;
        s->len = len;
        s->block = 0;
        st(s->lift, std::uint8_t{0});
        st(s->until, std::uint32_t{0});
        s->since = s->blocked = 0;
        s->bucket = now;
        s->cur = {};
        s->prev = {};
    } else if (ld(s->lift) != 0) [[unlikely]] {
        // A block this worker started between the lift and now came from the counts the lift
        // forgets (the query that read them raced the lift): it goes with them.
        st(s->until, std::uint32_t{0});
        s->cur = {};
        s->prev = {};
        s->bucket = now;
        st(s->lift, std::uint8_t{0});
    } else {
        const auto age = static_cast<std::int32_t>(now - s->bucket);
        const auto w = static_cast<std::int32_t>(r.window);
        if (age >= 2 * w) {
            s->prev = {};
            s->cur = {};
            s->bucket = now;
        } else if (age >= w) {
            s->prev = s->cur;
            s->cur = {};
            s->bucket += r.window;
        }
    }
    s->last = now;
    return s;
}

void DynTable::check(const DynRules& r, DynSlot& s, std::uint32_t now, std::uint64_t& started,
                     unsigned which) noexcept {
    const std::uint64_t w = r.window;
    const auto age = static_cast<std::int32_t>(now - s.bucket);
    // The part of the previous bucket still inside the window, counting the current second
    // as whole: a steady rate just below the threshold never trips it.
    const std::int64_t left = static_cast<std::int64_t>(w) - 1 - std::max<std::int32_t>(age, 0);
    const std::uint64_t prev_weight = left > 0 ? static_cast<std::uint64_t>(left) : 0;
    for (std::size_t i = 0; i < kBlockReasons; ++i) {
        const DynThreshold& t = r.thresholds[i];
        if ((which >> i & 1) == 0 || t.rate == 0) continue;
        // estimate × window = prev × weight + cur × window, against rate × window².
        if (std::uint64_t{s.prev[i]} * prev_weight + std::uint64_t{s.cur[i]} * w <=
            std::uint64_t{t.rate} * w * w)
            continue;
        s.block = static_cast<std::uint8_t>(i | static_cast<unsigned>(t.action) << 4);
        s.since = now;
        s.blocked = 0;
        st(s.until, now + std::max<std::uint32_t>(1, t.duration));
        ++started;
        return;
    }
}

BlockAction DynTable::query(const DynRules& r, DynSlot& s, bool any, bool tcp, std::uint32_t now,
                            std::uint64_t& started,
                            std::array<std::uint64_t, kBlockReasons>& blocked) noexcept {
    // Blocked queries count too: a flood that outlasts its block is blocked again at once.
    s.cur[0] = sat_add(s.cur[0], 1);
    if (any) s.cur[2] = sat_add(s.cur[2], 1);
    if (!active(s, now)) {
        // Only the counts that grew can newly exceed their threshold: the estimate of the
        // others only falls as time passes.
        check(r, s, now, started, any ? 1u << 0 | 1u << 2 : 1u << 0);
        if (!active(s, now)) return BlockAction::Pass;
    }
    const auto action = static_cast<BlockAction>(s.block >> 4);
    if (action == BlockAction::Truncate && tcp) return BlockAction::Pass;
    ++s.blocked;
    ++blocked[s.block & 3];
    return action;
}

void DynTable::response(const DynRules& r, DynSlot& s, bool nxdomain, std::size_t bytes,
                        std::uint32_t now, std::uint64_t& started) noexcept {
    if (nxdomain) s.cur[1] = sat_add(s.cur[1], 1);
    s.cur[3] = sat_add(s.cur[3], bytes);
    if (!active(s, now)) check(r, s, now, started, (nxdomain ? 1u << 1 : 0u) | 1u << 3);
}

BlockBoard& BlockBoard::instance() {
    static BlockBoard board;
    return board;
}

void BlockBoard::add(DynTable* t) {
    std::lock_guard lk(mu_);
    tables_.push_back(t);
    shadows_.emplace_back(t->size());
}

void BlockBoard::remove(DynTable* t) {
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < tables_.size(); ++i) {
        if (tables_[i] != t) continue;
        tables_.erase(tables_.begin() + static_cast<std::ptrdiff_t>(i));
        shadows_.erase(shadows_.begin() + static_cast<std::ptrdiff_t>(i));
        return;
    }
}

std::uint64_t BlockBoard::logged_starts() const {
    std::lock_guard lk(mu_);
    return logged_starts_;
}

namespace {

std::map<PrefixKey, BlockInfo> merged(const std::vector<DynTable*>& tables, std::uint32_t now) {
    std::map<PrefixKey, BlockInfo> out;
    for (const DynTable* t : tables) {
        for (std::size_t i = 0; i < t->size(); ++i) {
            const DynSlot& s = t->slot(i);
            if (ld(s.family) == 0 || !active(s, now)) continue;
            const PrefixKey k{ld(s.family), ld(s.len), ld(s.word)};
            const std::uint8_t block = ld(s.block);
            const std::uint32_t since = ld(s.since), until = ld(s.until);
            auto [it, fresh] = out.try_emplace(k);
            BlockInfo& b = it->second;
            if (fresh || static_cast<std::int32_t>(since - b.since) < 0) {
                b.since = since;
                b.reason = static_cast<BlockReason>(block & 3);
                b.action = static_cast<BlockAction>(block >> 4);
            }
            if (fresh) b.prefix = to_prefix(k.family, k.len, k.word);
            if (fresh || static_cast<std::int32_t>(until - b.until) > 0) b.until = until;
            b.blocked += ld(s.blocked);
            ++b.workers;
        }
    }
    return out;
}

}  // namespace

std::vector<BlockInfo> BlockBoard::list(std::uint32_t now) const {
    std::lock_guard lk(mu_);
    std::vector<BlockInfo> out;
    for (auto& [k, b] : merged(tables_, now)) out.push_back(b);
    std::sort(out.begin(), out.end(), [](const BlockInfo& a, const BlockInfo& b) {
        return a.prefix.to_string() < b.prefix.to_string();
    });
    return out;
}

std::size_t BlockBoard::lift(const std::optional<util::IpPrefix>& prefix, const std::string& by,
                             std::uint32_t now) {
    std::lock_guard lk(mu_);
    std::map<PrefixKey, std::uint64_t> lifted;
    for (DynTable* t : tables_) {
        for (std::size_t i = 0; i < t->size(); ++i) {
            DynSlot& s = t->slot(i);
            const std::uint8_t family = ld(s.family);
            if (family == 0) continue;
            const PrefixKey k{family, ld(s.len), ld(s.word)};
            if (prefix && !(prefix->addr.family == family && prefix->len == k.len &&
                            to_prefix(k.family, k.len, k.word) == *prefix))
                continue;
            const bool was = active(s, now);
            if (was) lifted[k] += ld(s.blocked);
            // The worker forgets the counts at its next query from the prefix.
            st(s.until, std::uint32_t{0});
            st(s.lift, std::uint8_t{1});
        }
    }
    for (const auto& [k, n] : lifted) {
        // a named copy: clang 14 cannot capture a structured binding in a lambda
        const auto prefix = to_prefix(k.family, k.len, k.word);
        util::log_info("dynamic block lifted by {}: {} ({} queries blocked)", by,
                       prefix.to_string(), n);
        std::erase_if(seen_, [&](const BlockInfo& b) { return b.prefix == prefix; });
    }
    return lifted.size();
}

std::size_t BlockBoard::scan(std::uint32_t now) {
    std::lock_guard lk(mu_);
    const auto now_in = merged(tables_, now);
    std::vector<BlockInfo> next;
    for (const auto& entry : now_in) {
        const BlockInfo& b = entry.second;
        const bool known = std::any_of(seen_.begin(), seen_.end(), [&](const BlockInfo& o) {
            return o.prefix == b.prefix && o.since == b.since;
        });
        if (!known) {
            util::log_warn("dynamic block: {} {} for {} s ({} rate exceeded)", b.prefix.to_string(),
                           to_string(b.action), b.until - b.since, to_string(b.reason));
            ++logged_starts_;
        }
        next.push_back(b);
    }
    // Every slot's block is accounted for once: one in force now is part of a merged block
    // logged above; one that ended is part of a block the last scan saw (its end is logged
    // below), or else it started and ended since that scan and has never been logged.
    std::map<PrefixKey, BlockInfo> short_blocks;
    for (std::size_t ti = 0; ti < tables_.size(); ++ti) {
        const DynTable& t = *tables_[ti];
        std::vector<Shadow>& shadow = shadows_[ti];
        for (std::size_t i = 0; i < t.size() && i < shadow.size(); ++i) {
            const DynSlot& s = t.slot(i);
            const std::uint32_t until = ld(s.until);
            if (until == 0 || ld(s.family) == 0) continue;
            const std::uint64_t word = ld(s.word);
            const std::uint32_t since = ld(s.since);
            Shadow& sh = shadow[i];
            if (sh.seen && sh.word == word && sh.since == since) continue;
            sh = Shadow{word, since, true};
            const PrefixKey k{ld(s.family), ld(s.len), word};
            const util::IpPrefix prefix = to_prefix(k.family, k.len, k.word);
            const bool logged = now_in.contains(k) ||
                                std::any_of(seen_.begin(), seen_.end(),
                                            [&](const BlockInfo& o) { return o.prefix == prefix; });
            if (logged || active(s, now)) continue;
            auto [it, fresh] = short_blocks.try_emplace(k);
            BlockInfo& b = it->second;
            const std::uint8_t block = ld(s.block);
            if (fresh) {
                b.prefix = prefix;
                b.since = since;
                b.until = until;
                b.reason = static_cast<BlockReason>(block & 3);
                b.action = static_cast<BlockAction>(block >> 4);
            }
            b.blocked += ld(s.blocked);
        }
    }
    for (const auto& [k, b] : short_blocks) {
        util::log_warn("dynamic block: {} {} for {} s ({} rate exceeded)", b.prefix.to_string(),
                       to_string(b.action), b.until - b.since, to_string(b.reason));
        util::log_info("dynamic block ended: {} ({} queries blocked)", b.prefix.to_string(),
                       b.blocked);
        ++logged_starts_;
    }
    for (const BlockInfo& o : seen_) {
        const bool still = std::any_of(next.begin(), next.end(), [&](const BlockInfo& b) {
            return b.prefix == o.prefix && b.since == o.since;
        });
        if (!still)
            util::log_info("dynamic block ended: {} ({} queries blocked)", o.prefix.to_string(),
                           o.blocked);
    }
    seen_ = std::move(next);
    return seen_.size();
}

struct BlockWatch::Impl {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;
};

BlockWatch::BlockWatch(std::function<std::uint64_t()> rrl_would_limit)
    : impl_(std::make_unique<Impl>()) {
    impl_->thread = std::thread([i = impl_.get(), would = std::move(rrl_would_limit)] {
        using Clock = std::chrono::steady_clock;
        std::uint64_t logged = would ? would() : 0;
        Clock::time_point last_log = Clock::now() - std::chrono::seconds(10);
        unsigned tick = 0;
        std::unique_lock lk(i->mu);
        while (!i->cv.wait_for(lk, std::chrono::milliseconds(250), [i] { return i->stop; })) {
            lk.unlock();
            BlockBoard::instance().scan(mono_now());
            // Log-only RRL is for sizing the rates: say how much would have been limited,
            // the first time at once, then in 10 s summaries.
            if (would && ++tick % 4 == 0) {
                const std::uint64_t n = would();
                const Clock::time_point t = Clock::now();
                if (n > logged && t - last_log >= std::chrono::seconds(10)) {
                    util::log_warn(
                        "RRL log-only: {} responses over the rate since the last report ({} in "
                        "all), none limited",
                        n - logged, n);
                    logged = n;
                    last_log = t;
                }
            }
            lk.lock();
        }
    });
}

BlockWatch::~BlockWatch() {
    {
        std::lock_guard lk(impl_->mu);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    impl_->thread.join();
}

}  // namespace gslbd::edge
