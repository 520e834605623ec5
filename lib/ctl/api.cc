#include "ctl/api.hh"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <vector>

#include "cache/cache.hh"
#include "ctl/api_request.hh"
#include "ctl/explain.hh"
#include "ctl/fleet.hh"
#include "ctl/plan.hh"
#include "ctl/stream.hh"
#include "discovery/discovery.hh"
#include "edge/dynblock.hh"
#include "health/state.hh"
#include "util/log.hh"
#include "xfr/secondary.hh"

namespace gslbd::ctl {

using nlohmann::json;

std::string read_token_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("api.token_file " + path + ": cannot read");
    std::string token;
    std::getline(in, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    if (token.empty()) throw std::runtime_error("api.token_file " + path + ": empty");
    return token;
}

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
    if (t.time_since_epoch().count() == 0) return "";
    const std::time_t s = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(2) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& msg) {
    send_json(res, status, json{{"error", msg}, {"status", status}});
}

// Compares without an early exit, so the time taken does not tell how much of a guess matched.
bool same_secret(const std::string& a, const std::string& b) {
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

json parse_body(const httplib::Request& req) {
    return parse_json_body(req.body);
}

/// One backend in /api/v1/status: its configuration, what is published for it and, when
/// the monitor has it (`s` not null), the probes' view.
json backend_json(const gslb::BackendRt& b, const gslb::Health& h, const health::BackendStatus* s,
                  const gslb::AnswerCounts* answers, const config::Gradual& g) {
    const AdminState adm = h.state_of(b.id);
    const std::uint32_t wo = b.id < h.weight.size() ? h.weight[b.id] : 0;
    const bool up = b.id >= h.up.size() || h.up[b.id] != 0;
    json j = {{"address", b.addr.to_string()},
              {"priority", b.priority},
              {"weight", b.weight},
              {"effective_weight", wo != 0 ? wo : b.weight},
              {"enabled", b.enabled},
              {"admin", to_string(adm)},
              {"up", up},
              {"tags", b.cfg->tags},
              {"location", b.cfg->locations},
              {"answers", answers != nullptr ? answers->total(b.id) : 0}};
    // slow start, score and traffic shift: the percent of the weight in force
    const std::uint32_t pct = b.id < h.ramp.size() && h.ramp[b.id] != 0 ? h.ramp[b.id] : 100;
    j["effective_weight"] = weight_json(j["effective_weight"].get<std::uint64_t>(), pct);
    if (json gj = gradual_json(h, b, g); gj.is_object() && !gj.empty())
        j["gradual"] = std::move(gj);
    if (b.id < h.shift.size() && h.shift[b.id] != gslb::Health::kNoShift)
        j["shift_percent"] = h.shift[b.id];  // docs/gradual.md: what a shift leaves it
    if (s == nullptr) {
        j["verdict"] = up ? "up" : "down";
        j["probed"] = false;
        return j;
    }
    j["verdict"] = std::string(health::to_string(s->verdict));
    j["probed"] = s->probed;
    j["since"] = iso_time(s->since);
    j["reason"] = s->reason;
    if (s->has_result) {
        json last = {{"at", iso_time(s->last_probe_at)},
                     {"ok", s->last_ok},
                     {"latency_ms", static_cast<double>(s->last_latency.count()) / 1000.0}};
        if (s->last_error != health::ErrorKind::None) {
            last["error"] = std::string(health::to_string(s->last_error));
            last["error_text"] = s->last_error_text;
            last["error_at"] = iso_time(s->last_error_at);
        }
        j["last_probe"] = std::move(last);
    }
    json checks = json::array();
    for (const auto& c : s->checks)
        checks.push_back(
            {{"type", c.type}, {"verdict", std::string(health::to_string(c.verdict))}});
    j["checks"] = std::move(checks);
    return j;
}

using StatusById = std::unordered_map<std::uint32_t, health::BackendStatus>;

json record_json(const gslb::RecordRt& rec, const gslb::Health& h, const StatusById& by_id,
                 const gslb::AnswerCounts* answers) {
    json backends = json::array();
    for (const auto* fam : {&rec.v4, &rec.v6}) {
        for (const auto& b : *fam) {
            auto it = by_id.find(b.id);
            json bj = backend_json(b, h, it != by_id.end() ? &it->second : nullptr, answers,
                                   rec.cfg->gradual);
            // what shift_percent is a percent of: the weight, or the clients (the mode's)
            if (bj.contains("shift_percent"))
                bj["shift_by"] = rec.policy->splits_by_weight() ? "weight" : "clients";
            backends.push_back(std::move(bj));
        }
    }
    return {{"name", rec.cfg->name},
            {"mode", rec.policy->name()},
            {"ttl", rec.ttl},
            {"backends", std::move(backends)}};
}

/// GET /api/v1/status (docs/api.md). The document without the zones' records is built at
/// once (small); the records are written zone by zone while the answer is sent, a batch of
/// records at a time with the monitor's view of just those (Monitor::status over a record
/// range: its mutex is held for one batch, never across the whole list or a reload), so a
/// full status costs a bounded amount of memory at any number of records. Everything comes
/// from one published snapshot (the one the workers read), held until the answer is written.
/// `with_records` false (`?records=0`): no records and no probe states.
class StatusDoc {
  public:
    StatusDoc(const Control& ctl, bool with_records);
    /// The whole document as json::dump(2) writes it, followed by "\n".
    void write(ChunkWriter& w) const;
    /// Without the records (`?records=0`): the whole document.
    const json& skeleton() const noexcept { return out_; }

  private:
    /// Records per call of Monitor::status (and per batch of JSON built).
    static constexpr std::size_t kBatch = 256;
    const health::Monitor* mon_ = nullptr;
    gslb::Snapshot view_;
    json out_;
    /// record ids grouped by zone (topology order within a zone); zone zi's are
    /// order_[zone_begin_[zi] .. zone_begin_[zi + 1])
    std::vector<std::uint32_t> order_;
    std::vector<std::size_t> zone_begin_;
};

StatusDoc::StatusDoc(const Control& ctl, bool with_records) : view_(ctl.current()) {
    const ReloadCounters rc = ctl.reload_counters();
    out_ = {{"generation", view_.generation},
            {"ready", ctl.ready()},
            {"config", ctl.config_path()},
            {"state_file", ctl.state_file()},
            {"reloads",
             {{"ok", rc.ok},
              {"failed", rc.failed},
              {"last_ok", rc.last_ok},
              {"last_at", iso_time(rc.last_at)},
              {"last_error", rc.last_error}}}};
    if (view_.topo == nullptr) {
        out_["zones"] = json::array();
        return;
    }
    if (with_records) mon_ = ctl.monitor();
    // A record belongs to the zone whose policy file listed it: config entry -> zone (sorted
    // pairs, searched), then the record ids bucketed by zone in topology order. 4 bytes a
    // record kept while the answer is written.
    const auto& zone_cfgs = view_.topo->config->zones;
    zone_begin_.assign(zone_cfgs.size() + 1, 0);
    if (with_records) {
        const auto& records = view_.topo->records;
        std::vector<std::uint32_t> zone_of(records.size(), UINT32_MAX);
        {
            std::vector<std::pair<const config::Record*, std::uint32_t>> cfg_zone;
            for (std::size_t zi = 0; zi < zone_cfgs.size(); ++zi)
                for (const auto& r : zone_cfgs[zi].records)
                    cfg_zone.emplace_back(&r, static_cast<std::uint32_t>(zi));
            std::sort(cfg_zone.begin(), cfg_zone.end());
            for (std::size_t i = 0; i < records.size(); ++i) {
                if (records[i].cfg == nullptr) continue;
                auto it = std::lower_bound(
                    cfg_zone.begin(), cfg_zone.end(),
                    std::pair<const config::Record*, std::uint32_t>{records[i].cfg, 0});
                if (it != cfg_zone.end() && it->first == records[i].cfg) zone_of[i] = it->second;
            }
        }
        for (std::uint32_t z : zone_of)
            if (z != UINT32_MAX) ++zone_begin_[z + 1];
        for (std::size_t zi = 0; zi < zone_cfgs.size(); ++zi)
            zone_begin_[zi + 1] += zone_begin_[zi];
        order_.resize(zone_begin_.back());
        std::vector<std::size_t> next(zone_begin_.begin(), zone_begin_.end() - 1);
        for (std::size_t i = 0; i < zone_of.size(); ++i)
            if (zone_of[i] != UINT32_MAX)
                order_[next[zone_of[i]]++] = static_cast<std::uint32_t>(i);
    }
    std::map<std::string, json> secondaries;  // docs/zones.md: a secondary zone's transfers
    if (const xfr::Secondary* sec = ctl.secondary()) {
        for (const auto& st : sec->status())
            secondaries[st.zone] = {{"loaded", st.loaded},
                                    {"expired", st.expired},
                                    {"serial", st.serial},
                                    {"primary", st.primary},
                                    {"last_kind", st.last_kind},
                                    {"last_outcome", st.last_outcome},
                                    {"last_error", st.last_error},
                                    {"last_transfer", iso_time(st.last_transfer)},
                                    {"last_check", iso_time(st.last_check)},
                                    {"last_failure", iso_time(st.last_failure)},
                                    {"next_check", iso_time(st.next_check)},
                                    {"expires", iso_time(st.expires)},
                                    {"axfr", st.axfr},
                                    {"ixfr", st.ixfr},
                                    {"checks", st.checks},
                                    {"failures", st.failures},
                                    {"refused", st.refused},
                                    {"notifies", st.notifies}};
    }
    json zones = json::array();
    for (std::size_t zi = 0; zi < zone_cfgs.size(); ++zi) {
        json z = {{"name", zone_cfgs[zi].name},
                  {"policy", zone_cfgs[zi].policy_file},
                  {"records", json::array()}};  // written by write()
        if (zi < view_.topo->zones.size()) {
            const gslb::ZoneRt& zr = view_.topo->zones[zi];
            z["serial"] = zr.soa.serial;
            z["source"] = !zone_cfgs[zi].primaries.empty() ? "primaries"
                          : !zone_cfgs[zi].file.empty()    ? "file"
                                                           : "config";
        }
        if (auto it = secondaries.find(zone_cfgs[zi].name); it != secondaries.end())
            z["secondary"] = std::move(it->second);
        zones.push_back(std::move(z));
    }
    out_["zones"] = std::move(zones);
    if (const discovery::Discoverer* d = ctl.discoverer()) {
        json sources = json::array();
        for (const auto& st : d->status())
            sources.push_back({{"record", st.record},
                               {"type", st.type},
                               {"source", st.source},
                               {"ok", st.ok},
                               {"backends", st.backends},
                               {"last_success", iso_time(st.last_success)},
                               {"last_error", st.last_error},
                               {"last_error_at", iso_time(st.last_failure)},
                               {"fetches", st.fetches},
                               {"failures", st.failures}});
        out_["discovery"] = std::move(sources);
    }
    if (const FleetLink* f = ctl.fleet()) {
        const FleetStatus fs = f->status();
        out_["fleet"] = {{"node", fs.node},
                         {"connected", fs.view->connected},
                         {"degraded", fs.degraded},
                         {"last_error", fs.view->last_error}};
    }
}

void StatusDoc::write(ChunkWriter& w) const {
    // zone zi's "records" array, filled while it is written
    std::vector<const json*> nodes;
    std::vector<ArrayFiller> fillers;
    if (view_.topo != nullptr && !order_.empty()) {
        const json& zones = out_.at("zones");
        for (std::size_t zi = 0; zi + 1 < zone_begin_.size() && zi < zones.size(); ++zi) {
            nodes.push_back(&zones.at(zi).at("records"));
            fillers.emplace_back([this, zi](const ElementFn& element) {
                const gslb::Topology& topo = *view_.topo;
                std::vector<health::BackendStatus> st;
                StatusById by_id;
                const std::size_t end = zone_begin_[zi + 1];
                for (std::size_t k = zone_begin_[zi]; k < end;) {
                    // a run of consecutive record ids: one call of the monitor
                    std::size_t e = k + 1;
                    while (e < end && e - k < kBatch && order_[e] == order_[e - 1] + 1) ++e;
                    by_id.clear();
                    if (mon_ != nullptr && mon_->status(topo, order_[k], order_[e - 1] + 1, st))
                        for (auto& b : st) by_id.emplace(b.id, std::move(b));
                    for (std::size_t i = k; i < e; ++i)
                        element(record_json(topo.records[order_[i]], *view_.health, by_id,
                                            topo.answers.get()));
                    k = e;
                }
            });
        }
    }
    write_json(w, out_, [&](const json* node) -> const ArrayFiller* {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i] == node) return &fillers[i];
        return nullptr;
    });
    w.write('\n');
}

