// The Corefile is read as Caddy's format: server blocks "KEYS { ... }", one directive per
// line, words separated by blanks, "quoted words", '#' comments, nested blocks in braces.
// Zone files (RFC 1035 master format) are read only for their SOA, NS and glue.
#include "ctl/corefile.hh"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace gslbd::ctl::corefile {

namespace {

namespace fs = std::filesystem;

struct Directive {
    std::vector<std::string> words;
    std::vector<Directive> block;  ///< a "{ ... }" after the words
    int line = 0;
};

struct Lexer {
    std::string text;
    std::string file;
    std::size_t pos = 0;
    int line = 1;

    // Next token: a word, "{", "}" or "\n" (end of a directive); "" at the end.
    std::string next() {
        for (;;) {
            if (pos >= text.size()) return "";
            const char c = text[pos];
            if (c == '#') {
                while (pos < text.size() && text[pos] != '\n') ++pos;
                continue;
            }
            if (c == '\n') {
                ++pos;
                ++line;
                return "\n";
            }
            if (std::isspace(static_cast<unsigned char>(c))) {
                ++pos;
                continue;
            }
            break;
        }
        const char c = text[pos];
        if (c == '{' || c == '}') {
            ++pos;
            return std::string(1, c);
        }
        std::string w;
        if (c == '"' || c == '`') {
            const char q = c;
            ++pos;
            while (pos < text.size() && text[pos] != q) {
                if (text[pos] == '\\' && q == '"' && pos + 1 < text.size()) ++pos;
                if (text[pos] == '\n') ++line;
                w += text[pos++];
            }
            if (pos >= text.size())
                throw std::runtime_error(file + ":" + std::to_string(line) + ": unclosed quote");
            ++pos;
            return w.empty() ? std::string("\x01") : w;  // an empty quoted word stays a word
        }
        while (pos < text.size() && !std::isspace(static_cast<unsigned char>(text[pos])) &&
               text[pos] != '{' && text[pos] != '}' && text[pos] != '#')
            w += text[pos++];
        return w;
    }

