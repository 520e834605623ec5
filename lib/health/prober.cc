#include "health/prober.hh"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "health/dnsprobe.hh"
#include "util/sockaddr.hh"

namespace gslbd::health {

namespace {

constexpr std::uint64_t kCurlTag = 1ull << 63;
constexpr std::uint64_t kSpecialTag = 1ull << 62;
constexpr std::uint64_t kWakeTag = kSpecialTag | 0;
constexpr std::uint64_t kIcmp4Tag = kSpecialTag | 1;
constexpr std::uint64_t kIcmp6Tag = kSpecialTag | 2;

std::system_error sys_error(const std::string& what) {
    return std::system_error(errno, std::generic_category(), what);
}

ErrorKind errno_kind(int e) {
    if (e == ECONNREFUSED) return ErrorKind::Refused;
    if (e == ETIMEDOUT) return ErrorKind::Timeout;
    return ErrorKind::Network;
}

std::uint16_t inet_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2)
        sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<std::uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

bool code_ok(const config::HealthCheck& hc, long code) {
    if (hc.expected_codes.empty()) return code == 200;
    for (const auto& r : hc.expected_codes) {
        if (code >= r.lo && code <= r.hi) return true;
    }
    return false;
}

struct CurlGlobal {
    CurlGlobal() {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        // Thousands of probes in flight need thousands of sockets; the soft limit is often
        // 1024 while the hard limit is far higher. Raise it once for the process.
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
};

/// Idle easy handles kept for reuse: enough for the usual number of probes in flight; the
/// rest are freed when their probe ends, so memory follows concurrency, not target count.
constexpr std::size_t kMaxIdleHandles = 256;

}  // namespace

struct Prober::Own {
    std::uint64_t token = 0;
    ProbeSpec::Kind kind = ProbeSpec::Kind::Tcp;
    int fd = -1;
    std::shared_ptr<const ProbeSpec> spec;
    util::IpAddr addr;
    SteadyClock::time_point start;
    std::uint16_t dns_id = 0;
    std::vector<std::uint32_t> icmp_keys;
};

struct Prober::Http {
    std::uint64_t token = 0;
    CURL* easy = nullptr;  ///< kept across probes (pooled), reset before each use
    curl_slist* headers = nullptr;
    curl_slist* connect_to = nullptr;
    std::shared_ptr<const ProbeSpec> spec;
    SteadyClock::time_point start;
    std::string body;
    bool stopped = false;  ///< we ended the transfer on purpose (enough body seen)
    char errbuf[CURL_ERROR_SIZE] = {};
    ~Http() {
        if (easy != nullptr) curl_easy_cleanup(easy);
        release();
    }
    /// Drops what belongs to one probe; keeps the easy handle.
    void release() {
        curl_slist_free_all(headers);
        curl_slist_free_all(connect_to);
        headers = connect_to = nullptr;
        spec.reset();
        // a body check may have grown the buffer to kMaxBody: do not park that in the pool
        if (body.capacity() > 4096) {
            std::string().swap(body);
        } else {
            body.clear();
        }
        stopped = false;
        errbuf[0] = '\0';
    }
};

Prober::Prober() : rng_(util::random_seed()) {
    static CurlGlobal global;  // curl_global_init is not thread-safe: once, at first use
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw sys_error("health: epoll_create1");
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw sys_error("health: eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
    multi_ = curl_multi_init();
    if (multi_ == nullptr) throw std::runtime_error("health: curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Prober::curl_socket_cb);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Prober::curl_timer_cb);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    icmp_ident_ = static_cast<std::uint16_t>(rng_.next());
}

Prober::~Prober() {
    cancel_all();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    for (int fd : icmp_fd_) {
        if (fd >= 0) ::close(fd);
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (ep_ >= 0) ::close(ep_);
}

void Prober::open_icmp(int family) {
    int& fd = icmp_fd_[family == 4 ? 0 : 1];
    if (fd >= 0) return;
    int s = family == 4
                ? ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP)
                : ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (s < 0) {
        throw sys_error(fmt::format(
            "health: icmp checks need a raw IPv{} socket (run as root or grant CAP_NET_RAW, "
            "e.g. setcap cap_net_raw+ep gslbd), socket()",
            family));
    }
    if (family == 6) {
        icmp6_filter filt;
        ICMP6_FILTER_SETBLOCKALL(&filt);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filt);
        setsockopt(s, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof filt);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = family == 4 ? kIcmp4Tag : kIcmp6Tag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, s, &ev) != 0) {
        ::close(s);
        throw sys_error("health: epoll_ctl(icmp)");
    }
    fd = s;
}

void Prober::wakeup() noexcept {
    std::uint64_t one = 1;
    ssize_t r = ::write(wake_fd_, &one, sizeof one);
    (void)r;
}

void Prober::fail_now(std::uint64_t token, ErrorKind kind, std::string detail) {
    ready_.push_back(ProbeResult{token, kind, std::move(detail), {}});
}

void Prober::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                   const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    if (spec->kind == ProbeSpec::Kind::Http) {
        start_http(token, std::move(spec), addr, timeout);
    } else {
        start_own(token, std::move(spec), addr, timeout);
    }
}

