#include "http_native.hh"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "util/sockaddr.hh"

namespace gslbd::probes {

using health::ErrorKind;
using health::ProbeResult;
using health::ProbeSpec;
using health::SteadyClock;

namespace {

bool tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool ieq(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

/// Characters curl sends as they are in a path and query (RFC 3986 unreserved, sub-delims,
/// ':', '@', '/', '?', and '%' of an escape); anything else curl would encode or refuse.
bool uri_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("-._~!$&'()*+,;=:@/?%", c) != nullptr;
}

}  // namespace

std::optional<NativeRequest> NativeRequest::build(const config::HealthCheck& hc, std::uint16_t port,
                                                  bool tls) {
    if (tls) return std::nullopt;
    const std::string method = hc.method.empty() ? "GET" : hc.method;
    if (method == "CONNECT" || !std::all_of(method.begin(), method.end(), tchar))
        return std::nullopt;
    // curl removes dot segments ("/a/../b") and fragments and encodes or refuses other bytes
    if (hc.uri.empty() || hc.uri[0] != '/' ||
        !std::all_of(hc.uri.begin(), hc.uri.end(), uri_char) ||
        hc.uri.find("/.") != std::string::npos)
        return std::nullopt;
    NativeRequest r;
    r.head = method == "HEAD";
    r.line = method + " " + hc.uri + " HTTP/1.1\r\n";
    bool own_host = false, own_ua = false, own_accept = false;
    std::string custom;
    for (const auto& [name, value] : hc.headers) {
        if (name.empty() || !std::all_of(name.begin(), name.end(), tchar)) return std::nullopt;
        // an empty value makes curl drop its own header of that name; control bytes it may
        // send or refuse: leave both to curl
        if (value.find_first_not_of(" \t") == std::string::npos) return std::nullopt;
        if (std::any_of(value.begin(), value.end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return (u < 0x20 && c != '\t') || u == 0x7f;
            }))
            return std::nullopt;
        // headers that change how curl frames the request or reads the answer
        if (ieq(name, "Content-Length") || ieq(name, "Transfer-Encoding") || ieq(name, "Expect") ||
            ieq(name, "Connection") || ieq(name, "TE") || ieq(name, "Accept-Encoding") ||
            ieq(name, "Range"))
            return std::nullopt;
        own_host = own_host || ieq(name, "Host");
        own_ua = own_ua || ieq(name, "User-Agent");
        own_accept = own_accept || ieq(name, "Accept");
        custom += name + ": " + value + "\r\n";
    }
    if (!own_host) {
        if (hc.host.empty()) {
            r.host_from_addr = true;
        } else {
            const bool plain = std::all_of(hc.host.begin(), hc.host.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_';
            });
            if (!plain) return std::nullopt;
            r.host = "Host: " + hc.host + (port == 80 ? "" : ":" + std::to_string(port)) + "\r\n";
        }
    }
    if (!own_ua) r.rest += "User-Agent: gslbd-health/0.1\r\n";
    if (!own_accept) r.rest += "Accept: */*\r\n";
    r.rest += custom;
    r.rest += "\r\n";
    return r;
}

/// What one probe needs while it runs: pooled apart from the connections, so a kept
/// connection between probes (thousands of them) costs only its Conn.
struct NativeHttp::Probe {
    std::uint64_t token = 0;
    std::shared_ptr<const ProbeSpec> spec;
    const NativeRequest* req = nullptr;  ///< in spec's params
    BodyUse use = BodyUse::FirstByte;
    SteadyClock::time_point start{};
    SteadyClock::time_point deadline{};
    std::size_t received = 0;  ///< response bytes of this probe
    std::size_t drained = 0;
    std::size_t sent = 0;  ///< bytes of out_pending already written
    http1::ResponseParser parser;
    std::string body;
    std::string out_pending;  ///< a request that did not fit in one write (rare)
};

