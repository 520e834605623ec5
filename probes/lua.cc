// Probe kind `lua`: the check's `script` runs in an embedded Lua 5.4 with CoreDNS-GSLB's
// helpers (http_get, json_decode, metric_get) and a `backend` table (address, priority,
// port); the backend is up when the script returns true.
//
// Scripts come from zone files, so they run fenced in:
// * no os, io, package/require, debug, coroutine; no load, loadfile, dofile, string.dump
//   (nothing reads files, runs programs or loads bytecode);
// * an instruction limit and the check's timeout, both enforced by a count hook that also
//   fires again after a pcall caught the first stop, so a script cannot swallow it;
// * a memory limit (a counting allocator: an allocation past it fails like out-of-memory);
// * a fresh interpreter per attempt, on a pool thread of its own (JobRunner): a slow script
//   never holds up the prober's loop or the other kinds.
// `ssh_exec` is refused when the check is loaded: gslbd has no SSH client built in.
#include <curl/curl.h>
#include <lua.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common.hh"
#include "health/job_runner.hh"

namespace gslbd::probes {

namespace {

using health::ErrorKind;
using health::JobOutcome;
using health::ProbeSpec;
using health::SteadyClock;

constexpr std::size_t kThreads = 4;
constexpr std::size_t kMemoryLimit = 16u << 20;          // bytes per interpreter
constexpr std::uint64_t kInstructionLimit = 20'000'000;  // VM instructions per attempt
constexpr int kHookEvery = 1000;                         // instructions between hook calls
constexpr std::size_t kMaxFetch = 1u << 20;              // bytes of an http_get / metric_get body
constexpr int kMaxJsonDepth = 64;

struct LuaParams : health::KindParams {
    std::string script;
    int priority = 0;
    int port = 0;
};

/// Per-attempt state, reachable from the interpreter through its allocator's ud.
struct Run {
    std::size_t used = 0;
    std::uint64_t instructions = 0;
    SteadyClock::time_point deadline;
    std::optional<util::IpAddr> source;
    const char* stopped = nullptr;  ///< why the script was stopped; sticks once set
};

void* limited_alloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize) {
    auto* run = static_cast<Run*>(ud);
    const std::size_t old = ptr != nullptr ? osize : 0;
    if (nsize == 0) {
        run->used -= old;
        std::free(ptr);
        return nullptr;
    }
    if (nsize > old && run->used - old + nsize > kMemoryLimit) {
        run->stopped = "memory limit of 16 MiB reached";
        return nullptr;  // Lua raises a memory error
    }
    void* p = std::realloc(ptr, nsize);
    if (p != nullptr) run->used = run->used - old + nsize;
    return p;
}

Run& run_of(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return *static_cast<Run*>(ud);
}

void count_hook(lua_State* L, lua_Debug*) {
    Run& run = run_of(L);
    run.instructions += kHookEvery;
    if (run.stopped == nullptr) {
        if (run.instructions > kInstructionLimit) {
            run.stopped = "instruction limit reached";
        } else if (SteadyClock::now() >= run.deadline) {
            run.stopped = "timeout";
        }
    }
    if (run.stopped != nullptr) luaL_error(L, "stopped: %s", run.stopped);
}

/// pcall / xpcall that do not catch a stop (limits, timeout): the real one (upvalue 1) runs,
/// then a stop it caught is raised again.
int guarded_pcall(lua_State* L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    if (const char* why = run_of(L).stopped) return luaL_error(L, "stopped: %s", why);
    return lua_gettop(L);
}

// ---- helpers ---------------------------------------------------------------------------------

std::size_t collect(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* body = static_cast<std::string*>(userp);
    if (body->size() + size * n > kMaxFetch) return 0;
    body->append(data, size * n);
    return size * n;
}

/// A GET bounded by the attempt's deadline; nullopt on any failure.
std::optional<std::string> fetch(lua_State* L, const char* url, double timeout_sec,
                                 const char* user, const char* password, bool tls_verify) {
    Run& run = run_of(L);
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(run.deadline - SteadyClock::now());
    long ms = static_cast<long>(std::min<double>(timeout_sec * 1000.0, left.count()));
    if (ms <= 0) return std::nullopt;
    CURL* e = curl_easy_init();
    if (e == nullptr) return std::nullopt;
    std::string body;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gslbd-health-lua/0.1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    std::string iface;
    if (run.source) {
        iface = "host!" + run.source->to_string();
        curl_easy_setopt(e, CURLOPT_INTERFACE, iface.c_str());
    }
    if (user != nullptr && password != nullptr && (*user != '\0' || *password != '\0')) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, password);
    }
    if (!tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK) return std::nullopt;
    return body;
}

// http_get(url, [timeout_sec], [user], [password], [tls_verify]) -> body, "" on failure
int l_http_get(lua_State* L) {
    const char* url = luaL_checkstring(L, 1);
    const double timeout = luaL_optnumber(L, 2, 10);
    const char* user = luaL_optstring(L, 3, nullptr);
    const char* password = luaL_optstring(L, 4, nullptr);
    const bool verify = lua_isnoneornil(L, 5) || lua_toboolean(L, 5);
    auto body = fetch(L, url, timeout, user, password, verify);
    if (body) {
        lua_pushlstring(L, body->data(), body->size());
    } else {
        lua_pushliteral(L, "");
    }
    return 1;
}

