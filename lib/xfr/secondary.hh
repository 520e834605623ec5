#pragma once
/// Secondary zones (docs/zones.md): the transfer thread. Per zone of the config with
/// `primaries:`, on the SOA timers (refresh after a good check, retry after a failed one,
/// expire with no good check for that long) and at once after a NOTIFY from a listed
/// primary (zone::notify_board(), polled every 100 ms): ask the primaries in order for the
/// SOA; when theirs is newer, IXFR (with a copy) or AXFR, then hand the new zone to the
/// installer (ctl::Control, which builds and publishes a topology exactly as a reload does,
/// GSLB overlay checks included) and, once it is served, write the disk copy. Nothing here
/// runs on the data path; a bad primary costs a log line and a counter, never the copy.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/model.hh"
#include "xfr/client.hh"

namespace gslbd::xfr {

class Secondary {
  public:
    /// Serves `data` for zone `zone`; returns "" when it is served, else why it was refused
    /// (the GSLB overlay conflicts with it, ...). Called on the transfer thread.
    using Installer = std::function<std::string(const std::string& zone, zone::Transferred data)>;

    explicit Secondary(Installer install, Limits limits = {});
    ~Secondary();  ///< stops the thread
    Secondary(const Secondary&) = delete;
    Secondary& operator=(const Secondary&) = delete;

    /// Takes the secondary zones of `cfg` (start-up and every good reload). A zone new here
    /// reads its disk copy; a zone that stays keeps its copy and timers (a changed primary
    /// list is asked at once). Returns what to build topologies from (disk copies included).
    /// Throws nothing: a damaged disk copy is logged and the zone starts empty (SERVFAIL).
    std::shared_ptr<const zone::Secondaries> set_config(const config::Config& cfg);
    void start();
    void stop();

    /// One zone as /api/v1/status, /metrics and gslbctl show it.
    struct Status {
        std::string zone;
        bool loaded = false;   ///< a copy is served (maybe expired)
        bool expired = false;  ///< no good check within SOA expire: SERVFAIL
        std::uint32_t serial = 0;
        std::string primary;       ///< of the last transfer
        std::string last_kind;     ///< "AXFR", "IXFR", "disk" or "" (none yet)
        std::string last_outcome;  ///< "ok", "up to date", "failed", "refused"
        std::string last_error;    ///< of the last failure (kept after a later success)
        std::chrono::system_clock::time_point last_transfer{};  ///< epoch = never
        std::chrono::system_clock::time_point last_check{};     ///< last good SOA check
        std::chrono::system_clock::time_point last_failure{};
        std::chrono::system_clock::time_point next_check{}, expires{};
        std::uint64_t axfr = 0, ixfr = 0, checks = 0, failures = 0, refused = 0, notifies = 0;
    };
    std::vector<Status> status() const;  ///< thread-safe, in config order

  private:
    struct Zone {
        std::shared_ptr<const config::Zone> cfg;  ///< name, primaries (swapped on reload)
        std::string origin;                       ///< lower-case wire
        std::uint64_t hash = 0;  ///< dns::name_hash of origin (the notify board slot)
        std::uint32_t notify_seen = 0;
        std::shared_ptr<const zone::Contents> data;
        std::chrono::steady_clock::time_point due{}, expire_at{};
        bool has_expire = false;
        bool pending = false;  ///< a disk copy read on reload, not installed yet
        /// When the disk copy was last written: an up-to-date check rewrites it (for its
        /// refresh time, which expiry after a restart counts from) at most every expire/4.
        std::chrono::steady_clock::time_point written{};
        Status st;
    };
    void run();
    /// One refresh of `z` (on the thread, without mu_): SOA check, transfer, install.
    void refresh(Zone& z);
    /// One primary: true when the zone is up to date or the new copy is served. `refused`:
    /// the copy came but was not served (no use asking the next primary).
    bool try_primary(Zone& z, const config::Primary& p, std::string& error, bool& refused);
    /// After a refresh: the next check and, on failure, expiry.
    void schedule(Zone& z, bool ok);
    void expire(Zone& z);

    Installer install_;
    Limits limits_;
    std::map<std::string, std::shared_ptr<TsigKey>> keys_;  ///< by name (thread + set_config)
    std::string dir_;
    mutable std::mutex mu_;  ///< zones_ (the list and every Zone's st), keys_, dir_
    std::vector<std::shared_ptr<Zone>> zones_;
    bool configured_ = false;  ///< set_config() ran once (later disk copies are installed)
    std::condition_variable cv_;
    bool wake_ = false;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace gslbd::xfr