struct NativeHttp::Conn {
    int fd = -1;
    Phase phase = Phase::Idle;
    bool keep = false;    ///< may be parked after this probe
    bool reused = false;  ///< this probe went out on a kept connection
    bool in_map = false;  ///< kept_[id] is this connection (idle or busy)
    std::uint16_t port = 0;
    util::IpAddr addr;
    std::uint64_t id = 0;
    std::uint64_t serial = 0;
    SteadyClock::time_point last_used{};
    Probe* p = nullptr;  ///< the probe under way (null while idle)
};

NativeHttp::NativeHttp(const health::RunnerContext& ctx, Judge judge)
    : ctx_(ctx), judge_(judge), in_(64 * 1024) {}

NativeHttp::~NativeHttp() {
    for (Conn* c : by_fd_)
        if (c != nullptr && c->fd >= 0) ::close(c->fd);
}

NativeHttp::Conn* NativeHttp::take_conn() {
    if (!free_.empty()) {
        Conn* c = free_.back();
        free_.pop_back();
        return c;
    }
    all_.push_back(std::make_unique<Conn>());
    return all_.back().get();
}

NativeHttp::Probe* NativeHttp::take_probe() {
    if (!free_probes_.empty()) {
        Probe* p = free_probes_.back();
        free_probes_.pop_back();
        return p;
    }
    probes_.push_back(std::make_unique<Probe>());
    return probes_.back().get();
}

void NativeHttp::put_probe(Conn* c) {
    Probe* p = std::exchange(c->p, nullptr);
    if (p == nullptr) return;
    p->spec.reset();
    p->req = nullptr;
    if (p->body.capacity() > 4096) {
        std::string().swap(p->body);
    } else {
        p->body.clear();
    }
    std::string().swap(p->out_pending);
    free_probes_.push_back(p);
}

void NativeHttp::put_conn(Conn* c) {
    put_probe(c);
    c->phase = Phase::Idle;
    c->serial = 0;
    c->in_map = false;
    c->reused = false;
    free_.push_back(c);
}

void NativeHttp::close_conn(Conn* c) {
    if (c->fd >= 0) {
        by_fd_[static_cast<std::size_t>(c->fd)] = nullptr;
        ::close(c->fd);  // also leaves the epoll set
        c->fd = -1;
    }
    if (c->in_map) {
        auto it = kept_.find(c->id);
        if (it != kept_.end() && it->second == c) kept_.erase(it);
    }
    put_conn(c);
}

void NativeHttp::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                       const NativeRequest& req, BodyUse use, bool keep, std::uint64_t conn_id,
                       const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    const auto now = SteadyClock::now();
    Conn* c = nullptr;
    if (keep) {
        if (auto it = kept_.find(conn_id); it != kept_.end()) {
            if (it->second->phase == Phase::Idle) {
                c = it->second;
                c->reused = true;
            } else {
                keep = false;  // a second probe of the target at once: a connection of its own
            }
        }
    }
    const bool fresh = c == nullptr;
    if (fresh) c = take_conn();
    c->p = take_probe();
    c->serial = next_serial_++;
    c->p->token = token;
    c->p->spec = std::move(spec);
    c->p->req = &req;
    c->p->use = use;
    c->keep = keep;
    c->id = conn_id;
    c->addr = addr;
    c->port = c->p->spec->port;
    c->p->start = now;
    c->p->deadline = now + timeout;
    c->p->received = c->p->drained = c->p->sent = 0;
    c->p->parser.reset(req.head);
    ++busy_;
    if (fresh) {
        c->reused = false;
        if (!open(c)) return;
    } else {
        deadlines_.push({c->p->deadline, c->fd, c->serial});
        send_request(c);
    }
}

