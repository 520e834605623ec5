#pragma once
/// Leveled logging to stderr. Control side and start-up only: never call this per packet.
#include <fmt/format.h>

#include <string_view>

namespace gslbd::util {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;
/// "debug", "info", "warn"/"warning", "error", "off"; false if unknown.
bool parse_log_level(std::string_view text, LogLevel& out) noexcept;
/// Writes one line "<iso time> <level> <msg>\n" with a single write(2) so lines never interleave.
void log_line(LogLevel level, std::string_view msg) noexcept;

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
    if (level < log_level()) return;
    log_line(level, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... a) { log(LogLevel::debug, f, std::forward<Args>(a)...); }
template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... a) { log(LogLevel::info, f, std::forward<Args>(a)...); }
template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... a) { log(LogLevel::warn, f, std::forward<Args>(a)...); }
template <typename... Args>
void log_error(fmt::format_string<Args...> f, Args&&... a) { log(LogLevel::error, f, std::forward<Args>(a)...); }

}  // namespace gslbd::util