/// An answer written while it is made (HTTP/1.1 chunked): `gen` writes into a ChunkWriter
/// that sends every ~64 KB, so the API holds one chunk per connection, not the answer. A
/// client that stops reading fails a write after the server's write timeout (5 s): the
/// generator stops there (StreamAborted) and the connection is closed; so does one that
/// reads so slowly that the answer falls behind ChunkWriter's MinPace (30 s plus 256 KB/s).
void send_streamed(httplib::Response& res, const char* type,
                   std::function<void(ChunkWriter&)> gen) {
    res.status = 200;
    res.set_chunked_content_provider(
        type, [gen = std::move(gen)](std::size_t, httplib::DataSink& sink) {
            try {
                ChunkWriter w([&sink](const char* d, std::size_t n) { return sink.write(d, n); });
                gen(w);
                w.flush();
                sink.done();
                return true;
            } catch (const StreamAborted& e) {
                util::log_info("api: answer cut short: {}", e.what());
                return false;
            } catch (const std::exception& e) {
                // the status line is out already: all that is left is to cut the answer short
                util::log_warn("api: answer cut short: {}", e.what());
                return false;
            }
        });
}

/// /healthz and /api/v1/ready.
void send_ready(httplib::Response& res, const Control& ctl) {
    const gslb::Snapshot v = ctl.current();
    const bool ok = ctl.ready();
    send_json(res, ok ? 200 : 503,
              {{"ready", ok},
               {"generation", v.generation},
               {"config_loaded", v.topo != nullptr},
               {"why", ok                  ? ""
                       : v.topo == nullptr ? "configuration not loaded"
                                           : "first health round not finished"}});
}

