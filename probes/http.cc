// Probe kinds `http` and `https`. Plain-HTTP checks that the native HTTP/1.1 client can carry
// out exactly as libcurl would (NativeRequest::build: nearly all of them) run on it
// (http_native.cc: ~4x less CPU per probe); HTTPS and the rest on libcurl's multi interface
// in socket-action mode. Both put their sockets in the prober's epoll set (tagged
// RunnerContext::tag | fd); curl's easy handles and the native connections come from small
// pools, so memory follows the probes in flight (and the kept connections), not the targets.
// GSLBD_HTTP_CLIENT=curl in the environment sends every check to libcurl (benchmarks).
#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "health/plan.hh"
#include "health/probe_kind.hh"
#include "http_native.hh"
#include "util/hash.hh"

namespace gslbd::probes {

namespace {

using health::ErrorKind;
using health::ProbeResult;
using health::ProbeSpec;
using health::SteadyClock;

struct HttpParams : health::KindParams {
    bool tls = false;                               ///< https scheme (type https or enable_tls)
    std::shared_ptr<const health::BodyRegex> body;  ///< null = no body check
    bool gauge = false;                             ///< load_gauge: read the body for it
    std::optional<NativeRequest> native;            ///< set: the native client runs it
};

/// The value of the first sample of `g` in Prometheus text `body` (NaN when none): the
/// name must match and every label of `g` be there with its value.
double find_gauge(std::string_view body, const config::HealthCheck::Gauge& g) {
    std::size_t pos = 0;
    while (pos < body.size()) {
        std::size_t end = body.find('\n', pos);
        if (end == std::string_view::npos) end = body.size();
        std::string_view line = body.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line[0] == '#' || line.substr(0, g.name.size()) != g.name) continue;
        std::string_view rest = line.substr(g.name.size());
        std::string_view labels;
        if (!rest.empty() && rest[0] == '{') {
            const std::size_t close = rest.find('}');
            if (close == std::string_view::npos) continue;
            labels = rest.substr(1, close - 1);
            rest = rest.substr(close + 1);
        }
        if (rest.empty() || (rest[0] != ' ' && rest[0] != '\t')) continue;  // a longer name
        bool all = true;
        for (const auto& [k, v] : g.labels) {
            const std::string want = k + "=\"" + v + "\"";
            std::size_t at = labels.find(want);
            // whole label: at the start or after ',', and ending at ',' or the end
            while (at != std::string_view::npos &&
                   ((at != 0 && labels[at - 1] != ',' && labels[at - 1] != ' ') ||
                    (at + want.size() < labels.size() && labels[at + want.size()] != ',')))
                at = labels.find(want, at + 1);
            all = all && at != std::string_view::npos;
        }
        if (!all) continue;
        while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
        const std::string value(rest.substr(0, rest.find_first_of(" \t\r")));
        char* stop = nullptr;
        const double x = std::strtod(value.c_str(), &stop);
        if (!value.empty() && *stop == '\0') return x;
    }
    return std::numeric_limits<double>::quiet_NaN();
}

std::string resolve(const config::HealthCheck& hc, const health::CheckSite& site, ProbeSpec& spec) {
    const std::string& where = site.where;
    if (hc.port < 0 || hc.port > 65535) {
        throw config::ConfigError(hc.pos, "port", where + ": port must be 1..65535");
    }
    auto p = std::make_shared<HttpParams>();
    p->tls = spec.type == "https" || hc.enable_tls;
    spec.type = p->tls ? "https" : "http";
    spec.port = hc.port != 0 ? static_cast<std::uint16_t>(hc.port) : (p->tls ? 443 : 80);
    if (!hc.expected_body.empty()) {
        p->body = std::make_shared<const health::BodyRegex>(hc.expected_body, hc.pos);
    }
    p->gauge = !hc.load_gauge.name.empty();
    if (hc.uri.empty() || hc.uri[0] != '/') {
        throw config::ConfigError(hc.pos, "uri", where + ": uri must start with '/'");
    }
    if (hc.tls_key.empty() != hc.tls_cert.empty()) {
        throw config::ConfigError(hc.pos, "tls_cert",
                                  where + ": tls_cert and tls_key go together (mTLS)");
    }
    // '\x1f' separates fields so that no two different checks share a key
    std::string k = hc.uri;
    auto add = [&k](const std::string& v) {
        k += '\x1f';
        k += v;
    };
    add(hc.method);
    add(hc.host);
    for (const auto& [n, v] : hc.headers) add(n + ":" + v);
    add("codes");
    for (const auto& c : hc.expected_codes) add(fmt::format("{}-{}", c.lo, c.hi));
    add(hc.expected_body);
    add(hc.load_gauge.text);
    add(hc.skip_tls_verify ? "noverify" : "verify");
    add(hc.tls_cert);
    add(hc.tls_key);
    add(hc.tls_ca);
    // only when on: the keys of existing checks stay what they were (fleet votes)
    if (hc.keepalive) add("keepalive");
    p->native = NativeRequest::build(hc, spec.port, p->tls);
    spec.params = std::move(p);
    return k;
}

bool code_ok(const config::HealthCheck& hc, long code) {
    if (hc.expected_codes.empty()) return code == 200;
    for (const auto& r : hc.expected_codes) {
        if (code >= r.lo && code <= r.hi) return true;
    }
    return false;
}

/// The verdict on a response that arrived (either client): status, body, load gauge.
void judge(const ProbeSpec& spec, int status, std::string_view body, ProbeResult& r) {
    const auto& params = health::kind_params<HttpParams>(spec);
    if (!code_ok(spec.cfg, status)) {
        r.kind = ErrorKind::Status;
        r.detail = fmt::format("HTTP status {}", status);
    } else if (params.body && !params.body->search(body)) {
        r.kind = ErrorKind::Body;
        r.detail = fmt::format("body ({} bytes read) does not match '{}'", body.size(),
                               spec.cfg.expected_body);
    }
    if (r.ok() && params.gauge) r.gauge = find_gauge(body, spec.cfg.load_gauge);
}

/// GSLBD_HTTP_CLIENT=curl: every check on libcurl (to compare the two clients).
bool native_enabled() {
    const char* v = std::getenv("GSLBD_HTTP_CLIENT");
    return v == nullptr || std::string_view(v) != "curl";
}

/// Idle easy handles kept for reuse: enough for the usual number of probes in flight; the
/// rest are freed when their probe ends, so memory follows concurrency, not target count.
constexpr std::size_t kMaxIdleHandles = 256;

struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

class HttpRunner final : public health::ProbeRunner {
  public:
    /// Throws std::runtime_error when curl cannot be set up.
    explicit HttpRunner(const health::RunnerContext& ctx);
    ~HttpRunner() override;  ///< abandons transfers in flight
    HttpRunner(const HttpRunner&) = delete;
    HttpRunner& operator=(const HttpRunner&) = delete;

    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec, const util::IpAddr& addr,
               std::chrono::milliseconds timeout) override;
    void on_event(int fd, std::uint32_t epoll_events) override;
    void process(SteadyClock::time_point now, std::vector<ProbeResult>& out) override;
    std::optional<SteadyClock::time_point> deadline() const override {
        if (!results_.empty()) return SteadyClock::time_point::min();
        std::optional<SteadyClock::time_point> d = native_.deadline();
        if (!curl_used_) return d;  // no multi yet: nothing to look at in 64 shards
        for (const auto& sh : shards_)
            if (sh.deadline && (!d || *sh.deadline < *d)) d = sh.deadline;
        return d;
    }
    void cancel_all() override;
    std::size_t in_flight() const override { return live_.size() + native_.in_flight(); }

