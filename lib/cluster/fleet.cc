#include "cluster/fleet.hh"

#include <pthread.h>

#include <algorithm>

#include "util/log.hh"

namespace gslbd::cluster {

namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// etcd's default --max-txn-ops
constexpr std::size_t kMaxTxnOps = 128;
}  // namespace

FleetOptions options_from_config(const config::ClusterConfig& c) {
    FleetOptions o;
    o.etcd.endpoints = c.endpoints;
    o.etcd.user = c.user;
    o.etcd.password = c.password;
    o.etcd.ca_file = c.ca_file;
    o.etcd.cert_file = c.cert_file;
    o.etcd.key_file = c.key_file;
    o.etcd.timeout = c.timeout;
    o.etcd.connect_timeout = std::min(c.timeout, milliseconds{1000});
    o.prefix = c.prefix;
    o.self.name = c.node;
    o.self.role = c.passive ? Role::Passive : Role::Probe;
    o.self.labels = c.labels;
    o.lease_ttl = std::chrono::duration_cast<std::chrono::seconds>(c.lease_ttl);
    if (auto r = QuorumRule::parse(c.quorum)) o.rule = *r;
    o.rule.min_voters = c.min_voters;
    o.probes_per_target = c.probes_per_target;
    return o;
}

bool View::assigned(std::string_view target, unsigned k) const noexcept {
    if (k == 0 || self_index < 0) return true;
    return rendezvous::is_chosen(probing_hashes, static_cast<std::size_t>(self_index),
                                 rendezvous::hash(target), k);
}

TargetTable::TargetTable() {
    static const auto empty = std::make_shared<const Shard>();
    shards_.fill(empty);
}

const TargetView* TargetTable::find(std::string_view target) const {
    const auto& sh = *shards_[shard_of(target)];
    auto it = sh.find(target);
    return it == sh.end() ? nullptr : &it->second;
}

TargetView View::target(std::string_view t) const {
    if (!targets) return {};
    const TargetView* tv = targets->find(t);
    return tv == nullptr ? TargetView{} : *tv;
}

Fleet::Fleet(FleetOptions opts, ChangeFn on_change)
    : opts_(std::move(opts)), on_change_(std::move(on_change)), keys_(opts_.prefix), book_(keys_) {
    if (opts_.etcd.endpoints.empty()) throw std::invalid_argument("fleet: no etcd endpoints");
    if (!valid_node_name(opts_.self.name))
        throw std::invalid_argument("fleet: bad node name '" + opts_.self.name + "'");
    if (opts_.lease_ttl.count() < 2) opts_.lease_ttl = std::chrono::seconds{2};
    info_ = opts_.self;
    auto v = std::make_shared<View>();
    v->targets = std::make_shared<TargetTable>();
    v->overrides = std::make_shared<std::map<std::string, std::string>>();
    view_ = std::move(v);
}

Fleet::~Fleet() {
    stop();
}

void Fleet::set_on_change(ChangeFn fn) {
    std::lock_guard lk(cb_mu_);
    on_change_ = std::move(fn);
}

void Fleet::notify() {
    std::lock_guard lk(cb_mu_);
    if (on_change_) on_change_();
}

void Fleet::start() {
    std::lock_guard lk(mu_);
    if (started_) return;
    started_ = true;
    stop_ = false;
    reader_ = std::thread([this] { reader_loop(); });
    writer_ = std::thread([this] { writer_loop(); });
}

void Fleet::stop(bool revoke) {
    {
        std::lock_guard lk(mu_);
        if (!started_) return;
        started_ = false;
        stop_ = true;
        if (!revoke) lease_ = 0;  // the writer revokes whatever lease_ holds on its way out
    }
    cv_.notify_all();
    if (reader_.joinable()) reader_.join();
    if (writer_.joinable()) writer_.join();
}

void Fleet::set_votes(std::unordered_map<std::string, bool> votes) {
    {
        std::lock_guard lk(mu_);
        wanted_ = std::move(votes);
        all_dirty_ = true;
        wanted_dirty_.clear();
        work_ = true;
    }
    cv_.notify_all();
}

void Fleet::update_votes(const std::function<void(VoteEdit&)>& fn) {
    {
        std::lock_guard lk(mu_);
        VoteEdit edit(wanted_, wanted_dirty_);
        fn(edit);
        work_ = true;
    }
    cv_.notify_all();
}

void Fleet::set_vote(const std::string& target, std::optional<bool> up) {
    {
        std::lock_guard lk(mu_);
        VoteEdit edit(wanted_, wanted_dirty_);
        if (up)
            edit.set(target, *up);
        else
            edit.erase(target);
        work_ = true;
    }
    cv_.notify_all();
}

void Fleet::set_override(const std::string& id, std::optional<std::string> document) {
    {
        std::lock_guard lk(mu_);
        pending_overrides_[id] = std::move(document);
        work_ = true;
    }
    cv_.notify_all();
}

