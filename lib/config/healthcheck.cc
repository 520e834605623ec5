#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>
#include <tuple>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

namespace {

bool is_supported(const std::string& type) {
    return type == "http" || type == "https" || type == "tcp" || type == "dns" || type == "icmp";
}

bool parse_int(std::string_view s, int& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

// One expected_code item: 200, "200", "200-299" or "2xx".
CodeRange parse_code(const Val& v) {
    const char* kHelp = ": use a status code (200), a range (\"200-299\") or a class (\"2xx\")";
    std::string s = v.nonempty_str();
    CodeRange r;
    auto dash = s.find('-');
    if (s.size() == 3 && std::isdigit(static_cast<unsigned char>(s[0])) &&
        (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X')) {
        r.lo = (s[0] - '0') * 100;
        r.hi = r.lo + 99;
    } else if (dash != std::string::npos) {
        if (!parse_int(std::string_view(s).substr(0, dash), r.lo) ||
            !parse_int(std::string_view(s).substr(dash + 1), r.hi))
            v.fail("bad expected_code '" + s + "'" + kHelp);
    } else {
        if (!parse_int(s, r.lo)) v.fail("bad expected_code '" + s + "'" + kHelp);
        r.hi = r.lo;
    }
    if (r.lo < 100 || r.hi > 599 || r.lo > r.hi)
        v.fail("bad expected_code '" + s + "': codes must lie in 100..599, low end first");
    return r;
}

void parse_headers(const Val& v, HealthCheck& hc) {
    if (v.is_null()) return;
    if (v.is_map()) {
        for (const auto& e : v.entries()) hc.headers.emplace_back(e.key, e.value.str());
        return;
    }
    for (const auto& item : v.items()) {
        std::string s = item.str();
        auto colon = s.find(':');
        if (colon == std::string::npos || colon == 0)
            item.fail("bad header '" + s + "': expected \"Name: value\"");
        std::string value = s.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        hc.headers.emplace_back(s.substr(0, colon), value);
    }
}

// `name` or `name{label="value",...}`, as a Prometheus selector is written (equality only).
void parse_gauge(const Val& v, HealthCheck::Gauge& g) {
    const std::string s = v.nonempty_str();
    auto ident = [](char c, bool first) {
        return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
               (!first && std::isdigit(static_cast<unsigned char>(c)));
    };
    std::size_t i = 0;
    while (i < s.size() && ident(s[i], i == 0)) ++i;
    if (i == 0)
        v.fail("load_gauge '" + s +
               "': expected a metric name, optionally with labels: " + "name{label=\"value\"}");
    g.name = s.substr(0, i);
    g.text = s;
    if (i == s.size()) return;
    auto bad = [&](const std::string& why) {
        v.fail("load_gauge '" + s + "': " + why + " (expected name{label=\"value\",...})");
    };
    if (s[i] != '{' || s.back() != '}') bad("labels go in {} after the name");
    ++i;
    while (i < s.size() - 1) {
        const std::size_t k = i;
        while (i < s.size() && ident(s[i], i == k)) ++i;
        if (i == k || i >= s.size() || s[i] != '=') bad("a label name and '=' expected");
        const std::string key = s.substr(k, i - k);
        if (++i >= s.size() || s[i] != '"') bad("label values are in double quotes");
        const std::size_t q = s.find('"', i + 1);
        if (q == std::string::npos) bad("unterminated label value");
        g.labels.emplace_back(key, s.substr(i + 1, q - i - 1));
        i = q + 1;
        if (i < s.size() - 1) {
            if (s[i] != ',') bad("labels are separated by ','");
            ++i;
        }
    }
}

void parse_params(const Val& v, HealthCheck& hc) {
    MapReader m(v,
                {"port",     "uri",           "method",        "host",           "headers",
                 "timeout",  "expected_code", "expected_body", "enable_tls",     "skip_tls_verify",
                 "tls_cert", "tls_key",       "tls_ca",        "client_cert",    "client_key",
                 "ca_file",  "query_name",    "query_type",    "expected_rcode", "expected_address",
                 "count",    "load_gauge",    "keepalive"});
    if (auto x = m.get("port")) hc.port = static_cast<int>(x->integer(1, 65535));
    if (auto x = m.get("timeout")) hc.timeout = x->duration();
    if (auto x = m.get("uri")) {
        hc.uri = x->nonempty_str();
        if (hc.uri.front() != '/') x->fail("uri must start with '/'");
    }
    if (auto x = m.get("method")) {
        hc.method = x->nonempty_str();
        for (char& c : hc.method)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (!std::all_of(hc.method.begin(), hc.method.end(),
                         [](char c) { return c >= 'A' && c <= 'Z'; }))
            x->fail("bad HTTP method '" + hc.method + "'");
    }
    if (auto x = m.get("host"); x && !x->is_null()) hc.host = x->str();
    if (auto x = m.get("headers")) parse_headers(*x, hc);
    if (auto x = m.get("expected_code"); x && !x->is_null()) {
        if (x->is_seq()) {
            for (const auto& item : x->items()) hc.expected_codes.push_back(parse_code(item));
        } else {
            hc.expected_codes.push_back(parse_code(*x));
        }
    }
    if (auto x = m.get("expected_body"); x && !x->is_null()) {
        hc.expected_body = x->str();
        try {
            std::regex re(hc.expected_body);
        } catch (const std::regex_error& e) {
            x->fail("expected_body is not a valid regular expression: " + std::string(e.what()));
        }
    }
    if (auto x = m.get("load_gauge"); x && !x->is_null()) parse_gauge(*x, hc.load_gauge);
    if (auto x = m.get("enable_tls")) hc.enable_tls = x->boolean();
    if (auto x = m.get("keepalive")) hc.keepalive = x->boolean();
    if (auto x = m.get("skip_tls_verify")) hc.skip_tls_verify = x->boolean();
    // CoreDNS-GSLB and curl spellings of the same three files.
    for (auto [a, b, dst] : {std::tuple{"tls_cert", "client_cert", &hc.tls_cert},
                             std::tuple{"tls_key", "client_key", &hc.tls_key},
                             std::tuple{"tls_ca", "ca_file", &hc.tls_ca}}) {
        auto x = m.get(a);
        auto y = m.get(b);
        if (x && y) y->fail(std::string("'") + b + "' repeats '" + a + "' (they are aliases)");
        if (!x) x = y;
        if (x && !x->is_null()) *dst = x->nonempty_str();
    }
    if (auto x = m.get("query_name"))
        hc.query_name = normalize_name(x->nonempty_str(), x->pos(), x->path());
    if (auto x = m.get("query_type")) hc.query_type = parse_qtype(*x);
    if (auto x = m.get("expected_rcode")) hc.expected_rcode = parse_rcode(*x);
    if (auto x = m.get("expected_address"); x && !x->is_null()) hc.expected_address = parse_ip(*x);
    if (auto x = m.get("count")) hc.count = static_cast<int>(x->integer(1, 100));
    if (!hc.load_gauge.name.empty() && hc.type != "http" && hc.type != "https")
        m.get("load_gauge")->fail("load_gauge belongs to http and https checks");
    if (hc.type == "dns" && hc.query_name.empty())
        v.fail("a dns health check needs params.query_name");
}

void parse_raw_params(const Val& v, HealthCheck& hc) {
    for (const auto& e : v.entries()) {
        HealthCheck::RawParam p;
        p.key = e.key;
        p.pos = e.value.pos();
        p.scalar = e.value.is_scalar() || e.value.is_null();
        if (e.value.is_scalar()) p.value = e.value.str();
        if (p.key == "port" && p.scalar) hc.port = static_cast<int>(e.value.integer(1, 65535));
        if (p.key == "timeout" && p.scalar) hc.timeout = e.value.duration();
        hc.raw_params.push_back(std::move(p));
    }
}

}  // namespace

HealthCheck parse_healthcheck_def(const Val& v) {
    MapReader m(v, {"type", "params", "rise", "fall"});
    HealthCheck hc;
    hc.pos = v.pos();
    Val type = m.require("type");
    hc.type = type.nonempty_str();
    for (char& c : hc.type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    hc.supported = is_supported(hc.type);
    if (hc.type == "https") hc.enable_tls = true;
    if (auto x = m.get("rise")) hc.rise = static_cast<int>(x->integer(1, 100));
    if (auto x = m.get("fall")) hc.fall = static_cast<int>(x->integer(1, 100));
    auto params = m.get("params");
    // Parameters of other kinds (grpc, lua, mysql, custom, ...) follow those kinds' own
    // schemas: kept as written for the probe kind plug-ins of lib/health, which validate them
    // (or report the kind as unsupported).
    if (hc.supported) {
        if (params) {
            parse_params(*params, hc);
        } else if (hc.type == "dns") {
            v.fail("a dns health check needs params.query_name");
        }
    } else if (params && params->is_map()) {
        parse_raw_params(*params, hc);
    }
    return hc;
}

HealthCheck parse_healthcheck_item(const Val& v, const Profiles& profiles) {
    if (v.is_scalar()) {
        std::string name = v.nonempty_str();
        auto it = profiles.find(name);
        if (it == profiles.end()) {
            std::string known;
            for (const auto& [k, _] : profiles) known += (known.empty() ? "" : ", ") + k;
            v.fail(
                "unknown health check profile '" + name + "'" +
                (known.empty() ? " (healthcheck_profiles is empty)" : " (known: " + known + ")"));
        }
        return it->second;
    }
    if (!v.is_map()) v.fail("expected a profile name or a {type, params} mapping");
    return parse_healthcheck_def(v);
}

}  // namespace gslbd::config::detail
