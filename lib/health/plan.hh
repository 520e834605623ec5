#pragma once
/// Turning a gslb::Topology into what the prober needs: deduplicated probe targets
/// (address + normalized check) and, per backend id, which targets decide its verdict with
/// which rise/fall thresholds. Pure (no I/O); validation errors are config::ConfigError.
///
/// Rules (documented for operators in monitor.hh):
/// * rise/fall: backend > record > check > Options defaults (most specific wins).
/// * per-probe timeout: min(check `timeout`, record `scrape_timeout`), never above the interval.
/// * a target shared by several records uses the smallest interval, the smallest timeout and
///   the largest `scrape_retries` among them.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>  // gslb/snapshot.hh uses std::span without including it
#include <string>
#include <vector>

#include <regex.h>

#include "config/model.hh"
#include "gslb/snapshot.hh"
#include "util/addr.hh"

namespace gslbd::health {

using Millis = std::chrono::milliseconds;

/// Compiled POSIX extended regular expression (GNU flavour: \s \w \b work). std::regex is not
/// used because libstdc++'s recursive matcher overflows the stack on 64 KiB bodies.
class BodyRegex {
  public:
    /// Throws config::ConfigError at `pos` when `pattern` does not compile.
    BodyRegex(const std::string& pattern, const config::SourcePos& pos);
    ~BodyRegex();
    BodyRegex(const BodyRegex&) = delete;
    BodyRegex& operator=(const BodyRegex&) = delete;
    /// Searches `text` (may contain NUL bytes) for a match anywhere.
    bool search(std::string_view text) const noexcept;

  private:
    regex_t re_;
};

struct ProbeKind;   // health/probe_kind.hh
struct KindParams;  // health/probe_kind.hh

/// One health check with every default resolved; what a probe needs besides the address.
struct ProbeSpec {
    /// The registered kind that checks it (health/probe_kind.hh): its resolve() filled
    /// `port` and `params`, its runner carries out the attempts.
    const ProbeKind* kind = nullptr;
    /// The type as status and logs show it: the kind's name, which its resolve() may refine
    /// ("https" for an http check with enable_tls).
    std::string type;
    std::shared_ptr<const KindParams> params;  ///< what the kind's resolve() parsed
    std::uint16_t port = 0;                    ///< resolved (80 / 443 / 53 ...); 0 for none
    config::HealthCheck cfg;  ///< the original check (uri, headers, codes, tls files, ...)
    std::string key;          ///< identity of the check (everything but the timeout)
    const std::string& type_name() const noexcept { return type; }
};

/// One thing to probe: an address with a check. Shared by every backend that has both.
struct TargetPlan {
    util::IpAddr addr;
    std::shared_ptr<const ProbeSpec> spec;
    Millis interval{10000};
    Millis timeout{5000};
    int retries = 1;        ///< extra attempts in one round before the round counts as failed
    std::size_t users = 0;  ///< backends using it
    /// Its identity: address + "|" + the spec's key (the fleet's name for it, docs/fleet.md).
    /// Made on demand: a target keeps no string of its own.
    std::string key() const;
};

struct CheckPlan {
    std::size_t target = 0;  ///< index into Plan::targets
    int rise = 2, fall = 3;
};

struct BackendPlan {
    std::uint32_t id = 0;
    std::uint32_t record = 0;             ///< RecordRt::id (its name for logs and status)
    const gslb::BackendRt* rt = nullptr;  ///< in the planned topology (its address for logs)
    bool enabled = true;                  ///< enable: false -> never probed, published down
    bool assume_healthy = false;          ///< config::Backend::assume_healthy
    std::vector<CheckPlan> checks;        ///< empty when disabled: never probed
};

struct Plan {
    std::vector<TargetPlan> targets;
    /// One per backend that has health checks, in topology order (records, A then AAAA).
    /// Backends without checks are not planned: never probed, up unless disabled.
    std::vector<BackendPlan> backends;
    std::uint32_t backend_count = 0;  ///< Topology::backend_count (size of Health::up)
};

/// Normalizes one check of `backend` in `record` through the kind registered under its type
/// (health/probe_kind.hh). Throws config::ConfigError at the check's position for types no
/// kind is registered for (naming record, backend, type and the known kinds) and bad values.
ProbeSpec resolve_check(const config::HealthCheck& hc, const config::Record& record,
                        const config::Backend& backend);
/// The same for a backend's check as the configuration holds it (at check.pos()).
ProbeSpec resolve_check(const config::CheckRef& check, const config::Record& record,
                        const config::Backend& backend);

/// Builds the plan for every backend with health checks of every record in `topo`.
Plan build_plan(const gslb::Topology& topo, int default_rise, int default_fall);

/// No backend: carry_ids' value for a backend new in the next topology.
inline constexpr std::uint32_t kNoBackend = 0xffffffffu;

/// What carries health state over a reload (the monitor's verdicts, the gradual tracker's
/// history): for each backend id of `next`, the id the same backend (same record name, same
/// address) had in `prev`, or kNoBackend. A record is found by its config::Record pointer
/// (an unchanged record is shared between loads) at the same index or, failing that, in a
/// sorted table; by its name only when the pointer is new (a changed record). Its backends
/// are matched at the same position, else by address within the family. No per-backend
/// string is built or hashed. Both topologies must be alive (their config pointers compared).
std::vector<std::uint32_t> carry_ids(const gslb::Topology& prev, const gslb::Topology& next);

}  // namespace gslbd::health
