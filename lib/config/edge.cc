// The edge protection blocks (docs/edge.md): `acl`, `rrl`, `cookies`, `dynamic_blocks`, and
// the `user`/`group` the daemon drops root to.
#include <grp.h>
#include <pwd.h>

#include <algorithm>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

namespace {

util::IpPrefix parse_prefix(const Val& item) {
    std::string text = item.nonempty_str();
    auto p = util::IpPrefix::parse(text, true);
    if (!p) {
        if (auto loose = util::IpPrefix::parse(text, false))
            item.fail("'" + text + "' has host bits set after the prefix length (did you mean " +
                      loose->to_string() + "?)");
        item.fail("'" + text + "' is not a prefix (192.0.2.0/24, 2001:db8::/32)");
    }
    return *p;
}

std::vector<util::IpPrefix> parse_prefixes(const Val& v) {
    std::vector<util::IpPrefix> out;
    for (const auto& item : v.one_or_many()) out.push_back(parse_prefix(item));
    return out;
}

AclAction parse_action(const Val& v, bool allow_ok) {
    const std::string a = v.nonempty_str();
    if (a == "drop") return AclAction::Drop;
    if (a == "refuse" || a == "refused") return AclAction::Refuse;
    if (allow_ok && a == "allow") return AclAction::Allow;
    v.fail("unknown action '" + a + (allow_ok ? "': use allow, drop or refuse" : "'"));
}

void parse_acl(const Val& v, EdgeConfig& e) {
    MapReader m(v, {"default", "rules"});
    if (auto x = m.get("default")) e.acl_default = parse_action(*x, true);
    if (auto r = m.get("rules")) {
        for (const auto& item : r->items()) {
            MapReader rm(item, {"prefix", "action"});
            const AclAction action = parse_action(rm.require("action"), true);
            for (const auto& p : rm.require("prefix").one_or_many()) {
                const util::IpPrefix pre = parse_prefix(p);
                for (const auto& other : e.acl)
                    if (other.prefix == pre)
                        p.fail("prefix " + pre.to_string() + " is already listed at line " +
                               std::to_string(other.pos.line));
                e.acl.push_back({pre, action, p.pos()});
            }
        }
    }
}

void parse_rrl(const Val& v, EdgeConfig& e) {
    RrlConfig& r = e.rrl;
    r.enabled = true;
    r.pos = v.pos();
    MapReader m(v, {"responses_per_second", "nodata_per_second", "nxdomains_per_second",
                    "errors_per_second", "window", "slip", "ipv4_prefix", "ipv6_prefix", "exempt",
                    "log_only", "table_size"});
    auto rate = [&](const char* key, std::uint32_t fallback) {
        if (auto x = m.get(key)) return static_cast<std::uint32_t>(x->integer(0, 1'000'000));
        return fallback;
    };
    r.responses_per_second = rate("responses_per_second", 0);
    // BIND: the other classes default to responses-per-second.
    r.nodata_per_second = rate("nodata_per_second", r.responses_per_second);
    r.nxdomains_per_second = rate("nxdomains_per_second", r.responses_per_second);
    r.errors_per_second = rate("errors_per_second", r.responses_per_second);
    if (r.responses_per_second + r.nodata_per_second + r.nxdomains_per_second +
            r.errors_per_second ==
        0)
        v.fail(
            "rrl needs a rate: responses_per_second (and optionally nodata_, nxdomains_, "
            "errors_per_second)");
    if (auto x = m.get("window")) r.window = static_cast<std::uint32_t>(x->integer(1, 3600));
    if (auto x = m.get("slip")) r.slip = static_cast<std::uint32_t>(x->integer(0, 10));
    if (auto x = m.get("ipv4_prefix")) r.ipv4_prefix = static_cast<std::uint8_t>(x->integer(0, 32));
    if (auto x = m.get("ipv6_prefix"))
        r.ipv6_prefix = static_cast<std::uint8_t>(x->integer(0, 128));
    if (auto x = m.get("exempt")) r.exempt = parse_prefixes(*x);
    if (auto x = m.get("log_only")) r.log_only = x->boolean();
    if (auto x = m.get("table_size"))
        r.table_size = static_cast<std::size_t>(x->integer(64, 1 << 24));
}

std::array<std::uint8_t, 16> parse_secret(const Val& v) {
    const std::string t = v.nonempty_str();
    std::array<std::uint8_t, 16> out{};
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (t.size() != 32) v.fail("a cookie secret is 32 hex digits (16 bytes)");
    for (std::size_t i = 0; i < 16; ++i) {
        const int hi = nib(t[2 * i]), lo = nib(t[2 * i + 1]);
        if (hi < 0 || lo < 0) v.fail("a cookie secret is 32 hex digits (16 bytes)");
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

void parse_cookies(const Val& v, EdgeConfig& e) {
    CookieConfig& c = e.cookies;
    c.pos = v.pos();
    if (v.is_scalar()) {
        c.enabled = v.boolean();
        return;
    }
    c.enabled = true;
    MapReader m(v, {"enabled", "enforce", "secret", "previous_secret"});
    if (auto x = m.get("enabled")) c.enabled = x->boolean();
    if (auto x = m.get("enforce")) c.enforce = x->boolean();
    if (auto x = m.get("secret")) c.secret = parse_secret(*x);
    if (auto x = m.get("previous_secret")) {
        if (!c.secret) x->fail("previous_secret needs secret (the current one)");
        c.previous_secret = parse_secret(*x);
    }
}

BlockAction parse_block_action(const Val& v) {
    const std::string a = v.nonempty_str();
    if (a == "drop") return BlockAction::Drop;
    if (a == "refuse" || a == "refused") return BlockAction::Refuse;
    if (a == "truncate") return BlockAction::Truncate;
    v.fail("unknown action '" + a + "': use drop, refuse or truncate");
}

// `dynamic_blocks:` thresholds are a rate, or {rate, action, duration} overriding the block's
// defaults (dnsdist's per-rule action and block time).
void parse_dynblocks(const Val& v, EdgeConfig& e) {
    DynBlockConfig& d = e.dynblocks;
    d.enabled = true;
    d.pos = v.pos();
    MapReader m(v, {"queries_per_second", "nxdomains_per_second", "any_per_second",
                    "response_bytes_per_second", "window", "duration", "action", "ipv4_prefix",
                    "ipv6_prefix", "exempt", "table_size"});
    if (auto x = m.get("window")) d.window = static_cast<std::uint32_t>(x->integer(1, 3600));
    std::uint32_t duration = 60;
    BlockAction action = BlockAction::Drop;
    if (auto x = m.get("duration")) duration = static_cast<std::uint32_t>(x->integer(1, 86400));
    if (auto x = m.get("action")) action = parse_block_action(*x);
    auto rule = [&](const char* key, DynBlockRule& r, std::int64_t max) {
        r.action = action;
        r.duration = duration;
        auto x = m.get(key);
        if (!x) return;
        r.pos = x->pos();
        if (x->is_scalar()) {
            r.rate = static_cast<std::uint32_t>(x->integer(1, max));
            return;
        }
        MapReader rm(*x, {"rate", "action", "duration"});
        r.rate = static_cast<std::uint32_t>(rm.require("rate").integer(1, max));
        if (auto a = rm.get("action")) r.action = parse_block_action(*a);
        if (auto t = rm.get("duration"))
            r.duration = static_cast<std::uint32_t>(t->integer(1, 86400));
    };
    // The window's counts are 32-bit: rate × window must stay below 2^32.
    const std::int64_t max = std::min<std::int64_t>(1'000'000'000, 4'000'000'000 / d.window);
    rule("queries_per_second", d.queries, max);
    rule("nxdomains_per_second", d.nxdomains, max);
    rule("any_per_second", d.any, max);
    rule("response_bytes_per_second", d.response_bytes, max);
    if (d.queries.rate + d.nxdomains.rate + d.any.rate + d.response_bytes.rate == 0)
        v.fail(
            "dynamic_blocks needs a threshold: queries_per_second, nxdomains_per_second, "
            "any_per_second or response_bytes_per_second");
    if (auto x = m.get("ipv4_prefix")) d.ipv4_prefix = static_cast<std::uint8_t>(x->integer(8, 32));
    if (auto x = m.get("ipv6_prefix"))
        d.ipv6_prefix = static_cast<std::uint8_t>(x->integer(16, 64));
    if (auto x = m.get("exempt")) d.exempt = parse_prefixes(*x);
    if (auto x = m.get("table_size"))
        d.table_size = static_cast<std::size_t>(x->integer(64, 1 << 22));
}

}  // namespace

void parse_edge(const MapReader& top, Config& cfg) {
    EdgeConfig& e = cfg.edge;
    if (auto x = top.get("acl"); x && !x->is_null()) parse_acl(*x, e);
    if (auto x = top.get("rrl"); x && !x->is_null()) parse_rrl(*x, e);
    if (auto x = top.get("cookies"); x && !x->is_null()) parse_cookies(*x, e);
    if (auto x = top.get("dynamic_blocks"); x && !x->is_null()) parse_dynblocks(*x, e);
    if (auto x = top.get("user")) {
        e.user = x->nonempty_str();
        e.user_pos = x->pos();
        if (::getpwnam(e.user.c_str()) == nullptr) x->fail("no such user '" + e.user + "'");
    }
    if (auto x = top.get("group")) {
        e.group = x->nonempty_str();
        if (::getgrnam(e.group.c_str()) == nullptr) x->fail("no such group '" + e.group + "'");
        if (e.user.empty()) x->fail("group needs user");
    }
}

}  // namespace gslbd::config::detail
