// TCP probes: a non-blocking connect; writable without a socket error means up. The socket
// closes with RST, so thousands of probes leave no TIME_WAIT pile-up behind.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "health/prober.hh"
#include "health/prober_impl.hh"

namespace gslbd::health {

bool Prober::start_tcp(Own& o, std::uint64_t serial) {
    return connect_own(o, SOCK_STREAM, true) && watch_own(o, serial, EPOLLOUT);
}

void Prober::on_tcp_event(std::uint64_t serial, Own& o, std::uint32_t events) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(o.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0 && !(events & EPOLLERR)) return finish_own(serial, ErrorKind::None, {});
    finish_own(serial, detail::errno_kind(err), std::string("connect: ") + std::strerror(err));
}

}  // namespace gslbd::health
