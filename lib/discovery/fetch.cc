// One request to a discovery source. Blocking, bounded by the source's timeout: this runs on
// the discovery thread only.
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>

#include "discovery/discovery.hh"
#include "dns/response.hh"
#include "dns/wire.hh"
#include "util/sockaddr.hh"

namespace gslbd::discovery {

namespace {

using config::Discovery;

constexpr std::size_t kMaxBody = 4u << 20;  // a registry answer larger than this is refused

std::size_t on_body(char* p, std::size_t size, std::size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    if (body->size() + size * n > kMaxBody) return 0;  // aborts the transfer
    body->append(p, size * n);
    return size * n;
}

std::string http_get(const std::string& url, const Discovery& d,
                     const std::vector<std::string>& headers) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
    if (!c) throw std::runtime_error("curl_easy_init failed");
    std::string body;
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hold(list, curl_slist_free_all);
    char err[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(d.timeout.count()));
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(d.timeout.count()));
    curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, err);
    if (list != nullptr) curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, list);
    const CURLcode rc = curl_easy_perform(c.get());
    if (rc != CURLE_OK)
        throw std::runtime_error(url + ": " + (err[0] != 0 ? err : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        throw std::runtime_error(url + ": HTTP status " + std::to_string(status));
    return body;
}

std::string escape_url(const std::string& s) {
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out += static_cast<char>(ch);
        } else {
            static const char* hex = "0123456789ABCDEF";
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

// One UDP exchange with the upstream: a query for (qname, qtype) with EDNS (1232 bytes),
// the answer checked to be ours. Throws on timeout or a socket error.
std::string where_of(const Discovery& d) {
    return d.server.to_string() + ":" + std::to_string(d.server_port);
}

/// Waits for `events` on `fd` until `deadline`; throws on timeout.
void wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline,
             const std::string& where) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) throw std::runtime_error(where + ": no answer (timeout)");
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) return;
    }
}

/// The query `q` over TCP (RFC 7766: two-byte length, then the message), bounded by
/// `deadline`: what a truncated UDP answer leads to (RFC 7766 section 5).
std::vector<std::uint8_t> tcp_exchange(const Discovery& d, std::span<const std::uint8_t> q,
                                       std::uint16_t id,
                                       std::chrono::steady_clock::time_point deadline) {
    const std::string where = where_of(d) + " (tcp)";
    sockaddr_storage ss{};
    const socklen_t len = util::to_sockaddr(d.server, d.server_port, ss);
    const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
        throw std::runtime_error(where + ": " + std::strerror(errno));
    wait_fd(fd, POLLOUT, deadline, where);
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) throw std::runtime_error(where + ": " + std::strerror(err));
    std::vector<std::uint8_t> out(2 + q.size());
    util::store16(out.data(), static_cast<std::uint16_t>(q.size()));
    std::memcpy(out.data() + 2, q.data(), q.size());
    for (std::size_t sent = 0; sent < out.size();) {
        const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            wait_fd(fd, POLLOUT, deadline, where);
        } else {
            throw std::runtime_error(where + ": " + std::strerror(errno));
        }
    }
    // one message back (others, e.g. with another ID, are skipped)
    std::vector<std::uint8_t> buf;
    for (;;) {
        std::uint8_t lenbuf[2];
        std::size_t need = 2, got = 0;
        std::uint8_t* into = lenbuf;
        for (int part = 0; part < 2; ++part) {
            while (got < need) {
                const ssize_t n = ::recv(fd, into + got, need - got, 0);
                if (n > 0) {
                    got += static_cast<std::size_t>(n);
                } else if (n == 0) {
                    throw std::runtime_error(where + ": connection closed before the answer");
                } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    wait_fd(fd, POLLIN, deadline, where);
                } else {
                    throw std::runtime_error(where + ": " + std::strerror(errno));
                }
            }
            if (part == 0) {
                need = util::load16(lenbuf);
                got = 0;
                buf.assign(need, 0);
                into = buf.data();
            }
        }
        if (buf.size() >= dns::kHeaderSize && util::load16(buf.data()) == id) return buf;
    }
}

