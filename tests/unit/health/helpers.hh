#pragma once
// Test helpers: hand-built topologies, child processes (python backends), polling.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/model.hh"
#include "gslb/snapshot.hh"

namespace testh {

using namespace gslbd;
using namespace std::chrono_literals;

inline config::HealthCheck check(const std::string& type, int port = 0) {
    config::HealthCheck hc;
    hc.type = type;
    hc.port = port;
    hc.pos = {"zone.yml", 10, 5};
    return hc;
}

/// Builds a config + topology by hand: records with backends, backend ids in order of addition.
struct TopoBuilder {
    std::shared_ptr<config::Config> cfg = std::make_shared<config::Config>();
    // reserved so that references returned by record() / backend() stay valid
    TopoBuilder() {
        cfg->zones.emplace_back().name = "example.com.";
        cfg->zones[0].records.reserve(64);
    }

    config::Record& record(const std::string& name, int interval_ms = 200, int timeout_ms = 150,
                           int retries = 0) {
        auto& r = cfg->zones[0].records.emplace_back();
        r.name = name;
        r.scrape_interval = config::Millis(interval_ms);
        r.scrape_timeout = config::Millis(timeout_ms);
        r.scrape_retries = retries;
        r.pos = {"zone.yml", 3, 3};
        r.backends.reserve(2048);
        return r;
    }
    config::Backend& backend(config::Record& r, const std::string& addr,
                             std::vector<config::HealthCheck> checks = {}) {
        auto& b = r.backends.emplace_back();
        b.address = *util::IpAddr::parse(addr);
        b.address_text = addr;
        for (auto& hc : checks) b.healthchecks.push_back(config::CheckRef(std::move(hc)));
        b.pos = {"zone.yml", 7, 7};
        return b;
    }
    std::shared_ptr<const gslb::Topology> build() const {
        auto t = std::make_shared<gslb::Topology>();
        t->config = cfg;
        std::uint32_t id = 0;
        for (const auto& r : cfg->zones[0].records) {
            auto& rt = t->records.emplace_back();
            rt.id = static_cast<std::uint32_t>(t->records.size() - 1);
            rt.cfg = &r;
            for (const auto& b : r.backends) {
                gslb::BackendRt br;
                br.addr = b.address;
                br.id = id++;
                br.enabled = b.enable;
                br.cfg = &b;
                (b.address.family == 4 ? rt.v4 : rt.v6).push_back(br);
            }
        }
        t->backend_count = id;
        return t;
    }
};

inline bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

inline std::string source_root() {
    const char* s = std::getenv("GSLBD_SOURCE_ROOT");
    return s != nullptr ? s : ".";
}

/// A temporary directory removed at the end.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/gslbd-health-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
        path = tmpl;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

inline void write_file(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp);
        f << text;
    }
    std::rename(tmp.c_str(), path.c_str());  // atomic: the server never sees half a file
}

inline std::string read_file(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

/// A child process whose first stdout line is "PORT <n>".
struct Child {
    pid_t pid = -1;
    int port = 0;
    explicit Child(std::vector<std::string> argv) {
        int fds[2];
        if (pipe(fds) != 0) throw std::runtime_error("pipe");
        pid = fork();
        if (pid == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
        close(fds[1]);
        FILE* f = fdopen(fds[0], "r");
        char line[128] = {};
        if (fgets(line, sizeof line, f) == nullptr || std::sscanf(line, "PORT %d", &port) != 1) {
            fclose(f);
            kill();
            throw std::runtime_error("child did not report its port: " + argv[1]);
        }
        fclose(f);
    }
    void kill() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            pid = -1;
        }
    }
    ~Child() { kill(); }
};

inline std::unique_ptr<Child> http_backend(const std::string& addr, const std::string& state,
                                           const std::string& cert = {},
                                           const std::string& key = {}, int port = 0) {
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     source_root() + "/tests/data/health/http_backend.py", addr,
                                     std::to_string(port), state};
    if (!cert.empty()) {
        argv.push_back(cert);
        argv.push_back(key);
    }
    return std::make_unique<Child>(argv);
}

inline std::unique_ptr<Child> dns_backend(const std::string& addr, const std::string& state) {
    return std::make_unique<Child>(std::vector<std::string>{
        "/usr/bin/python3", source_root() + "/tests/data/health/dns_backend.py", addr, "0", state});
}

/// tests/data/health/{http,dns}_backend.py on `addr` with a state file of its own, written
/// with `initial` before the script starts; set() rewrites it (the script re-reads it per
/// request).
struct ScriptBackend {
    enum class Kind { Http, Dns };
    TempDir dir;
    std::string state;
    std::unique_ptr<Child> proc;

    ScriptBackend(Kind kind, const std::string& addr, const std::string& initial)
        : state(dir.file("state")) {
        write_file(state, initial);
        proc = kind == Kind::Http ? http_backend(addr, state) : dns_backend(addr, state);
    }
    ScriptBackend(const ScriptBackend&) = delete;
    ScriptBackend& operator=(const ScriptBackend&) = delete;

    int port() const { return proc->port; }
    void set(const std::string& text) const { write_file(state, text); }
};

}  // namespace testh
