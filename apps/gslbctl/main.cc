// gslbctl: a command line over gslbd's control API (docs/api.md). Exit codes are part of
// the interface (see kUsage): scripts rely on them.
#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

enum Exit : int {
    kOk = 0,
    kApiError = 1,     // the API refused the request or failed (4xx other than auth, 5xx)
    kBadUsage = 2,     // bad command line, unreadable --config / --token-file
    kUnreachable = 3,  // no connection (refused, timeout, TLS)
    kAuth = 4,         // 401 / 403
    kNotReady = 5,     // `ready`: the daemon is not ready
};

constexpr const char* kUsage =
    "usage: gslbctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  status                          records, backends, verdicts, admin state (table)\n"
    "  enable  SELECTOR                clear disable/drain overrides\n"
    "  disable SELECTOR                never answer with these backends\n"
    "  drain   SELECTOR                no new answers with these backends (still probed)\n"
    "  weight  N SELECTOR              weighted mode uses N (0 = the configured weight)\n"
    "  reload                          load the configuration files again\n"
    "  explain NAME [QTYPE] --client ADDR [--ecs SUBNET]\n"
    "                                  the decision trace for one query\n"
    "  ready                           exit 0 when ready, 5 when not\n"
    "  metrics                         print the Prometheus metrics\n"
    "\n"
    "SELECTOR: any of --address ADDR, --tag TAG (repeatable), --location LOC, --record NAME\n"
    "\n"
    "options:\n"
    "  --api URL          http://127.0.0.1:8053 (env GSLBCTL_API, else from --config)\n"
    "  --token TOKEN      bearer token (env GSLBCTL_TOKEN, else api.token_file of --config)\n"
    "  --token-file FILE  read the token from FILE\n"
    "  --config FILE      the daemon's main config: api.listen, api.token_file, TLS\n"
    "  --json             print the API's JSON instead of tables\n"
    "  --insecure         do not verify the server's TLS certificate\n"
    "  --cacert FILE      CA certificate to verify the server with\n"
    "  --timeout SECONDS  per request (default 10)\n"
    "\n"
    "exit codes: 0 ok, 1 the API refused or failed the request, 2 usage error,\n"
    "            3 API unreachable, 4 authentication failed (401/403), 5 not ready\n";

int usage(const std::string& why) {
    std::fprintf(stderr, "gslbctl: %s\n\n%s", why.c_str(), kUsage);
    return kBadUsage;
}

struct Options {
    std::string api, token, token_file, config, cacert;
    bool json_out = false, insecure = false;
    int timeout = 10;
};

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::string s;
    std::getline(in, s);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

/// The API address and token the daemon's config names (only its `api:` block is read, so
/// this works even when a zone file is broken).
void from_config(Options& o) {
    YAML::Node doc = YAML::LoadFile(o.config);
    YAML::Node api = doc["api"];
    const auto dir = std::filesystem::path(o.config).parent_path();
    auto resolve = [&](const std::string& p) {
        return std::filesystem::path(p).is_absolute() ? p : (dir / p).string();
    };
    std::string listen = "127.0.0.1:8053";
    bool tls = false;
    std::string token_file;
    if (api && api.IsMap()) {
        if (api["listen"]) listen = api["listen"].as<std::string>();
        if (api["tls_cert"]) tls = true;
        if (api["token_file"]) token_file = resolve(api["token_file"].as<std::string>());
    }
    if (listen == "off" || listen == "false")
        throw std::runtime_error(o.config + ": the API is off (api.listen: off)");
    if (listen.find(':') == std::string::npos) listen += ":8053";  // bare IPv4
    if (listen.find("::") != std::string::npos && listen.front() != '[')
        listen = "[" + listen + "]:8053";  // bare IPv6
    if (o.api.empty()) o.api = (tls ? "https://" : "http://") + listen;
    if (o.token.empty() && o.token_file.empty() && !token_file.empty()) o.token_file = token_file;
}

struct Reply {
    int status = 0;
    json body;
    std::string text;
};

