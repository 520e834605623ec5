// Probe kind `grpc`: the standard gRPC health protocol (grpc.health.v1.Health/Check) as one
// unary call over HTTP/2, carried by libcurl + nghttp2 on the prober's own epoll set (curl
// multi in socket-action mode, like the http kind). A full gRPC stack is not needed for one
// call: the request is framed by hand (5-byte gRPC prefix + HealthCheckRequest{service}) and
// the reply's status field and grpc-status are read back. Cleartext uses HTTP/2 with prior
// knowledge (h2c), TLS negotiates h2 by ALPN. SERVING is up; anything else is down with the
// reason (the status name, the grpc-status and its message, or the transport error).
#include <curl/curl.h>
#include <sys/epoll.h>

#include <fmt/format.h>

#include <cerrno>
#include <stdexcept>
#include <unordered_map>

#include "common.hh"
#include "health/probe_kind.hh"

namespace gslbd::probes {

namespace {

using health::ErrorKind;
using health::ProbeResult;
using health::ProbeSpec;
using health::SteadyClock;

struct GrpcParams : health::KindParams {
    std::string service;
    std::string host;  ///< :authority and TLS SNI; empty = the backend's address
    bool tls = false;
    bool skip_tls_verify = false;
    std::string tls_ca;
};

std::string resolve(const config::HealthCheck& hc, const CheckSite& site, ProbeSpec& spec) {
    health::check_known_params(hc, site,
                               {"port", "timeout", "service", "host", "enable_tls", "tls",
                                "skip_tls_verify", "tls_ca", "ca_file"});
    if (hc.port == 0) {
        throw config::ConfigError(hc.pos, "port",
                                  site.where +
                                      ": a grpc check needs params.port (or the "
                                      "backend's port)");
    }
    auto p = std::make_shared<GrpcParams>();
    p->service = text_param(hc, "service");
    p->host = text_param(hc, "host");
    p->tls = bool_param(hc, site, "enable_tls", false) || bool_param(hc, site, "tls", false);
    p->skip_tls_verify = bool_param(hc, site, "skip_tls_verify", false);
    p->tls_ca = text_param(hc, "tls_ca", text_param(hc, "ca_file"));
    if (p->service.size() > 1024) {
        throw config::ConfigError(hc.pos, "service", site.where + ": service name too long");
    }
    spec.port = static_cast<std::uint16_t>(hc.port);
    std::string key =
        fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", p->service, p->host, p->tls ? "tls" : "h2c",
                    p->skip_tls_verify ? "noverify" : "", p->tls_ca);
    spec.params = std::move(p);
    return key;
}

/// HealthCheckRequest{service} in a gRPC message frame (uncompressed).
std::string frame_request(const std::string& service) {
    std::string msg;
    if (!service.empty()) {
        msg += '\x0a';  // field 1, length-delimited
        for (std::size_t n = service.size();; n >>= 7) {
            if (n < 0x80) {
                msg += static_cast<char>(n);
                break;
            }
            msg += static_cast<char>((n & 0x7f) | 0x80);
        }
        msg += service;
    }
    std::string out(5, '\0');
    const auto len = static_cast<std::uint32_t>(msg.size());
    out[1] = static_cast<char>(len >> 24);
    out[2] = static_cast<char>(len >> 16);
    out[3] = static_cast<char>(len >> 8);
    out[4] = static_cast<char>(len);
    return out + msg;
}

bool read_varint(std::string_view& in, std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
        const auto b = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

/// The status of a framed HealthCheckResponse; -1 with `why` when it is not one.
int parse_response(std::string_view body, std::string& why) {
    if (body.size() < 5) {
        why = fmt::format("reply of {} bytes is no gRPC message", body.size());
        return -1;
    }
    if (body[0] != 0) {
        why = "reply is compressed (not asked for)";
        return -1;
    }
    const std::size_t len = (std::size_t{static_cast<unsigned char>(body[1])} << 24) |
                            (std::size_t{static_cast<unsigned char>(body[2])} << 16) |
                            (std::size_t{static_cast<unsigned char>(body[3])} << 8) |
                            std::size_t{static_cast<unsigned char>(body[4])};
    std::string_view msg = body.substr(5);
    if (msg.size() < len) {
        why = "truncated gRPC message";
        return -1;
    }
    msg = msg.substr(0, len);
    int status = 0;  // proto3: an absent field is UNKNOWN
    while (!msg.empty()) {
        std::uint64_t tag = 0, v = 0;
        if (!read_varint(msg, tag)) break;
        switch (tag & 7) {
            case 0:
                if (!read_varint(msg, v)) break;
                if (tag >> 3 == 1) status = static_cast<int>(v & 0x7fffffff);
                continue;
            case 1:
                if (msg.size() < 8) break;
                msg.remove_prefix(8);
                continue;
            case 5:
                if (msg.size() < 4) break;
                msg.remove_prefix(4);
                continue;
            case 2:
                if (!read_varint(msg, v) || v > msg.size()) break;
                msg.remove_prefix(v);
                continue;
            default:
                break;
        }
        why = "malformed HealthCheckResponse";
        return -1;
    }
    return status;
}

const char* status_name(int s) {
    switch (s) {
        case 0:
            return "UNKNOWN";
        case 1:
            return "SERVING";
        case 2:
            return "NOT_SERVING";
        case 3:
            return "SERVICE_UNKNOWN";
        default:
            return "unknown status";
    }
}

constexpr std::size_t kMaxReply = 4096;

class GrpcRunner : public health::ProbeRunner {
  public:
    explicit GrpcRunner(const health::RunnerContext& ctx) : ctx_(ctx) {
        curl_global_init(CURL_GLOBAL_DEFAULT);  // refcounted; the http kind did it first
        multi_ = curl_multi_init();
        if (multi_ == nullptr) throw std::runtime_error("grpc: curl_multi_init failed");
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &GrpcRunner::socket_cb);
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &GrpcRunner::timer_cb);
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    }
    ~GrpcRunner() override {
        cancel_all();
        curl_multi_cleanup(multi_);
    }

    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec, const util::IpAddr& addr,
               std::chrono::milliseconds timeout) override;
    void on_event(int fd, std::uint32_t events) override {
        const int mask = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                         (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                         (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        int running = 0;
        curl_multi_socket_action(multi_, fd, mask, &running);
    }
    void process(SteadyClock::time_point now, std::vector<ProbeResult>& out) override;
    std::optional<SteadyClock::time_point> deadline() const override {
        if (!failed_.empty()) return SteadyClock::time_point::min();
        return deadline_;
    }
    void cancel_all() override {
        for (auto& [e, c] : live_) curl_multi_remove_handle(multi_, e);
        live_.clear();
    }
    std::size_t in_flight() const override { return live_.size(); }

  private:
    struct Call {
        std::uint64_t token = 0;
        CURL* easy = nullptr;
        curl_slist* headers = nullptr;
        curl_slist* connect_to = nullptr;
        std::shared_ptr<const ProbeSpec> spec;
        std::string request, reply;
        std::string grpc_status, grpc_message;
        SteadyClock::time_point start;
        char errbuf[CURL_ERROR_SIZE] = {};
        ~Call() {
            if (easy != nullptr) curl_easy_cleanup(easy);
            curl_slist_free_all(headers);
            curl_slist_free_all(connect_to);
        }
    };
    static int socket_cb(CURL*, curl_socket_t s, int what, void* userp, void* socketp);
    static int timer_cb(CURLM*, long timeout_ms, void* userp);
    static std::size_t body_cb(char* data, std::size_t size, std::size_t n, void* userp);
    static std::size_t header_cb(char* data, std::size_t size, std::size_t n, void* userp);
    ProbeResult finish(Call& c, CURLcode res) const;

    health::RunnerContext ctx_;
    CURLM* multi_ = nullptr;
    std::optional<SteadyClock::time_point> deadline_;
    std::unordered_map<CURL*, std::unique_ptr<Call>> live_;
    std::vector<ProbeResult> failed_;  ///< failures to start, reported by process()
};

int GrpcRunner::socket_cb(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
    auto* self = static_cast<GrpcRunner*>(userp);
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_DEL, s, nullptr);
        return 0;
    }
    epoll_event ev{};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.u64 = self->ctx_.tag | static_cast<std::uint32_t>(s);
    if (socketp == nullptr) {
        if (epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) {
            epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_MOD, s, &ev);
        }
        curl_multi_assign(self->multi_, s, self);
    } else {
        epoll_ctl(self->ctx_.epoll_fd, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
}

int GrpcRunner::timer_cb(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<GrpcRunner*>(userp);
    if (timeout_ms < 0) {
        self->deadline_.reset();
    } else {
        self->deadline_ = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
}

std::size_t GrpcRunner::body_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* c = static_cast<Call*>(userp);
    const std::size_t len = size * n;
    if (c->reply.size() + len > kMaxReply) return 0;  // a health reply is a few bytes
    c->reply.append(data, len);
    return len;
}

// Headers and trailers both come here (curl hands HTTP/2 trailers to the header callback);
// grpc-status is in the trailers, or in the headers of a "trailers-only" reply.
std::size_t GrpcRunner::header_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* c = static_cast<Call*>(userp);
    std::string_view line(data, size * n);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name(line.substr(0, colon));
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    if (name == "grpc-status") c->grpc_status = value;
    if (name == "grpc-message") c->grpc_message = value.substr(0, 200);
    return size * n;
}

