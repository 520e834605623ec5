#include "xfr/secondary.hh"

#include "dns/query.hh"
#include "dns/response.hh"
#include "util/log.hh"
#include "xfr/disk.hh"

namespace gslbd::xfr {

namespace {

using Steady = std::chrono::steady_clock;
using System = std::chrono::system_clock;
using std::chrono::seconds;

// Floors and caps on the SOA timers (Knot's refresh-min/max-interval do the same): a primary
// with refresh 0 must not make us ask in a tight loop.
constexpr std::uint32_t kMinTimer = 1, kMaxTimer = 86400;
// Without any copy: ask again this soon.
constexpr seconds kEmptyRetry{5};

seconds timer(std::uint32_t v) {
    return seconds(std::clamp(v, kMinTimer, kMaxTimer));
}

std::string rcode_name(std::uint16_t rc) {
    static const char* const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    return rc < std::size(names) ? names[rc] : "rcode " + std::to_string(rc);
}

}  // namespace

Secondary::Secondary(Installer install, Limits limits)
    : install_(std::move(install)), limits_(limits) {}

Secondary::~Secondary() {
    stop();
}

std::shared_ptr<const zone::Secondaries> Secondary::set_config(const config::Config& cfg) {
    std::map<std::string, std::shared_ptr<TsigKey>> keys;
    for (const auto& k : cfg.tsig_keys) {
        try {
            keys.emplace(k.name, std::make_shared<TsigKey>(k));
        } catch (const XfrError& e) {
            util::log_error("secondary: {} (transfers with this key will fail)", e.what());
        }
    }
    auto out = std::make_shared<zone::Secondaries>();
    std::lock_guard lock(mu_);
    const bool first = !configured_;  // at start-up the caller builds with what we return
    configured_ = true;
    keys_ = std::move(keys);
    dir_ = cfg.secondary_dir;
    std::vector<std::shared_ptr<Zone>> next;
    for (const auto& zc : cfg.zones) {
        if (zc.primaries.empty()) continue;
        std::shared_ptr<Zone> z;
        for (const auto& old : zones_)
            if (old->cfg->name == zc.name) z = old;
        auto c = std::make_shared<const config::Zone>(zc);
        if (z != nullptr) {
            bool same = z->cfg->primaries.size() == c->primaries.size();
            for (std::size_t i = 0; same && i < c->primaries.size(); ++i)
                same = c->primaries[i].text == z->cfg->primaries[i].text &&
                       c->primaries[i].key == z->cfg->primaries[i].key;
            z->cfg = c;
            if (!same) z->due = Steady::now();
        } else {
            z = std::make_shared<Zone>();
            z->cfg = c;
            std::uint8_t wire[dns::kMaxNameWire];
            const std::size_t n = dns::name_from_text(zc.name, wire);
            z->origin.assign(reinterpret_cast<const char*>(wire), n);
            z->hash = dns::name_hash(wire, n);
            z->notify_seen = zone::notify_board().count(z->hash);
            z->st.zone = zc.name;
            z->due = Steady::now();
            try {
                if (auto d = read_copy(dir_, zc.name)) {
                    z->data = std::make_shared<const zone::Contents>(std::move(d->zone));
                    const auto age = System::now() - d->refreshed;
                    z->expire_at = Steady::now() - age + timer(z->data->soa.expire);
                    z->has_expire = true;
                    z->st.loaded = true;
                    z->st.serial = z->data->soa.serial;
                    z->st.last_kind = "disk";
                    z->st.last_check = d->refreshed;
                    z->st.expired = Steady::now() >= z->expire_at;
                    z->pending = !first;
                    z->written = Steady::now() - age;
                    util::log_info(
                        "zone {}: serial {} from the disk copy {} ({} RRs{})", zc.name,
                        z->data->soa.serial, copy_path(dir_, zc.name), z->data->rrs.size(),
                        z->st.expired ? "; EXPIRED: SERVFAIL until a primary answers" : "");
                }
            } catch (const XfrError& e) {
                util::log_error("zone {}: the disk copy is not used: {}", zc.name, e.what());
                z->st.last_error = e.what();
            }
        }
        if (z->data != nullptr) (*out)[zc.name] = zone::Transferred{z->data, z->st.expired};
        next.push_back(std::move(z));
    }
    zones_ = std::move(next);
    wake_ = true;
    cv_.notify_all();
    return out;
}

void Secondary::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void Secondary::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

std::vector<Secondary::Status> Secondary::status() const {
    std::lock_guard lock(mu_);
    std::vector<Status> out;
    const auto sys = System::now();
    const auto now = Steady::now();
    for (const auto& z : zones_) {
        Status s = z->st;
        s.next_check = sys + std::chrono::duration_cast<System::duration>(z->due - now);
        if (z->has_expire)
            s.expires = sys + std::chrono::duration_cast<System::duration>(z->expire_at - now);
        out.push_back(std::move(s));
    }
    return out;
}

void Secondary::run() {
    while (!stop_) {
        std::vector<std::shared_ptr<Zone>> list;
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return wake_ || stop_; });
            wake_ = false;
            list = zones_;
        }
        for (const auto& z : list) {
            if (stop_) return;
            bool due = false, pending = false;
            {
                std::lock_guard lock(mu_);
                const std::uint32_t n = zone::notify_board().count(z->hash);
                if (n != z->notify_seen) {
                    z->notify_seen = n;
                    ++z->st.notifies;
                    due = true;
                    util::log_info("zone {}: NOTIFY from a primary: checking now", z->st.zone);
                }
                due = due || Steady::now() >= z->due;
                pending = z->pending;
                z->pending = false;
            }
            if (pending) {
                const std::string err = install_(z->st.zone, {z->data, z->st.expired});
                if (!err.empty())
                    util::log_error("zone {}: the disk copy is refused: {}", z->st.zone, err);
            }
            if (due) refresh(*z);
            bool expire_now = false;
            {
                std::lock_guard lock(mu_);
                expire_now = z->data != nullptr && z->has_expire && !z->st.expired &&
                             Steady::now() >= z->expire_at;
            }
            if (expire_now) expire(*z);
        }
    }
}