// ---- HTTP(S) over curl multi -------------------------------------------------------------

int Prober::curl_socket_cb(void* /*easy*/, int s, int what, void* userp, void* socketp) {
    auto* self = static_cast<Prober*>(userp);
    if (what == CURL_POLL_REMOVE) {
        // curl forgets the socket's assigned pointer itself; the fd may already be closed
        epoll_ctl(self->ep_, EPOLL_CTL_DEL, s, nullptr);
        return 0;
    }
    epoll_event ev{};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.u64 = kCurlTag | static_cast<std::uint32_t>(s);
    // socketp (set through curl_multi_assign) tells a new socket from a known one: one
    // epoll_ctl per change instead of a failing MOD before every ADD
    if (socketp == nullptr) {
        if (epoll_ctl(self->ep_, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) {
            epoll_ctl(self->ep_, EPOLL_CTL_MOD, s, &ev);
        }
        curl_multi_assign(self->multi_, s, self);
    } else {
        epoll_ctl(self->ep_, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
}

int Prober::curl_timer_cb(void* /*multi*/, long timeout_ms, void* userp) {
    auto* self = static_cast<Prober*>(userp);
    if (timeout_ms < 0) {
        self->curl_deadline_.reset();
    } else {
        self->curl_deadline_ = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
}

void Prober::start_http(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                        const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    std::unique_ptr<Http> h;
    if (!idle_http_.empty()) {
        h = std::move(idle_http_.back());
        idle_http_.pop_back();
        curl_easy_reset(h->easy);  // keeps the handle's buffers; forgets every option
    } else {
        h = std::make_unique<Http>();
        h->easy = curl_easy_init();
        if (h->easy == nullptr) {
            return fail_now(token, ErrorKind::Internal, "curl_easy_init failed");
        }
    }
    h->token = token;
    h->spec = spec;
    h->start = SteadyClock::now();
    const config::HealthCheck& hc = spec->cfg;
    const std::string ip = addr.family == 6 ? "[" + addr.to_string() + "]" : addr.to_string();
    const std::string& host = hc.host.empty() ? ip : hc.host;
    const std::string url =
        fmt::format("{}://{}:{}{}", spec->tls ? "https" : "http", host, spec->port, hc.uri);
    CURL* e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    if (!hc.host.empty()) {
        // connect to the backend while URL, Host header and SNI carry the configured name;
        // CONNECT_TO (unlike RESOLVE) does not touch the multi handle's shared DNS cache
        const std::string to = fmt::format("{}:{}:{}:{}", hc.host, spec->port, ip, spec->port);
        h->connect_to = curl_slist_append(nullptr, to.c_str());
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, h->connect_to);
    }
    for (const auto& [name, value] : hc.headers) {
        h->headers = curl_slist_append(h->headers, (name + ": " + value).c_str());
    }
    if (h->headers != nullptr) curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    if (hc.method == "HEAD") {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (hc.method != "GET" && !hc.method.empty()) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, hc.method.c_str());
    }
    auto ms = static_cast<long>(timeout.count());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gslbd-health/0.1");
    // Targets are IP literals: a cache entry per target only costs memory, and curl prunes
    // its DNS cache by walking every entry on each transfer (O(targets) per probe).
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    // the request goes out in one write: Nagle never delays it, and this saves a syscall
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Prober::body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, h.get());
    if (spec->tls) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, hc.skip_tls_verify ? 0L : 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, hc.skip_tls_verify ? 0L : 2L);
        if (!hc.tls_ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, hc.tls_ca.c_str());
        if (!hc.tls_cert.empty()) curl_easy_setopt(e, CURLOPT_SSLCERT, hc.tls_cert.c_str());
        if (!hc.tls_key.empty()) curl_easy_setopt(e, CURLOPT_SSLKEY, hc.tls_key.c_str());
    }
    CURLMcode mc = curl_multi_add_handle(multi_, e);
    if (mc != CURLM_OK) {
        recycle(std::move(h));
        return fail_now(token, ErrorKind::Internal,
                        std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
    }
    Http* raw = h.get();
    http_.emplace(raw, std::move(h));
}