void GrpcRunner::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                       const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    auto c = std::make_unique<Call>();
    c->token = token;
    c->start = SteadyClock::now();
    c->easy = curl_easy_init();
    if (c->easy == nullptr) {
        failed_.push_back(ProbeResult{token, ErrorKind::Internal, "curl_easy_init failed", {}});
        return;
    }
    const auto& p = health::kind_params<GrpcParams>(*spec);
    const std::string ip = addr.family == 6 ? "[" + addr.to_string() + "]" : addr.to_string();
    const std::string& host = p.host.empty() ? ip : p.host;
    const std::string url = fmt::format("{}://{}:{}/grpc.health.v1.Health/Check",
                                        p.tls ? "https" : "http", host, spec->port);
    CURL* e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    if (!p.host.empty()) {
        const std::string to = fmt::format("{}:{}:{}:{}", p.host, spec->port, ip, spec->port);
        c->connect_to = curl_slist_append(nullptr, to.c_str());
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
    }
    if (const auto& src = ctx_.source[addr.family == 4 ? 0 : 1]) {
        const std::string iface = "host!" + src->to_string();
        curl_easy_setopt(e, CURLOPT_INTERFACE, iface.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     p.tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    c->request = frame_request(p.service);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->request.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(c->request.size()));
    for (const char* h : {"content-type: application/grpc", "te: trailers",
                          "grpc-accept-encoding: identity", "Expect:", "Accept:"}) {
        c->headers = curl_slist_append(c->headers, h);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gslbd-health-grpc/0.1");
    const auto ms = static_cast<long>(timeout.count());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &GrpcRunner::body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &GrpcRunner::header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    if (p.tls) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, p.skip_tls_verify ? 0L : 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, p.skip_tls_verify ? 0L : 2L);
        if (!p.tls_ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, p.tls_ca.c_str());
    }
    c->spec = std::move(spec);
    if (CURLMcode mc = curl_multi_add_handle(multi_, e); mc != CURLM_OK) {
        failed_.push_back(
            ProbeResult{token,
                        ErrorKind::Internal,
                        std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc),
                        {}});
        return;
    }
    live_.emplace(e, std::move(c));
}

