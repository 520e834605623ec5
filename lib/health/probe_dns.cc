// DNS probes: one query over a connected UDP socket; the reply is checked by
// check_dns_reply (dnsprobe.cc holds the wire format, this file the socket).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "health/dnsprobe.hh"
#include "health/prober.hh"
#include "health/prober_impl.hh"

namespace gslbd::health {

using detail::errno_kind;

bool Prober::start_dns(Own& o, std::uint64_t serial) {
    if (!connect_own(o, SOCK_DGRAM, false)) return false;
    o.dns_id = static_cast<std::uint16_t>(rng_.next());
    auto q = build_dns_query(o.dns_id, o.spec->qname_wire, o.spec->cfg.query_type);
    if (::send(o.fd, q.data(), q.size(), 0) < 0) {
        int e = errno;
        ::close(o.fd);
        fail_now(o.token, errno_kind(e), std::string("send: ") + std::strerror(e));
        return false;
    }
    return watch_own(o, serial, EPOLLIN);
}

void Prober::on_dns_readable(std::uint64_t serial, Own& o) {
    // read until our reply or EAGAIN; strays (wrong ID) are ignored
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

}  // namespace gslbd::health
