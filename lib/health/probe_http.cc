#include "health/probe_http.hh"

#include <curl/curl.h>
#include <sys/epoll.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

#include "health/prober_impl.hh"

namespace gslbd::health::detail {

namespace {

bool code_ok(const config::HealthCheck& hc, long code) {
    if (hc.expected_codes.empty()) return code == 200;
    for (const auto& r : hc.expected_codes) {
        if (code >= r.lo && code <= r.hi) return true;
    }
    return false;
}

/// Idle easy handles kept for reuse: enough for the usual number of probes in flight; the
/// rest are freed when their probe ends, so memory follows concurrency, not target count.
constexpr std::size_t kMaxIdleHandles = 256;

struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

/// One transfer: an easy handle and what belongs to the probe it runs.
struct HttpProbes::Transfer {
    std::uint64_t token = 0;
    CURL* easy = nullptr;  ///< kept across probes (pooled), reset before each use
    curl_slist* headers = nullptr;
    curl_slist* connect_to = nullptr;
    std::shared_ptr<const ProbeSpec> spec;
    SteadyClock::time_point start;
    std::string body;
    bool stopped = false;  ///< we ended the transfer on purpose (enough body seen)
    char errbuf[CURL_ERROR_SIZE] = {};
    ~Transfer() {
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

HttpProbes::HttpProbes(int epoll_fd, std::vector<ProbeResult>& results)
    : ep_(epoll_fd), results_(results) {
    static CurlGlobal global;  // curl_global_init is not thread-safe: once, at first use
    multi_ = curl_multi_init();
    if (multi_ == nullptr) throw std::runtime_error("health: curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpProbes::socket_cb);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpProbes::timer_cb);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

HttpProbes::~HttpProbes() {
    cancel_all();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

void HttpProbes::fail_now(std::uint64_t token, ErrorKind kind, std::string detail) {
    results_.push_back(ProbeResult{token, kind, std::move(detail), {}});
}

int HttpProbes::socket_cb(void* /*easy*/, int s, int what, void* userp, void* socketp) {
    auto* self = static_cast<HttpProbes*>(userp);
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

int HttpProbes::timer_cb(void* /*multi*/, long timeout_ms, void* userp) {
    auto* self = static_cast<HttpProbes*>(userp);
    if (timeout_ms < 0) {
        self->deadline_.reset();
    } else {
        self->deadline_ = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
}

void HttpProbes::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                       const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    std::unique_ptr<Transfer> h;
    if (!idle_.empty()) {
        h = std::move(idle_.back());
        idle_.pop_back();
        curl_easy_reset(h->easy);  // keeps the handle's buffers; forgets every option
    } else {
        h = std::make_unique<Transfer>();
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
    if (const std::string& src = source_[addr.family == 4 ? 0 : 1]; !src.empty()) {
        const std::string iface = "host!" + src;  // an address, never an interface name
        curl_easy_setopt(e, CURLOPT_INTERFACE, iface.c_str());
    }
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
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpProbes::body_cb);
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
    Transfer* raw = h.get();
    live_.emplace(raw, std::move(h));
}

std::size_t HttpProbes::body_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* h = static_cast<Transfer*>(userp);
    std::size_t len = size * n;
    // Without a body check the status line is all we need: stop at the first body byte.
    if (!h->spec->body || h->body.size() >= kMaxBody) {
        h->stopped = true;
        return 0;
    }
    h->body.append(data, std::min(len, kMaxBody - h->body.size()));
    return len;
}

void HttpProbes::finish(Transfer* h, int code) {
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
    results_.push_back(std::move(r));
    auto it = live_.find(h);
    if (it != live_.end()) {
        recycle(std::move(it->second));
        live_.erase(it);
    }
}

void HttpProbes::recycle(std::unique_ptr<Transfer> h) {
    h->release();
    if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(h));
}

void HttpProbes::process(SteadyClock::time_point now) {
    if (deadline_ && *deadline_ <= now) {
        deadline_.reset();
        int running = 0;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    // Read every message before removing any handle: curl_multi_remove_handle walks the
    // multi's message queue, so removing while messages are queued is quadratic when
    // thousands of probes finish together (a mass timeout).
    done_.clear();
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer* h = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&h));
        if (h != nullptr) done_.emplace_back(h, static_cast<int>(m->data.result));
    }
    for (auto [h, code] : done_) finish(h, code);
    done_.clear();
}

void HttpProbes::on_socket(int fd, std::uint32_t epoll_events) {
    const int mask = (epoll_events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                     (epoll_events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (epoll_events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running = 0;
    curl_multi_socket_action(multi_, static_cast<curl_socket_t>(fd), mask, &running);
}

void HttpProbes::cancel_all() {
    for (auto& [t, owned] : live_) curl_multi_remove_handle(multi_, t->easy);
    live_.clear();
    idle_.clear();
}

}  // namespace gslbd::health::detail
