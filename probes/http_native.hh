#pragma once
/// The native HTTP/1.1 client of the `http` probe kind (probes/http.cc): plain-HTTP checks
/// that it can carry out exactly as libcurl would (see NativeRequest::build) run here, on the
/// prober's epoll set, without libcurl. Per probe: socket, connect, one epoll_ctl, one write
/// of a request built at load, one read (and close) on a fresh connection; one write and one
/// read on a kept one (`keepalive: true`), whose socket stays in the epoll set between probes.
/// No allocation per probe: connections and the state of probes under way (parser, buffers)
/// come from two pools, so an idle kept connection costs ~64 bytes; the body
/// is kept only for checks that look at it (expected_body, load_gauge). The response parser
/// (http1.hh) keeps a few dozen bytes of state. HTTPS, and what only curl does (see build()),
/// stay on libcurl.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.hh"
#include "health/probe_kind.hh"
#include "http1.hh"

namespace gslbd::probes {

/// The request of one check, built when the configuration loads.
struct NativeRequest {
    std::string line;  ///< "GET /uri HTTP/1.1\r\n"
    std::string host;  ///< "Host: name[:port]\r\n", or empty: from the address
    bool host_from_addr = false;
    std::string rest;   ///< User-Agent, Accept, the check's headers, the blank line
    bool head = false;  ///< HEAD: no body in the response
    /// The request as libcurl (7.88, the options http.cc sets) would send it, or nullopt
    /// when the check needs something only curl does: TLS, a URI curl would rewrite (dot
    /// segments, fragments, characters outside RFC 3986), a header curl treats specially
    /// (an empty value removes one of curl's own), CONNECT, a host that is not a plain name.
    static std::optional<NativeRequest> build(const config::HealthCheck& hc, std::uint16_t port,
                                              bool tls);
};

/// What a probe does with the response body.
enum class BodyUse : std::uint8_t {
    FirstByte,  ///< nothing: the result is known at the first body byte (as curl stops there)
    Collect,    ///< keep up to health::kMaxBody bytes for the body regex / load gauge
    Drain,      ///< read it to its end (up to kMaxBody) so that the connection can be kept
};

class NativeHttp {
  public:
    /// Turns a response into the probe's verdict (status and body checks; http.cc).
    using Judge = void (*)(const health::ProbeSpec& spec, int status, std::string_view body,
                           health::ProbeResult& r);
    NativeHttp(const health::RunnerContext& ctx, Judge judge);
    ~NativeHttp();  ///< closes every connection
    NativeHttp(const NativeHttp&) = delete;
    NativeHttp& operator=(const NativeHttp&) = delete;

    /// Starts one probe. `keep`: the connection may be kept for the next probe of `conn_id`
    /// (and a kept one of that identity is used now).
    void start(std::uint64_t token, std::shared_ptr<const health::ProbeSpec> spec,
               const NativeRequest& req, BodyUse use, bool keep, std::uint64_t conn_id,
               const util::IpAddr& addr, std::chrono::milliseconds timeout);
    /// Whether `fd` is one of this client's sockets.
    bool owns(int fd) const noexcept {
        return fd >= 0 && static_cast<std::size_t>(fd) < by_fd_.size() &&
               by_fd_[static_cast<std::size_t>(fd)] != nullptr;
    }
    void on_event(int fd, std::uint32_t events);
    void process(health::SteadyClock::time_point now, std::vector<health::ProbeResult>& out);
    std::optional<health::SteadyClock::time_point> deadline() const;
    void cancel_all();  ///< drops the probes in flight (kept idle connections stay)
    std::size_t in_flight() const noexcept { return busy_; }

  private:
    struct Conn;
    struct Probe;
    enum class Phase : std::uint8_t { Idle, Connecting, Sending, Reading };

    Conn* take_conn();
    void put_conn(Conn* c);  ///< back to the pool (closed before)
    Probe* take_probe();
    void put_probe(Conn* c);  ///< `c`'s probe (if any) back to its pool
    /// Opens a fresh connection for `c`'s probe; false after finishing it with a failure.
    bool open(Conn* c);
    void send_request(Conn* c);
    void read_response(Conn* c, std::uint32_t events);
    /// Feeds `n` bytes; true when the probe ended.
    bool feed(Conn* c, const char* data, std::size_t n);
    /// The probe of `c` ended; `reusable`: the connection may be parked for the next one.
    void finish(Conn* c, health::ErrorKind kind, std::string detail, bool reusable);
    void close_conn(Conn* c);  ///< closes its socket, forgets it, returns it to the pool
    /// A kept connection failed before any byte of the answer: once more on a fresh one.
    void retry_fresh(Conn* c);
    void sweep(health::SteadyClock::time_point now);

    health::RunnerContext ctx_;
    Judge judge_;
    std::vector<Conn*> by_fd_;  ///< every open connection, by socket
    /// kept connections (idle or busy) by identity: an entry per kept target, made at its
    /// first probe, so a probe on a kept connection allocates nothing
    std::unordered_map<std::uint64_t, Conn*> kept_;
    std::vector<std::unique_ptr<Conn>> all_;      ///< every Conn object (owner)
    std::vector<Conn*> free_;                     ///< Conn objects without a socket
    std::vector<std::unique_ptr<Probe>> probes_;  ///< every Probe object (owner)
    std::vector<Probe*> free_probes_;             ///< Probe objects without a connection
    std::size_t busy_ = 0;
    std::uint64_t next_serial_ = 1;
    struct Deadline {
        health::SteadyClock::time_point at;
        int fd;
        std::uint64_t serial;
        bool operator>(const Deadline& o) const noexcept { return at > o.at; }
    };
    mutable std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
    std::vector<health::ProbeResult> results_;
    std::string out_;       ///< the request being assembled
    std::vector<char> in_;  ///< receive buffer (one for all connections)
    health::SteadyClock::time_point swept_{};
};

}  // namespace gslbd::probes