  private:
    struct Transfer;
    /// One curl multi handle and its connection cache. curl 7.88's curl_multi_remove_handle
    /// walks the whole connection cache after every transfer that left its connection there
    /// (to close CONNECT_ONLY connections): O(kept connections) per keepalive probe, which
    /// at 10,000 kept connections cost ~70 % of the probe thread. Connections are spread
    /// over kShards multis by their identity, so each walk covers 1/kShards of them.
    struct Shard {
        HttpRunner* runner = nullptr;
        void* multi = nullptr;  ///< CURLM*, created at the shard's first use
        std::optional<SteadyClock::time_point> deadline;
    };
    static constexpr std::size_t kShards = 64;
    Shard& shard_for(std::uint64_t conn_id);  ///< throws std::runtime_error
    static int socket_cb(void* easy, int s, int what, void* userp, void* socketp);
    static int timer_cb(void* multi, long timeout_ms, void* userp);
    static std::size_t body_cb(char* data, std::size_t size, std::size_t n, void* userp);
    void finish(Transfer* t, int curl_code);
    void recycle(std::unique_ptr<Transfer> t);  ///< back to the idle pool (or freed when full)
    void fail_now(std::uint64_t token, ErrorKind kind, std::string detail);
    /// The curl multis' timeouts and finished transfers (into results_).
    void process_curl(SteadyClock::time_point now);
    /// Whether the connection of this probe may stay in the cache (keepalive checks): yes
    /// for the first keep_capacity_ connection identities seen (and for ones seen again),
    /// no beyond that. An LRU cache smaller than the targets probed in turn would evict
    /// every connection before its next use (a connect per probe, plus curl's walk over the
    /// whole cache to find the oldest): targets beyond the budget reconnect instead.
    bool may_keep(std::uint64_t id, SteadyClock::time_point now);