bool push_json(lua_State* L, const nlohmann::json& j, int depth) {
    if (depth > kMaxJsonDepth || !lua_checkstack(L, 3)) return false;
    switch (j.type()) {
        case nlohmann::json::value_t::object:
            lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(j.size(), 1024)));
            for (const auto& [k, v] : j.items()) {
                if (!push_json(L, v, depth + 1)) return false;
                lua_setfield(L, -2, k.c_str());
            }
            return true;
        case nlohmann::json::value_t::array: {
            lua_createtable(L, static_cast<int>(std::min<std::size_t>(j.size(), 1024)), 0);
            lua_Integer i = 1;
            for (const auto& v : j) {
                if (!push_json(L, v, depth + 1)) return false;
                lua_rawseti(L, -2, i++);
            }
            return true;
        }
        case nlohmann::json::value_t::string: {
            const auto& s = j.get_ref<const std::string&>();
            lua_pushlstring(L, s.data(), s.size());
            return true;
        }
        case nlohmann::json::value_t::boolean:
            lua_pushboolean(L, j.get<bool>());
            return true;
        case nlohmann::json::value_t::number_integer:
            lua_pushinteger(L, j.get<std::int64_t>());
            return true;
        case nlohmann::json::value_t::number_unsigned:
            lua_pushnumber(L, static_cast<double>(j.get<std::uint64_t>()));
            return true;
        case nlohmann::json::value_t::number_float:
            lua_pushnumber(L, j.get<double>());
            return true;
        default:
            lua_pushnil(L);
            return true;
    }
}

// json_decode(str) -> table (or the value), nil when it is not JSON
int l_json_decode(lua_State* L) {
    std::size_t len = 0;
    const char* s = luaL_checklstring(L, 1, &len);
    if (len > kMaxFetch) {
        lua_pushnil(L);
        return 1;
    }
    auto j = nlohmann::json::parse(s, s + len, nullptr, false);
    const int top = lua_gettop(L);
    if (j.is_discarded() || !push_json(L, j, 0)) {
        lua_settop(L, top);
        lua_pushnil(L);
    }
    return 1;
}

/// The value of the first sample of `name` in a Prometheus text exposition, as text.
std::optional<std::string_view> metric_value(std::string_view text, std::string_view name) {
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.size() <= name.size() || line.substr(0, name.size()) != name) continue;
        std::string_view rest = line.substr(name.size());
        if (rest[0] == '{') {  // skip the labels; values may hold '}' inside quotes
            bool quoted = false, escaped = false;
            std::size_t i = 1;
            for (; i < rest.size(); ++i) {
                const char c = rest[i];
                if (escaped) {
                    escaped = false;
                } else if (c == '\\') {
                    escaped = true;
                } else if (c == '"') {
                    quoted = !quoted;
                } else if (c == '}' && !quoted) {
                    break;
                }
            }
            if (i >= rest.size()) continue;
            rest = rest.substr(i + 1);
        } else if (rest[0] != ' ' && rest[0] != '\t') {
            continue;  // a longer name with our name as its prefix
        }
        const auto b = rest.find_first_not_of(" \t");
        if (b == std::string_view::npos) continue;
        rest = rest.substr(b);
        return rest.substr(0, rest.find_first_of(" \t\r"));
    }
    return std::nullopt;
}

// metric_get(url, name, [timeout_sec], [tls_verify], [user], [password]) -> number, the text
// when it is not a number, nil when absent or unreachable
int l_metric_get(lua_State* L) {
    const char* url = luaL_checkstring(L, 1);
    std::size_t nlen = 0;
    const char* name = luaL_checklstring(L, 2, &nlen);
    const double timeout = luaL_optnumber(L, 3, 10);
    const bool verify = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
    const char* user = luaL_optstring(L, 5, nullptr);
    const char* password = luaL_optstring(L, 6, nullptr);
    auto body = fetch(L, url, timeout, user, password, verify);
    std::optional<std::string_view> v;
    if (body && nlen > 0) v = metric_value(*body, std::string_view(name, nlen));
    if (!v) {
        lua_pushnil(L);
        return 1;
    }
    const std::string text(*v);
    char* end = nullptr;
    const double d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() && *end == '\0') {
        lua_pushnumber(L, d);
    } else {
        lua_pushlstring(L, text.data(), text.size());
    }
    return 1;
}

int l_print(lua_State*) {
    return 0;  // scripts may print while being written; the daemon's output is not theirs
}

