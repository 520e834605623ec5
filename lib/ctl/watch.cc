#include "ctl/watch.hh"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "util/log.hh"

namespace gslbd::ctl {

namespace fs = std::filesystem;

ConfigWatcher::ConfigWatcher(Control& control) : control_(control) {
    ifd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
    stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd_ < 0) {
        ::close(ifd_);
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    rewatch();
}

ConfigWatcher::~ConfigWatcher() {
    stop();
    ::close(ifd_);
    ::close(stop_fd_);
}

void ConfigWatcher::start() {
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void ConfigWatcher::stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
}

void ConfigWatcher::rewatch() {
    for (int wd : wds_) inotify_rm_watch(ifd_, wd);
    wds_.clear();
    files_.clear();
    auto add = [&](const std::string& p) {
        if (p.empty()) return;
        std::error_code ec;
        fs::path abs = fs::absolute(p, ec).lexically_normal();
        files_.insert(abs.string());
    };
    add(control_.config_path());
    const gslb::Snapshot v = control_.current();
    if (v.topo != nullptr) {
        const auto& cfg = *v.topo->config;
        for (const auto& z : cfg.zones) {
            add(z.policy_file);
            add(z.file);  // the zone's static data (its $INCLUDEd files are not watched)
        }
        add(cfg.location_map);
        add(cfg.healthcheck_profiles_file);
    }
    std::set<std::string> dirs;
    for (const auto& f : files_) dirs.insert(fs::path(f).parent_path().string());
    for (const auto& d : dirs) {
        const int wd = inotify_add_watch(ifd_, d.c_str(),
                                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
        if (wd >= 0)
            wds_.insert(wd);
        else
            util::log_warn("config watch: cannot watch {}: {}", d, std::strerror(errno));
    }
}

void ConfigWatcher::run() {
    alignas(inotify_event) char buf[8192];
    bool pending = false;
    for (;;) {
        pollfd fds[2] = {{ifd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        // Debounce: an editor's save is several events; reload 500 ms after the last one.
        const int rc = ::poll(fds, 2, pending ? 500 : -1);
        if (rc < 0 && errno != EINTR) return;
        if (fds[1].revents != 0) return;
        if (rc == 0 && pending) {
            pending = false;
            control_.reload("file change");
            rewatch();
            continue;
        }
        if ((fds[0].revents & POLLIN) == 0) continue;
        for (;;) {
            const ssize_t n = ::read(ifd_, buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
                off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
                if (ev->len == 0) continue;
                // which watched directory: compare full paths of the files we care about
                for (const auto& f : files_) {
                    if (fs::path(f).filename() == ev->name) pending = true;
                }
            }
        }
    }
}

}  // namespace gslbd::ctl