std::size_t Prober::body_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* h = static_cast<Http*>(userp);
    std::size_t len = size * n;
    // Without a body check the status line is all we need: stop at the first body byte.
    if (!h->spec->body || h->body.size() >= kMaxBody) {
        h->stopped = true;
        return 0;
    }
    h->body.append(data, std::min(len, kMaxBody - h->body.size()));
    return len;
}

void Prober::finish_http(Http* h, int code) {
    auto res = static_cast<CURLcode>(code);
    ProbeResult r;
    r.token = h->token;
    r.latency =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - h->start);
    const char* err = h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(res);
    if (res == CURLE_OK || (res == CURLE_WRITE_ERROR && h->stopped)) {
        long status = 0;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
        if (!code_ok(h->spec->cfg, status)) {
            r.kind = ErrorKind::Status;
            r.detail = fmt::format("HTTP status {}", status);
        } else if (h->spec->body && !h->spec->body->search(h->body)) {
            r.kind = ErrorKind::Body;
            r.detail = fmt::format("body ({} bytes read) does not match '{}'", h->body.size(),
                                   h->spec->cfg.expected_body);
        }
    } else {
        switch (res) {
            case CURLE_OPERATION_TIMEDOUT:
                r.kind = ErrorKind::Timeout;
                break;
            case CURLE_COULDNT_CONNECT: {
                long os = 0;
                curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &os);
                r.kind = os == ECONNREFUSED ? ErrorKind::Refused : ErrorKind::Network;
                break;
            }
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CERTPROBLEM:
            case CURLE_SSL_CIPHER:
            case CURLE_SSL_CACERT_BADFILE:
            case CURLE_SSL_ISSUER_ERROR:
            case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            case CURLE_SSL_CRL_BADFILE:
            case CURLE_SSL_ENGINE_NOTFOUND:
            case CURLE_SSL_ENGINE_SETFAILED:
            case CURLE_SSL_ENGINE_INITFAILED:
            case CURLE_SSL_SHUTDOWN_FAILED:
            case CURLE_USE_SSL_FAILED:
                r.kind = ErrorKind::Tls;
                break;
            case CURLE_GOT_NOTHING:
            case CURLE_WEIRD_SERVER_REPLY:
            case CURLE_UNSUPPORTED_PROTOCOL:
                r.kind = ErrorKind::BadReply;
                break;
            default:
                r.kind = ErrorKind::Network;
                break;
        }
        r.detail = err;
    }
    curl_multi_remove_handle(multi_, h->easy);
    ready_.push_back(std::move(r));
    auto it = http_.find(h);
    if (it != http_.end()) {
        recycle(std::move(it->second));
        http_.erase(it);
    }
}

void Prober::recycle(std::unique_ptr<Http> h) {
    h->release();
    if (idle_http_.size() < kMaxIdleHandles) idle_http_.push_back(std::move(h));
}

void Prober::drain_curl() {
    // Read every message before removing any handle: curl_multi_remove_handle walks the
    // multi's message queue, so removing while messages are queued is quadratic when
    // thousands of probes finish together (a mass timeout).
    done_.clear();
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Http* h = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&h));
        if (h != nullptr) done_.emplace_back(h, static_cast<int>(m->data.result));
    }
    for (auto [h, code] : done_) finish_http(h, code);
    done_.clear();
}

// ---- TCP, DNS, ICMP on our own sockets ------------------------------------------------------

