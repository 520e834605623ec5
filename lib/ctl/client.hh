#pragma once
/// gslbctl's logic (apps/gslbctl/main.cc only calls run()): the command line parsed into one
/// control API request (docs/api.md), the HTTP(S) call, and the API's JSON rendered as text.
/// Built as its own library (gslbd_ctl_client) so the CLI does not link the daemon's code.
/// Exit codes are part of the interface (see kUsage): scripts rely on them.
#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace httplib {
class Client;
}

namespace gslbd::ctl::client {

enum Exit : int {
    kOk = 0,
    kApiError = 1,     ///< the API refused the request or failed (4xx other than auth, 5xx)
    kBadUsage = 2,     ///< bad command line, unreadable --config / --token-file
    kUnreachable = 3,  ///< no connection (refused, timeout, TLS)
    kAuth = 4,         ///< 401 / 403
    kNotReady = 5,     ///< `ready`: the daemon is not ready
};

/// The help text: printed by --help, and after the message of every UsageError.
extern const char* const kUsage;

/// A bad command line (exit kBadUsage); what() says what is wrong, kUsage follows it.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The API could not be reached (exit kUnreachable); what() names the URL and the cause.
class Unreachable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// How to reach and talk to the API.
struct Options {
    std::string api;         ///< base URL without trailing '/' once resolved
    std::string token;       ///< bearer token; "" = send none
    std::string token_file;  ///< read into `token` by resolve_endpoint()
    std::string config;      ///< the daemon's main config (--config)
    std::string cacert;      ///< CA file to verify the server with
    bool json_out = false;   ///< --json: print the API's JSON instead of text
    bool insecure = false;   ///< do not verify the server's certificate
    int timeout = 10;        ///< seconds, per request (connect, read, write)
};

/// The command line as typed, before the command's own arguments are checked.
struct CommandLine {
    Options options;
    std::vector<std::string> args;  ///< the command, then its positional arguments
    nlohmann::json selector = nlohmann::json::object();  ///< --address/--tag/--location/--record
    std::string client;                                  ///< explain's --client
    std::string ecs;                                     ///< explain's --ecs
    nlohmann::json shift = nlohmann::json::object();  ///< shift's --share/--step/--interval/--drill
    bool wait = false;                                ///< shift start/show --wait
    bool help = false;  ///< -h/--help was seen: print kUsage and exit kOk
};

/// Parses argv[1..argc). Options take their value as `--opt VALUE` or `--opt=VALUE`; any
/// word not starting with "--" is positional. Stops at -h/--help (help = true, nothing else
/// checked). Throws UsageError for an option without a value, an unknown option, no command,
/// or a --timeout that is not a positive number.
CommandLine parse_command_line(int argc, const char* const* argv);

/// Looks up an environment variable: nullptr when unset.
using EnvFn = std::function<const char*(const char*)>;

/// Completes `o` in place. API URL: --api, else $GSLBCTL_API, else the `api:` block of
/// --config (listen, https when tls_cert is set), else http://127.0.0.1:8053; trailing '/'
/// removed. Token: --token or --token-file, else $GSLBCTL_TOKEN, else api.token_file of
/// --config (relative to the config's directory); a token file's first line is read.
/// Throws std::runtime_error (exit kBadUsage) for an unreadable config or token file or a
/// config whose API is off.
void resolve_endpoint(Options& o, const EnvFn& env);

enum class Command {
    kStatus,
    kEnable,
    kDisable,
    kDrain,
    kWeight,
    kReload,
    kExplain,
    kReady,
    kMetrics,
    kFleet,
    kPoolSet,
    kPoolShow,
    kPoolClear,
    kBlocks,
    kBlocksLift,
    kShift,      ///< shift start / pause / resume / abort (client_shift.cc)
    kShiftList,  ///< shift list
    kShiftShow,  ///< shift show ID
    kPlan
};

/// One call of the API.
struct Request {
    Command command;
    std::string name;  ///< the command as typed ("drain"); prefixes the text of backend changes
    bool post = false;
    std::string path;     ///< "/api/v1/status"
    nlohmann::json body;  ///< the POST body (unused for GET)
    std::string method;   ///< "PUT" / "DELETE" ("" = GET or POST by `post`)
    std::string raw;      ///< PUT: the body as sent (a backend list file, as written)
    bool wait = false;    ///< shift: poll until the shift is over, then print its report
};

/// Checks the command's arguments and builds its request. Throws UsageError for an unknown
/// command, wrong positional arguments, a missing selector (enable/disable/drain/weight), a
/// weight outside 0..1000000, or explain without --client.
Request make_request(const CommandLine& cl);

/// An HTTP reply: `body` is the parsed JSON, null when the text is not JSON.
struct Reply {
    int status = 0;
    nlohmann::json body;
    std::string text;
};

/// An HTTP(S) connection to the API set up from resolved Options (timeouts, TLS, token).
class Transport {
  public:
    /// Throws UsageError when the URL's scheme is neither http nor https.
    explicit Transport(const Options& o);
    ~Transport();
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    /// Sends the request; throws Unreachable when no reply came.
    Reply send(const Request& r);

  private:
    std::string api_;
    std::unique_ptr<httplib::Client> cli_;
};

/// Writes what a finished call prints (to `out`; API errors to `err`, or to `out` as JSON
/// with --json) and returns the exit code.
int render(const Request& r, const Reply& reply, bool json_out, std::ostream& out,
           std::ostream& err);

/// `status` as text: a summary line, the reload counters, then one table row per backend
/// (RECORD MODE BACKEND VERDICT ADMIN WEIGHT PRIO SINCE LAST ERROR).
void print_status(const nlohmann::json& status, std::ostream& out);

/// `explain` as text: the query, the client address used, zone/record, the candidate table,
/// geo facts, decision, fallback, result and the answer's records.
void print_explain(const nlohmann::json& explain, std::ostream& out);

/// `shift ...` (docs/gradual.md): the request of a shift subcommand (client_shift.cc).
/// Throws UsageError.
Request make_shift_request(const CommandLine& cl);
/// A shift as text: its parameters and state, then one row per step with the answers of
/// every backend (targets marked *), the targets' share and the share the plan expects.
void print_shift(const nlohmann::json& shift, std::ostream& out);
/// `shift list` as a table.
void print_shifts(const nlohmann::json& list, std::ostream& out);
/// `plan` as text: the change, the totals, then per record each class's answers now and
/// after and the share of its queries that would change.
void print_plan(const nlohmann::json& plan, std::ostream& out);

/// Rows as columns padded to the widest cell, two spaces apart; no trailing padding.
void print_table(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

/// All of gslbctl: parse, resolve, call, render. Returns the exit code.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, const EnvFn& env);

}  // namespace gslbd::ctl::client