    health::RunnerContext ctx_;
    std::size_t keep_capacity_ = 0;
    /// a curl multi was created: the shards have timers and messages to look at (until
    /// then process() and deadline() skip the 64 of them, ~1,000 instructions a wake-up)
    bool curl_used_ = false;
    /// connection identity (address, port, host) -> last probe; entries idle longer than
    /// curl keeps an idle connection (CURLOPT_MAXAGE_CONN, 118 s) free their place
    std::unordered_map<std::uint64_t, SteadyClock::time_point> kept_;
    SteadyClock::time_point kept_swept_{};
    std::vector<ProbeResult> results_;  ///< finished, handed out by process()
    std::array<Shard, kShards> shards_;
    long shard_maxconnects_ = 16;
    /// by socket: the shard whose multi registered it last (on_event needs the multi)
    std::vector<std::uint8_t> sock_shard_;
    std::unordered_map<Transfer*, std::unique_ptr<Transfer>> live_;  ///< in flight
    std::vector<std::unique_ptr<Transfer>> idle_;                    ///< reusable easy handles
    std::vector<std::pair<Transfer*, int>> done_;                    ///< process() scratch
    NativeHttp native_;
    bool use_native_ = native_enabled();
};

/// One transfer: an easy handle and what belongs to the probe it runs.
struct HttpRunner::Transfer {
    std::uint64_t token = 0;
    Shard* shard = nullptr;  ///< whose multi runs it
    CURL* easy = nullptr;    ///< kept across probes (pooled), reset before each use
    curl_slist* headers = nullptr;
    curl_slist* connect_to = nullptr;
    std::shared_ptr<const ProbeSpec> spec;
    SteadyClock::time_point start;
    std::string body;
    bool stopped = false;     ///< we ended the transfer on purpose (enough body seen)
    std::size_t drained = 0;  ///< body bytes read and dropped (keepalive without a body check)
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
        drained = 0;
        errbuf[0] = '\0';
    }
};

