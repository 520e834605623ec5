#pragma once
/// The HTTP control API (cpp-httplib; see docs/api.md): /api/v1/{status, backends/*,
/// reload, explain, ready}, /healthz and /metrics. Runs on its own threads on the control
/// side; it changes what workers see only through Control (snapshots over RCU).
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/model.hh"
#include "ctl/control.hh"
#include "ctl/metrics.hh"

namespace httplib {
class Server;
}

namespace gslbd::ctl {

/// The listening address could not be bound (in use, not local, no permission).
class BindError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class ApiServer {
  public:
    /// Reads the token file and binds `cfg.addr:cfg.port` now. Throws BindError naming the
    /// address when the bind fails, std::runtime_error when the token or TLS files cannot
    /// be loaded.
    ApiServer(Control& control, const config::ApiConfig& cfg, StatsFn stats, std::string version);
    ~ApiServer();  ///< stops
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    void start();
    /// Idempotent; returns when the listener thread has finished.
    void stop();
    /// "http://127.0.0.1:8053" (or https://).
    std::string url() const;

  private:
    void routes();

    Control& control_;
    config::ApiConfig cfg_;
    StatsFn stats_;
    std::string version_;
    std::string token_;  ///< "" = none configured
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
};

/// The first line of a token file without trailing white space; throws std::runtime_error.
std::string read_token_file(const std::string& path);

}  // namespace gslbd::ctl