void Fleet::set_info(NodeInfo info) {
    {
        std::lock_guard lk(mu_);
        info.name = opts_.self.name;
        info.role = opts_.self.role;
        info_ = std::move(info);
        info_dirty_ = true;
        work_ = true;
    }
    cv_.notify_all();
}

std::shared_ptr<const View> Fleet::view() const {
    std::lock_guard lk(mu_);
    return view_;
}

std::vector<VoteBook::VoteView> Fleet::votes(std::string_view target) const {
    std::lock_guard lk(mu_);
    return book_.votes(target);
}

bool Fleet::wait_synced(milliseconds timeout) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return synced_ || stop_.load(); }) && synced_;
}

bool Fleet::sleep_for(milliseconds d) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, d, [&] { return stop_.load(); });
    return !stop_;
}

void Fleet::note_error(const char* what, const std::exception& e) {
    bool log_it = false;
    {
        std::lock_guard lk(mu_);
        ++counters_.etcd_errors;
        last_error_ = std::string(what) + ": " + e.what();
        // one warning per outage; the rest at debug (a dead etcd fails every retry)
        log_it = !error_logged_;
        error_logged_ = true;
        connected_logged_ = false;
        publish_view_locked();
    }
    if (log_it)
        util::log_warn(
            "fleet: etcd {} failed: {}; this node uses its own verdicts until the "
            "fleet is back",
            what, e.what());
    else
        util::log_debug("fleet: etcd {} failed: {}", what, e.what());
    notify();
}

void Fleet::note_ok() {
    bool log_it = false;
    {
        std::lock_guard lk(mu_);
        if (lease_ok_ && watching_ && synced_ && !connected_logged_) {
            connected_logged_ = true;
            log_it = true;
            error_logged_ = false;
            last_error_.clear();
        }
        publish_view_locked();
    }
    if (log_it)
        util::log_info("fleet: node {} connected to etcd ({} members, {} votes)", opts_.self.name,
                       view()->members.size(), book_vote_count());
    notify();
}

std::size_t Fleet::book_vote_count() const {
    std::lock_guard lk(mu_);
    return book_.vote_count();
}

void Fleet::publish_view_locked() {
    auto v = std::make_shared<View>();
    v->synced = synced_;
    v->connected = lease_ok_ && watching_ && synced_;
    v->last_error = last_error_;
    v->revision = revision_;
    v->epoch = book_.membership_epoch();
    for (const auto& [name, m] : book_.members()) v->members.emplace(name, Member{m.info, m.lease});
    v->targets = targets_ptr_;
    v->overrides = overrides_ptr_;
    const auto probing = book_.probing_members();
    v->probing_hashes.reserve(probing.size());
    for (std::size_t i = 0; i < probing.size(); ++i) {
        v->probing_hashes.push_back(rendezvous::hash(probing[i]));
        if (probing[i] == opts_.self.name) v->self_index = static_cast<std::ptrdiff_t>(i);
    }
    ++counters_.views;
    v->counters = counters_;
    view_ = std::move(v);
}

// Applies the tallies of dirty targets; a new table only when a verdict changed, and in it
// new copies of the shards that changed only (the others are shared with the old table).
void Fleet::recompute_locked() {
    const auto dirty = book_.take_dirty();
    if (dirty.empty()) return;
    std::shared_ptr<TargetTable> next;
    std::array<TargetTable::Shard*, TargetTable::kShards> copied{};
    for (const auto& t : dirty) {
        const Tally tally = book_.tally(t);
        const bool any = tally.up + tally.down + tally.stale > 0;
        const FleetVerdict fv = decide(opts_.rule, tally);
        const std::size_t si = TargetTable::shard_of(t);
        const auto& cur = next ? next->shards_[si] : targets_ptr_->shards_[si];
        auto it = cur->find(t);
        const bool same = any ? (it != cur->end() && it->second.verdict == fv) : it == cur->end();
        if (same) continue;
        if (!next) next = std::make_shared<TargetTable>(*targets_ptr_);
        if (copied[si] == nullptr) {
            auto sh = std::make_shared<TargetTable::Shard>(*next->shards_[si]);
            copied[si] = sh.get();
            next->shards_[si] = std::move(sh);
        }
        auto& shard = *copied[si];
        const std::size_t before = shard.size();
        if (any)
            shard.insert_or_assign(t, TargetView{fv, tally});
        else
            shard.erase(t);
        next->size_ = next->size_ + shard.size() - before;
    }
    if (next) targets_ptr_ = std::move(next);
}

