#pragma once
/// Internal to the prober: HTTP(S) probes on libcurl's multi interface in socket-action mode.
/// Curl's sockets join the prober's epoll set (tagged detail::kCurlTag); easy handles come
/// from a small pool and go back to it when their probe ends, so memory follows the probes
/// in flight. Not thread-safe: the Prober that owns it serializes every call.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "health/prober.hh"

namespace gslbd::health::detail {

class HttpProbes {
  public:
    /// Registers curl's sockets in `epoll_fd`; finished attempts are appended to `results`
    /// (both outlive this object). Throws std::runtime_error when curl cannot be set up.
    HttpProbes(int epoll_fd, std::vector<ProbeResult>& results);
    ~HttpProbes();  ///< abandons transfers in flight; call before closing `epoll_fd`
    HttpProbes(const HttpProbes&) = delete;
    HttpProbes& operator=(const HttpProbes&) = delete;

    /// Starts one attempt; a failure to start is a result at once.
    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec, const util::IpAddr& addr,
               std::chrono::milliseconds timeout);
    /// An epoll event on a curl socket (`fd` from the tag's low bits).
    void on_socket(int fd, std::uint32_t epoll_events);
    /// Runs curl's timer when it is due at `now` and collects the finished transfers.
    void process(SteadyClock::time_point now);
    /// When curl wants its timer run (nullopt: no timer set).
    std::optional<SteadyClock::time_point> deadline() const noexcept { return deadline_; }
    /// Drops every transfer in flight (no results) and the pool of idle handles.
    void cancel_all();
    std::size_t in_flight() const noexcept { return live_.size(); }
    /// Source address text per family for new transfers ("" = the kernel's choice).
    void set_source(std::string v4, std::string v6) {
        source_[0] = std::move(v4);
        source_[1] = std::move(v6);
    }

  private:
    struct Transfer;
    static int socket_cb(void* easy, int s, int what, void* userp, void* socketp);
    static int timer_cb(void* multi, long timeout_ms, void* userp);
    static std::size_t body_cb(char* data, std::size_t size, std::size_t n, void* userp);
    void finish(Transfer* t, int curl_code);
    void recycle(std::unique_ptr<Transfer> t);  ///< back to the idle pool (or freed when full)
    void fail_now(std::uint64_t token, ErrorKind kind, std::string detail);

    std::string source_[2];  ///< CURLOPT_INTERFACE "host!ADDR" per family, "" = none
    int ep_;
    std::vector<ProbeResult>& results_;
    void* multi_ = nullptr;  ///< CURLM*
    std::optional<SteadyClock::time_point> deadline_;
    std::unordered_map<Transfer*, std::unique_ptr<Transfer>> live_;  ///< in flight
    std::vector<std::unique_ptr<Transfer>> idle_;                    ///< reusable easy handles
    std::vector<std::pair<Transfer*, int>> done_;                    ///< process() scratch
};

}  // namespace gslbd::health::detail