std::vector<std::uint8_t> dns_exchange(const Discovery& d, std::span<const std::uint8_t> qname,
                                       std::uint16_t qtype, std::uint16_t id) {
    std::vector<std::uint8_t> q(dns::kHeaderSize + qname.size() + 4 + dns::kOptFixed);
    dns::Writer w(q);
    w.u16(id);
    w.u16(0x0100);  // RD: the upstream may be a resolver
    w.u16(1);
    w.u16(0);
    w.u16(0);
    w.u16(1);
    w.bytes(qname);
    w.u16(qtype);
    w.u16(dns::kClassIN);
    dns::put_opt(w, 1232, 0, false, nullptr, 0);
    sockaddr_storage ss{};
    const socklen_t len = util::to_sockaddr(d.server, d.server_port, ss);
    const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    const std::string where = where_of(d);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 ||
        ::send(fd, q.data(), w.pos(), 0) < 0)
        throw std::runtime_error(where + ": " + std::strerror(errno));
    const auto deadline = std::chrono::steady_clock::now() + d.timeout;
    std::vector<std::uint8_t> buf(65535);
    for (;;) {
        wait_fd(fd, POLLIN, deadline, where);
        const ssize_t got = ::recv(fd, buf.data(), buf.size(), 0);
        if (got < 0) throw std::runtime_error(where + ": " + std::strerror(errno));
        if (got < static_cast<ssize_t>(dns::kHeaderSize) || util::load16(buf.data()) != id)
            continue;  // not ours: keep waiting
        buf.resize(static_cast<std::size_t>(got));
        // truncated: the same query over TCP, within what is left of the timeout
        if (buf[2] & 0x02) return tcp_exchange(d, {q.data(), w.pos()}, id, deadline);
        return buf;
    }
}

std::vector<util::IpAddr> resolve(const Discovery& d, std::span<const std::uint8_t> name,
                                  std::uint16_t& id) {
    std::vector<util::IpAddr> out;
    for (std::uint16_t type : {dns::qtype::A, dns::qtype::AAAA}) {
        const auto msg = dns_exchange(d, name, type, ++id);
        dns::Reader r(msg);
        dns::Header h;
        if (!dns::read_header(r, h) || h.rcode() != 0) continue;
        for (std::uint16_t i = 0; i < h.qdcount; ++i) dns::skip_question(r);
        for (std::uint16_t i = 0; i < h.ancount && r.ok(); ++i) {
            dns::RrInfo rr;
            if (dns::read_rr(r, nullptr, rr) == 0) break;
            if (rr.rclass != dns::kClassIN || rr.type != type) continue;
            util::IpAddr a;
            if (type == dns::qtype::A && rr.rdlength == 4) {
                a.family = 4;
                std::memcpy(a.bytes.data(), msg.data() + rr.rdata, 4);
            } else if (type == dns::qtype::AAAA && rr.rdlength == 16) {
                a.family = 6;
                std::memcpy(a.bytes.data(), msg.data() + rr.rdata, 16);
            } else {
                continue;
            }
            out.push_back(a);
        }
    }
    return out;
}

std::vector<config::Backend> fetch_svcb(const Discovery& d) {
    std::uint8_t qname[dns::kMaxNameWire];
    const std::size_t qlen = dns::name_from_text(d.query_name, qname);
    if (qlen == 0) throw std::runtime_error("bad name " + d.query_name);
    const std::uint16_t qtype =
        d.type == Discovery::Type::Https ? dns::qtype::HTTPS : dns::qtype::SVCB;
    std::uint16_t id = static_cast<std::uint16_t>(std::random_device{}());
    const auto msg = dns_exchange(d, {qname, qlen}, qtype, ++id);
    std::vector<SvcbAnswer> answers;
    int rcode = 0;
    if (!parse_svcb_answer(msg, id, {qname, qlen}, qtype, answers, rcode))
        throw std::runtime_error("malformed answer from " + d.server.to_string());
    if (rcode != 0)
        throw std::runtime_error(d.query_name + " " +
                                 (qtype == dns::qtype::HTTPS ? "HTTPS" : "SVCB") + ": rcode " +
                                 std::to_string(rcode));
    std::vector<config::Backend> out;
    config::CheckInterner checks;  // the answer's backends share equal checks
    for (const auto& a : answers) {
        std::vector<util::IpAddr> addrs = a.hints;
        if (addrs.empty()) addrs = resolve(d, a.target, id);
        for (const auto& ip : addrs) {
            config::Backend b = config::discovered_backend(d, ip, a.port, &checks);
            // SvcPriority orders like a backend priority: lower is preferred.
            if (a.priority != 0) b.priority = a.priority;
            if (std::none_of(out.begin(), out.end(), [&](const config::Backend& x) {
                    return x.address == b.address && x.port == b.port;
                }))
                out.push_back(std::move(b));
        }
    }
    if (out.empty())
        throw std::runtime_error(d.query_name + ": no usable " +
                                 (qtype == dns::qtype::HTTPS ? "HTTPS" : "SVCB") +
                                 " record (no hints and no address for the target)");
    return out;
}

}  // namespace

