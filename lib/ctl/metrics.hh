#pragma once
/// GET /metrics: the Prometheus text exposition format (version 0.0.4). Every metric is
/// documented in docs/metrics.md. Per-worker counters are read without locks (relaxed
/// loads by the I/O backends' stats() functions) and summed here, at scrape time.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cache/cache.hh"
#include "ctl/control.hh"
#include "pipeline/pipeline.hh"

namespace gslbd::ctl {

/// One data plane worker, for the per-worker series.
struct WorkerSample {
    std::string kind;  ///< "udp" or "dpdk"
    unsigned index = 0;
    std::uint64_t packets = 0;  ///< received
    bool has_cycles = false;    ///< DPDK: busy/idle TSC cycles are known
    std::uint64_t busy_cycles = 0, idle_cycles = 0;
};

/// What the I/O backends report, summed over workers (filled by the daemon at scrape time).
struct DataPlaneStats {
    pipeline::Counters udp, tcp;  ///< pipeline counters by transport (DPDK counts as udp)
    cache::Counters cache;        ///< summed over every worker's cache and the TCP server's
    std::array<std::uint64_t, pipeline::kQtypeSlots> by_qtype{};  ///< all transports
    std::uint64_t udp_rx = 0, udp_tx = 0;
    std::uint64_t tcp_accepted = 0, tcp_rejected = 0, tcp_timed_out = 0, tcp_closed = 0,
                  tcp_active = 0;
    /// drops outside the pipeline, by reason ("udp_send_error", "dpdk_tx_full", ...)
    std::vector<std::pair<std::string, std::uint64_t>> drops;
    std::vector<WorkerSample> workers;
};

using StatsFn = std::function<DataPlaneStats()>;

/// Adds what the pipelines count beyond the I/O backends' own stats: the response cache
/// counters and the queries by type of every live pipeline (UDP workers, DPDK lcores, the
/// TCP server).
void add_pipeline_totals(DataPlaneStats& s);

/// The whole exposition. `version` goes into the build info.
std::string render_metrics(const Control& ctl, const DataPlaneStats& dp,
                           const std::string& version);

/// Escapes a label value (backslash, double quote, newline).
std::string escape_label(const std::string& v);

}  // namespace gslbd::ctl
