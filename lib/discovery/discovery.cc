// The discovery thread. Sources are asked one after the other, each at its own interval; a
// slow source delays the others by at most its timeout (documented in docs/discovery.md).
#include "discovery/discovery.hh"

#include <exception>

#include "util/log.hh"

namespace gslbd::discovery {

namespace {

std::string describe(const config::Discovery& d) {
    switch (d.type) {
        case config::Discovery::Type::Http:
            return d.url;
        case config::Discovery::Type::Consul:
            return d.url + " service " + d.service;
        default:
            return d.query_name + " @" + d.server.to_string() + ":" + std::to_string(d.server_port);
    }
}

}  // namespace

Discoverer::Discoverer(Sink sink) : sink_(std::move(sink)) {}

Discoverer::~Discoverer() {
    stop();
}

void Discoverer::set_sources(const config::Config& cfg) {
    std::vector<Source> next;
    for (const auto& z : cfg.zones)
        for (const auto& r : z.records) {
            if (r.discovery == nullptr) continue;
            Source s;
            s.record = r.name;
            s.d = r.discovery;
            s.st.record = r.name;
            s.st.type = r.discovery->type_name;
            s.st.source = describe(*r.discovery);
            next.push_back(std::move(s));
        }
    std::lock_guard lock(mu_);
    // Counters of a source that is still there carry over.
    for (auto& s : next)
        for (const auto& old : sources_)
            if (old.record == s.record && old.st.source == s.st.source) {
                s.st.fetches = old.st.fetches;
                s.st.failures = old.st.failures;
                s.st.ok = old.st.ok;
                s.st.last_error = old.st.last_error;
                s.st.backends = old.st.backends;
                s.st.last_success = old.st.last_success;
                s.st.last_failure = old.st.last_failure;
            }
    sources_ = std::move(next);
    ++epoch_;
    cv_.notify_all();
}

void Discoverer::start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void Discoverer::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

std::vector<Discoverer::Status> Discoverer::status() const {
    std::lock_guard lock(mu_);
    std::vector<Status> out;
    for (const auto& s : sources_) out.push_back(s.st);
    return out;
}

void Discoverer::run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        const auto now = std::chrono::steady_clock::now();
        Source* due = nullptr;
        auto next = now + std::chrono::hours(1);
        for (auto& s : sources_) {
            if (s.due <= now) {
                due = &s;
                break;
            }
            next = std::min(next, s.due);
        }
        if (due == nullptr) {
            cv_.wait_until(lock, next);
            continue;
        }
        const auto d = due->d;
        const std::string record = due->record;
        const std::uint64_t epoch = epoch_;
        due->due = now + d->interval;
        lock.unlock();
        std::vector<config::Backend> found;
        std::string error;
        try {
            found = fetch(*d);
        } catch (const std::exception& e) {
            error = e.what();
        }
        const auto wall = std::chrono::system_clock::now();
        lock.lock();
        if (epoch != epoch_) continue;  // the config changed meanwhile: ask again
        for (auto& s : sources_) {
            if (s.record != record) continue;
            ++s.st.fetches;
            if (!error.empty()) {
                ++s.st.failures;
                if (s.st.ok || s.st.last_error != error)
                    util::log_warn("discovery: {} ({} {}): {}; keeping the last good pool", record,
                                   s.st.type, s.st.source, error);
                s.st.ok = false;
                s.st.last_error = error;
                s.st.last_failure = wall;
            } else {
                s.st.ok = true;
                s.st.backends = found.size();
                s.st.last_success = wall;
            }
        }
        if (!error.empty()) continue;
        lock.unlock();
        sink_(record, std::move(found));
        lock.lock();
    }
}

}  // namespace gslbd::discovery