bool parse_svcb_answer(std::span<const std::uint8_t> msg, std::uint16_t id,
                       std::span<const std::uint8_t> qname, std::uint16_t qtype,
                       std::vector<SvcbAnswer>& out, int& rcode) {
    dns::Reader r(msg);
    dns::Header h;
    if (!dns::read_header(r, h) || h.id != id || !(h.flags & dns::flag::QR)) return false;
    rcode = h.rcode();
    for (std::uint16_t i = 0; i < h.qdcount; ++i)
        if (!dns::skip_question(r)) return false;
    for (std::uint16_t i = 0; i < h.ancount; ++i) {
        dns::RrInfo rr;
        if (dns::read_rr(r, nullptr, rr) == 0) return false;
        if (rr.rclass != dns::kClassIN || rr.type != qtype) continue;  // CNAMEs and the like
        dns::Reader rd(msg);
        rd.seek(rr.rdata);
        SvcbAnswer a;
        a.priority = rd.u16();
        std::uint8_t target[dns::kMaxNameWire];
        const std::size_t tlen = dns::read_name(rd, target);
        if (tlen == 0) return false;
        if (tlen == 1)  // "." : the owner, which is the name we asked (CNAMEs aside)
            a.target.assign(qname.begin(), qname.end());
        else
            a.target.assign(target, target + tlen);
        const std::size_t end = rr.rdata + rr.rdlength;
        while (rd.ok() && rd.pos() < end) {
            const std::uint16_t key = rd.u16();
            const std::uint16_t len = rd.u16();
            const std::uint8_t* v = rd.bytes(len);
            if (!rd.ok() || rd.pos() > end) return false;
            if (key == 3 && len == 2) a.port = util::load16(v);
            if (key == 4 && len % 4 == 0)
                for (std::size_t o = 0; o < len; o += 4) {
                    util::IpAddr ip;
                    ip.family = 4;
                    std::memcpy(ip.bytes.data(), v + o, 4);
                    a.hints.push_back(ip);
                }
            if (key == 6 && len % 16 == 0)
                for (std::size_t o = 0; o < len; o += 16) {
                    util::IpAddr ip;
                    ip.family = 6;
                    std::memcpy(ip.bytes.data(), v + o, 16);
                    a.hints.push_back(ip);
                }
        }
        if (!rd.ok()) return false;
        out.push_back(std::move(a));
    }
    return r.ok();
}

std::vector<config::Backend> fetch(const config::Discovery& d) {
    switch (d.type) {
        case Discovery::Type::Http: {
            std::vector<std::string> headers;
            for (const auto& [k, v] : d.headers) headers.push_back(k + ": " + v);
            const std::string body = http_get(d.url, d, headers);
            try {
                return config::parse_discovered_list(body, d.url, d);
            } catch (const config::ConfigError& e) {
                throw std::runtime_error(e.what());
            }
        }
        case Discovery::Type::Consul: {
            std::string url = d.url + "/v1/catalog/service/" + escape_url(d.service);
            if (!d.datacenter.empty()) url += "?dc=" + escape_url(d.datacenter);
            std::vector<std::string> headers;
            if (!d.token.empty()) headers.push_back("X-Consul-Token: " + d.token);
            const std::string body = http_get(url, d, headers);
            try {
                return config::parse_consul_catalog(body, url, d);
            } catch (const config::ConfigError& e) {
                throw std::runtime_error(e.what());
            }
        }
        case Discovery::Type::Svcb:
        case Discovery::Type::Https:
            return fetch_svcb(d);
    }
    throw std::runtime_error("unknown discovery type");
}

}  // namespace gslbd::discovery