void send_reload(httplib::Response& res, const ReloadResult& r) {
    if (r.ok) {
        send_json(res, 200, {{"ok", true}, {"generation", r.generation}});
    } else {
        send_json(
            res, 422,
            {{"ok", false}, {"error", r.error}, {"status", 422}, {"generation", r.generation}});
    }
}

/// POST /api/v1/backends/{enable,disable,drain,weight}: applies `verb` to what `body`
/// selects. Throws RequestError.
json backends_call(Control& ctl, const std::string& verb, const json& body) {
    const BackendsRequest br = parse_backends_request(verb, body);
    const Selector& sel = br.selector;
    const std::uint32_t weight = br.weight;
    const bool weight_call = br.action == AdminAction::Weight;
    const auto keys = ctl.apply(sel, br.action, weight);
    json changed = json::array();
    for (const auto& [rec, addr] : keys) changed.push_back({{"record", rec}, {"address", addr}});
    util::log_info("api: {} {} ({} backend(s)){}", verb, sel.describe(), keys.size(),
                   weight_call ? " weight " + std::to_string(weight) : "");
    return {{"ok", true},
            {"action", verb},
            {"generation", ctl.current().generation},
            {"backends", std::move(changed)}};
}

/// The parameters of /api/v1/explain: the query string (GET) or a JSON object (POST).
/// Throws RequestError.
ExplainRequest explain_request(const httplib::Request& req) {
    json in = json::object();
    if (req.method == "POST") {
        in = parse_body(req);
    } else {
        for (const auto& [k, v] : req.params) in[k] = v;
    }
    return parse_explain_request(in);
}