HttpRunner::HttpRunner(const health::RunnerContext& ctx) : ctx_(ctx), native_(ctx, &judge) {
    static CurlGlobal global;  // curl_global_init is not thread-safe: once, at first use
    for (auto& sh : shards_) sh.runner = this;
    // keepalive checks park one idle connection per target here. curl's default (4 x the
    // handles added) would evict them in probe order and reuse none; one descriptor per
    // kept target is the cost. Of RLIMIT_NOFILE, 2,048 stay for the rest of the process
    // (listeners, API and DNS-over-TCP clients, files) and 2,048 for the probes in flight
    // (Options::max_in_flight: their fresh connections sit in the cache too while they run),
    // the rest keeps connections; small limits are halved twice instead.
    rlimit rl{};
    long limit = 1L << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        limit = static_cast<long>(std::min<rlim_t>(rl.rlim_cur, limit));
    const long cache = limit >= 8192 ? limit - 2048 : std::max(16L, limit / 2);
    keep_capacity_ = static_cast<std::size_t>(limit >= 8192 ? cache - 2048 : cache / 2);
    // per multi: its share of the kept connections with room for hash imbalance and for
    // the probes in flight (the keep budget above is what bounds the descriptors)
    shard_maxconnects_ = std::min(cache, static_cast<long>(keep_capacity_ / kShards) * 2 + 2048);
}

HttpRunner::Shard& HttpRunner::shard_for(std::uint64_t conn_id) {
    Shard& sh = shards_[conn_id % kShards];
    if (sh.multi == nullptr) {
        sh.multi = curl_multi_init();
        if (sh.multi == nullptr) throw std::runtime_error("health: curl_multi_init failed");
        curl_used_ = true;
        curl_multi_setopt(sh.multi, CURLMOPT_SOCKETFUNCTION, &HttpRunner::socket_cb);
        curl_multi_setopt(sh.multi, CURLMOPT_SOCKETDATA, &sh);
        curl_multi_setopt(sh.multi, CURLMOPT_TIMERFUNCTION, &HttpRunner::timer_cb);
        curl_multi_setopt(sh.multi, CURLMOPT_TIMERDATA, &sh);
        curl_multi_setopt(sh.multi, CURLMOPT_MAXCONNECTS, shard_maxconnects_);
    }
    return sh;
}

bool HttpRunner::may_keep(std::uint64_t id, SteadyClock::time_point now) {
    if (auto it = kept_.find(id); it != kept_.end()) {
        it->second = now;
        return true;
    }
    constexpr auto kIdle = std::chrono::seconds(120);
    if (kept_.size() >= keep_capacity_ && now - kept_swept_ > std::chrono::seconds(10)) {
        kept_swept_ = now;  // a full budget is swept at most every 10 s: O(kept) each time
        std::erase_if(kept_, [&](const auto& kv) { return now - kv.second > kIdle; });
    }
    if (kept_.size() >= keep_capacity_) return false;
    kept_.emplace(id, now);
    return true;
}

HttpRunner::~HttpRunner() {
    cancel_all();
    for (auto& sh : shards_)
        if (sh.multi != nullptr) curl_multi_cleanup(sh.multi);
}

void HttpRunner::fail_now(std::uint64_t token, ErrorKind kind, std::string detail) {
    results_.push_back(ProbeResult{token, kind, std::move(detail), {}});
}

int HttpRunner::socket_cb(void* /*easy*/, int s, int what, void* userp, void* socketp) {
    auto* sh = static_cast<Shard*>(userp);
    HttpRunner* self = sh->runner;
    const auto index = static_cast<std::uint8_t>(sh - self->shards_.data());
    const auto fd = static_cast<std::size_t>(s);
    if (what == CURL_POLL_REMOVE) {
        // curl forgets the socket's assigned pointer itself; the fd may already be closed
        // (and then reused by another shard's new socket: leave that one registered)
        if (fd < self->sock_shard_.size() && self->sock_shard_[fd] == index)
            epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_DEL, s, nullptr);
        return 0;
    }
    if (fd >= self->sock_shard_.size()) self->sock_shard_.resize(fd + 1024, 0);
    self->sock_shard_[fd] = index;
    epoll_event ev{};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.u64 = self->ctx_.tag | static_cast<std::uint32_t>(s);
    // socketp (set through curl_multi_assign) tells a new socket from a known one: one
    // epoll_ctl per change instead of a failing MOD before every ADD
    if (socketp == nullptr) {
        if (epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) {
            epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_MOD, s, &ev);
        }
        curl_multi_assign(sh->multi, s, sh);
    } else {
        epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
}