/// A fenced interpreter: only base (trimmed), string, table, math and utf8, and our helpers.
lua_State* new_sandbox(Run& run) {
    lua_State* L = lua_newstate(limited_alloc, &run);
    if (L == nullptr) return nullptr;
    using Open = std::pair<const char*, lua_CFunction>;
    for (const Open& lib :
         {Open{"_G", luaopen_base}, Open{"string", luaopen_string}, Open{"table", luaopen_table},
          Open{"math", luaopen_math}, Open{"utf8", luaopen_utf8}}) {
        luaL_requiref(L, lib.first, lib.second, 1);
        lua_pop(L, 1);
    }
    for (const char* name : {"dofile", "loadfile", "load", "collectgarbage", "require"}) {
        lua_pushnil(L);
        lua_setglobal(L, name);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    for (const char* name : {"pcall", "xpcall"}) {
        lua_getglobal(L, name);
        lua_pushcclosure(L, guarded_pcall, 1);
        lua_setglobal(L, name);
    }
    lua_register(L, "print", l_print);
    lua_register(L, "http_get", l_http_get);
    lua_register(L, "json_decode", l_json_decode);
    lua_register(L, "metric_get", l_metric_get);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, kHookEvery);
    return L;
}

std::string resolve(const config::HealthCheck& hc, const CheckSite& site, ProbeSpec& spec) {
    health::check_known_params(hc, site, {"script", "timeout", "port"});
    const auto* raw = health::raw_param(hc, "script");
    if (raw == nullptr || raw->value.empty()) {
        throw config::ConfigError(hc.pos, "script",
                                  site.where + ": a lua check needs params.script");
    }
    auto p = std::make_shared<LuaParams>();
    p->script = raw->value;
    p->priority = site.backend.priority;
    p->port = hc.port != 0 ? hc.port : site.backend.port;
    if (p->script.find("ssh_exec") != std::string::npos) {
        throw config::ConfigError(raw->pos, "script",
                                  site.where +
                                      ": ssh_exec is not available in gslbd (no SSH client is "
                                      "built in); check the service over HTTP (http_get, "
                                      "metric_get) or with a tcp check instead");
    }
    // compile now: a syntax error is a load error at the script, not a down backend later
    Run run;
    run.deadline = SteadyClock::time_point::max();
    lua_State* L = new_sandbox(run);
    if (L == nullptr) throw std::bad_alloc();
    const int rc = luaL_loadbufferx(L, p->script.data(), p->script.size(), "=script", "t");
    std::string err = rc != LUA_OK ? lua_tostring(L, -1) : "";
    lua_close(L);
    if (rc != LUA_OK) {
        throw config::ConfigError(
            raw->pos, "script",
            fmt::format("{}: the lua script does not compile: {}", site.where, err));
    }
    spec.port = 0;  // the script decides where to connect; backend.port tells it
    std::string key = fmt::format("{}\x1f{}\x1f{}", p->priority, p->port, p->script);
    spec.params = std::move(p);
    return key;
}

JobOutcome run_script(const ProbeSpec& spec, const util::IpAddr& addr,
                      const std::optional<util::IpAddr>& source, SteadyClock::time_point deadline) {
    const auto& p = health::kind_params<LuaParams>(spec);
    Run run;
    run.deadline = deadline;
    run.source = source;
    lua_State* L = new_sandbox(run);
    if (L == nullptr) return {ErrorKind::Internal, "cannot create a Lua interpreter"};
    lua_createtable(L, 0, 3);
    const std::string a = addr.to_string();
    lua_pushlstring(L, a.data(), a.size());
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, p.priority);
    lua_setfield(L, -2, "priority");
    lua_pushinteger(L, p.port);
    lua_setfield(L, -2, "port");
    lua_setglobal(L, "backend");
    JobOutcome out;
    int rc = luaL_loadbufferx(L, p.script.data(), p.script.size(), "=script", "t");
    if (rc == LUA_OK) rc = lua_pcall(L, 0, 1, 0);
    if (run.stopped != nullptr) {
        out.kind =
            std::string_view(run.stopped) == "timeout" ? ErrorKind::Timeout : ErrorKind::Internal;
        out.detail = fmt::format("script stopped: {}", run.stopped);
    } else if (rc != LUA_OK) {
        const char* msg = lua_tostring(L, -1);
        out.kind = ErrorKind::BadReply;
        out.detail = fmt::format("script error: {}", msg != nullptr ? msg : "(not a string)");
    } else if (lua_type(L, -1) != LUA_TBOOLEAN) {
        out.kind = ErrorKind::BadReply;
        out.detail =
            fmt::format("script returned {} (expected true or false)", luaL_typename(L, -1));
    } else if (!lua_toboolean(L, -1)) {
        out.kind = ErrorKind::Status;
        out.detail = "script returned false";
    }
    if (out.detail.size() > 300) out.detail.resize(300);
    lua_close(L);
    return out;
}

std::unique_ptr<health::ProbeRunner> make_runner(const health::RunnerContext& ctx) {
    curl_global_init(CURL_GLOBAL_DEFAULT);  // refcounted; before any pool thread uses curl
    return std::make_unique<health::JobRunner>(ctx, "gslbd-lua", kThreads, run_script);
}

}  // namespace

GSLBD_REGISTER_PROBE_KIND(lua, "lua", resolve, make_runner)

}  // namespace gslbd::probes