/// Access control for one request; false when the response (401/403) is already set.
/// `token` "" = none configured: reads are open, mutating calls refused.
bool allowed(const httplib::Request& req, httplib::Response& res, bool mutating,
             const std::string& token, bool read_requires_token) {
    if (token.empty()) {
        if (!mutating) return true;
        send_error(res, 403, "mutating calls are disabled: no api.token_file is configured");
        return false;
    }
    if (!mutating && !read_requires_token) return true;
    const std::string h = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (h.rfind(prefix, 0) != 0 || !same_secret(h.substr(prefix.size()), token)) {
        res.set_header("WWW-Authenticate", "Bearer realm=\"gslbd\"");
        send_error(
            res, 401,
            h.empty() ? "missing bearer token (Authorization: Bearer ...)" : "wrong bearer token");
        return false;
    }
    return true;
}

}  // namespace

ApiServer::ApiServer(Control& control, const config::ApiConfig& cfg, StatsFn stats,
                     std::string version)
    : control_(control), cfg_(cfg), stats_(std::move(stats)), version_(std::move(version)) {
    if (!cfg_.token_file.empty()) {
        token_ = read_token_file(cfg_.token_file);
    } else {
        util::log_warn(
            "api: no token_file configured: mutating calls (enable, disable, drain, weight, "
            "reload) are disabled and answer 403");
    }
    if (!cfg_.tls_cert.empty()) {
        auto s = std::make_unique<httplib::SSLServer>(cfg_.tls_cert.c_str(), cfg_.tls_key.c_str());
        if (!s->is_valid())
            throw std::runtime_error("api: cannot load tls_cert " + cfg_.tls_cert + " / tls_key " +
                                     cfg_.tls_key);
        server_ = std::move(s);
    } else {
        server_ = std::make_unique<httplib::Server>();
    }
    // No SO_REUSEPORT (httplib's default): a second daemon must fail to bind, not share the
    // port and get half of our requests.
    server_->set_socket_options([](int fd) {
        int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server_->new_task_queue = [] { return new httplib::ThreadPool(4); };
    server_->set_payload_max_length(64 * 1024);
    routes();
    const std::string host = cfg_.addr.to_string();
    if (!server_->bind_to_port(host, cfg_.port))
        throw BindError("api " + url() + ": cannot listen (" + std::string(std::strerror(errno)) +
                        "); set api.listen to a free address or 'off'");
}

ApiServer::~ApiServer() {
    stop();
}

std::string ApiServer::url() const {
    const std::string host =
        cfg_.addr.family == 6 ? "[" + cfg_.addr.to_string() + "]" : cfg_.addr.to_string();
    return (cfg_.tls_cert.empty() ? "http://" : "https://") + host + ":" +
           std::to_string(cfg_.port);
}

void ApiServer::start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void ApiServer::stop() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
}

namespace {

// Explain in a fleet: each probed candidate gets the votes (up / down / stale by node) on its
// checks' targets and the rule that decided (docs/fleet.md).
void add_fleet_votes(const FleetLink& f, const gslb::Snapshot& snap, json& out) {
    if (snap.topo == nullptr || !out.contains("record") || !out["record"].is_string() ||
        !out.contains("candidates"))
        return;
    const std::string name = out["record"].get<std::string>();
    for (const auto& rec : snap.topo->records) {
        if (rec.cfg == nullptr || rec.cfg->name != name) continue;
        for (auto& c : out["candidates"]) {
            const std::string addr = c.value("address", "");
            for (const auto* family : {&rec.v4, &rec.v6})
                for (const auto& b : *family)
                    if (b.addr.to_string() == addr) {
                        json votes = f.explain_backend(b.id);
                        if (!votes.empty()) c["fleet"] = std::move(votes);
                    }
        }
        return;
    }
}

/// What the probes say about each candidate of an explain answer: its check kinds and, when
/// it is down, the reason of the last verdict change and the last failure (issue 16).
void add_probe_status(const health::Monitor& mon, const gslb::Snapshot& snap, json& out) {
    if (snap.topo == nullptr || !out.contains("record") || !out["record"].is_string() ||
        !out.contains("candidates"))
        return;
    const std::string name = out["record"].get<std::string>();
    for (const auto& rec : snap.topo->records) {
        if (rec.cfg == nullptr || rec.cfg->name != name) continue;
        // the monitor's view of this record's backends only
        StatusById by_id;
        std::vector<health::BackendStatus> st;
        if (mon.status(*snap.topo, rec.id, rec.id + 1, st))
            for (auto& b : st) by_id.emplace(b.id, std::move(b));
        for (auto& c : out["candidates"]) {
            const std::string addr = c.value("address", "");
            for (const auto* family : {&rec.v4, &rec.v6})
                for (const auto& b : *family) {
                    auto it = by_id.find(b.id);
                    if (b.addr.to_string() != addr || it == by_id.end() || !it->second.probed)
                        continue;
                    const health::BackendStatus& st = it->second;
                    json checks = json::array();
                    for (const auto& ck : st.checks)
                        checks.push_back({{"type", ck.type},
                                          {"verdict", std::string(health::to_string(ck.verdict))}});
                    c["checks"] = std::move(checks);
                    if (st.verdict != health::Verdict::Up) {
                        c["health_reason"] = st.reason;
                        if (st.last_error != health::ErrorKind::None)
                            c["last_error"] = std::string(health::to_string(st.last_error)) + ": " +
                                              st.last_error_text;
                    }
                }
        }
        return;
    }
}

// GET /api/v1/blocks: times as UTC (the workers count CLOCK_MONOTONIC_COARSE seconds).
json blocks_json() {
    const std::uint32_t mono = cache::coarse_now();
    const auto wall = std::chrono::system_clock::now();
    auto at = [&](std::uint32_t t) {
        return iso_time(wall + std::chrono::seconds(static_cast<std::int32_t>(t - mono)));
    };
    json list = json::array();
    for (const edge::BlockInfo& b : edge::BlockBoard::instance().list(mono))
        list.push_back({{"prefix", b.prefix.to_string()},
                        {"reason", edge::to_string(b.reason)},
                        {"action", edge::to_string(b.action)},
                        {"since", at(b.since)},
                        {"until", at(b.until)},
                        {"remaining_seconds", static_cast<std::int32_t>(b.until - mono)},
                        {"queries_blocked", b.blocked},
                        {"workers", b.workers}});
    const std::size_t n = list.size();
    return {{"blocks", std::move(list)}, {"count", n}};
}

}  // namespace

void ApiServer::routes() {
    using httplib::Request;
    using httplib::Response;
    httplib::Server& s = *server_;
    constexpr bool kRead = false, kMutating = true;
    // `fn` behind access control, with RequestError and other exceptions as JSON errors.
    auto route = [this](bool mutating, auto fn) {
        return [this, mutating, fn](const Request& req, Response& res) {
            if (!allowed(req, res, mutating, token_, cfg_.read_requires_token)) return;
            try {
                fn(req, res);
            } catch (const RequestError& e) {
                send_error(res, e.status(), e.what());
            } catch (const std::exception& e) {
                send_error(res, 500, e.what());
            }
        };
    };

    // A POST that takes no body is registered with a content reader it never calls: httplib
    // 0.11 answers 400 to a POST that has neither Content-Length nor a chunked body (what
    // `curl -X POST` sends) when it has to read the body itself.
    auto bodiless = [route](bool mutating, auto fn) {
        return [h = route(mutating, fn)](const Request& req, Response& res,
                                         const httplib::ContentReader&) { h(req, res); };
    };

    // Readiness answers without a token.
    auto ready = [this](const Request&, Response& res) { send_ready(res, control_); };
    s.Get("/healthz", ready);
    s.Get("/api/v1/ready", ready);

    s.Get("/api/v1/status", route(kRead, [this](const Request& req, Response& res) {
              const bool records = req.get_param_value("records") != "0";
              auto doc = std::make_shared<const StatusDoc>(control_, records);
              if (!records) {
                  send_json(res, 200, doc->skeleton());
                  return;
              }
              send_streamed(res, "application/json", [doc](ChunkWriter& w) { doc->write(w); });
          }));

    s.Get("/metrics", route(kRead, [this](const Request&, Response& res) {
              auto dp =
                  std::make_shared<const DataPlaneStats>(stats_ ? stats_() : DataPlaneStats{});
              send_streamed(
                  res, "text/plain; version=0.0.4; charset=utf-8",
                  [this, dp](ChunkWriter& w) { render_metrics(control_, *dp, version_, w); });
          }));

    s.Get("/api/v1/fleet", route(kRead, [this](const Request&, Response& res) {
              const FleetLink* f = control_.fleet();
              if (f == nullptr)
                  throw RequestError(404, "this node is not in a fleet (no cluster: block)");
              send_json(res, 200, f->to_json());
          }));

    s.Post("/api/v1/reload", bodiless(kMutating, [this](const Request&, Response& res) {
               send_reload(res, control_.reload("API"));
           }));

    s.Post(R"(/api/v1/backends/(enable|disable|drain|weight))",
           route(kMutating, [this](const Request& req, Response& res) {
               send_json(res, 200, backends_call(control_, req.matches[1], parse_body(req)));
           }));

    // A record's pool (CoreDNS-GSLB's PUT .../backends): replace, show, drop.
    const char* kPool = R"(/api/v1/zones/([^/]+)/records/([^/]+)/backends)";
    s.Put(kPool, route(kMutating, [this](const Request& req, Response& res) {
              const auto addrs = control_.set_pool(req.matches[1], req.matches[2], req.body);
              send_json(res, 200,
                        {{"ok", true},
                         {"record", req.matches[2].str()},
                         {"backends", addrs},
                         {"generation", control_.current().generation}});
          }));
    s.Delete(kPool, route(kMutating, [this](const Request& req, Response& res) {
                 if (!control_.clear_pool(req.matches[1], req.matches[2]))
                     throw RequestError(404, "record '" + req.matches[2].str() +
                                                 "' has no pool set through the API");
                 send_json(res, 200, {{"ok", true}, {"generation", control_.current().generation}});
             }));
    s.Get(kPool, route(kRead, [this](const Request& req, Response& res) {
              const gslb::Snapshot snap = control_.current();
              std::string name = req.matches[2];
              for (char& c : name)
                  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
              if (name.empty() || name.back() != '.') name += '.';
              if (snap.topo == nullptr) throw RequestError(503, "no configuration loaded yet");
              for (const auto& rec : snap.topo->records) {
                  if (rec.cfg->name != name) continue;
                  json list = json::array();
                  for (const auto& b : rec.cfg->backends)
                      list.push_back({{"address", b.address_text},
                                      {"port", b.port},
                                      {"priority", b.priority},
                                      {"weight", b.weight},
                                      {"enable", b.enable}});
                  const auto sources = control_.pool_sources();
                  auto it = sources.find(name);
                  send_json(res, 200,
                            {{"record", name},
                             {"source", it == sources.end() ? "zone file" : it->second},
                             {"backends", std::move(list)}});
                  return;
              }
              throw RequestError(404, "unknown record '" + name + "'");
          }));

    // Dynamic blocks (docs/edge.md): the workers' blocks merged; lift one prefix or all.
    s.Get("/api/v1/blocks",
          route(kRead, [](const Request&, Response& res) { send_json(res, 200, blocks_json()); }));
    s.Delete("/api/v1/blocks", route(kMutating, [](const Request&, Response& res) {
                 const std::size_t n =
                     edge::BlockBoard::instance().lift(std::nullopt, "API", cache::coarse_now());
                 send_json(res, 200, {{"ok", true}, {"lifted", n}});
             }));
    s.Delete(R"(/api/v1/blocks/(.+))", route(kMutating, [](const Request& req, Response& res) {
                 const std::string text = req.matches[1];
                 const auto p = util::IpPrefix::parse(text, true);
                 if (!p) {
                     if (util::IpPrefix::parse(text, false))
                         throw RequestError(
                             400, "'" + text + "' has host bits set after the prefix length");
                     throw RequestError(
                         400, "'" + text + "' is not a prefix (192.0.2.0/24, 2001:db8::/56)");
                 }
                 const std::size_t n =
                     edge::BlockBoard::instance().lift(*p, "API", cache::coarse_now());
                 if (n == 0) throw RequestError(404, p->to_string() + " is not blocked");
                 send_json(res, 200, {{"ok", true}, {"lifted", n}});
             }));

    // Traffic shifts and drills (docs/gradual.md): start, list, show, pause/resume/abort.
    s.Post("/api/v1/shift", route(kMutating, [this](const Request& req, Response& res) {
               json out = control_.shift_start(parse_shift_request(parse_body(req)));
               out["ok"] = true;
               send_json(res, 200, out);
           }));
    s.Get("/api/v1/shift", route(kRead, [this](const Request&, Response& res) {
              send_json(res, 200, control_.shifts());
          }));
    auto shift_id = [](const std::string& text) {
        if (text.empty() || text.size() > 18 ||
            text.find_first_not_of("0123456789") != std::string::npos)
            throw RequestError(404, "no shift '" + text + "'");
        return std::stoull(text);
    };
    s.Get(R"(/api/v1/shift/([^/]+))",
          route(kRead, [this, shift_id](const Request& req, Response& res) {
              send_json(res, 200, control_.shift(shift_id(req.matches[1])));
          }));
    s.Post(R"(/api/v1/shift/([^/]+)/(pause|resume|abort))",
           bodiless(kMutating, [this, shift_id](const Request& req, Response& res) {
               json out = control_.shift_action(shift_id(req.matches[1]), req.matches[2]);
               out["ok"] = true;
               send_json(res, 200, out);
           }));
    // Plan (docs/gradual.md): what a reload or an override would change, changing nothing.
    s.Post(
        "/api/v1/plan", route(kMutating, [this](const Request& req, Response& res) {
            const PlanRequest pr = parse_plan_request(parse_body(req));
            const gslb::Snapshot now = control_.current();
            if (pr.reload) {
                const gslb::Snapshot after = control_.plan_reload(pr.config);
                send_json(res, 200,
                          plan_json(now, after,
                                    "reload of " +
                                        (pr.config.empty() ? control_.config_path() : pr.config)));
                return;
            }
            std::vector<BackendKey> keys;
            const gslb::Snapshot after = control_.plan_override(
                pr.override_.selector, pr.override_.action, pr.override_.weight, keys);
            json out = plan_json(
                now, after,
                pr.verb + " " + pr.override_.selector.describe() +
                    (pr.verb == "weight" ? " weight " + std::to_string(pr.override_.weight) : ""));
            json backends = json::array();
            for (const auto& [rec, addr] : keys)
                backends.push_back({{"record", rec}, {"address", addr}});
            out["backends"] = std::move(backends);
            send_json(res, 200, out);
        }));

    const auto explain_route = route(kRead, [this](const Request& req, Response& res) {
        const gslb::Snapshot snap = control_.current();
        json out = explain(snap, explain_request(req));
        if (const FleetLink* f = control_.fleet()) add_fleet_votes(*f, snap, out);
        if (const health::Monitor* m = control_.monitor()) add_probe_status(*m, snap, out);
        send_json(res, 200, out);
    });
    s.Get("/api/v1/explain", explain_route);
    s.Post("/api/v1/explain", explain_route);

    s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 404)
            send_error(res, 404, "no such endpoint: " + req.method + " " + req.path);
        else
            send_error(res, res.status, std::string("HTTP ") + std::to_string(res.status));
    });
}

}  // namespace gslbd::ctl
