// gslbd: parse flags, hand over to daemon.cc.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "daemon.hh"

namespace {

constexpr const char* kUsage =
    "usage: gslbd --config FILE [--log-level LEVEL]\n"
    "       gslbd --check-config FILE\n"
    "       gslbd --version | --help\n"
    "\n"
    "  --config FILE        serve with this main configuration (YAML)\n"
    "  --log-level LEVEL    debug, info, warn, error or off (overrides log_level)\n"
    "  --check-config FILE  load and validate FILE, print \"FILE: OK\" or the error\n"
    "  --version            print the version\n"
    "  --help               print this help\n"
    "\n"
    "Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop.\n";

int usage_error(const std::string& why) {
    std::fprintf(stderr, "gslbd: %s\n%s", why.c_str(), kUsage);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<std::string> config, check, level;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (arg == "--version") {
            std::printf("gslbd %s\n", GSLBD_VERSION);
            return 0;
        }
        std::optional<std::string>* target = nullptr;
        std::string_view name = arg.substr(0, arg.find('='));
        if (name == "--config")
            target = &config;
        else if (name == "--check-config")
            target = &check;
        else if (name == "--log-level")
            target = &level;
        else
            return usage_error("unknown argument '" + std::string(arg) + "'");

        if (name.size() < arg.size()) {
            *target = std::string(arg.substr(name.size() + 1));
        } else if (i + 1 < argc) {
            *target = argv[++i];
        } else {
            return usage_error(std::string(name) + " needs a value");
        }
    }

    if (check) {
        if (config) return usage_error("--check-config and --config exclude each other");
        return gslbd::app::check_config(*check);
    }
    if (!config) return usage_error("--config FILE is required");

    gslbd::app::Options opts;
    opts.config_path = *config;
    if (level) {
        gslbd::util::LogLevel l;
        if (!gslbd::util::parse_log_level(*level, l))
            return usage_error("unknown log level '" + *level + "'");
        opts.log_level = l;
    }
    return gslbd::app::run(opts);
}
