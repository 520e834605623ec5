// Secondary zones: `tsig_keys:` and a zone's `primaries:` (docs/zones.md). The transfers
// themselves are lib/xfr's; this file only checks what the operator wrote.
#include <string>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

namespace {

// RFC 4648 base64 with padding; true when `text` decodes (and to at least one byte).
bool valid_base64(std::string_view text) {
    std::size_t n = 0, pad = 0;
    for (char c : text) {
        if (c == '=') {
            ++pad;
        } else if (pad != 0) {
            return false;  // data after padding
        } else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
            return false;
        }
        ++n;
    }
    return n != 0 && n % 4 == 0 && pad <= 2 && n - pad > 1;
}

}  // namespace

void parse_tsig_keys(const Val& v, Config& cfg) {
    for (const auto& item : v.items()) {
        MapReader m(item, {"name", "id", "algorithm", "secret"});
        TsigKey k;
        k.pos = item.pos();
        // Knot calls it `id`, BIND a name: either spelling, once.
        auto nv = m.get("name");
        if (auto id = m.get("id")) {
            if (nv) id->fail("give the key's 'name' or 'id', not both");
            nv = id;
        }
        if (!nv) item.fail("a TSIG key needs a 'name'");
        k.name = normalize_name(nv->nonempty_str(), nv->pos(), nv->path());
        Val alg = m.require("algorithm");
        k.algorithm = alg.nonempty_str();
        for (auto& c : k.algorithm)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (k.algorithm.ends_with(".")) k.algorithm.pop_back();
        if (k.algorithm != "hmac-sha256")
            alg.fail("algorithm '" + alg.nonempty_str() + "' is not supported: use hmac-sha256");
        Val sec = m.require("secret");
        k.secret = sec.nonempty_str();
        if (!valid_base64(k.secret)) sec.fail("the secret is not base64 (RFC 4648, padded)");
        for (const auto& other : cfg.tsig_keys)
            if (other.name == k.name)
                nv->fail("TSIG key '" + k.name + "' is already defined at line " +
                         std::to_string(other.pos.line));
        cfg.tsig_keys.push_back(std::move(k));
    }
}

void parse_primaries(const Val& v, const Config& cfg, Zone& z) {
    auto items = v.items();
    if (items.empty()) v.fail("at least one primary is required");
    for (const auto& item : items) {
        Primary p;
        p.pos = item.pos();
        Val addr = item;
        std::optional<Val> key;
        if (!item.is_scalar()) {
            MapReader m(item, {"address", "key"});
            addr = m.require("address");
            key = m.get("key");
        }
        const std::string text = addr.nonempty_str();
        auto sa = util::SockAddrText::parse(text, 53);
        if (!sa)
            addr.fail("bad primary address '" + text +
                      "': expected ADDRESS, ADDRESS:PORT or [IPv6]:PORT (port 1..65535)");
        p.addr = sa->addr;
        p.port = sa->port;
        p.text = sa->to_string();
        if (key && !key->is_null()) {
            p.key = normalize_name(key->nonempty_str(), key->pos(), key->path());
            bool known = false;
            for (const auto& k : cfg.tsig_keys) known = known || k.name == p.key;
            if (!known) key->fail("no TSIG key named '" + p.key + "' in 'tsig_keys'");
        }
        for (const auto& o : z.primaries)
            if (o.addr == p.addr && o.port == p.port) item.fail("primary " + p.text + " repeated");
        z.primaries.push_back(std::move(p));
    }
}

}  // namespace gslbd::config::detail