ProbeResult GrpcRunner::finish(Call& c, CURLcode res) const {
    ProbeResult r;
    r.token = c.token;
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - c.start);
    if (res != CURLE_OK) {
        switch (res) {
            case CURLE_OPERATION_TIMEDOUT:
                r.kind = ErrorKind::Timeout;
                break;
            case CURLE_COULDNT_CONNECT: {
                long os = 0;
                curl_easy_getinfo(c.easy, CURLINFO_OS_ERRNO, &os);
                r.kind = os == ECONNREFUSED ? ErrorKind::Refused : ErrorKind::Network;
                break;
            }
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CACERT_BADFILE:
                r.kind = ErrorKind::Tls;
                break;
            case CURLE_HTTP2:
            case CURLE_HTTP2_STREAM:
            case CURLE_GOT_NOTHING:
            case CURLE_WEIRD_SERVER_REPLY:
            case CURLE_WRITE_ERROR:
                r.kind = ErrorKind::BadReply;
                break;
            default:
                r.kind = ErrorKind::Network;
        }
        r.detail = c.errbuf[0] != '\0' ? c.errbuf : curl_easy_strerror(res);
        return r;
    }
    long version = 0, http = 0;
    curl_easy_getinfo(c.easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(c.easy, CURLINFO_RESPONSE_CODE, &http);
    if (version != CURL_HTTP_VERSION_2_0) {
        r.kind = ErrorKind::BadReply;
        r.detail = "the server did not speak HTTP/2 (no gRPC there?)";
    } else if (http != 200) {
        r.kind = ErrorKind::Status;
        r.detail = fmt::format("HTTP status {}", http);
    } else if (c.grpc_status.empty()) {
        r.kind = ErrorKind::BadReply;
        r.detail = "reply without grpc-status";
    } else if (c.grpc_status != "0") {
        r.kind = ErrorKind::Status;
        r.detail = fmt::format("grpc-status {}{}{}", c.grpc_status,
                               c.grpc_status == "5"    ? " (NOT_FOUND: unknown service)"
                               : c.grpc_status == "12" ? " (UNIMPLEMENTED: no health service)"
                                                       : "",
                               c.grpc_message.empty() ? "" : ": " + c.grpc_message);
    } else {
        std::string why;
        const int status = parse_response(c.reply, why);
        if (status < 0) {
            r.kind = ErrorKind::BadReply;
            r.detail = why;
        } else if (status != 1) {
            r.kind = ErrorKind::Status;
            r.detail = fmt::format("health status {}", status_name(status));
        }
    }
    return r;
}

void GrpcRunner::process(SteadyClock::time_point now, std::vector<ProbeResult>& out) {
    for (auto& r : failed_) out.push_back(std::move(r));
    failed_.clear();
    if (deadline_ && *deadline_ <= now) {
        deadline_.reset();
        int running = 0;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    std::vector<std::pair<CURL*, CURLcode>> done;
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg == CURLMSG_DONE) done.emplace_back(m->easy_handle, m->data.result);
    }
    for (auto [e, res] : done) {
        auto it = live_.find(e);
        if (it == live_.end()) continue;
        out.push_back(finish(*it->second, res));
        curl_multi_remove_handle(multi_, e);
        live_.erase(it);
    }
}

}  // namespace

GSLBD_REGISTER_PROBE_KIND(grpc, "grpc", resolve,
                          [](const health::RunnerContext& ctx)
                              -> std::unique_ptr<health::ProbeRunner> {
                              return std::make_unique<GrpcRunner>(ctx);
                          })

}  // namespace gslbd::probes
