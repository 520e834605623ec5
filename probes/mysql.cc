// Probe kind `mysql`: connect, authenticate and run `query` (default SELECT 1) with the
// MariaDB client library, as CoreDNS-GSLB's mysql check does: up when the query succeeds and
// returns at least one row. The client library blocks, so attempts run on a small pool of
// threads of their own (JobRunner), never on the prober's loop; the library's connect, read
// and write timeouts are set from the attempt's deadline (whole seconds, rounded up) and the
// loop reports a timeout at the deadline itself whatever the thread is still doing.
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <fmt/format.h>

#include <mutex>

#include "common.hh"
#include "health/job_runner.hh"

namespace gslbd::probes {

namespace {

using health::ErrorKind;
using health::JobOutcome;
using health::ProbeSpec;
using health::SteadyClock;

constexpr std::size_t kThreads = 4;

struct MysqlParams : health::KindParams {
    std::string host;  ///< empty: the backend's address
    std::string user, password, database;
    std::string query = "SELECT 1";
};

std::string resolve(const config::HealthCheck& hc, const CheckSite& site, ProbeSpec& spec) {
    health::check_known_params(
        hc, site, {"host", "port", "user", "password", "database", "query", "timeout"});
    auto p = std::make_shared<MysqlParams>();
    p->host = text_param(hc, "host");
    p->user = text_param(hc, "user");
    p->password = text_param(hc, "password");
    p->database = text_param(hc, "database");
    p->query = text_param(hc, "query", "SELECT 1");
    if (p->query.empty()) p->query = "SELECT 1";
    if (!p->host.empty() && !util::IpAddr::parse(p->host)) {
        const auto* raw = health::raw_param(hc, "host");
        throw config::ConfigError(raw->pos, "host",
                                  fmt::format("{}: params.host '{}' must be an IP address (the "
                                              "probe resolves no names)",
                                              site.where, p->host));
    }
    spec.port = static_cast<std::uint16_t>(hc.port != 0 ? hc.port : 3306);
    // the password is part of the identity (a changed password is a changed check) but
    // never shown: only its hash goes into the key
    std::string key = fmt::format("{}\x1f{}\x1f{:x}\x1f{}\x1f{}", p->host, p->user,
                                  std::hash<std::string>{}(p->password), p->database, p->query);
    spec.params = std::move(p);
    return key;
}

ErrorKind kind_of(unsigned int err) {
    switch (err) {
        case CR_CONNECTION_ERROR:
        case CR_CONN_HOST_ERROR:
            return ErrorKind::Refused;
        case ER_ACCESS_DENIED_ERROR:
        case ER_DBACCESS_DENIED_ERROR:
        case ER_BAD_DB_ERROR:
            return ErrorKind::Status;
        case CR_SSL_CONNECTION_ERROR:
            return ErrorKind::Tls;
        case CR_SERVER_LOST:
        case CR_SERVER_GONE_ERROR:
            return ErrorKind::Network;
        default:
            return err >= 2000 && err < 3000 ? ErrorKind::Network : ErrorKind::Status;
    }
}

JobOutcome run(const ProbeSpec& spec, const util::IpAddr& addr,
               const std::optional<util::IpAddr>& source, SteadyClock::time_point deadline) {
    const auto& p = health::kind_params<MysqlParams>(spec);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return {ErrorKind::Timeout, "no time left to connect"};
    unsigned int secs = static_cast<unsigned int>((left.count() + 999) / 1000);
    MYSQL* m = mysql_init(nullptr);
    if (m == nullptr) return {ErrorKind::Internal, "mysql_init: out of memory"};
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &secs);
    unsigned int tcp = MYSQL_PROTOCOL_TCP;  // never a local socket, even for localhost
    mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
    const std::string host = p.host.empty() ? addr.to_string() : p.host;
    std::string bind;
    if (source) {
        bind = source->to_string();
        mysql_options(m, MYSQL_OPT_BIND, bind.c_str());
    }
    JobOutcome out;
    auto fail = [&](const char* what) {
        const unsigned int err = mysql_errno(m);
        out.kind = kind_of(err);
        if (SteadyClock::now() >= deadline) out.kind = ErrorKind::Timeout;
        out.detail = fmt::format("{}: {} ({})", what, mysql_error(m), err);
    };
    if (mysql_real_connect(m, host.c_str(), p.user.empty() ? nullptr : p.user.c_str(),
                           p.password.c_str(), p.database.empty() ? nullptr : p.database.c_str(),
                           spec.port, nullptr, 0) == nullptr) {
        fail("connect");
    } else if (mysql_real_query(m, p.query.data(), p.query.size()) != 0) {
        fail("query");
    } else if (MYSQL_RES* res = mysql_store_result(m); res == nullptr) {
        if (mysql_field_count(m) != 0 || mysql_errno(m) != 0) {
            fail("query result");
        } else {
            out = {ErrorKind::Status, "query returned no result set"};
        }
    } else {
        if (mysql_num_rows(res) == 0) out = {ErrorKind::Status, "query returned no rows"};
        mysql_free_result(res);
    }
    mysql_close(m);
    return out;
}

std::unique_ptr<health::ProbeRunner> make_runner(const health::RunnerContext& ctx) {
    static std::once_flag once;
    std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
    return std::make_unique<health::JobRunner>(ctx, "gslbd-mysql", kThreads, run);
}

}  // namespace

GSLBD_REGISTER_PROBE_KIND(mysql, "mysql", resolve, make_runner)

}  // namespace gslbd::probes