class Api {
  public:
    explicit Api(const Options& o) : o_(o), cli_(o.api) {
        cli_.set_connection_timeout(o.timeout, 0);
        cli_.set_read_timeout(o.timeout, 0);
        cli_.set_write_timeout(o.timeout, 0);
        if (o.insecure) cli_.enable_server_certificate_verification(false);
        if (!o.cacert.empty()) cli_.set_ca_cert_path(o.cacert.c_str());
        if (!o.token.empty()) cli_.set_bearer_token_auth(o.token.c_str());
    }
    Reply get(const std::string& path) { return finish(cli_.Get(path.c_str())); }
    Reply post(const std::string& path, const json& body) {
        return finish(cli_.Post(path.c_str(), body.dump(), "application/json"));
    }

  private:
    Reply finish(const httplib::Result& r) {
        if (!r) {
            std::fprintf(stderr, "gslbctl: cannot reach the API at %s: %s\n", o_.api.c_str(),
                         httplib::to_string(r.error()).c_str());
            std::exit(kUnreachable);
        }
        Reply out;
        out.status = r->status;
        out.text = r->body;
        try {
            out.body = json::parse(r->body);
        } catch (const json::exception&) {
        }
        return out;
    }
    const Options& o_;
    httplib::Client cli_;
};

/// Exit code for a reply; prints the API's error for failures.
int check(const Reply& r, bool json_out) {
    if (r.status >= 200 && r.status < 300) return kOk;
    if (json_out && r.body.is_object()) {
        std::cout << r.body.dump(2) << "\n";
    } else {
        const std::string msg = r.body.is_object() && r.body.contains("error")
                                    ? r.body["error"].get<std::string>()
                                    : r.text;
        std::fprintf(stderr, "gslbctl: HTTP %d: %s\n", r.status, msg.c_str());
    }
    return r.status == 401 || r.status == 403 ? kAuth : kApiError;
}

std::string cell(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    if (j[key].is_string())
        return j[key].get<std::string>().empty() ? "-" : j[key].get<std::string>();
    return j[key].dump();
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        std::cout << line << "\n";
    }
}

void print_status(const json& s) {
    std::cout << "generation " << s.value("generation", 0) << ", "
              << (s.value("ready", false) ? "ready" : "NOT READY") << ", config "
              << s.value("config", std::string()) << "\n";
    const json& rl = s["reloads"];
    std::cout << "reloads: " << rl.value("ok", 0) << " ok, " << rl.value("failed", 0) << " failed";
    if (!rl.value("last_ok", true)) std::cout << " (last error: " << cell(rl, "last_error") << ")";
    std::cout << "\n\n";
    std::vector<std::vector<std::string>> rows = {
        {"RECORD", "MODE", "BACKEND", "VERDICT", "ADMIN", "WEIGHT", "PRIO", "SINCE", "LAST ERROR"}};
    for (const auto& z : s["zones"]) {
        for (const auto& r : z["records"]) {
            for (const auto& b : r["backends"]) {
                std::string verdict = cell(b, "verdict");
                if (!b.value("enabled", true)) verdict = "off(config)";
                std::string err = "-";
                if (b.contains("last_probe") && b["last_probe"].contains("error"))
                    err = b["last_probe"].value("error", std::string()) + ": " +
                          b["last_probe"].value("error_text", std::string());
                rows.push_back({r.value("name", std::string()), r.value("mode", std::string()),
                                cell(b, "address"), verdict, cell(b, "admin"),
                                cell(b, "effective_weight"), cell(b, "priority"), cell(b, "since"),
                                err});
            }
        }
    }
    print_table(rows);
}

