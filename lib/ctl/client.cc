#include "ctl/client.hh"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include "config/yaml_doc.hh"
#include "ctl/corefile.hh"

namespace gslbd::ctl::client {

using nlohmann::json;

const char* const kUsage =
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
    "  fleet                           the fleet's members; * marks a config that differs\n"
    "  pool set ZONE RECORD FILE       replace the record's backends with FILE's JSON list\n"
    "                                  (zone-file backends; - = stdin); kept over restarts\n"
    "  pool show ZONE RECORD           the record's backends and where they come from\n"
    "  pool clear ZONE RECORD          back to the zone file's backends\n"
    "  blocks [list]                   dynamic blocks in force (prefix, reason, action, until)\n"
    "  blocks lift PREFIX | lift-all   lift one dynamic block, or all of them\n"
    "  shift start SELECTOR [--share P] [--step P] [--interval D] [--drill D] [--wait]\n"
    "                                  move P % of the selected backends' answers away in\n"
    "                                  steps (defaults 100 %, 10 % every 60s); --drill D\n"
    "                                  restores all after D; --wait prints the report at the end\n"
    "  shift list | show ID [--wait]   shifts and their state | one shift's report per step\n"
    "  shift pause|resume|abort ID     hold the current step, go on, restore at once\n"
    "  plan reload [FILE]              what a reload (of FILE: a candidate main config)\n"
    "                                  would change, per decision class; changes nothing\n"
    "  plan drain|disable|enable SELECTOR, plan weight N SELECTOR\n"
    "                                  the same for an override\n"
    "  import-corefile COREFILE [OUT]  write a gslbd main config from a CoreDNS-GSLB\n"
    "                                  Corefile (stdout without OUT); no API call\n"
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

namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::string s;
    std::getline(in, s);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

// Only the `api:` block is read, so gslbctl still works while a zone file is broken.
void from_config(Options& o) {
    std::ifstream in(o.config, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + o.config);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    config::yaml::Document doc;
    try {
        doc = config::yaml::Document::parse(text);
    } catch (const config::yaml::SyntaxError& e) {
        throw std::runtime_error(o.config + ":" + std::to_string(e.line() + 1) + ":" +
                                 std::to_string(e.column() + 1) +
                                 ": YAML syntax error: " + e.what());
    }
    // api.<key> as text when it is a scalar, else nullopt.
    auto api_value = [&](std::string_view key) -> std::optional<std::string> {
        const auto top = doc.kids(doc.root());
        for (std::size_t i = 0; i + 1 < top.size(); i += 2) {
            if (doc.scalar(top[i]) != "api") continue;
            const auto api = doc.kids(top[i + 1]);
            for (std::size_t j = 0; j + 1 < api.size(); j += 2)
                if (doc.scalar(api[j]) == key &&
                    doc.node(api[j + 1]).kind == config::yaml::Kind::Scalar)
                    return std::string(doc.scalar(api[j + 1]));
        }
        return std::nullopt;
    };
    const auto dir = std::filesystem::path(o.config).parent_path();
    auto resolve = [&](const std::string& p) {
        return std::filesystem::path(p).is_absolute() ? p : (dir / p).string();
    };
    std::string listen = api_value("listen").value_or("127.0.0.1:8053");
    const bool tls = api_value("tls_cert").has_value();
    std::string token_file;
    if (auto t = api_value("token_file")) token_file = resolve(*t);
    if (listen == "off" || listen == "false")
        throw std::runtime_error(o.config + ": the API is off (api.listen: off)");
    if (listen.find(':') == std::string::npos) listen += ":8053";  // bare IPv4
    if (listen.find("::") != std::string::npos && listen.front() != '[')
        listen = "[" + listen + "]:8053";  // bare IPv6
    if (o.api.empty()) o.api = (tls ? "https://" : "http://") + listen;
    if (o.token.empty() && o.token_file.empty() && !token_file.empty()) o.token_file = token_file;
}

std::string cell(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    if (j[key].is_string())
        return j[key].get<std::string>().empty() ? "-" : j[key].get<std::string>();
    return j[key].dump();
}

// Exit code for a reply; prints the API's error for failures.
int check(const Reply& r, bool json_out, std::ostream& out, std::ostream& err) {
    if (r.status >= 200 && r.status < 300) return kOk;
    if (json_out && r.body.is_object()) {
        out << r.body.dump(2) << "\n";
    } else {
        const std::string msg = r.body.is_object() && r.body.contains("error")
                                    ? r.body["error"].get<std::string>()
                                    : r.text;
        err << "gslbctl: HTTP " << r.status << ": " << msg << "\n";
    }
    return r.status == 401 || r.status == 403 ? kAuth : kApiError;
}

bool is_backend_change(Command c) {
    return c == Command::kEnable || c == Command::kDisable || c == Command::kDrain ||
           c == Command::kWeight;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
    CommandLine cl;
    Options& o = cl.options;
    json& selector = cl.selector;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            cl.help = true;
            return cl;
        }
        const std::string name = a.substr(0, a.find('='));
        if (name == "--json") {
            o.json_out = true;
            continue;
        }
        if (name == "--insecure") {
            o.insecure = true;
            continue;
        }
        if (name == "--wait") {
            cl.wait = true;
            continue;
        }
        if (name.rfind("--", 0) != 0) {
            cl.args.push_back(a);
            continue;
        }
        std::string v;
        if (const auto eq = a.find('='); eq != std::string::npos)
            v = a.substr(eq + 1);
        else if (i + 1 < argc)
            v = argv[++i];
        else
            throw UsageError(name + " needs a value");
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
            cl.client = v;
        else if (name == "--ecs")
            cl.ecs = v;
        else if (name == "--share" || name == "--step" || name == "--interval" || name == "--drill")
            cl.shift[name.substr(2)] = v;
        else
            throw UsageError("unknown option '" + name + "'");
    }
    if (cl.args.empty()) throw UsageError("no command");
    if (o.timeout <= 0) throw UsageError("--timeout must be a positive number of seconds");
    return cl;
}