    std::vector<Directive> block(bool nested) {
        std::vector<Directive> out;
        Directive cur;
        for (;;) {
            std::string t = next();
            if (t.empty()) {
                if (nested)
                    throw std::runtime_error(file + ":" + std::to_string(line) + ": missing '}'");
                if (!cur.words.empty()) out.push_back(std::move(cur));
                return out;
            }
            if (t == "\n") {
                if (!cur.words.empty()) out.push_back(std::move(cur));
                cur = Directive{};
                continue;
            }
            if (t == "{") {
                cur.block = block(true);
                if (cur.line == 0) cur.line = line;
                out.push_back(std::move(cur));
                cur = Directive{};
                continue;
            }
            if (t == "}") {
                if (!nested)
                    throw std::runtime_error(file + ":" + std::to_string(line) +
                                             ": unexpected '}'");
                if (!cur.words.empty()) out.push_back(std::move(cur));
                return out;
            }
            if (cur.words.empty()) cur.line = line;
            cur.words.push_back(t == "\x01" ? std::string() : t);
        }
    }
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string absname(std::string s) {
    s = lower(s);
    if (s.empty() || s.back() != '.') s += '.';
    return s;
}

// A YAML double-quoted scalar.
std::string q(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// Go durations ("120s", "1h30m", "500ms") are gslbd durations too; a bare number is seconds
// in gslbd but invalid in Go, so it is passed as is.
std::string duration(const std::string& s) {
    return s;
}

struct ZoneData {
    std::string origin;
    std::optional<std::vector<std::string>>
        soa;  ///< mname rname serial refresh retry expire minimum
    std::uint32_t soa_ttl = 3600;
    std::vector<std::string> ns;
    std::uint32_t ns_ttl = 3600;
    std::map<std::string, std::vector<std::string>> addrs;  ///< owner -> A/AAAA
};

bool is_number(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
    });
}

// TTLs in master files may carry units (1h, 30m, 1d).
std::optional<std::uint32_t> ttl_value(const std::string& s) {
    if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return std::nullopt;
    std::uint64_t total = 0, cur = 0;
    for (char c : s) {
        if (std::isdigit(static_cast<unsigned char>(c))) {
            cur = cur * 10 + static_cast<unsigned>(c - '0');
            continue;
        }
        const char u = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const std::uint64_t mul = u == 's'   ? 1
                                  : u == 'm' ? 60
                                  : u == 'h' ? 3600
                                  : u == 'd' ? 86400
                                  : u == 'w' ? 604800
                                             : 0;
        if (mul == 0) return std::nullopt;
        total += cur * mul;
        cur = 0;
    }
    return static_cast<std::uint32_t>(total + cur);
}

// RFC 1035 master file: only what a gslbd zone needs (SOA, NS, A/AAAA of the NS names).
ZoneData read_zone_file(const std::string& path, const std::string& default_origin) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read zone file " + path);
    ZoneData z;
    z.origin = default_origin;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Logical lines: parentheses join lines; ';' starts a comment outside quotes.
    std::vector<std::pair<bool, std::vector<std::string>>> lines;  // (starts with blank, words)
    {
        std::vector<std::string> words;
        bool blank_start = false, at_line_start = true;
        int depth = 0;
        std::string w;
        bool quoted = false;
        auto flush_word = [&] {
            if (!w.empty()) words.push_back(w);
            w.clear();
        };
        for (std::size_t i = 0; i <= text.size(); ++i) {
            const char c = i < text.size() ? text[i] : '\n';
            if (quoted) {
                if (c == '"')
                    quoted = false;
                else
                    w += c;
                continue;
            }
            if (at_line_start) {
                blank_start = c == ' ' || c == '\t';
                at_line_start = false;
            }
            if (c == '"') {
                quoted = true;
            } else if (c == ';') {
                while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
            } else if (c == '(') {
                flush_word();
                ++depth;
            } else if (c == ')') {
                flush_word();
                --depth;
            } else if (c == '\n') {
                flush_word();
                if (depth <= 0) {
                    if (!words.empty()) lines.emplace_back(blank_start, words);
                    words.clear();
                    at_line_start = true;
                }
            } else if (std::isspace(static_cast<unsigned char>(c))) {
                flush_word();
            } else {
                w += c;
            }
        }
    }
    std::uint32_t default_ttl = 3600;
    std::string last_owner = z.origin;
    auto fq = [&](const std::string& n) {
        if (n == "@") return z.origin;
        if (!n.empty() && n.back() == '.') return lower(n);
        return lower(n) + "." + (z.origin == "." ? "" : z.origin);
    };
    for (auto& [blank, w] : lines) {
        if (w[0] == "$ORIGIN" && w.size() > 1) {
            z.origin = absname(w[1]);
            continue;
        }
        if (w[0] == "$TTL" && w.size() > 1) {
            if (auto t = ttl_value(w[1])) default_ttl = *t;
            continue;
        }
        if (w[0][0] == '$') continue;
        std::size_t i = 0;
        std::string owner = last_owner;
        if (!blank) owner = fq(w[i++]);
        last_owner = owner;
        std::uint32_t ttl = default_ttl;
        // [TTL] [CLASS] or [CLASS] [TTL]
        for (int k = 0; k < 2 && i < w.size(); ++k) {
            if (auto t = ttl_value(w[i]); t && is_number(std::string(1, w[i][0]))) {
                ttl = *t;
                ++i;
            } else if (lower(w[i]) == "in" || lower(w[i]) == "ch") {
                ++i;
            }
        }
        if (i >= w.size()) continue;
        const std::string type = lower(w[i++]);
        std::vector<std::string> rd(w.begin() + static_cast<std::ptrdiff_t>(i), w.end());
        if (type == "soa" && rd.size() >= 7) {
            if (z.soa) continue;
            z.origin = owner;
            rd[0] = fq(rd[0]);
            rd[1] = fq(rd[1]);
            z.soa = rd;
            z.soa_ttl = ttl;
        } else if (type == "ns" && rd.size() == 1 && owner == z.origin) {
            z.ns.push_back(fq(rd[0]));
            z.ns_ttl = ttl;
        } else if ((type == "a" || type == "aaaa") && rd.size() == 1) {
            z.addrs[owner].push_back(rd[0]);
        }
    }
    return z;
}