void Secondary::expire(Zone& z) {
    const std::string err = install_(z.st.zone, {z.data, true});
    std::lock_guard lock(mu_);
    if (!err.empty()) {
        util::log_error("zone {}: cannot mark the zone expired: {}", z.st.zone, err);
        return;
    }
    z.st.expired = true;
    util::log_error(
        "zone {}: EXPIRED: no primary confirmed serial {} within the SOA expire ({} s); "
        "answering SERVFAIL until one does",
        z.st.zone, z.data->soa.serial, z.data->soa.expire);
}

void Secondary::refresh(Zone& z) {
    std::shared_ptr<const config::Zone> cfg;
    {
        std::lock_guard lock(mu_);
        cfg = z.cfg;
    }
    std::string errors;
    bool ok = false;
    for (const auto& p : cfg->primaries) {
        std::string err;
        bool refused = false;
        if (try_primary(z, p, err, refused)) {
            ok = true;
            break;
        }
        if (!refused && &p != &cfg->primaries.back())
            util::log_warn("zone {}: primary {} failed, asking the next one: {}", z.st.zone, p.text,
                           err);
        std::lock_guard lock(mu_);
        errors += (errors.empty() ? "" : "; ") + p.text + ": " + err;
        z.st.last_error = p.text + ": " + err;
        z.st.last_failure = System::now();
        if (refused) break;
    }
    if (!ok) {
        std::lock_guard lock(mu_);
        ++z.st.failures;
        z.st.last_error = errors;
        z.st.last_failure = System::now();
        if (z.st.last_outcome != "refused") z.st.last_outcome = "failed";
        util::log_warn("zone {}: refresh failed (keeping serial {}): {}", z.st.zone,
                       z.data != nullptr ? std::to_string(z.data->soa.serial) : "none", errors);
    }
    schedule(z, ok);
}

void Secondary::schedule(Zone& z, bool ok) {
    std::lock_guard lock(mu_);
    const auto now = Steady::now();
    if (z.data == nullptr) {
        z.due = now + kEmptyRetry;
        return;
    }
    if (ok) {
        z.due = now + timer(z.data->soa.refresh);
        z.expire_at = now + timer(z.data->soa.expire);
        z.has_expire = true;
    } else {
        z.due = now + timer(z.data->soa.retry);
    }
}

