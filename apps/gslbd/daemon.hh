#pragma once
/// The daemon's life cycle, kept out of main.cc: load, publish, serve, reload, stop.
#include <optional>
#include <string>

#include "util/log.hh"

namespace gslbd::app {

struct Options {
    std::string config_path;
    /// Overrides the config's log_level when set (--log-level).
    std::optional<util::LogLevel> log_level;
};

/// --check-config: loads the config, the geo databases and builds the topology.
/// Prints "PATH: OK" to stdout and returns 0, or prints the error to stderr and returns 1.
int check_config(const std::string& path);

/// Serves until SIGTERM or SIGINT (returns 0). SIGHUP reloads the configuration and
/// publishes a new snapshot; a bad new configuration is logged and the old one kept.
/// A start-up error (config, bind) is printed to stderr and returns 1.
int run(const Options& opts);

}  // namespace gslbd::app