bool NativeHttp::open(Conn* c) {
    const int af = c->addr.family == 4 ? AF_INET : AF_INET6;
    const int fd = ::socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        finish(c, ErrorKind::Internal, "socket: " + std::string(std::strerror(errno)), false);
        return false;
    }
    c->fd = fd;
    if (by_fd_.size() <= static_cast<std::size_t>(fd))
        by_fd_.resize(static_cast<std::size_t>(fd) + 1024, nullptr);
    by_fd_[static_cast<std::size_t>(fd)] = c;
    if (const auto& src = ctx_.source[c->addr.family == 4 ? 0 : 1]) {
        sockaddr_storage local;
        const socklen_t ll = util::to_sockaddr(*src, 0, local);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&local), ll) != 0) {
            finish(c, ErrorKind::Internal,
                   "bind to source " + src->to_string() + ": " + std::strerror(errno), false);
            return false;
        }
    }
    sockaddr_storage ss;
    const socklen_t sl = util::to_sockaddr(c->addr, c->port, ss);
    bool connected = true;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
        const int e = errno;
        if (e != EINPROGRESS) {
            finish(c, e == ECONNREFUSED ? ErrorKind::Refused : ErrorKind::Network,
                   fmt::format("Failed to connect to {} port {} after 0 ms: {}",
                               c->addr.to_string(), c->port, std::strerror(e)),
                   false);
            return false;
        }
        connected = false;
    }
    // edge-triggered: EPOLLOUT once when the connect completes (a request this small never
    // fills the send buffer), EPOLLIN at each arrival; never modified while the socket lives
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = ctx_.tag | static_cast<std::uint32_t>(fd);
    if (epoll_ctl(ctx_.epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        finish(c, ErrorKind::Internal, "epoll: " + std::string(std::strerror(errno)), false);
        return false;
    }
    deadlines_.push({c->p->deadline, c->fd, c->serial});
    c->phase = Phase::Connecting;
    if (connected) send_request(c);
    return true;
}

void NativeHttp::send_request(Conn* c) {
    const NativeRequest& r = *c->p->req;
    out_.clear();
    out_ += r.line;
    if (r.host_from_addr) {
        out_ += "Host: ";
        if (c->addr.family == 4) {
            // what inet_ntop writes ("%u.%u.%u.%u"), without its sprintf: ~1,800
            // instructions a probe, a fifth of the probe thread's user time
            char ip[16];
            char* e = ip;
            for (int i = 0; i < 4; ++i) {
                const unsigned v = c->addr.bytes[static_cast<std::size_t>(i)];
                if (i != 0) *e++ = '.';
                if (v >= 100) *e++ = static_cast<char>('0' + v / 100);
                if (v >= 10) *e++ = static_cast<char>('0' + v / 10 % 10);
                *e++ = static_cast<char>('0' + v % 10);
            }
            out_.append(ip, static_cast<std::size_t>(e - ip));
        } else {
            char ip[INET6_ADDRSTRLEN] = {};
            inet_ntop(AF_INET6, c->addr.bytes.data(), ip, sizeof ip);
            out_ += '[';
            out_ += ip;
            out_ += ']';
        }
        if (c->port != 80) {
            char port[8];
            char* end = fmt::format_to(port, ":{}", c->port);
            out_.append(port, static_cast<std::size_t>(end - port));
        }
        out_ += "\r\n";
    } else {
        out_ += r.host;
    }
    out_ += r.rest;
    const ssize_t n = ::send(c->fd, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        const int e = errno;
        if (c->reused) return retry_fresh(c);
        return finish(c, e == ECONNREFUSED ? ErrorKind::Refused : ErrorKind::Network,
                      "Send failure: " + std::string(std::strerror(e)), false);
    }
    const auto sent = static_cast<std::size_t>(std::max<ssize_t>(n, 0));
    if (sent < out_.size()) {
        c->p->out_pending.assign(out_, sent);
        c->p->sent = 0;
        c->phase = Phase::Sending;
        return;
    }
    c->phase = Phase::Reading;
}

void NativeHttp::retry_fresh(Conn* c) {
    // the kept connection died (the backend closed it while idle): as curl does, the probe
    // goes out again on a new connection; its deadline stays
    by_fd_[static_cast<std::size_t>(c->fd)] = nullptr;
    ::close(c->fd);
    c->fd = -1;
    c->reused = false;
    c->p->received = c->p->drained = c->p->sent = 0;
    c->p->body.clear();
    c->p->parser.reset(c->p->req->head);
    open(c);
}

