#include "ctl/api_request.hh"

#include <cctype>
#include <cmath>
#include <optional>
#include <set>

namespace gslbd::ctl {

using nlohmann::json;

namespace {

std::string fmt_seconds(double s) {
    std::string t = std::to_string(s);
    while (!t.empty() && t.back() == '0') t.pop_back();
    if (!t.empty() && t.back() == '.') t.pop_back();
    return t;
}

std::string normalize_record(std::string r) {
    for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (r.empty() || r.back() != '.') r += '.';
    return r;
}

/// Selector from a JSON body; unknown keys and wrong types are errors (nothing applied).
Selector parse_selector(const json& body, bool weight_call) {
    if (!body.is_object()) throw RequestError(400, "expected a JSON object");
    static const std::set<std::string> known = {"address",  "tags",   "tag",
                                                "location", "record", "weight"};
    for (const auto& [k, v] : body.items()) {
        if (!known.count(k)) throw RequestError(400, "unknown field '" + k + "'");
        if (k == "weight" && !weight_call)
            throw RequestError(400, "field 'weight' belongs to /api/v1/backends/weight");
    }
    Selector s;
    auto str = [&](const char* key) -> std::optional<std::string> {
        if (!body.contains(key)) return std::nullopt;
        if (!body[key].is_string() || body[key].get<std::string>().empty())
            throw RequestError(400, std::string("field '") + key + "' must be a non-empty string");
        return body[key].get<std::string>();
    };
    if (auto a = str("address")) {
        auto ip = util::IpAddr::parse(*a);
        if (!ip)
            throw RequestError(400, "bad address '" + *a + "': expected an IPv4 or IPv6 literal");
        s.address = *ip;
    }
    if (auto t = str("tag")) s.tags.push_back(*t);
    if (body.contains("tags")) {
        const json& t = body["tags"];
        if (t.is_string()) {
            s.tags.push_back(t.get<std::string>());
        } else if (t.is_array()) {
            for (const auto& x : t) {
                if (!x.is_string()) throw RequestError(400, "field 'tags' must list strings");
                s.tags.push_back(x.get<std::string>());
            }
        } else {
            throw RequestError(400, "field 'tags' must be a string or a list of strings");
        }
    }
    if (auto l = str("location")) s.location = *l;
    if (auto r = str("record")) s.record = normalize_record(*r);
    return s;
}

}  // namespace

json parse_json_body(const std::string& body) {
    if (body.empty()) return json::object();
    try {
        return json::parse(body);
    } catch (const json::exception& e) {
        throw RequestError(400, std::string("bad JSON: ") + e.what());
    }
}

BackendsRequest parse_backends_request(const std::string& verb, const json& body) {
    const bool weight_call = verb == "weight";
    BackendsRequest br;
    br.selector = parse_selector(body, weight_call);
    if (verb == "disable") br.action = AdminAction::Disable;
    if (verb == "drain") br.action = AdminAction::Drain;
    if (weight_call) {
        br.action = AdminAction::Weight;
        if (!body.contains("weight") || !body["weight"].is_number_integer() ||
            body["weight"].get<long long>() < 0 || body["weight"].get<long long>() > 1000000)
            throw RequestError(400,
                               "field 'weight' must be an integer in "
                               "0..1000000 (0 restores the configured weight)");
        br.weight = body["weight"].get<std::uint32_t>();
    }
    return br;
}

namespace {

/// Seconds from a number or "1500ms" / "2s" / "1m" / "1h"; nullopt when it is neither.
std::optional<double> duration_seconds(const json& v) {
    if (v.is_number()) return v.get<double>();
    if (!v.is_string()) return std::nullopt;
    const std::string t = v.get<std::string>();
    std::size_t used = 0;
    double x = 0;
    try {
        x = std::stod(t, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    const std::string unit = t.substr(used);
    if (unit.empty() || unit == "s") return x;
    if (unit == "ms") return x / 1000.0;
    if (unit == "m") return x * 60.0;
    if (unit == "h") return x * 3600.0;
    return std::nullopt;
}

}  // namespace

ShiftParams parse_shift_request(const json& body) {
    if (!body.is_object()) throw RequestError(400, "expected a JSON object");
    static const std::set<std::string> own = {"share", "step", "interval", "restore_after"};
    json sel = json::object();
    for (const auto& [k, v] : body.items())
        if (own.count(k) == 0) sel[k] = v;
    ShiftParams p;
    p.selector = parse_selector(sel, false);
    if (!p.selector.address && p.selector.tags.empty() && !p.selector.location &&
        !p.selector.record)
        throw RequestError(400, "a shift needs a selector: address, tags, location or record");
    auto percent = [&](const char* key, std::uint32_t dflt) {
        if (!body.contains(key)) return dflt;
        const json& v = body[key];
        if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 100)
            throw RequestError(
                400, std::string("field '") + key + "' must be an integer percent in 1..100");
        return v.get<std::uint32_t>();
    };
    p.share = percent("share", 100);
    p.step = percent("step", 10);
    auto seconds = [&](const char* key, double dflt, double lo, double hi) {
        if (!body.contains(key)) return dflt;
        const auto s = duration_seconds(body[key]);
        if (!s || !std::isfinite(*s) || *s < lo || *s > hi)
            throw RequestError(400, std::string("field '") + key +
                                        "' must be a duration (seconds, or a string like "
                                        "\"1500ms\", \"30s\", \"10m\", \"1h\") in " +
                                        fmt_seconds(lo) + ".." + fmt_seconds(hi) + " s");
        return *s;
    };
    p.interval = seconds("interval", 60, 0.1, 86400);
    p.restore_after = seconds("restore_after", 0, 0.1, 7 * 86400);
    return p;
}

ExplainRequest parse_explain_request(const json& in) {
    if (!in.is_object()) throw RequestError(400, "expected a JSON object");
    static const std::set<std::string> known = {"name", "qtype", "type", "client", "ecs"};
    for (const auto& [k, v] : in.items()) {
        if (!known.count(k)) throw RequestError(400, "unknown parameter '" + k + "'");
        if (!v.is_string()) throw RequestError(400, "parameter '" + k + "' must be a string");
    }
    ExplainRequest er;
    er.name = in.value("name", std::string());
    if (er.name.empty()) throw RequestError(400, "parameter 'name' is required");
    er.qtype = in.value("qtype", in.value("type", std::string("A")));
    const std::string client = in.value("client", std::string());
    if (client.empty()) throw RequestError(400, "parameter 'client' is required");
    auto ip = util::IpAddr::parse(client);
    if (!ip) throw RequestError(400, "bad client address '" + client + "'");
    er.client = *ip;
    const std::string ecs = in.value("ecs", std::string());
    if (!ecs.empty()) {
        auto p = util::IpPrefix::parse(ecs, false);
        if (!p || ecs.find('/') == std::string::npos)
            throw RequestError(400, "bad ecs subnet '" + ecs + "': expected ADDRESS/LEN");
        // As a resolver sends it: the address truncated to the source prefix.
        util::IpPrefix t = *p;
        const unsigned bits = t.addr.family == 4 ? 32 : 128;
        for (unsigned i = t.len; i < bits; ++i)
            t.addr.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
        er.ecs = t;
    }
    return er;
}

PlanRequest parse_plan_request(const json& body) {
    if (!body.is_object() || body.size() != 1 ||
        !(body.contains("reload") || body.contains("override")))
        throw RequestError(400, "expected {\"reload\": {...}} or {\"override\": {...}}");
    PlanRequest pr;
    if (body.contains("reload")) {
        const json& r = body["reload"];
        if (!r.is_object()) throw RequestError(400, "'reload' must be an object");
        for (const auto& [k, v] : r.items()) {
            if (k != "config") throw RequestError(400, "unknown field 'reload." + k + "'");
            if (!v.is_string() || v.get<std::string>().empty())
                throw RequestError(400, "'reload.config' must be a file path");
        }
        pr.reload = true;
        pr.config = r.value("config", std::string());
        return pr;
    }
    json o = body["override"];
    if (!o.is_object() || !o.contains("action") || !o["action"].is_string())
        throw RequestError(400, "'override' must be an object with 'action'");
    pr.verb = o["action"].get<std::string>();
    if (pr.verb != "enable" && pr.verb != "disable" && pr.verb != "drain" && pr.verb != "weight")
        throw RequestError(400, "'override.action' must be enable, disable, drain or weight");
    o.erase("action");
    pr.override_ = parse_backends_request(pr.verb, o);
    return pr;
}

}  // namespace gslbd::ctl