bool Secondary::try_primary(Zone& z, const config::Primary& p, std::string& error, bool& refused) {
    std::shared_ptr<TsigKey> key;
    std::shared_ptr<const zone::Contents> have;
    std::string dir;
    {
        std::lock_guard lock(mu_);
        if (!p.key.empty()) {
            auto it = keys_.find(p.key);
            if (it == keys_.end()) {
                error = "TSIG key " + p.key + " is not usable";
                return false;
            }
            key = it->second;
        }
        have = z.data;
        dir = dir_;
    }
    const std::string& name = z.st.zone;
    const auto t0 = Steady::now();
    try {
        const Answer soa = ask(p, z.origin, zone::kTypeSOA, nullptr, key.get(), limits_, stop_);
        if (soa.rcode != 0) {
            error = "SOA query answered " + rcode_name(soa.rcode);
            return false;
        }
        std::uint32_t serial = 0;
        bool found = false;
        for (const auto& rr : soa.rrs) {
            zone::SoaTimers t;
            if (rr.type == zone::kTypeSOA && rr.owner == z.origin &&
                zone::soa_timers(rr.rdata, t)) {
                serial = t.serial;
                found = true;
            }
        }
        if (!found) {
            error = "the SOA query's answer holds no SOA of the zone";
            return false;
        }
        auto up_to_date = [&]() {
            bool was_expired = false;
            {
                std::lock_guard lock(mu_);
                ++z.st.checks;
                z.st.last_check = System::now();
                z.st.last_outcome = "up to date";
                was_expired = z.st.expired;
            }
            if (was_expired) {
                const std::string err = install_(name, {have, false});
                std::lock_guard lock(mu_);
                if (err.empty()) {
                    z.st.expired = false;
                    util::log_info("zone {}: serial {} confirmed by {}: served again", name,
                                   have->soa.serial, p.text);
                }
            }
            bool rewrite = false;
            {
                std::lock_guard lock(mu_);
                rewrite = Steady::now() - z.written >= timer(have->soa.expire) / 4;
                if (rewrite) z.written = Steady::now();
            }
            if (rewrite) {
                try {
                    write_copy(dir, name, *have, System::now());  // the refresh time, for expiry
                } catch (const XfrError& e) {
                    util::log_error("zone {}: disk copy: {}", name, e.what());
                }
            }
            return true;
        };
        if (have != nullptr && !serial_newer(serial, have->soa.serial)) {
            if (serial != have->soa.serial)
                util::log_warn("zone {}: primary {} has serial {}, older than ours ({}): kept ours",
                               name, p.text, serial, have->soa.serial);
            return up_to_date();
        }

        Result res;
        Answer a;
        bool ixfr = false;
        if (have != nullptr) {
            a = ask(p, z.origin, 251 /* IXFR */, &have->rrs.front(), key.get(), limits_, stop_);
            if (a.rcode != 0) {
                util::log_info("zone {}: {} answered IXFR with {}: asking AXFR", name, p.text,
                               rcode_name(a.rcode));
                res.kind = Kind::NeedAxfr;
            } else {
                try {
                    res = interpret(a.rrs, z.origin, have.get(), true);
                    ixfr = true;
                } catch (const XfrError& e) {
                    util::log_warn("zone {}: the IXFR from {} does not apply ({}): asking AXFR",
                                   name, p.text, e.what());
                    res.kind = Kind::NeedAxfr;
                }
            }
        }
        if (have == nullptr || res.kind == Kind::NeedAxfr) {
            a = ask(p, z.origin, 252 /* AXFR */, nullptr, key.get(), limits_, stop_);
            if (a.rcode != 0) {
                error = "AXFR answered " + rcode_name(a.rcode);
                return false;
            }
            res = interpret(a.rrs, z.origin, nullptr, false);
            ixfr = false;
            if (have != nullptr && !serial_newer(res.zone->soa.serial, have->soa.serial)) {
                error = "AXFR brought serial " + std::to_string(res.zone->soa.serial) +
                        ", not newer than ours (" + std::to_string(have->soa.serial) +
                        "): wrong serial order";
                return false;
            }
        }
        if (res.kind == Kind::UpToDate) return up_to_date();
        const char* kind = res.kind == Kind::Ixfr && ixfr ? "IXFR" : "AXFR";
        std::shared_ptr<const zone::Contents> next = res.zone;
        const std::string err = install_(name, {next, false});
        if (!err.empty()) {
            refused = true;
            error = std::string(kind) + " of serial " + std::to_string(next->soa.serial) +
                    " refused: " + err;
            util::log_error(
                "zone {}: the {} from {} (serial {}) is not served, still serving "
                "serial {}: {}",
                name, kind, p.text, next->soa.serial,
                have != nullptr ? std::to_string(have->soa.serial) : "none", err);
            std::lock_guard lock(mu_);
            ++z.st.refused;
            z.st.last_outcome = "refused";
            return false;
        }
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count();
        util::log_info(
            "zone {}: {} from {}: serial {} -> {} ({} RRs{}, {} messages, {} bytes{}) in {} ms",
            name, kind, p.text, have != nullptr ? std::to_string(have->soa.serial) : "none",
            next->soa.serial, next->rrs.size(),
            res.kind == Kind::Ixfr ? ", " + std::to_string(res.changes) + " changes" : "",
            a.messages, a.bytes, a.signed_ok ? ", TSIG verified" : "", ms);
        {
            std::lock_guard lock(mu_);
            z.data = next;
            z.st.loaded = true;
            z.st.expired = false;
            z.st.serial = next->soa.serial;
            z.st.primary = p.text;
            z.st.last_kind = kind;
            z.st.last_outcome = "ok";
            z.st.last_transfer = z.st.last_check = System::now();
            ++z.st.checks;
            ++(res.kind == Kind::Ixfr ? z.st.ixfr : z.st.axfr);
        }
        try {
            write_copy(dir, name, *next, System::now());
            std::lock_guard lock(mu_);
            z.written = Steady::now();
        } catch (const XfrError& e) {
            util::log_error("zone {}: disk copy not written (served anyway): {}", name, e.what());
        }
        return true;
    } catch (const XfrError& e) {
        error = e.what();
        return false;
    } catch (const std::exception& e) {
        error = std::string("unexpected: ") + e.what();
        return false;
    }
}

}  // namespace gslbd::xfr
