#pragma once
/// `gslbctl import-corefile` (docs/migration.md): a gslbd main config from the `gslb` block of
/// a CoreDNS-GSLB Corefile, with each zone's SOA and NS taken from the zone file of the
/// server block's `file` plugin where there is one. What cannot be carried over is named, one
/// line each. Pure text in, text out: nothing here talks to a daemon.
#include <string>
#include <vector>

namespace gslbd::ctl::corefile {

struct Import {
    std::string config;                    ///< the gslbd main config (YAML)
    std::vector<std::string> not_carried;  ///< "max_stagger_start 120s: ..." one per item
};

/// Reads the Corefile at `path`; relative file names in it (zone policy files, `file` plugin
/// zone files, GeoIP databases) are taken relative to its directory, as CoreDNS without a
/// `root` plugin run from there would. Throws std::runtime_error naming path:line for a
/// Corefile that cannot be read or has no `gslb` block.
Import import_corefile(const std::string& path);

}  // namespace gslbd::ctl::corefile
