#pragma once
/// Probe kinds as plug-ins. Every kind (http, https, tcp, dns, icmp, grpc, mysql, lua) is one
/// file in probes/ that registers, by name, its config parser (check -> port and a
/// validated, immutable KindParams, errors at the check's file:line:column) and a factory for
/// its runner (what carries out attempts inside the Prober). Adding a kind touches no switch
/// statement: plan.cc looks every check's type up here, and the Prober creates one runner per
/// kind the first time a probe of that kind is prepared or started. lib/health itself knows
/// no kind: it is the loop, the plan and rise/fall.
///
/// Runners live on the prober's thread and share its epoll set: a socket a runner watches is
/// tagged `RunnerContext::tag | fd`, and its events come back through on_event(). A runner
/// that works on threads of its own (blocking client libraries, scripts) hands results back
/// under its own lock and calls RunnerContext::wakeup so the loop collects them.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hh"
#include "health/plan.hh"
#include "health/prober.hh"
#include "util/addr.hh"

namespace gslbd::health {

/// What a runner may use of the Prober it runs in (all of it outlives the runner).
struct RunnerContext {
    int epoll_fd = -1;
    std::uint64_t tag = 0;         ///< epoll data for a socket: tag | fd (fd < 2^32)
    std::function<void()> wakeup;  ///< thread-safe: makes the prober's wait() return
    /// Local source addresses ([0] IPv4, [1] IPv6) as Prober::set_source last set them.
    const std::optional<util::IpAddr>* source = nullptr;
};

/// Carries out attempts of one kind. Called only from the prober's thread.
class ProbeRunner {
  public:
    virtual ~ProbeRunner() = default;
    /// Called when a configuration with a target `addr` of this kind loads, before any
    /// start(): acquire what must fail at load rather than at the first probe (icmp: its raw
    /// socket). Throws std::system_error, which the monitor reports as a config error at the
    /// check.
    virtual void prepare(const util::IpAddr& /*addr*/) {}
    /// Starts one attempt; every attempt ends in exactly one result from process() (a
    /// failure to start too), unless cancel_all() drops it. The runner enforces `timeout`.
    virtual void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                       const util::IpAddr& addr, std::chrono::milliseconds timeout) = 0;
    /// An epoll event on one of the runner's sockets (the fd from the tag's low 32 bits).
    virtual void on_event(int /*fd*/, std::uint32_t /*events*/) {}
    /// Runs what is due at `now` and appends finished attempts to `out`.
    virtual void process(SteadyClock::time_point now, std::vector<ProbeResult>& out) = 0;
    /// When process() next has work without a socket event (nullopt: none).
    virtual std::optional<SteadyClock::time_point> deadline() const = 0;
    /// Drops every attempt in flight; no results come for them.
    virtual void cancel_all() = 0;
    virtual std::size_t in_flight() const = 0;
};

/// A kind's parsed params. Each kind derives its own and reads it back with kind_params<T>().
struct KindParams {
    virtual ~KindParams() = default;
};

/// Where a check sits, for error messages: "record 'x.' backend '1.2.3.4'".
struct CheckSite {
    const config::Record& record;
    const config::Backend& backend;
    std::string where;
};

struct ProbeKind {
    std::string name;  ///< the `type` of the check, lower case
    /// Validates `hc` (the typed fields for the kinds config/ parses, raw_params for the
    /// others; port, timeout). Sets spec.port (0 if the kind has no port), spec.params, may
    /// refine spec.type, and returns what identifies the check besides type and port (two
    /// checks with equal keys share a probe target). Throws config::ConfigError.
    std::function<std::string(const config::HealthCheck& hc, const CheckSite& site,
                              ProbeSpec& spec)>
        resolve;
    std::function<std::unique_ptr<ProbeRunner>(const RunnerContext&)> make_runner;
};

/// Registers `kind` (at static initialization; see GSLBD_REGISTER_PROBE_KIND). A second
/// kind of the same name is a programming error: std::logic_error.
bool register_probe_kind(ProbeKind kind);
/// nullptr when no plug-in of that name is linked in.
const ProbeKind* find_probe_kind(std::string_view name);
/// Registered plug-in names, sorted (for "use one of ..." messages).
std::vector<std::string> probe_kind_names();

/// The raw param `key` of `hc`, or nullptr. A non-scalar value is a ConfigError.
const config::HealthCheck::RawParam* raw_param(const config::HealthCheck& hc, std::string_view key);
/// Refuses params outside `known` (a ConfigError naming the param and the known ones).
void check_known_params(const config::HealthCheck& hc, const CheckSite& site,
                        std::initializer_list<std::string_view> known);

template <class T>
const T& kind_params(const ProbeSpec& spec) {
    return static_cast<const T&>(*spec.params);
}

}  // namespace gslbd::health

/// Registers a probe kind: GSLBD_REGISTER_PROBE_KIND(grpc, "grpc", resolve_fn, make_runner_fn).
/// ID must be an identifier, unique in the program.
#define GSLBD_REGISTER_PROBE_KIND(ID, NAME, RESOLVE, MAKE_RUNNER)           \
    namespace {                                                             \
    [[maybe_unused]] const bool gslbd_probe_kind_##ID =                     \
        ::gslbd::health::register_probe_kind({NAME, RESOLVE, MAKE_RUNNER}); \
    }
