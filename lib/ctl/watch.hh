#pragma once
/// `api.watch: true`: reloads when the main config, a zone policy file, a zone's `file:`
/// (static data; not the files it $INCLUDEs), the global healthcheck_profiles file or the
/// location map changes on disk (inotify on their directories, so editors that write a new file and
/// rename it over the old one are seen too). Changes are debounced by 500 ms.
#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "ctl/control.hh"

namespace gslbd::ctl {

class ConfigWatcher {
  public:
    /// Throws std::system_error when inotify cannot be set up.
    explicit ConfigWatcher(Control& control);
    ~ConfigWatcher();  ///< stops
    ConfigWatcher(const ConfigWatcher&) = delete;
    ConfigWatcher& operator=(const ConfigWatcher&) = delete;
    void start();
    void stop();

  private:
    void run();
    void rewatch();  ///< the files of the config serving now

    Control& control_;
    int ifd_ = -1, stop_fd_ = -1;
    std::set<std::string> files_;  ///< absolute, normalized
    std::set<int> wds_;
    std::thread thread_;
};

}  // namespace gslbd::ctl