std::string listen_of(const std::vector<std::string>& keys) {
    // ".:1053", "example.org:53", "dns://.:53" -> the port
    for (const auto& k : keys) {
        std::string s = k;
        if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
        if (auto p = s.rfind(':'); p != std::string::npos) return s.substr(p + 1);
    }
    return "53";
}

}  // namespace

Import import_corefile(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    Lexer lex;
    lex.file = path;
    lex.text.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<Directive> top = lex.block(false);
    const fs::path dir = fs::path(path).parent_path();
    // Absolute: gslbd resolves relative paths against its main file, which may live elsewhere.
    auto rel = [&](const std::string& p) {
        return fs::path(p).is_absolute() ? p : fs::absolute(dir / p).lexically_normal().string();
    };

    Import out;
    auto skip = [&](const std::string& what) { out.not_carried.push_back(what); };
    const Directive* server = nullptr;
    const Directive* gslb = nullptr;
    for (const auto& sb : top) {
        if (sb.block.empty() && !sb.words.empty() && sb.words[0].rfind("import", 0) == 0)
            skip("line " + std::to_string(sb.line) + ": '" + sb.words[0] +
                 "' (Corefile snippets/imports are not followed)");
        for (const auto& d : sb.block)
            if (!d.words.empty() && d.words[0] == "gslb") {
                if (gslb != nullptr) {
                    skip("line " + std::to_string(d.line) +
                         ": a second gslb block (only the first is imported)");
                    continue;
                }
                gslb = &d;
                server = &sb;
            }
    }
    if (gslb == nullptr) throw std::runtime_error(path + ": no gslb block in any server block");

    // The server block's other plugins, and its `file` plugins (zone data).
    std::vector<std::pair<std::string, std::vector<std::string>>> files;  // (path, zones)
    std::vector<std::string> binds;  // the `bind` plugin's addresses
    for (const auto& d : server->block) {
        if (d.words.empty() || &d == gslb) continue;
        if (d.words[0] == "bind") {
            binds.insert(binds.end(), d.words.begin() + 1, d.words.end());
            continue;
        }
        if (d.words[0] == "file" && d.words.size() >= 2) {
            files.emplace_back(rel(d.words[1]),
                               std::vector<std::string>(d.words.begin() + 2, d.words.end()));
            continue;
        }
        skip("line " + std::to_string(d.line) + ": plugin '" + d.words[0] +
             "' (gslbd answers only its own zones; it has no CoreDNS plugin chain)");
    }
    std::vector<ZoneData> zone_data;
    for (const auto& [f, zones] : files) {
        std::string origin = zones.empty() ? "" : absname(zones.front());
        if (origin.empty())
            for (const auto& k : server->words)
                if (k.find('.') != std::string::npos && k != "." && k.rfind(".:", 0) != 0)
                    origin = absname(k.substr(0, k.find(':')));
        try {
            zone_data.push_back(read_zone_file(f, origin.empty() ? "." : origin));
        } catch (const std::exception& e) {
            skip(std::string("file plugin: ") + e.what() + " (SOA/NS of its zone not imported)");
        }
    }

    // gslb settings, CoreDNS-GSLB's defaults first.
    std::vector<std::pair<std::string, std::string>> zones;  // (name, policy file)
    std::string country, city, asn, custom, profiles, listen_addr = "0.0.0.0", listen_port = "8080",
                                                      cert, key;
    std::string idle_timeout = "3600s", idle_multiplier = "10";
    bool ecs = false, txt = true, api = true;
    // The older syntax: gslb DB_YAML_FILE [ZONES...] { ... }
    if (gslb->words.size() >= 2) {
        std::vector<std::string> names(gslb->words.begin() + 2, gslb->words.end());
        if (names.empty())
            for (const auto& k : server->words) names.push_back(k.substr(0, k.rfind(':')));
        for (const auto& n : names) zones.emplace_back(absname(n), gslb->words[1]);
    }
    auto arg = [&](const Directive& d, std::size_t i) -> std::string {
        if (d.words.size() <= i)
            throw std::runtime_error(path + ":" + std::to_string(d.line) + ": " + d.words[0] +
                                     " needs a value");
        return d.words[i];
    };
    auto maxmind = [&](const std::string& type, const std::string& p, int line) {
        const std::string t = type.size() > 3 && type.compare(type.size() - 3, 3, "_db") == 0
                                  ? type.substr(0, type.size() - 3)
                                  : type;
        if (t == "country")
            country = p;
        else if (t == "city")
            city = p;
        else if (t == "asn")
            asn = p;
        else
            skip("line " + std::to_string(line) + ": geoip_maxmind type '" + type + "' (unknown)");
    };
    for (const auto& d : gslb->block) {
        const std::string& k = d.words[0];
        const std::string at = "line " + std::to_string(d.line) + ": ";
        if (k == "zone") {
            zones.emplace_back(absname(arg(d, 1)), arg(d, 2));
        } else if (k == "geoip_maxmind") {
            if (!d.block.empty()) {
                for (const auto& b : d.block)
                    if (b.words.size() >= 2) maxmind(b.words[0], b.words[1], b.line);
            } else {
                maxmind(arg(d, 1), arg(d, 2), d.line);
            }
        } else if (k == "geoip_custom_db" || k == "geoip_custom" || k == "location_db") {
            custom = arg(d, 1);
        } else if (k == "use_edns_csubnet") {
            ecs = true;
        } else if (k == "disable_txt") {
            txt = false;
        } else if (k == "resolution_idle_timeout") {
            idle_timeout = arg(d, 1);
        } else if (k == "healthcheck_idle_multiplier") {
            idle_multiplier = arg(d, 1);
        } else if (k == "healthcheck_profiles") {
            profiles = arg(d, 1);
        } else if (k == "api_enable") {
            api = !(arg(d, 1) == "false" || arg(d, 1) == "0");
        } else if (k == "api_listen_addr") {
            listen_addr = arg(d, 1);
        } else if (k == "api_listen_port") {
            listen_port = arg(d, 1);
        } else if (k == "api_tls_cert") {
            cert = arg(d, 1);
        } else if (k == "api_tls_key") {
            key = arg(d, 1);
        } else if (k == "api_basic_user" || k == "api_basic_pass") {
            skip(at + k +
                 " (gslbd's API takes a bearer token: set api.token_file; see docs/api.md)");
        } else if (k == "max_stagger_start") {
            skip(at + "max_stagger_start " + (d.words.size() > 1 ? d.words[1] : "") +
                 " (gslbd spreads the first probes over one scrape_interval)");
        } else if (k == "batch_size_start") {
            skip(at + "batch_size_start " + (d.words.size() > 1 ? d.words[1] : "") +
                 " (gslbd bounds probes in flight instead: health.max_in_flight is built in)");
        } else {
            skip(at + "gslb option '" + k + "' (unknown to gslbd)");
        }
    }
    if (zones.empty()) throw std::runtime_error(path + ": the gslb block names no zone");

    std::ostringstream y;
    y << "# gslbd main configuration written by `gslbctl import-corefile " << path << "`\n";
    const std::string port = listen_of(server->words);
    y << "listen:\n";
    if (binds.empty()) y << "  - 0.0.0.0:" << port << "   # CoreDNS listens on every address\n";
    for (const auto& b : binds)
        y << "  - " << q(b.find(':') != std::string::npos ? "[" + b + "]:" + port : b + ":" + port)
          << "\n";
    y << "ecs:\n  enabled: " << (ecs ? "true" : "false") << "   # use_edns_csubnet\n";
    y << "debug_txt: " << (txt ? "true" : "false")
      << "   # CoreDNS-GSLB answers TXT unless disable_txt\n";
    if (!country.empty() || !city.empty() || !asn.empty() || !custom.empty()) {
        y << "geoip:\n";
        if (!country.empty()) y << "  country_db: " << q(rel(country)) << "\n";
        if (!city.empty()) y << "  city_db: " << q(rel(city)) << "\n";
        if (!asn.empty()) y << "  asn_db: " << q(rel(asn)) << "\n";
        if (!custom.empty()) y << "  location_map: " << q(rel(custom)) << "\n";
    }
    y << "health:\n  resolution_idle_timeout: " << duration(idle_timeout)
      << "\n  healthcheck_idle_multiplier: " << idle_multiplier << "\n";
    if (!profiles.empty()) y << "healthcheck_profiles: " << q(rel(profiles)) << "\n";
    y << "api:\n";
    if (!api) {
        y << "  listen: \"off\"\n";
    } else {
        const bool v6 = listen_addr.find(':') != std::string::npos;
        y << "  listen: " << q((v6 ? "[" + listen_addr + "]" : listen_addr) + ":" + listen_port)
          << "\n";
        if (!cert.empty()) y << "  tls_cert: " << q(rel(cert)) << "\n";
        if (!key.empty()) y << "  tls_key: " << q(rel(key)) << "\n";
    }
    y << "zones:\n";
    for (const auto& [name, file] : zones) {
        y << "  - name: " << name << "\n    policy: " << q(rel(file)) << "\n";
        const ZoneData* zd = nullptr;
        for (const auto& z : zone_data)
            if (z.origin == name && z.soa) zd = &z;
        if (zd == nullptr) {
            skip("zone " + name +
                 ": no SOA/NS found in a file plugin of the server block; wrote ns1." + name +
                 " (edit the zone's ns and soa)");
            y << "    ns:\n      - name: ns1." << name << "\n";
            continue;
        }
        const auto& s = *zd->soa;
        y << "    soa:\n      mname: " << s[0] << "\n      rname: " << s[1]
          << "\n      serial: " << s[2] << "\n      refresh: " << ttl_value(s[3]).value_or(3600)
          << "\n      retry: " << ttl_value(s[4]).value_or(600)
          << "\n      expire: " << ttl_value(s[5]).value_or(604800)
          << "\n      minimum: " << ttl_value(s[6]).value_or(60) << "\n      ttl: " << zd->soa_ttl
          << "\n";
        y << "    ns_ttl: " << zd->ns_ttl << "\n    ns:\n";
        if (zd->ns.empty()) y << "      - name: " << s[0] << "\n";
        for (const auto& n : zd->ns) {
            y << "      - name: " << n << "\n";
            const bool inside = n.size() >= name.size() &&
                                n.compare(n.size() - name.size(), name.size(), name) == 0;
            auto it = zd->addrs.find(n);
            if (inside && it != zd->addrs.end()) {
                y << "        addresses: [";
                for (std::size_t i = 0; i < it->second.size(); ++i)
                    y << (i ? ", " : "") << q(it->second[i]);
                y << "]\n";
            }
        }
        // Other records of the zone file are CoreDNS's `file` plugin's; gslbd serves only the
        // GSLB records, the SOA and the NS.
        std::size_t others = 0;
        for (const auto& [owner, a] : zd->addrs)
            if (std::find(zd->ns.begin(), zd->ns.end(), owner) == zd->ns.end()) others += a.size();
        if (others > 0)
            skip("zone " + name + ": " + std::to_string(others) +
                 " A/AAAA record(s) of the file plugin's zone data besides the NS glue (gslbd "
                 "serves the GSLB records, SOA and NS only; add them as records of the policy "
                 "file)");
    }
    out.config = y.str();
    return out;
}

}  // namespace gslbd::ctl::corefile