void Prober::start_own(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                       const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    auto o = std::make_unique<Own>();
    o->token = token;
    o->kind = spec->kind;
    o->addr = addr;
    o->start = SteadyClock::now();
    const int af = addr.family == 4 ? AF_INET : AF_INET6;
    std::uint64_t serial = next_serial_++;
    sockaddr_storage ss;
    socklen_t sl = util::to_sockaddr(addr, spec->port, ss);
    std::uint32_t want = 0;
    if (spec->kind == ProbeSpec::Kind::Tcp || spec->kind == ProbeSpec::Kind::Dns) {
        const bool tcp = spec->kind == ProbeSpec::Kind::Tcp;
        o->fd = ::socket(af, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (o->fd < 0) {
            return fail_now(token, ErrorKind::Internal,
                            std::string("socket: ") + std::strerror(errno));
        }
        if (tcp) {
            // close with RST: no TIME_WAIT pile-up from thousands of probes
            linger lg{1, 0};
            setsockopt(o->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        int rc = ::connect(o->fd, reinterpret_cast<sockaddr*>(&ss), sl);
        if (rc != 0 && errno != EINPROGRESS) {
            int e = errno;
            ::close(o->fd);
            return fail_now(token, errno_kind(e), std::string("connect: ") + std::strerror(e));
        }
        if (tcp) {
            want = EPOLLOUT;
        } else {
            o->dns_id = static_cast<std::uint16_t>(rng_.next());
            auto q = build_dns_query(o->dns_id, spec->qname_wire, spec->cfg.query_type);
            if (::send(o->fd, q.data(), q.size(), 0) < 0) {
                int e = errno;
                ::close(o->fd);
                return fail_now(token, errno_kind(e), std::string("send: ") + std::strerror(e));
            }
            want = EPOLLIN;
        }
        epoll_event ev{};
        ev.events = want;
        ev.data.u64 = serial;
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, o->fd, &ev) != 0) {
            int e = errno;
            ::close(o->fd);
            return fail_now(token, ErrorKind::Internal, std::string("epoll: ") + std::strerror(e));
        }
    } else {
        int fd = icmp_fd_[addr.family == 4 ? 0 : 1];
        if (fd < 0) return fail_now(token, ErrorKind::Internal, "icmp socket not open");
        for (int i = 0; i < spec->cfg.count; ++i) {
            std::uint16_t seq = 0;
            std::uint32_t key = 0;
            for (int tries = 0; tries < 65536; ++tries) {
                seq = ++icmp_seq_;
                key = static_cast<std::uint32_t>(addr.family) << 16 | seq;
                if (!icmp_wait_.contains(key)) break;
            }
            std::uint8_t pkt[24] = {};
            pkt[0] = addr.family == 4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
            pkt[4] = static_cast<std::uint8_t>(icmp_ident_ >> 8);
            pkt[5] = static_cast<std::uint8_t>(icmp_ident_);
            pkt[6] = static_cast<std::uint8_t>(seq >> 8);
            pkt[7] = static_cast<std::uint8_t>(seq);
            std::memcpy(pkt + 8, &serial, sizeof serial);
            if (addr.family == 4) {  // the kernel fills the ICMPv6 checksum itself
                std::uint16_t c = inet_checksum(pkt, sizeof pkt);
                pkt[2] = static_cast<std::uint8_t>(c >> 8);
                pkt[3] = static_cast<std::uint8_t>(c);
            }
            sockaddr_storage dst;
            socklen_t dl = util::to_sockaddr(addr, 0, dst);
            if (::sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&dst), dl) < 0) {
                int e = errno;
                for (auto k : o->icmp_keys) icmp_wait_.erase(k);
                return fail_now(token, errno_kind(e),
                                std::string("icmp send: ") + std::strerror(e));
            }
            icmp_wait_[key] = serial;
            o->icmp_keys.push_back(key);
        }
    }
    o->spec = std::move(spec);
    deadlines_.emplace(o->start + timeout, serial);
    own_.emplace(serial, std::move(o));
}

void Prober::finish_own(std::uint64_t serial, ErrorKind kind, std::string detail) {
    auto it = own_.find(serial);
    if (it == own_.end()) return;
    Own& o = *it->second;
    ProbeResult r;
    r.token = o.token;
    r.kind = kind;
    r.detail = std::move(detail);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - o.start);
    if (o.fd >= 0) ::close(o.fd);  // also removes it from epoll
    for (auto k : o.icmp_keys) icmp_wait_.erase(k);
    own_.erase(it);
    ready_.push_back(std::move(r));
}

void Prober::on_own_event(std::uint64_t serial, std::uint32_t events) {
    auto it = own_.find(serial);
    if (it == own_.end()) return;  // finished earlier in this batch
    Own& o = *it->second;
    if (o.kind == ProbeSpec::Kind::Tcp) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(o.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && !(events & EPOLLERR)) return finish_own(serial, ErrorKind::None, {});
        return finish_own(serial, errno_kind(err), std::string("connect: ") + std::strerror(err));
    }
    // DNS: read until our reply or EAGAIN; strays (wrong ID) are ignored
    std::uint8_t buf[4096];
    for (;;) {
        ssize_t n = ::recv(o.fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            int e = errno;
            return finish_own(serial, errno_kind(e), std::string("dns recv: ") + std::strerror(e));
        }
        int rcode = -1;
        const auto& hc = o.spec->cfg;
        DnsReply r =
            check_dns_reply({buf, static_cast<std::size_t>(n)}, o.dns_id, o.spec->qname_wire,
                            hc.query_type, hc.expected_rcode, hc.expected_address, rcode);
        switch (r) {
            case DnsReply::NotOurs:
                continue;
            case DnsReply::Ok:
                return finish_own(serial, ErrorKind::None, {});
            case DnsReply::Malformed:
                return finish_own(serial, ErrorKind::BadReply, "malformed DNS reply");
            case DnsReply::Rcode:
                return finish_own(serial, ErrorKind::DnsRcode,
                                  fmt::format("rcode {} (expected {})", rcode, hc.expected_rcode));
            case DnsReply::NoAddress:
                return finish_own(serial, ErrorKind::DnsAnswer,
                                  fmt::format("answer lacks {}", hc.expected_address->to_string()));
        }
    }
}

