#pragma once
/// Service discovery of record pools (docs/discovery.md): a record's `discovery:` block names
/// a source (a JSON list over HTTP, Consul's catalog, SVCB/HTTPS records of an upstream DNS
/// server) that is asked every `interval` on this module's own thread, never on the data
/// path. A good, non-empty answer goes to the sink (ctl::Control::set_discovered, which
/// publishes it through the same snapshots as everything else); a failure, garbage or an
/// empty answer is logged and counted, and the last good pool stays in force.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "config/model.hh"

namespace gslbd::discovery {

/// Asks `d` once (blocking, at most about d.timeout per request; svcb/https may send a few
/// requests). Returns the backends found (never empty) or throws std::runtime_error with a
/// reason an operator can act on.
std::vector<config::Backend> fetch(const config::Discovery& d);

/// The SVCB/HTTPS part of fetch(), separately testable: the answer `msg` to a query with `id`
/// for `qname` (wire) and `qtype`. Fills `out` with (priority, target wire name, port,
/// hints) per ServiceMode/AliasMode RR; false when the message is malformed or not ours.
struct SvcbAnswer {
    std::uint16_t priority = 0;
    std::vector<std::uint8_t> target;  ///< wire; "." (the owner) already replaced by qname
    std::uint16_t port = 0;            ///< 0 = no port SvcParam
    std::vector<util::IpAddr> hints;   ///< ipv4hint and ipv6hint
};
bool parse_svcb_answer(std::span<const std::uint8_t> msg, std::uint16_t id,
                       std::span<const std::uint8_t> qname, std::uint16_t qtype,
                       std::vector<SvcbAnswer>& out, int& rcode);

/// The discovery thread: every record of the config that has `discovery:`, each at its own
/// interval.
class Discoverer {
  public:
    /// Receives (record name, backends) after every good answer (the same list again too:
    /// the sink compares). Called on the discovery thread without this object's lock held.
    using Sink = std::function<void(const std::string& record, std::vector<config::Backend>)>;

    explicit Discoverer(Sink sink);
    ~Discoverer();  ///< stops the thread
    Discoverer(const Discoverer&) = delete;
    Discoverer& operator=(const Discoverer&) = delete;

    /// Takes the sources of `cfg` (start-up and every reload); every source is asked at once.
    void set_sources(const config::Config& cfg);
    void start();
    void stop();

    /// One source as the control API and /metrics show it (GET /api/v1/status "discovery",
    /// gslbd_discovery_* metrics). Carried over a reload that keeps the source.
    struct Status {
        std::string record, type, source;
        bool ok = false;           ///< the last answer was good
        std::string last_error;    ///< of the last failure (kept after a later success)
        std::size_t backends = 0;  ///< in the last good answer (the pool in force)
        std::uint64_t fetches = 0, failures = 0;
        std::chrono::system_clock::time_point last_success{};  ///< epoch = never
        std::chrono::system_clock::time_point last_failure{};  ///< epoch = never
    };
    /// Thread-safe; a copy, in config order.
    std::vector<Status> status() const;

  private:
    struct Source {
        std::string record;
        std::shared_ptr<const config::Discovery> d;
        std::chrono::steady_clock::time_point due{};
        Status st;
    };
    void run();

    Sink sink_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Source> sources_;
    std::uint64_t epoch_ = 0;  ///< bumped by set_sources: a fetch of an older set is dropped
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace gslbd::discovery
