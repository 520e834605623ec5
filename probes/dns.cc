// Probe kind `dns`: one query over a connected UDP socket; the reply is checked by
// health::check_dns_reply (lib/health/dnsprobe.cc holds the wire format, fuzzed there; this
// file the socket).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

#include "health/dnsprobe.hh"
#include "socket_runner.hh"

namespace gslbd::probes {

namespace {

struct DnsParams : health::KindParams {
    std::vector<std::uint8_t> qname_wire;  ///< the query name in wire format
};

std::string resolve(const config::HealthCheck& hc, const health::CheckSite& site, ProbeSpec& spec) {
    if (hc.port < 0 || hc.port > 65535) {
        throw config::ConfigError(hc.pos, "port", site.where + ": port must be 1..65535");
    }
    spec.port = hc.port != 0 ? static_cast<std::uint16_t>(hc.port) : 53;
    auto p = std::make_shared<DnsParams>();
    // no query_name: ask the backend for the record it serves
    p->qname_wire =
        health::encode_qname(hc.query_name.empty() ? site.record.name : hc.query_name, hc.pos);
    std::string key(p->qname_wire.begin(), p->qname_wire.end());
    key += fmt::format("\x1f{}/{}\x1f{}", hc.query_type, hc.expected_rcode,
                       hc.expected_address ? hc.expected_address->to_string() : "");
    spec.params = std::move(p);
    return key;
}

class DnsRunner final : public SocketRunner {
  public:
    using SocketRunner::SocketRunner;

  private:
    bool begin(Attempt& a) override {
        if (!connect(a, SOCK_DGRAM, false)) return false;
        a.dns_id = static_cast<std::uint16_t>(rng_.next());
        const auto& p = health::kind_params<DnsParams>(*a.spec);
        auto q = health::build_dns_query(a.dns_id, p.qname_wire, a.spec->cfg.query_type);
        if (::send(a.fd, q.data(), q.size(), 0) < 0) {
            const int e = errno;
            ::close(a.fd);
            a.fd = -1;
            fail(a.token, errno_kind(e), errno_text("send", e));
            return false;
        }
        return watch(a, EPOLLIN);
    }

    void on_ready(Attempt& a, std::uint32_t /*events*/) override {
        // read until our reply or EAGAIN; strays (wrong ID) are ignored
        std::uint8_t buf[4096];
        const auto& p = health::kind_params<DnsParams>(*a.spec);
        const auto& hc = a.spec->cfg;
        for (;;) {
            ssize_t n = ::recv(a.fd, buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                const int e = errno;
                return finish(a.serial, errno_kind(e), errno_text("dns recv", e));
            }
            int rcode = -1;
            auto r = health::check_dns_reply({buf, static_cast<std::size_t>(n)}, a.dns_id,
                                             p.qname_wire, hc.query_type, hc.expected_rcode,
                                             hc.expected_address, rcode);
            switch (r) {
                case health::DnsReply::NotOurs:
                    continue;
                case health::DnsReply::Ok:
                    return finish(a.serial, ErrorKind::None, {});
                case health::DnsReply::Malformed:
                    return finish(a.serial, ErrorKind::BadReply, "malformed DNS reply");
                case health::DnsReply::Rcode:
                    return finish(a.serial, ErrorKind::DnsRcode,
                                  fmt::format("rcode {} (expected {})", rcode, hc.expected_rcode));
                case health::DnsReply::NoAddress:
                    return finish(a.serial, ErrorKind::DnsAnswer,
                                  fmt::format("answer lacks {}", hc.expected_address->to_string()));
            }
        }
    }
};

}  // namespace

GSLBD_REGISTER_PROBE_KIND(dns, "dns", resolve,
                          [](const health::RunnerContext& ctx)
                              -> std::unique_ptr<health::ProbeRunner> {
                              return std::make_unique<DnsRunner>(ctx);
                          })

}  // namespace gslbd::probes