void resolve_endpoint(Options& o, const EnvFn& env) {
    if (o.api.empty()) {
        if (const char* e = env("GSLBCTL_API"); e && *e) o.api = e;
    }
    if (o.token.empty() && o.token_file.empty()) {
        if (const char* e = env("GSLBCTL_TOKEN"); e && *e) o.token = e;
    }
    if (!o.config.empty()) from_config(o);
    if (o.api.empty()) o.api = "http://127.0.0.1:8053";
    if (o.token.empty() && !o.token_file.empty()) o.token = first_line(o.token_file);
    while (!o.api.empty() && o.api.back() == '/') o.api.pop_back();
}

Request make_request(const CommandLine& cl) {
    const auto& args = cl.args;
    const std::string& cmd = args.at(0);
    auto need_args = [&](std::size_t lo, std::size_t hi) {
        return args.size() >= lo && args.size() <= hi;
    };
    if (cmd == "status") {
        if (!need_args(1, 1)) throw UsageError("status takes no arguments");
        return {Command::kStatus, cmd, false, "/api/v1/status", {}};
    }
    if (cmd == "enable" || cmd == "disable" || cmd == "drain" || cmd == "weight") {
        json body = cl.selector;
        if (cmd == "weight") {
            if (!need_args(2, 2)) throw UsageError("weight needs N and a selector");
            char* end = nullptr;
            const long w = std::strtol(args[1].c_str(), &end, 10);
            if (args[1].empty() || *end != '\0' || w < 0 || w > 1000000)
                throw UsageError("weight N must be 0..1000000");
            body["weight"] = w;
        } else if (!need_args(1, 1)) {
            throw UsageError(cmd + " takes a selector (--address, --tag, --location, --record)");
        }
        if (cl.selector.empty())
            throw UsageError(cmd + " needs a selector: --address, --tag, --location or --record");
        const Command c = cmd == "enable"    ? Command::kEnable
                          : cmd == "disable" ? Command::kDisable
                          : cmd == "drain"   ? Command::kDrain
                                             : Command::kWeight;
        return {c, cmd, true, "/api/v1/backends/" + cmd, std::move(body)};
    }
    if (cmd == "reload") {
        if (!need_args(1, 1)) throw UsageError("reload takes no arguments");
        return {Command::kReload, cmd, true, "/api/v1/reload", json::object()};
    }
    if (cmd == "explain") {
        if (!need_args(2, 3)) throw UsageError("explain NAME [QTYPE] --client ADDR [--ecs SUBNET]");
        if (cl.client.empty()) throw UsageError("explain needs --client ADDR");
        json body = {
            {"name", args[1]}, {"qtype", args.size() > 2 ? args[2] : "A"}, {"client", cl.client}};
        if (!cl.ecs.empty()) body["ecs"] = cl.ecs;
        return {Command::kExplain, cmd, true, "/api/v1/explain", std::move(body)};
    }
    // ready and metrics have always ignored extra words; scripts may rely on that.
    if (cmd == "ready") return {Command::kReady, cmd, false, "/api/v1/ready", {}};
    if (cmd == "metrics") return {Command::kMetrics, cmd, false, "/metrics", {}};
    if (cmd == "pool") {
        const std::string sub = args.size() > 1 ? args[1] : "";
        const bool set = sub == "set";
        if (!(sub == "set" || sub == "show" || sub == "clear") ||
            !need_args(set ? 5 : 4, set ? 5 : 4))
            throw UsageError(
                "pool set ZONE RECORD FILE | pool show ZONE RECORD | pool clear ZONE RECORD");
        Request r{set             ? Command::kPoolSet
                  : sub == "show" ? Command::kPoolShow
                                  : Command::kPoolClear,
                  "pool " + sub,
                  false,
                  "/api/v1/zones/" + args[2] + "/records/" + args[3] + "/backends",
                  {}};
        r.method = set ? "PUT" : sub == "clear" ? "DELETE" : "";
        if (set) {
            std::stringstream text;
            if (args[4] == "-") {
                text << std::cin.rdbuf();
            } else {
                std::ifstream in(args[4]);
                if (!in) throw UsageError("cannot read " + args[4]);
                text << in.rdbuf();
            }
            r.raw = text.str();
        }
        return r;
    }
    if (cmd == "blocks") {
        const std::string sub = args.size() > 1 ? args[1] : "list";
        if (sub == "list" && need_args(1, 2))
            return {Command::kBlocks, "blocks", false, "/api/v1/blocks", {}};
        if (sub == "lift-all" && need_args(2, 2)) {
            Request r{Command::kBlocksLift, "blocks lift-all", false, "/api/v1/blocks", {}};
            r.method = "DELETE";
            return r;
        }
        if (sub == "lift" && need_args(3, 3)) {
            Request r{Command::kBlocksLift, "blocks lift", false, "/api/v1/blocks/" + args[2], {}};
            r.method = "DELETE";
            return r;
        }
        throw UsageError("blocks [list] | blocks lift PREFIX | blocks lift-all");
    }
    if (cmd == "shift") return make_shift_request(cl);
    if (cmd == "plan") {
        const std::string sub = args.size() > 1 ? args[1] : "";
        const char* usage =
            "plan reload [FILE] | plan enable|disable|drain SELECTOR | plan weight N SELECTOR";
        json body;
        if (sub == "reload") {
            if (!need_args(2, 3) || !cl.selector.empty()) throw UsageError(usage);
            json r = json::object();
            // the daemon reads the file: name it absolutely (its working directory differs)
            if (args.size() == 3) r["config"] = std::filesystem::absolute(args[2]).string();
            body = {{"reload", std::move(r)}};
        } else if (sub == "enable" || sub == "disable" || sub == "drain" || sub == "weight") {
            json o = cl.selector;
            if (cl.selector.empty()) throw UsageError(usage);
            if (sub == "weight") {
                if (!need_args(3, 3)) throw UsageError(usage);
                char* end = nullptr;
                const long w = std::strtol(args[2].c_str(), &end, 10);
                if (args[2].empty() || *end != '\0' || w < 0 || w > 1000000)
                    throw UsageError("weight N must be 0..1000000");
                o["weight"] = w;
            } else if (!need_args(2, 2)) {
                throw UsageError(usage);
            }
            o["action"] = sub;
            body = {{"override", std::move(o)}};
        } else {
            throw UsageError(usage);
        }
        return {Command::kPlan, cmd, true, "/api/v1/plan", std::move(body)};
    }
    if (cmd == "fleet") {
        if (!need_args(1, 1)) throw UsageError("fleet takes no arguments");
        return {Command::kFleet, cmd, false, "/api/v1/fleet", {}};
    }
    throw UsageError("unknown command '" + cmd + "'");
}

