// Minimal HTTP/1.1 responder for the probe-scale benchmark: one thread, one epoll, answers
// every request with "200 ok". Cheap enough that the benchmark measures gslbd, not the
// target. Mode `close` (the default) closes after each answer; `keep` keeps the connection
// (HTTP/1.1 keep-alive) until the client closes it or asks for `Connection: close`, so a
// prober's connection cache can be measured. Reads commands on stdin, one per line: "count"
// prints the number of requests answered so far, "conns" the connections accepted so far;
// EOF or "quit" exits.
// Usage: http_responder ADDRESS PORT [close|keep]   (prints "ready" once listening)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr char kReplyClose[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    "\r\nok";
constexpr char kReplyKeep[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

/// Whether the request head asks to close the connection.
bool asks_close(const std::string& head) {
    for (std::size_t at = 0; (at = head.find("\r\n", at)) != std::string::npos;) {
        at += 2;
        static constexpr char kHdr[] = "connection:";
        if (strncasecmp(head.c_str() + at, kHdr, sizeof kHdr - 1) == 0) {
            const std::size_t end = head.find("\r\n", at);
            std::string v = head.substr(at + sizeof kHdr - 1, end - at - (sizeof kHdr - 1));
            for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return v.find("close") != std::string::npos;
        }
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s ADDRESS PORT [close|keep]\n", argv[0]);
        return 2;
    }
    const bool keep = argc == 4 && std::strcmp(argv[3], "keep") == 0;
    if (argc == 4 && !keep && std::strcmp(argv[3], "close") != 0) {
        std::fprintf(stderr, "mode must be close or keep\n");
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

    std::vector<std::string> pending;  // by fd: request bytes so far
    unsigned long long answered = 0, accepted = 0;
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
                    ++accepted;
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    if (pending.size() <= static_cast<std::size_t>(c)) pending.resize(c + 1024);
                    pending[static_cast<std::size_t>(c)].clear();
                }
            } else if (fd == 0) {
                ssize_t r = read(0, buf, sizeof buf);
                if (r <= 0) return 0;
                cmd.append(buf, static_cast<std::size_t>(r));
                for (std::size_t nl; (nl = cmd.find('\n')) != std::string::npos;) {
                    std::string line = cmd.substr(0, nl);
                    cmd.erase(0, nl + 1);
                    if (line == "quit") return 0;
                    if (line == "count" || line == "conns") {
                        std::printf("%llu\n", line == "count" ? answered : accepted);
                        std::fflush(stdout);
                    }
                }
            } else {
                std::string& req = pending[static_cast<std::size_t>(fd)];
                bool done = false;
                for (;;) {
                    ssize_t r = read(fd, buf, sizeof buf);
                    if (r <= 0) {
                        done = r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
                        break;
                    }
                    req.append(buf, static_cast<std::size_t>(r));
                }
                // every complete request head in the buffer gets its answer (GET: no body)
                for (std::size_t end; !done && (end = req.find("\r\n\r\n")) != std::string::npos;) {
                    const bool close_after = !keep || asks_close(req.substr(0, end + 4));
                    const char* reply = close_after ? kReplyClose : kReplyKeep;
                    const std::size_t len =
                        close_after ? sizeof kReplyClose - 1 : sizeof kReplyKeep - 1;
                    ssize_t w = write(fd, reply, len);
                    if (w == static_cast<ssize_t>(len)) ++answered;
                    req.erase(0, end + 4);
                    done = close_after || w != static_cast<ssize_t>(len);
                }
                if (done) {
                    std::string().swap(req);
                    close(fd);
                }
            }
        }
    }
}