void Prober::on_icmp_readable(int family) {
    int fd = icmp_fd_[family == 4 ? 0 : 1];
    std::uint8_t buf[1500];
    for (;;) {
        sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) return;  // EAGAIN (or a transient error: the deadline covers us)
        std::size_t off = 0;
        if (family == 4) {
            if (n < 20) continue;
            off = static_cast<std::size_t>(buf[0] & 0x0f) * 4;
        }
        if (static_cast<std::size_t>(n) < off + 8) continue;
        const std::uint8_t* icmp = buf + off;
        if (icmp[0] != (family == 4 ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY)) continue;
        if ((icmp[4] << 8 | icmp[5]) != icmp_ident_) continue;
        auto seq = static_cast<std::uint16_t>(icmp[6] << 8 | icmp[7]);
        auto w = icmp_wait_.find(static_cast<std::uint32_t>(family) << 16 | seq);
        if (w == icmp_wait_.end()) continue;
        auto it = own_.find(w->second);
        if (it == own_.end()) continue;
        util::IpAddr src;
        src.family = static_cast<std::uint8_t>(family);
        if (family == 4) {
            std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, 4);
        } else {
            std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, 16);
        }
        if (!(src == it->second->addr)) continue;
        finish_own(w->second, ErrorKind::None, {});
    }
}

// ---- the loop -------------------------------------------------------------------------------

std::optional<SteadyClock::time_point> Prober::next_deadline() const {
    if (!ready_.empty()) return SteadyClock::time_point::min();
    std::optional<SteadyClock::time_point> d = curl_deadline_;
    if (!deadlines_.empty() && (!d || deadlines_.top().first < *d)) d = deadlines_.top().first;
    return d;
}

void Prober::wait(std::chrono::milliseconds max_wait) {
    int ms = static_cast<int>(std::max<std::int64_t>(0, max_wait.count()));
    if (!ready_.empty()) ms = 0;
    nevents_ = epoll_wait(ep_, events_.data(), static_cast<int>(events_.size()), ms);
    if (nevents_ < 0) nevents_ = 0;  // EINTR
}

void Prober::process(std::vector<ProbeResult>& out) {
    int running = 0;
    for (int i = 0; i < nevents_; ++i) {
        const epoll_event& ev = events_[static_cast<std::size_t>(i)];
        std::uint64_t tag = ev.data.u64;
        if (tag & kCurlTag) {
            int mask = (ev.events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (ev.events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (ev.events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(multi_, static_cast<curl_socket_t>(tag & 0xffffffffu), mask,
                                     &running);
        } else if (tag == kWakeTag) {
            std::uint64_t v;
            ssize_t r = ::read(wake_fd_, &v, sizeof v);
            (void)r;
        } else if (tag == kIcmp4Tag || tag == kIcmp6Tag) {
            on_icmp_readable(tag == kIcmp4Tag ? 4 : 6);
        } else {
            on_own_event(tag, ev.events);
        }
    }
    nevents_ = 0;
    auto now = SteadyClock::now();
    if (curl_deadline_ && *curl_deadline_ <= now) {
        curl_deadline_.reset();
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    drain_curl();
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
        std::uint64_t serial = deadlines_.top().second;
        deadlines_.pop();
        finish_own(serial, ErrorKind::Timeout, "no answer within the timeout");
    }
    for (auto& r : ready_) out.push_back(std::move(r));
    ready_.clear();
}

void Prober::cancel_all() {
    for (auto& [h, owned] : http_) curl_multi_remove_handle(multi_, h->easy);
    http_.clear();
    idle_http_.clear();
    for (auto& [serial, o] : own_) {
        if (o->fd >= 0) ::close(o->fd);
    }
    own_.clear();
    icmp_wait_.clear();
    deadlines_ = {};
    ready_.clear();
}

}  // namespace gslbd::health