bool Fleet::apply_locked(const etcd::KeyValue& kv, bool put) {
    const auto p = keys_.parse(kv.key);
    if (p.kind == Keys::Kind::Override) {
        auto next = std::make_shared<std::map<std::string, std::string>>(*overrides_ptr_);
        if (put)
            (*next)[std::string(p.name)] = kv.value;
        else
            next->erase(std::string(p.name));
        overrides_ptr_ = std::move(next);
        return true;
    }
    return put ? book_.put(kv.key, kv.value, kv.lease) : book_.erase(kv.key);
}

void Fleet::reader_loop() {
    pthread_setname_np(pthread_self(), "gslbd-fleet-rd");  // for top -H and bench/fleet
    std::unique_ptr<etcd::Client> client;
    std::int64_t rev = 0;
    bool need_full = true;
    milliseconds backoff{100};
    while (!stop_) {
        try {
            if (!client) client = std::make_unique<etcd::Client>(opts_.etcd);
            if (need_full || resync_.exchange(false)) {
                // small pages: each call stays well within the call timeout on a busy etcd
                auto r = client->range_prefix(keys_.prefix, 0, 1000);
                {
                    std::lock_guard lk(mu_);
                    book_.clear();
                    overrides_ptr_ = std::make_shared<std::map<std::string, std::string>>();
                    for (const auto& kv : r.kvs) apply_locked(kv, true);
                    recompute_locked();
                    revision_ = r.revision;
                    synced_ = true;
                    ++counters_.resyncs;
                    publish_view_locked();
                }
                cv_.notify_all();
                notify();
                rev = r.revision;
                need_full = false;
            }
            const auto started = Clock::now();
            auto on_events = [&](const std::vector<etcd::WatchEvent>& evs, std::int64_t r) {
                {
                    std::lock_guard lk(mu_);
                    for (const auto& e : evs)
                        apply_locked(e.kv, e.type == etcd::WatchEvent::Type::Put);
                    counters_.watch_events += evs.size();
                    recompute_locked();
                    revision_ = std::max(revision_, r);
                    publish_view_locked();
                }
                rev = std::max(rev, r);
                notify();
                return !stop_.load();
            };
            auto on_created = [&](std::int64_t) {
                {
                    std::lock_guard lk(mu_);
                    watching_ = true;
                }
                note_ok();
            };
            const auto end = client->watch(keys_.prefix, rev + 1, on_events, stop_, on_created);
            {
                std::lock_guard lk(mu_);
                watching_ = false;
                publish_view_locked();
            }
            if (end == etcd::WatchEnd::Stopped) break;
            if (end == etcd::WatchEnd::Compacted) {
                util::log_info("fleet: revision {} was compacted away; reading the fleet again",
                               rev + 1);
                need_full = true;
                continue;
            }
            // Broken: resume at once unless it keeps breaking right away
            if (Clock::now() - started < milliseconds{1000}) {
                if (!sleep_for(backoff)) break;
                backoff = std::min(backoff * 2, opts_.max_backoff);
            } else {
                backoff = milliseconds{100};
            }
        } catch (const std::exception& e) {
            {
                std::lock_guard lk(mu_);
                watching_ = false;
            }
            note_error("watch", e);
            if (!sleep_for(backoff)) break;
            backoff = std::min(backoff * 2, opts_.max_backoff);
        }
    }
}