int HttpRunner::timer_cb(void* /*multi*/, long timeout_ms, void* userp) {
    auto* sh = static_cast<Shard*>(userp);
    if (timeout_ms < 0) {
        sh->deadline.reset();
    } else {
        sh->deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
}

/// The identity of a target's connection (address, port, Host, TLS): the keep budget's key,
/// and the curl multi (shard) its connection lives in.
std::uint64_t connection_id(const ProbeSpec& spec, const util::IpAddr& addr, bool tls) {
    std::uint64_t id = 0;
    for (std::size_t i = 0; i < addr.bytes.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, addr.bytes.data() + i, 8);
        id = util::mix64(id ^ w);
    }
    return util::mix64(id ^ (std::uint64_t{spec.port} << 8 | addr.family) ^
                       std::hash<std::string>{}(spec.cfg.host) ^ (tls ? 1u << 30 : 0u));
}

void HttpRunner::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                       const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    if (const auto& params = health::kind_params<HttpParams>(*spec); params.native && use_native_) {
        const config::HealthCheck& hc = spec->cfg;
        const std::uint64_t id = connection_id(*spec, addr, false);
        const bool keep = hc.keepalive && may_keep(id, SteadyClock::now());
        // as curl's body callback below: the body is read for a check of it, or to its end
        // for keepalive; otherwise the status decides at the first body byte
        const BodyUse use = params.body || params.gauge ? BodyUse::Collect
                            : hc.keepalive              ? BodyUse::Drain
                                                        : BodyUse::FirstByte;
        const NativeRequest& req = *params.native;
        native_.start(token, std::move(spec), req, use, keep, id, addr, timeout);
        return;
    }
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
    const bool tls = health::kind_params<HttpParams>(*spec).tls;
    const std::string ip = addr.family == 6 ? "[" + addr.to_string() + "]" : addr.to_string();
    const std::string& host = hc.host.empty() ? ip : hc.host;
    const std::string url =
        fmt::format("{}://{}:{}{}", tls ? "https" : "http", host, spec->port, hc.uri);
    CURL* e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    if (const auto& src = ctx_.source[addr.family == 4 ? 0 : 1]) {
        const std::string iface = "host!" + src->to_string();  // an address, never a device
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
    // keepalive: the multi handle's connection cache keeps the connection for the next
    // probe of this target (one per target: see the cache size in the constructor); a
    // connection the backend closed meanwhile is noticed by curl, which connects afresh
    // the connection's identity in curl's cache: shard and budget
    const std::uint64_t conn_id = connection_id(*spec, addr, tls);
    const long reuse = hc.keepalive && may_keep(conn_id, h->start) ? 1L : 0L;
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L - reuse);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L - reuse);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gslbd-health/0.1");
    // Targets are IP literals: a cache entry per target only costs memory, and curl prunes
    // its DNS cache by walking every entry on each transfer (O(targets) per probe).
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    // the request goes out in one write: Nagle never delays it, and this saves a syscall
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpRunner::body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, h.get());
    if (tls) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, hc.skip_tls_verify ? 0L : 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, hc.skip_tls_verify ? 0L : 2L);
        if (!hc.tls_ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, hc.tls_ca.c_str());
        if (!hc.tls_cert.empty()) curl_easy_setopt(e, CURLOPT_SSLCERT, hc.tls_cert.c_str());
        if (!hc.tls_key.empty()) curl_easy_setopt(e, CURLOPT_SSLKEY, hc.tls_key.c_str());
    }
    h->shard = &shard_for(conn_id);
    CURLMcode mc = curl_multi_add_handle(h->shard->multi, e);
    if (mc != CURLM_OK) {
        recycle(std::move(h));
        return fail_now(token, ErrorKind::Internal,
                        std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
    }
    Transfer* raw = h.get();
    live_.emplace(raw, std::move(h));
}