void print_explain(const json& e) {
    std::cout << "generation " << e.value("generation", 0) << "\n";
    const json& q = e["query"];
    std::cout << "query:    " << cell(q, "name") << " " << cell(q, "qtype") << " from "
              << cell(q, "client");
    if (q.contains("ecs")) std::cout << " ECS " << cell(q, "ecs");
    std::cout << "\nclient:   " << cell(e["client"], "address") << " (" << cell(e["client"], "why")
              << ")\n";
    std::cout << "zone:     " << cell(e, "zone") << "\nrecord:   " << cell(e, "record");
    if (e.contains("mode")) std::cout << " (mode " << cell(e, "mode") << ")";
    std::cout << "\n";
    if (e.contains("candidates") && !e["candidates"].empty()) {
        std::vector<std::vector<std::string>> rows = {
            {"  CANDIDATE", "PRIO", "WEIGHT", "HEALTH", "ADMIN", "ELIGIBLE", "SELECTED", "WHY"}};
        for (const auto& c : e["candidates"])
            rows.push_back({"  " + cell(c, "address"), cell(c, "priority"), cell(c, "weight"),
                            cell(c, "health"), cell(c, "admin"), cell(c, "eligible"),
                            cell(c, "selected"), cell(c, "why")});
        print_table(rows);
    }
    if (e.contains("geo")) {
        for (const auto& [src, g] : e["geo"].items()) {
            std::cout << "geo " << src << ": ";
            for (const auto& [k, v] : g.items())
                std::cout << k << "=" << (v.is_string() ? v.get<std::string>() : v.dump()) << " ";
            std::cout << "\n";
        }
    }
    if (e.contains("decision"))
        std::cout << "decision: class " << cell(e["decision"], "class") << ", scope /"
                  << cell(e["decision"], "scope") << "\n";
    if (e.contains("fallback"))
        std::cout << "fallback: " << (e["fallback"].value("taken", false) ? "TAKEN" : "not taken")
                  << " (policy " << cell(e["fallback"], "policy") << ")\n";
    std::cout << "result:   " << cell(e, "result") << "\n";
    const json& a = e["answer"];
    std::cout << "answer:   " << cell(a, "rcode");
    if (a.contains("ecs_scope")) std::cout << ", ECS scope /" << a["ecs_scope"].dump();
    std::cout << "\n";
    for (const auto& rr : a["answer"])
        std::cout << "  " << cell(rr, "name") << " " << cell(rr, "ttl") << " " << cell(rr, "type")
                  << " " << cell(rr, "data") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::vector<std::string> args;
    json selector = json::object();
    std::string client, ecs;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return kOk;
        }
        auto value = [&](std::string& into) {
            const auto eq = a.find('=');
            if (eq != std::string::npos) {
                into = a.substr(eq + 1);
                return true;
            }
            if (i + 1 >= argc) return false;
            into = argv[++i];
            return true;
        };
        const std::string name = a.substr(0, a.find('='));
        std::string v;
        if (name == "--json") {
            o.json_out = true;
        } else if (name == "--insecure") {
            o.insecure = true;
        } else if (name.rfind("--", 0) == 0) {
            if (!value(v)) return usage(name + " needs a value");
            if (name == "--api")
                o.api = v;
            else if (name == "--token")
                o.token = v;
            else if (name == "--token-file")
                o.token_file = v;
            else if (name == "--config")
                o.config = v;
            else if (name == "--cacert")
                o.cacert = v;
            else if (name == "--timeout")
                o.timeout = std::atoi(v.c_str());
            else if (name == "--address")
                selector["address"] = v;
            else if (name == "--tag") {
                if (!selector.contains("tags")) selector["tags"] = json::array();
                selector["tags"].push_back(v);
            } else if (name == "--location")
                selector["location"] = v;
            else if (name == "--record")
                selector["record"] = v;
            else if (name == "--client")
                client = v;
            else if (name == "--ecs")
                ecs = v;
            else
                return usage("unknown option '" + name + "'");
        } else {
            args.push_back(a);
        }
    }
    if (args.empty()) return usage("no command");
    if (o.timeout <= 0) return usage("--timeout must be a positive number of seconds");

    try {
        if (o.api.empty()) {
            if (const char* e = std::getenv("GSLBCTL_API"); e && *e) o.api = e;
        }
        if (o.token.empty() && o.token_file.empty()) {
            if (const char* e = std::getenv("GSLBCTL_TOKEN"); e && *e) o.token = e;
        }
        if (!o.config.empty()) from_config(o);
        if (o.api.empty()) o.api = "http://127.0.0.1:8053";
        if (o.token.empty() && !o.token_file.empty()) o.token = first_line(o.token_file);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gslbctl: %s\n", e.what());
        return kBadUsage;
    }
    while (!o.api.empty() && o.api.back() == '/') o.api.pop_back();

    const std::string cmd = args[0];
    Api api(o);
    auto need_args = [&](std::size_t lo, std::size_t hi) {
        return args.size() >= lo && args.size() <= hi;
    };
    if (cmd == "status") {
        if (!need_args(1, 1)) return usage("status takes no arguments");
        Reply r = api.get("/api/v1/status");
        if (int rc = check(r, o.json_out); rc != kOk) return rc;
        if (o.json_out)
            std::cout << r.body.dump(2) << "\n";
        else
            print_status(r.body);
        return kOk;
    }
    if (cmd == "enable" || cmd == "disable" || cmd == "drain" || cmd == "weight") {
        json body = selector;
        if (cmd == "weight") {
            if (!need_args(2, 2)) return usage("weight needs N and a selector");
            char* end = nullptr;
            const long w = std::strtol(args[1].c_str(), &end, 10);
            if (*end != '\0' || w < 0 || w > 1000000) return usage("weight N must be 0..1000000");
            body["weight"] = w;
        } else if (!need_args(1, 1)) {
            return usage(cmd + " takes a selector (--address, --tag, --location, --record)");
        }
        if (selector.empty())
            return usage(cmd + " needs a selector: --address, --tag, --location or --record");
        Reply r = api.post("/api/v1/backends/" + cmd, body);
        if (int rc = check(r, o.json_out); rc != kOk) return rc;
        if (o.json_out) {
            std::cout << r.body.dump(2) << "\n";
        } else {
            for (const auto& b : r.body["backends"])
                std::cout << cmd << ": " << cell(b, "record") << " " << cell(b, "address") << "\n";
            std::cout << "generation " << r.body.value("generation", 0) << "\n";
        }
        return kOk;
    }
    if (cmd == "reload") {
        if (!need_args(1, 1)) return usage("reload takes no arguments");
        Reply r = api.post("/api/v1/reload", json::object());
        if (int rc = check(r, o.json_out); rc != kOk) return rc;
        if (o.json_out)
            std::cout << r.body.dump(2) << "\n";
        else
            std::cout << "reloaded: serving generation " << r.body.value("generation", 0) << "\n";
        return kOk;
    }
    if (cmd == "explain") {
        if (!need_args(2, 3)) return usage("explain NAME [QTYPE] --client ADDR [--ecs SUBNET]");
        if (client.empty()) return usage("explain needs --client ADDR");
        json body = {
            {"name", args[1]}, {"qtype", args.size() > 2 ? args[2] : "A"}, {"client", client}};
        if (!ecs.empty()) body["ecs"] = ecs;
        Reply r = api.post("/api/v1/explain", body);
        if (int rc = check(r, o.json_out); rc != kOk) return rc;
        if (o.json_out)
            std::cout << r.body.dump(2) << "\n";
        else
            print_explain(r.body);
        return kOk;
    }
    if (cmd == "ready") {
        Reply r = api.get("/api/v1/ready");
        if (o.json_out)
            std::cout << r.body.dump(2) << "\n";
        else
            std::cout << (r.status == 200 ? "ready" : "not ready: " + cell(r.body, "why")) << "\n";
        if (r.status == 200) return kOk;
        return r.status == 503 ? kNotReady : check(r, false);
    }
    if (cmd == "metrics") {
        Reply r = api.get("/metrics");
        if (int rc = check(r, false); rc != kOk) return rc;
        std::cout << r.text;
        return kOk;
    }
    return usage("unknown command '" + cmd + "'");
}
