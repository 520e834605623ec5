#include "util/random.hh"

#include <sys/random.h>

#include <chrono>
#include <functional>
#include <thread>

namespace gslbd::util {

std::uint64_t random_seed() noexcept {
    std::uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != static_cast<ssize_t>(sizeof s)) {
        s = static_cast<std::uint64_t>(
            std::chrono::steady_clock::now().time_since_epoch().count());
    }
    return s ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
}

}  // namespace gslbd::util
