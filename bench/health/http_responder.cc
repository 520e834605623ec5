// Minimal HTTP/1.1 responder for the probe-scale benchmark: one thread, one epoll, answers
// every request with "200 ok" and closes. Cheap enough that the benchmark measures gslbd,
// not the target. Reads commands on stdin, one per line: "count" prints the number of
// requests answered so far; EOF or "quit" exits.
// Usage: http_responder ADDRESS PORT   (prints "ready" once listening)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

constexpr char kReply[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    "\r\nok";

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s ADDRESS PORT\n", argv[0]);
        return 2;
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) die("address");
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) die("bind");
    if (listen(ls, 65535) != 0) die("listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    ev.data.fd = 0;
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    std::printf("ready\n");
    std::fflush(stdout);

    std::unordered_map<int, std::string> pending;  // fd -> request bytes so far
    unsigned long long answered = 0;
    std::string cmd;
    epoll_event evs[256];
    char buf[4096];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    pending[c];
                }
            } else if (fd == 0) {
                ssize_t r = read(0, buf, sizeof buf);
                if (r <= 0) return 0;
                cmd.append(buf, static_cast<std::size_t>(r));
                for (std::size_t nl; (nl = cmd.find('\n')) != std::string::npos;) {
                    std::string line = cmd.substr(0, nl);
                    cmd.erase(0, nl + 1);
                    if (line == "quit") return 0;
                    if (line == "count") {
                        std::printf("%llu\n", answered);
                        std::fflush(stdout);
                    }
                }
            } else {
                std::string& req = pending[fd];
                bool done = false;
                for (;;) {
                    ssize_t r = read(fd, buf, sizeof buf);
                    if (r <= 0) {
                        done = r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
                        break;
                    }
                    req.append(buf, static_cast<std::size_t>(r));
                }
                if (req.find("\r\n\r\n") != std::string::npos) {
                    ssize_t w = write(fd, kReply, sizeof kReply - 1);
                    if (w == static_cast<ssize_t>(sizeof kReply - 1)) ++answered;
                    done = true;
                }
                if (done) {
                    pending.erase(fd);
                    close(fd);
                }
            }
        }
    }
}
