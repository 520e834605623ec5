#pragma once
/// GET /metrics: the Prometheus text exposition format (version 0.0.4). Every metric is
/// documented in docs/metrics.md. Per-worker counters are read without locks (relaxed
/// loads by the I/O backends' collect() functions) and summed there, at scrape time.
#include <functional>
#include <string>

#include "ctl/control.hh"
#include "ctl/stream.hh"
#include "io/backend.hh"

namespace gslbd::ctl {

/// One data plane worker, for the per-worker series.
using WorkerSample = io::WorkerSample;
/// What the I/O backends report, summed over workers: each backend adds its own
/// (io::Backend::collect) at scrape time. Queries by type are summed over udp and tcp.
using DataPlaneStats = io::Stats;

using StatsFn = std::function<DataPlaneStats()>;

/// The whole exposition, written into `out` as it is made (sent in bounded chunks; nothing
/// proportional to the number of backends is held). `version` goes into the build info.
/// Throws StreamAborted when `out`'s sink refuses a chunk.
void render_metrics(const Control& ctl, const DataPlaneStats& dp, const std::string& version,
                    ChunkWriter& out);
/// The same as one string (tests, small configurations).
std::string render_metrics(const Control& ctl, const DataPlaneStats& dp,
                           const std::string& version);

/// Escapes a label value (backslash, double quote, newline).
std::string escape_label(const std::string& v);

}  // namespace gslbd::ctl