void NativeHttp::on_event(int fd, std::uint32_t events) {
    if (!owns(fd)) return;
    Conn* c = by_fd_[static_cast<std::size_t>(fd)];
    switch (c->phase) {
        case Phase::Idle:
            // a kept connection spoke or closed between probes: it is of no further use
            if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) close_conn(c);
            return;
        case Phase::Connecting:
            if (events & (EPOLLERR | EPOLLHUP)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0) err = ECONNRESET;
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    SteadyClock::now() - c->p->start)
                                    .count();
                return finish(c, err == ECONNREFUSED ? ErrorKind::Refused : ErrorKind::Network,
                              fmt::format("Failed to connect to {} port {} after {} ms: {}",
                                          c->addr.to_string(), c->port, ms, std::strerror(err)),
                              false);
            }
            if (events & EPOLLOUT) send_request(c);
            if (c->phase == Phase::Reading && (events & (EPOLLIN | EPOLLRDHUP)))
                read_response(c, events);
            return;
        case Phase::Sending:
            if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                const ssize_t n = ::send(c->fd, c->p->out_pending.data() + c->p->sent,
                                         c->p->out_pending.size() - c->p->sent, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    const int e = errno;
                    if (c->reused) return retry_fresh(c);
                    return finish(c, ErrorKind::Network,
                                  "Send failure: " + std::string(std::strerror(e)), false);
                }
                if (n > 0) c->p->sent += static_cast<std::size_t>(n);
                if (c->p->sent == c->p->out_pending.size()) {
                    std::string().swap(c->p->out_pending);
                    c->phase = Phase::Reading;
                }
            }
            if (c->phase == Phase::Reading && (events & (EPOLLIN | EPOLLRDHUP)))
                read_response(c, events);
            return;
        case Phase::Reading:
            if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) read_response(c, events);
            return;
    }
}

void NativeHttp::read_response(Conn* c, std::uint32_t events) {
    // the peer's close (or an error) came with this event: read on to it, no edge follows
    const bool closed = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    for (;;) {
        const ssize_t n = ::recv(c->fd, in_.data(), in_.size(), 0);
        if (n > 0) {
            c->p->received += static_cast<std::size_t>(n);
            if (feed(c, in_.data(), static_cast<std::size_t>(n))) return;
            // edge-triggered: a short read emptied the socket; a new arrival (data, the
            // peer's FIN) is a new edge, but a FIN that came with this event is not
            if (static_cast<std::size_t>(n) < in_.size() && !closed) return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        const int e = n < 0 ? errno : 0;
        if (c->reused && !c->p->parser.got_anything()) return retry_fresh(c);
        if (e != 0) {
            return finish(c, ErrorKind::Network, "Recv failure: " + std::string(std::strerror(e)),
                          false);
        }
        const http1::Event ev = c->p->parser.eof();
        if (ev == http1::Event::Done) return finish(c, ErrorKind::None, {}, false);
        return finish(c,
                      c->p->parser.fault() == http1::Fault::Partial ? ErrorKind::Network
                                                                    : ErrorKind::BadReply,
                      c->p->parser.error(), false);
    }
}

bool NativeHttp::feed(Conn* c, const char* data, std::size_t n) {
    const char* p = data;
    const char* end = data + n;
    for (;;) {
        std::string_view body;
        const http1::Event ev = c->p->parser.next(p, end, body);
        switch (ev) {
            case http1::Event::Need:
                return false;
            case http1::Event::Done:
                finish(c, ErrorKind::None, {}, c->keep && c->p->parser.keep_alive() && p == end);
                return true;
            case http1::Event::Error:
                finish(c,
                       c->p->parser.fault() == http1::Fault::Partial ? ErrorKind::Network
                                                                     : ErrorKind::BadReply,
                       c->p->parser.error(), false);
                return true;
            case http1::Event::Body:
                switch (c->p->use) {
                    case BodyUse::FirstByte:
                        // curl's write callback stops the transfer here: the status decides
                        finish(c, ErrorKind::None, {}, false);
                        return true;
                    case BodyUse::Collect:
                        if (c->p->body.size() >= health::kMaxBody) {
                            finish(c, ErrorKind::None, {}, false);  // enough seen
                            return true;
                        }
                        c->p->body.append(
                            body.data(),
                            std::min(body.size(), health::kMaxBody - c->p->body.size()));
                        break;
                    case BodyUse::Drain:
                        if (c->p->drained + body.size() > health::kMaxBody) {
                            finish(c, ErrorKind::None, {}, false);
                            return true;
                        }
                        c->p->drained += body.size();
                        break;
                }
                break;
        }
    }
}

void NativeHttp::finish(Conn* c, ErrorKind kind, std::string detail, bool reusable) {
    ProbeResult r;
    r.token = c->p->token;
    r.latency =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - c->p->start);
    r.kind = kind;
    r.detail = std::move(detail);
    if (kind == ErrorKind::None) judge_(*c->p->spec, c->p->parser.status(), c->p->body, r);
    results_.push_back(std::move(r));
    --busy_;
    c->serial = 0;  // its deadline entry is void now
    if (reusable && c->fd >= 0) {
        put_probe(c);
        c->phase = Phase::Idle;
        c->last_used = SteadyClock::now();
        if (c->in_map) return;  // the kept connection: in kept_ already (no allocation)
        // its first probe: kept from now on, unless the identity has one (two probes of one
        // target at once)
        if (kept_.emplace(c->id, c).second) {
            c->in_map = true;
            return;
        }
    }
    close_conn(c);
}