std::size_t HttpRunner::body_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* h = static_cast<Transfer*>(userp);
    std::size_t len = size * n;
    // Without a body check the status line is all we need: stop at the first body byte,
    // unless the connection is to be kept (then read the body to its end, up to kMaxBody).
    const auto& params = health::kind_params<HttpParams>(*h->spec);
    if (!params.body && !params.gauge) {
        if (h->spec->cfg.keepalive && h->drained + len <= health::kMaxBody) {
            h->drained += len;
            return len;
        }
        h->stopped = true;
        return 0;
    }
    if (h->body.size() >= health::kMaxBody) {
        h->stopped = true;
        return 0;
    }
    h->body.append(data, std::min(len, health::kMaxBody - h->body.size()));
    return len;
}

void HttpRunner::finish(Transfer* h, int code) {
    auto res = static_cast<CURLcode>(code);
    ProbeResult r;
    r.token = h->token;
    r.latency =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - h->start);
    const char* err = h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(res);
    if (res == CURLE_OK || (res == CURLE_WRITE_ERROR && h->stopped)) {
        long status = 0;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
        judge(*h->spec, static_cast<int>(status), h->body, r);
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
    curl_multi_remove_handle(h->shard->multi, h->easy);
    results_.push_back(std::move(r));
    auto it = live_.find(h);
    if (it != live_.end()) {
        recycle(std::move(it->second));
        live_.erase(it);
    }
}

void HttpRunner::recycle(std::unique_ptr<Transfer> h) {
    h->release();
    if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(h));
}

void HttpRunner::process(SteadyClock::time_point now, std::vector<ProbeResult>& out) {
    if (curl_used_) process_curl(now);  // else every check so far ran on the native client
    for (auto& r : results_) out.push_back(std::move(r));
    results_.clear();
    native_.process(now, out);
}

void HttpRunner::process_curl(SteadyClock::time_point now) {
    for (auto& sh : shards_) {
        if (sh.deadline && *sh.deadline <= now) {
            sh.deadline.reset();
            int running = 0;
            curl_multi_socket_action(sh.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
    }
    // Read every message before removing any handle: curl_multi_remove_handle walks the
    // multi's message queue, so removing while messages are queued is quadratic when
    // thousands of probes finish together (a mass timeout).
    done_.clear();
    for (auto& sh : shards_) {
        if (sh.multi == nullptr) continue;
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(sh.multi, &left)) {
            if (m->msg != CURLMSG_DONE) continue;
            Transfer* h = nullptr;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&h));
            if (h != nullptr) done_.emplace_back(h, static_cast<int>(m->data.result));
        }
    }
    for (auto [h, code] : done_) finish(h, code);
    done_.clear();
}

void HttpRunner::on_event(int fd, std::uint32_t epoll_events) {
    if (native_.owns(fd)) return native_.on_event(fd, epoll_events);
    const int mask = (epoll_events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                     (epoll_events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (epoll_events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    const auto i = static_cast<std::size_t>(fd);
    void* multi = i < sock_shard_.size() ? shards_[sock_shard_[i]].multi : nullptr;
    if (multi == nullptr) return;
    int running = 0;
    curl_multi_socket_action(multi, static_cast<curl_socket_t>(fd), mask, &running);
}

void HttpRunner::cancel_all() {
    for (auto& [t, owned] : live_) curl_multi_remove_handle(t->shard->multi, t->easy);
    live_.clear();
    idle_.clear();
    results_.clear();
    native_.cancel_all();
}

std::unique_ptr<health::ProbeRunner> make_runner(const health::RunnerContext& ctx) {
    return std::make_unique<HttpRunner>(ctx);
}

}  // namespace

// two names, one implementation: `https` is `http` with TLS on (as enable_tls: true)
GSLBD_REGISTER_PROBE_KIND(http, "http", resolve, make_runner)
GSLBD_REGISTER_PROBE_KIND(https, "https", resolve, make_runner)

}  // namespace gslbd::probes