void Fleet::writer_loop() {
    pthread_setname_np(pthread_self(), "gslbd-fleet-wr");
    std::unique_ptr<etcd::Client> client;
    const auto ttl = opts_.lease_ttl;
    const auto keepalive_every = std::chrono::duration_cast<milliseconds>(ttl) / 3;
    auto next_keepalive = Clock::now();
    milliseconds backoff{100};
    std::int64_t lease = 0;
    std::unordered_map<std::string, bool> published;  // own votes etcd has
    bool connected = false;
    while (!stop_) {
        try {
            if (!client) client = std::make_unique<etcd::Client>(opts_.etcd);
            if (lease == 0) {
                lease = client->lease_grant(ttl.count());
                published.clear();
                std::lock_guard lk(mu_);
                all_dirty_ = true;
                lease_ = lease;
                lease_ok_ = true;
                info_dirty_ = true;
                ++counters_.lease_grants;
                next_keepalive = Clock::now() + keepalive_every;
            }
            if (Clock::now() >= next_keepalive) {
                if (client->lease_keepalive(lease) == 0) {
                    util::log_warn(
                        "fleet: lease {:x} of node {} expired (etcd unreachable for "
                        "longer than {} s?); joining again",
                        lease, opts_.self.name, ttl.count());
                    lease = 0;
                    std::lock_guard lk(mu_);
                    lease_ok_ = false;
                    continue;
                }
                next_keepalive = Clock::now() + keepalive_every;
            }
            // collect what to write
            std::vector<etcd::Op> ops;
            std::vector<std::pair<std::string, std::optional<bool>>> vote_changes;
            std::map<std::string, std::optional<std::string>> overrides;
            {
                std::lock_guard lk(mu_);
                work_ = false;
                if (info_dirty_) {
                    ops.push_back(
                        etcd::Op::put(keys_.node(opts_.self.name), info_.to_json(), lease));
                    info_dirty_ = false;
                }
                const bool probe = opts_.self.role == Role::Probe;
                if (all_dirty_) {
                    if (probe) {
                        for (const auto& [t, up] : wanted_) {
                            auto it = published.find(t);
                            if (it == published.end() || it->second != up)
                                vote_changes.emplace_back(t, up);
                        }
                    }
                    for (const auto& [t, _] : published)
                        if (!probe || !wanted_.count(t)) vote_changes.emplace_back(t, std::nullopt);
                } else if (probe) {
                    for (const auto& t : wanted_dirty_) {
                        const auto w = wanted_.find(t);
                        const auto p = published.find(t);
                        if (w != wanted_.end() && (p == published.end() || p->second != w->second))
                            vote_changes.emplace_back(t, w->second);
                        else if (w == wanted_.end() && p != published.end())
                            vote_changes.emplace_back(t, std::nullopt);
                    }
                }
                all_dirty_ = false;
                wanted_dirty_.clear();
                overrides.swap(pending_overrides_);
            }
            for (const auto& [t, up] : vote_changes) {
                if (up)
                    ops.push_back(
                        etcd::Op::put(keys_.vote(t, opts_.self.name), *up ? "up" : "down", lease));
                else
                    ops.push_back(etcd::Op::del(keys_.vote(t, opts_.self.name)));
            }
            for (const auto& [id, doc] : overrides) {
                if (doc)
                    ops.push_back(etcd::Op::put(keys_.override_key(id), *doc));
                else
                    ops.push_back(etcd::Op::del(keys_.override_key(id)));
            }
            try {
                for (std::size_t i = 0; i < ops.size(); i += kMaxTxnOps) {
                    if (stop_) throw etcd::Error(etcd::Error::Kind::Unavailable, "stopping");
                    // a long write (a first round of 30,000 votes is 235 transactions) must
                    // not outlive the lease it writes under
                    if (Clock::now() >= next_keepalive) {
                        if (client->lease_keepalive(lease) == 0)
                            throw etcd::Error(etcd::Error::Kind::Rejected,
                                              "lease expired during a write");
                        next_keepalive = Clock::now() + keepalive_every;
                    }
                    const std::size_t n = std::min(kMaxTxnOps, ops.size() - i);
                    client->txn(
                        std::vector<etcd::Op>(ops.begin() + static_cast<std::ptrdiff_t>(i),
                                              ops.begin() + static_cast<std::ptrdiff_t>(i + n)));
                    std::lock_guard lk(mu_);
                    ++counters_.txns;
                }
            } catch (...) {
                // nothing is known to be written: write it all again next time
                std::lock_guard lk(mu_);
                info_dirty_ = true;
                all_dirty_ = true;
                for (auto& [id, doc] : overrides)
                    if (!pending_overrides_.count(id)) pending_overrides_[id] = doc;
                throw;
            }
            for (const auto& [t, up] : vote_changes) {
                if (up)
                    published[t] = *up;
                else
                    published.erase(t);
            }
            if (!vote_changes.empty()) {
                std::lock_guard lk(mu_);
                counters_.votes_written += vote_changes.size();
            }
            {
                std::lock_guard lk(mu_);
                lease_ok_ = true;
            }
            if (!connected || !ops.empty()) note_ok();
            connected = true;
            backoff = milliseconds{100};
            std::unique_lock lk(mu_);
            cv_.wait_until(lk, next_keepalive, [&] { return work_ || stop_.load(); });
        } catch (const std::exception& e) {
            if (stop_) break;  // a write cut short by stop(): nothing to report
            connected = false;
            if (const auto* ee = dynamic_cast<const etcd::Error*>(&e);
                ee != nullptr && ee->kind() == etcd::Error::Kind::Rejected &&
                std::string_view(e.what()).find("lease") != std::string_view::npos) {
                lease = 0;  // our lease is gone: grant a new one, write everything again
            }
            {
                std::lock_guard lk(mu_);
                lease_ok_ = false;
            }
            next_keepalive = Clock::now();  // check the lease first thing when etcd is back
            note_error("write", e);
            if (!sleep_for(backoff)) break;
            backoff = std::min(backoff * 2, opts_.max_backoff);
        }
    }
    std::int64_t revoke = 0;
    {
        std::lock_guard lk(mu_);
        revoke = lease_ != 0 ? lease : 0;
        lease_ok_ = false;
    }
    if (revoke != 0 && client) {
        try {
            client->lease_revoke(revoke);
        } catch (const std::exception& e) {
            util::log_debug("fleet: revoking the lease failed: {}", e.what());
        }
    }
}

}  // namespace gslbd::cluster
