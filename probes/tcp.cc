// Probe kind `tcp`: a non-blocking connect; writable without a socket error means up. The
// socket closes with RST, so thousands of probes leave no TIME_WAIT pile-up behind.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "socket_runner.hh"

namespace gslbd::probes {

namespace {

std::string resolve(const config::HealthCheck& hc, const health::CheckSite& site, ProbeSpec& spec) {
    if (hc.port <= 0 || hc.port > 65535) {
        throw config::ConfigError(
            hc.pos, "port",
            site.where + (hc.port == 0 ? ": a tcp check needs a port" : ": port must be 1..65535"));
    }
    spec.port = static_cast<std::uint16_t>(hc.port);
    return {};
}

class TcpRunner final : public SocketRunner {
  public:
    using SocketRunner::SocketRunner;

  private:
    bool begin(Attempt& a) override { return connect(a, SOCK_STREAM, true) && watch(a, EPOLLOUT); }
    void on_ready(Attempt& a, std::uint32_t events) override {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && !(events & EPOLLERR)) return finish(a.serial, ErrorKind::None, {});
        finish(a.serial, errno_kind(err), errno_text("connect", err));
    }
};

}  // namespace

GSLBD_REGISTER_PROBE_KIND(tcp, "tcp", resolve,
                          [](const health::RunnerContext& ctx)
                              -> std::unique_ptr<health::ProbeRunner> {
                              return std::make_unique<TcpRunner>(ctx);
                          })

}  // namespace gslbd::probes