Transport::Transport(const Options& o) : api_(o.api) {
    try {
        cli_ = std::make_unique<httplib::Client>(o.api);
    } catch (const std::invalid_argument& e) {
        throw UsageError("--api " + o.api + ": " + e.what());
    }
    cli_->set_connection_timeout(o.timeout, 0);
    cli_->set_read_timeout(o.timeout, 0);
    cli_->set_write_timeout(o.timeout, 0);
    if (o.insecure) cli_->enable_server_certificate_verification(false);
    if (!o.cacert.empty()) cli_->set_ca_cert_path(o.cacert.c_str());
    if (!o.token.empty()) cli_->set_bearer_token_auth(o.token.c_str());
}

Transport::~Transport() = default;

Reply Transport::send(const Request& req) {
    const httplib::Result r = req.method == "PUT" ? cli_->Put(req.path, req.raw, "application/json")
                              : req.method == "DELETE" ? cli_->Delete(req.path)
                              : req.post ? cli_->Post(req.path, req.body.dump(), "application/json")
                                         : cli_->Get(req.path);
    if (!r)
        throw Unreachable("cannot reach the API at " + api_ + ": " + httplib::to_string(r.error()));
    Reply out;
    out.status = r->status;
    out.text = r->body;
    out.body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (out.body.is_discarded()) out.body = nullptr;
    return out;
}

