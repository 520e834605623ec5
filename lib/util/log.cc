#include "util/log.hh"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace gslbd::util {
namespace {
std::atomic<LogLevel> g_level{LogLevel::info};
constexpr std::string_view kNames[] = {"debug", "info", "warn", "error", "off"};
}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return g_level.load(std::memory_order_relaxed); }

bool parse_log_level(std::string_view text, LogLevel& out) noexcept {
    if (text == "warning") text = "warn";
    for (int i = 0; i < 5; ++i) {
        if (kNames[i] == text) {
            out = static_cast<LogLevel>(i);
            return true;
        }
    }
    return false;
}

void log_line(LogLevel level, std::string_view msg) noexcept {
    try {
        auto now = std::chrono::system_clock::now();
        auto secs = std::chrono::system_clock::to_time_t(now);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&secs, &tm);
        std::string line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} {}\n",
                                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                       tm.tm_min, tm.tm_sec, ms,
                                       kNames[static_cast<int>(level)], msg);
        ssize_t r = ::write(STDERR_FILENO, line.data(), line.size());
        (void)r;
    } catch (...) {
        // logging must never take the daemon down
    }
}

}  // namespace gslbd::util