void NativeHttp::process(SteadyClock::time_point now, std::vector<ProbeResult>& out) {
    while (!deadlines_.empty() && deadlines_.top().at <= now) {
        const Deadline d = deadlines_.top();
        deadlines_.pop();
        if (!owns(d.fd)) continue;
        Conn* c = by_fd_[static_cast<std::size_t>(d.fd)];
        if (c->serial != d.serial || c->phase == Phase::Idle) continue;
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - c->p->start).count();
        finish(c, ErrorKind::Timeout,
               fmt::format("Operation timed out after {} milliseconds with {} bytes received", ms,
                           c->p->received),
               false);
    }
    if (now - swept_ > std::chrono::seconds(10)) sweep(now);
    for (auto& r : results_) out.push_back(std::move(r));
    results_.clear();
}

void NativeHttp::sweep(SteadyClock::time_point now) {
    // kept connections unused for as long as curl keeps one (CURLOPT_MAXAGE_CONN, 118 s):
    // their target is gone (a reload) or probed rarely
    swept_ = now;
    constexpr auto kMaxIdle = std::chrono::seconds(118);
    std::vector<Conn*> old;
    for (const auto& [id, c] : kept_)
        if (c->phase == Phase::Idle && now - c->last_used > kMaxIdle) old.push_back(c);
    for (Conn* c : old) close_conn(c);
}

std::optional<SteadyClock::time_point> NativeHttp::deadline() const {
    if (!results_.empty()) return SteadyClock::time_point::min();
    // entries of probes that ended earlier are dropped here: the loop would otherwise wake
    // up at each of them (one per probe) for nothing
    while (!deadlines_.empty()) {
        const Deadline& d = deadlines_.top();
        if (owns(d.fd)) {
            const Conn* c = by_fd_[static_cast<std::size_t>(d.fd)];
            if (c->serial == d.serial && c->phase != Phase::Idle) return d.at;
        }
        deadlines_.pop();
    }
    return std::nullopt;
}

void NativeHttp::cancel_all() {
    for (Conn* c : by_fd_) {
        if (c != nullptr && c->phase != Phase::Idle) {
            --busy_;
            close_conn(c);
        }
    }
    deadlines_ = {};
    results_.clear();
}

}  // namespace gslbd::probes