void print_table(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
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
        out << line << "\n";
    }
}

void print_status(const json& s, std::ostream& out) {
    out << "generation " << s.value("generation", 0) << ", "
        << (s.value("ready", false) ? "ready" : "NOT READY") << ", config "
        << s.value("config", std::string()) << "\n";
    const json& rl = s["reloads"];
    out << "reloads: " << rl.value("ok", 0) << " ok, " << rl.value("failed", 0) << " failed";
    if (!rl.value("last_ok", true)) out << " (last error: " << cell(rl, "last_error") << ")";
    out << "\n\n";
    std::vector<std::vector<std::string>> rows = {
        {"RECORD", "MODE", "BACKEND", "VERDICT", "ADMIN", "WEIGHT", "PRIO", "SINCE", "LAST ERROR"}};
    for (const auto& z : s["zones"]) {
        for (const auto& r : z["records"]) {
            for (const auto& b : r["backends"]) {
                std::string verdict = cell(b, "verdict");
                if (!b.value("enabled", true)) verdict = "off(config)";
                if (b.contains("gradual")) {  // docs/gradual.md
                    const json& g = b["gradual"];
                    if (g.contains("damping") && g["damping"].value("suppressed", false))
                        verdict += "/suppressed";
                    if (g.contains("slow_start") && g["slow_start"].value("ramping", false))
                        verdict += "/ramp" + cell(g["slow_start"], "percent") + "%";
                }
                if (b.contains("shift_percent"))
                    verdict += "/shift" + cell(b, "shift_percent") + "%";
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
    print_table(rows, out);
    // Secondary zones (docs/zones.md): serial, last transfer, its kind and outcome.
    std::vector<std::vector<std::string>> zrows = {{"ZONE", "SERIAL", "STATE", "LAST KIND",
                                                    "OUTCOME", "LAST TRANSFER", "PRIMARY",
                                                    "LAST ERROR"}};
    for (const auto& z : s["zones"]) {
        if (!z.contains("secondary")) continue;
        const json& x = z["secondary"];
        const std::string state = !x.value("loaded", false)   ? "no data (SERVFAIL)"
                                  : x.value("expired", false) ? "EXPIRED (SERVFAIL)"
                                                              : "serving";
        std::string err = x.value("last_error", std::string());
        if (err.empty()) err = "-";
        zrows.push_back({z.value("name", std::string()), cell(z, "serial"), state,
                         cell(x, "last_kind"), cell(x, "last_outcome"), cell(x, "last_transfer"),
                         cell(x, "primary"), err});
    }
    if (zrows.size() > 1) {
        out << "\nsecondary zones:\n";
        print_table(zrows, out);
    }
}

void print_plan(const json& p, std::ostream& out) {
    auto pct = [](const json& x) {
        std::ostringstream s;
        s << std::fixed << std::setprecision(1) << (x.is_number() ? x.get<double>() * 100 : 0.0)
          << " %";
        return s.str();
    };
    auto answers = [&](const json& list) {
        std::string t;
        for (const auto& a : list) {
            if (!t.empty()) t += "; ";
            t += a.value("answer", "");
            if (a.value("share", 1.0) < 0.9999) t += " " + pct(a["share"]);
        }
        return t.empty() ? std::string("-") : t;
    };
    out << "plan: " << cell(p, "change") << " (not applied: nothing has changed)\n";
    out << "queries counted: " << cell(p, "queries") << " over " << cell(p, "window_s")
        << " s; would get a different answer: " << cell(p, "changed_queries") << " ("
        << pct(p["changed_share"]) << ")\n";
    if (p.value("unclassified_queries", 0) != 0)
        out << "queries without a class slot (not in the shares): "
            << cell(p, "unclassified_queries") << "\n";
    if (p.contains("backends"))
        for (const auto& b : p["backends"])
            out << "backend: " << cell(b, "record") << " " << cell(b, "address") << "\n";
    for (const auto& r : p["records"]) {
        out << "\n"
            << cell(r, "name") << " (" << cell(r, "mode")
            << (r.contains("mode_after") ? " -> " + cell(r, "mode_after") : "")
            << (r.value("removed", false) ? ", removed" : "") << "): " << cell(r, "queries")
            << " queries, " << pct(r["changed_share"]) << " change\n";
        std::vector<std::vector<std::string>> rows = {
            {"  TYPE", "CLASS", "CLIENT", "QUERIES", "NOW", "AFTER", "CHANGE"}};
        for (const auto& c : r["classes"]) {
            std::string cls = cell(c, "class");
            if (c.contains("class_after")) cls += " -> " + cell(c, "class_after");
            rows.push_back({"  " + cell(c, "type"), cls, cell(c, "client"), cell(c, "queries"),
                            answers(c["now"]), answers(c["after"]), pct(c["changed_share"])});
        }
        print_table(rows, out);
    }
    for (const char* k : {"records_added", "records_removed", "changed_without_queries"})
        if (p.contains(k) && !p[k].empty()) {
            out << k << ":";
            for (const auto& n : p[k]) out << " " << n.get<std::string>();
            out << "\n";
        }
}

void print_explain(const json& e, std::ostream& out) {
    out << "generation " << e.value("generation", 0) << "\n";
    const json& q = e["query"];
    out << "query:    " << cell(q, "name") << " " << cell(q, "qtype") << " from "
        << cell(q, "client");
    if (q.contains("ecs")) out << " ECS " << cell(q, "ecs");
    out << "\nclient:   " << cell(e["client"], "address") << " (" << cell(e["client"], "why")
        << ")\n";
    out << "zone:     " << cell(e, "zone") << "\nrecord:   " << cell(e, "record");
    if (e.contains("mode")) out << " (mode " << cell(e, "mode") << ")";
    out << "\n";
    if (e.contains("candidates") && !e["candidates"].empty()) {
        std::vector<std::vector<std::string>> rows = {
            {"  CANDIDATE", "PRIO", "WEIGHT", "HEALTH", "ADMIN", "ELIGIBLE", "SELECTED", "WHY"}};
        for (const auto& c : e["candidates"])
            rows.push_back({"  " + cell(c, "address"), cell(c, "priority"), cell(c, "weight"),
                            cell(c, "health"), cell(c, "admin"), cell(c, "eligible"),
                            cell(c, "selected"), cell(c, "why")});
        print_table(rows, out);
    }
    if (e.contains("geo")) {
        for (const auto& [src, g] : e["geo"].items()) {
            out << "geo " << src << ": ";
            for (const auto& [k, v] : g.items())
                out << k << "=" << (v.is_string() ? v.get<std::string>() : v.dump()) << " ";
            out << "\n";
        }
    }
    if (e.contains("decision")) {
        out << "decision: class " << cell(e["decision"], "class") << ", scope /"
            << cell(e["decision"], "scope") << "\n";
        if (e["decision"].contains("why"))
            for (const auto& [what, text] : e["decision"]["why"].items())
                out << "  " << what << ": "
                    << (text.is_string() ? text.get<std::string>() : text.dump()) << "\n";
    }
    if (e.contains("fallback"))
        out << "fallback: " << (e["fallback"].value("taken", false) ? "TAKEN" : "not taken")
            << " (policy " << cell(e["fallback"], "policy") << ")\n";
    out << "result:   " << cell(e, "result") << "\n";
    const json& a = e["answer"];
    out << "answer:   " << cell(a, "rcode");
    if (a.contains("ecs_scope")) out << ", ECS scope /" << a["ecs_scope"].dump();
    out << "\n";
    for (const auto& rr : a["answer"])
        out << "  " << cell(rr, "name") << " " << cell(rr, "ttl") << " " << cell(rr, "type") << " "
            << cell(rr, "data") << "\n";
}

// `gslbctl fleet`: this node's link, then one line per member.
void print_fleet(const json& f, std::ostream& out) {
    out << "node " << cell(f, "node") << " (" << cell(f, "role") << "), quorum "
        << cell(f, "quorum") << ", etcd "
        << (f.value("connected", false) ? "connected" : "NOT connected")
        << (f.value("degraded", false) ? ", DEGRADED: answering from its own verdicts" : "")
        << "\n";
    if (f.contains("last_error") && !f["last_error"].get<std::string>().empty())
        out << "last etcd error: " << f["last_error"].get<std::string>() << "\n";
    out << "  " << std::left << std::setw(24) << "NAME" << std::setw(9) << "ROLE" << std::setw(10)
        << "VERSION" << std::setw(19) << "CONFIG" << std::setw(5) << "GEN"
        << "LABELS\n";
    for (const auto& m : f["members"]) {
        std::string labels;
        for (const auto& [k, v] : m["labels"].items())
            labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
        out << (m.value("config_divergent", false) ? "* " : "  ") << std::setw(24)
            << cell(m, "name") + (m.value("self", false) ? " (this)" : "") << std::setw(9)
            << cell(m, "role") << std::setw(10) << cell(m, "version") << std::setw(19)
            << cell(m, "config_digest") << std::setw(5) << cell(m, "generation")
            << (labels.empty() ? "-" : labels) << "\n";
    }
    const auto divergent = f.value("divergent_configs", 0);
    out << f["members"].size() << " member(s)";
    if (divergent > 0) out << ", " << divergent << " with a different config (*)";
    out << "\n";
}

int render(const Request& req, const Reply& r, bool json_out, std::ostream& out,
           std::ostream& err) {
    if (req.command == Command::kReady) {
        // --json prints the reply whatever it says; the exit code still tells ready or not.
        if (json_out)
            out << r.body.dump(2) << "\n";
        else
            out << (r.status == 200 ? "ready" : "not ready: " + cell(r.body, "why")) << "\n";
        if (r.status == 200) return kOk;
        return r.status == 503 ? kNotReady : check(r, false, out, err);
    }
    if (req.command == Command::kMetrics) {
        if (int rc = check(r, false, out, err); rc != kOk) return rc;
        out << r.text;
        return kOk;
    }
    if (int rc = check(r, json_out, out, err); rc != kOk) return rc;
    if (json_out) {
        out << r.body.dump(2) << "\n";
    } else if (req.command == Command::kStatus) {
        print_status(r.body, out);
    } else if (req.command == Command::kExplain) {
        print_explain(r.body, out);
    } else if (req.command == Command::kFleet) {
        print_fleet(r.body, out);
    } else if (req.command == Command::kPlan) {
        print_plan(r.body, out);
    } else if (req.command == Command::kReload) {
        out << "reloaded: serving generation " << r.body.value("generation", 0) << "\n";
    } else if (req.command == Command::kPoolSet) {
        for (const auto& a : r.body["backends"]) out << "pool: " << a.get<std::string>() << "\n";
        out << "generation " << r.body.value("generation", 0) << "\n";
    } else if (req.command == Command::kPoolClear) {
        out << "pool cleared: the zone file's backends (generation "
            << r.body.value("generation", 0) << ")\n";
    } else if (req.command == Command::kBlocks) {
        std::vector<std::vector<std::string>> rows = {
            {"PREFIX", "REASON", "ACTION", "UNTIL", "LEFT", "BLOCKED"}};
        for (const auto& b : r.body["blocks"])
            rows.push_back({cell(b, "prefix"), cell(b, "reason"), cell(b, "action"),
                            cell(b, "until"), cell(b, "remaining_seconds") + "s",
                            cell(b, "queries_blocked")});
        print_table(rows, out);
        out << r.body["blocks"].size() << " block(s)\n";
    } else if (req.command == Command::kShift || req.command == Command::kShiftShow) {
        print_shift(r.body, out);
    } else if (req.command == Command::kShiftList) {
        print_shifts(r.body, out);
    } else if (req.command == Command::kBlocksLift) {
        out << "lifted " << r.body.value("lifted", 0) << " block(s)\n";
    } else if (req.command == Command::kPoolShow) {
        out << cell(r.body, "record") << " (from " << cell(r.body, "source") << ")\n";
        std::vector<std::vector<std::string>> rows = {{"  ADDRESS", "PORT", "PRIO", "WEIGHT"}};
        for (const auto& b : r.body["backends"])
            rows.push_back({"  " + cell(b, "address"), cell(b, "port"), cell(b, "priority"),
                            cell(b, "weight")});
        print_table(rows, out);
    } else if (is_backend_change(req.command)) {
        for (const auto& b : r.body["backends"])
            out << req.name << ": " << cell(b, "record") << " " << cell(b, "address") << "\n";
        out << "generation " << r.body.value("generation", 0) << "\n";
    }
    return kOk;
}

namespace {

// `import-corefile COREFILE [OUT]`: offline; what is not carried over goes to stderr.
int import_corefile(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.size() < 2 || args.size() > 3) throw UsageError("import-corefile COREFILE [OUT]");
    corefile::Import imp;
    try {
        imp = corefile::import_corefile(args[1]);
    } catch (const std::exception& e) {
        err << "gslbctl: " << e.what() << "\n";
        return kBadUsage;
    }
    if (args.size() == 3) {
        std::ofstream f(args[2]);
        f << imp.config;
        if (!f) {
            err << "gslbctl: cannot write " << args[2] << "\n";
            return kBadUsage;
        }
    } else {
        out << imp.config;
    }
    for (const auto& line : imp.not_carried) err << "not carried over: " << line << "\n";
    return kOk;
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, const EnvFn& env) {
    try {
        CommandLine cl = parse_command_line(argc, argv);
        if (cl.help) {
            out << kUsage;
            return kOk;
        }
        if (cl.args.at(0) == "import-corefile") return import_corefile(cl.args, out, err);
        try {
            resolve_endpoint(cl.options, env);
        } catch (const std::exception& e) {
            err << "gslbctl: " << e.what() << "\n";
            return kBadUsage;
        }
        const Request req = make_request(cl);
        Transport transport(cl.options);
        Reply reply = transport.send(req);
        if (req.wait && reply.status == 200 && reply.body.is_object()) {
            // until the shift is over (a drill's end, an abort elsewhere), then its report
            Request show{Command::kShiftShow,
                         "shift show",
                         false,
                         "/api/v1/shift/" + reply.body["id"].dump(),
                         {}};
            while (reply.status == 200 && reply.body.is_object() &&
                   (reply.body.value("state", "") == "running" ||
                    reply.body.value("state", "") == "paused" ||
                    (reply.body.value("state", "") == "holding" &&
                     reply.body.value("drill", false)))) {
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
                reply = transport.send(show);
            }
        }
        return render(req, reply, cl.options.json_out, out, err);
    } catch (const UsageError& e) {
        err << "gslbctl: " << e.what() << "\n\n" << kUsage;
        return kBadUsage;
    } catch (const Unreachable& e) {
        err << "gslbctl: " << e.what() << "\n";
        return kUnreachable;
    }
}

}  // namespace gslbd::ctl::client
