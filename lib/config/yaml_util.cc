#include "config/yaml_util.hh"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gslbd::config {

namespace {

bool valid_label_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// Small edit distance for "did you mean" hints on unknown keys.
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string normalize_name(const std::string& text, const SourcePos& pos,
                           const std::string& field) {
    auto bad = [&](const std::string& why) {
        throw ConfigError(pos, field, "'" + text + "' is not a valid domain name: " + why);
    };
    if (text.empty()) bad("empty");
    if (text == ".") return ".";
    std::string name = lower(text);
    if (name.back() != '.') name += '.';
    if (name.front() == '.') bad("empty label");
    // Wire length: one length byte per label plus the root byte equals the text length + 1.
    if (name.size() + 1 > 255) bad("longer than 255 bytes");
    std::size_t label = 0;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c == '.') {
            if (label == 0) bad("empty label");
            label = 0;
            continue;
        }
        if (!valid_label_char(c))
            bad(std::string("character '") + c + "' (use letters, digits, '-' and '_')");
        if (++label > 63) bad("label longer than 63 bytes");
    }
    return name;
}

namespace detail {

SourcePos pos_of(const std::string& file, const YAML::Mark& mark, const SourcePos& fallback) {
    if (mark.is_null() || mark.line < 0) {
        SourcePos p = fallback;
        if (p.file.empty()) p.file = file;
        return p;
    }
    return SourcePos{file, mark.line + 1, mark.column + 1};
}

YAML::Node load_yaml_file(const std::string& path, const SourcePos& blame,
                          const std::string& field) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(blame, field,
                          "cannot read '" + path + "': " + std::strerror(errno ? errno : ENOENT));
    }
    std::stringstream buf;
    buf << in.rdbuf();
    try {
        return YAML::Load(buf.str());
    } catch (const YAML::ParserException& e) {
        throw ConfigError(pos_of(path, e.mark, SourcePos{path, 0, 0}), "",
                          "YAML syntax error: " + e.msg);
    }
}

std::string join_key(const std::string& parent, std::string_view key) {
    bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    std::string k = plain ? std::string(key) : "\"" + std::string(key) + "\"";
    return parent.empty() ? k : parent + "." + k;
}

std::string join_index(const std::string& parent, std::size_t i) {
    return parent + "[" + std::to_string(i) + "]";
}

Val::Val(const std::string& file, YAML::Node node, std::string path, SourcePos fallback)
    : file_(&file), node_(std::move(node)), path_(std::move(path)) {
    // An empty value ("key:") is marked where the next token starts, often the next line:
    // blame the key instead.
    pos_ = (node_.IsDefined() && !node_.IsNull()) ? pos_of(file, node_.Mark(), fallback)
                                                  : pos_of(file, YAML::Mark::null_mark(), fallback);
}

void Val::fail(const std::string& problem) const {
    throw ConfigError(pos_, path_, problem);
}

std::string Val::str() const {
    if (is_null()) fail("missing value");
    if (!is_scalar())
        fail(is_map() ? "expected a string, got a mapping" : "expected a string, got a list");
    return node_.Scalar();
}

std::string Val::nonempty_str() const {
    std::string s = str();
    if (s.empty()) fail("must not be empty");
    return s;
}

long long Val::integer(long long lo, long long hi) const {
    std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    if (is_null() || !is_scalar()) fail("expected an integer in " + range);
    const std::string& s = node_.Scalar();
    std::string_view t = s;
    if (!t.empty() && t.front() == '+') t.remove_prefix(1);
    long long v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || end != t.data() + t.size() ||
        (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
        fail("expected an integer in " + range + ", got '" + s + "'");
    }
    if (ec == std::errc::result_out_of_range || v < lo || v > hi)
        fail(s + " is out of range " + range);
    return v;
}

bool Val::boolean() const {
    if (!is_null() && is_scalar()) {
        std::string s = lower(node_.Scalar());
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
    }
    fail("expected a boolean (true or false)" +
         (is_scalar() ? ", got '" + node_.Scalar() + "'" : std::string()));
}

Millis Val::duration(Millis min) const {
    auto bad = [&] {
        fail("bad duration" + (is_scalar() ? " '" + node_.Scalar() + "'" : std::string()) +
             ": use 500ms, 10s, 1m, 1h (or combinations like 1m30s) or an integer number of "
             "seconds");
    };
    if (is_null() || !is_scalar()) bad();
    std::string s = lower(node_.Scalar());
    if (s.empty()) bad();
    double total = 0;
    if (std::all_of(s.begin(), s.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        long long secs = integer(0, 100'000'000);
        total = static_cast<double>(secs) * 1000.0;
    } else {
        std::size_t i = 0;
        while (i < s.size()) {
            std::size_t start = i;
            while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
                ++i;
            if (i == start) bad();
            double num = 0;
            auto [end, ec] = std::from_chars(s.data() + start, s.data() + i, num);
            if (ec != std::errc{} || end != s.data() + i) bad();
            std::size_t ustart = i;
            while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
            std::string_view unit(s.data() + ustart, i - ustart);
            double scale = 0;
            if (unit == "ms")
                scale = 1;
            else if (unit == "s")
                scale = 1000;
            else if (unit == "m")
                scale = 60'000;
            else if (unit == "h")
                scale = 3'600'000;
            else
                bad();
            total += num * scale;
        }
    }
    if (total > 1e11) fail("duration '" + node_.Scalar() + "' is too long");
    Millis ms{static_cast<long long>(std::llround(total))};
    if (ms < min) {
        fail("duration '" + node_.Scalar() + "' is too short: the minimum is " +
             std::to_string(min.count()) + "ms");
    }
    return ms;
}

std::vector<Val> Val::items() const {
    std::vector<Val> out;
    if (is_null()) return out;
    if (!is_seq()) fail("expected a list");
    for (std::size_t i = 0; i < node_.size(); ++i)
        out.emplace_back(*file_, node_[i], join_index(path_, i), pos_);
    return out;
}

std::vector<Val> Val::one_or_many() const {
    if (is_null()) return {};
    if (is_scalar()) return {*this};
    if (!is_seq()) fail("expected a string or a list of strings");
    return items();
}

std::vector<KeyVal> Val::entries() const {
    std::vector<KeyVal> out;
    if (is_null()) return out;
    if (!is_map())
        fail(is_seq() ? "expected a mapping (key: value), got a list"
                      : "expected a mapping (key: value)");
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        SourcePos kpos = pos_of(*file_, it->first.Mark(), pos_);
        if (!it->first.IsScalar()) throw ConfigError(kpos, path_, "keys must be plain strings");
        std::string key = it->first.Scalar();
        for (const auto& e : out) {
            if (e.key == key) {
                throw ConfigError(
                    kpos, join_key(path_, key),
                    "duplicate key (first at line " + std::to_string(e.key_pos.line) + ")");
            }
        }
        out.push_back(KeyVal{key, kpos, Val(*file_, it->second, join_key(path_, key), kpos)});
    }
    return out;
}

MapReader::MapReader(const Val& v, std::initializer_list<std::string_view> known,
                     std::initializer_list<std::string_view> ignored)
    : self_(v) {
    if (!v.is_null() && !v.is_map())
        v.fail(v.is_seq() ? "expected a mapping (key: value), got a list"
                          : "expected a mapping (key: value), got '" + v.node().Scalar() + "'");
    for (auto& e : v.entries()) {
        if (std::find(ignored.begin(), ignored.end(), e.key) != ignored.end()) continue;
        if (std::find(known.begin(), known.end(), e.key) == known.end()) {
            std::string hint;
            std::size_t best = 3;
            for (auto k : known) {
                std::size_t d = distance(e.key, k);
                if (d < best) {
                    best = d;
                    hint = " (did you mean '" + std::string(k) + "'?)";
                }
            }
            throw ConfigError(e.key_pos, join_key(v.path(), e.key),
                              "unknown key '" + e.key + "'" + hint);
        }
        entries_.push_back(e);
    }
}

std::optional<Val> MapReader::get(std::string_view key) const {
    for (const auto& e : entries_)
        if (e.key == key) return e.value;
    return std::nullopt;
}

Val MapReader::require(std::string_view key) const {
    auto v = get(key);
    if (!v || v->is_null()) {
        throw ConfigError(v ? v->pos() : self_.pos(), join_key(self_.path(), key),
                          "required key is missing");
    }
    return *v;
}

std::uint16_t parse_rcode(const Val& v) {
    static const std::pair<const char*, std::uint16_t> kNames[] = {
        {"NOERROR", 0}, {"FORMERR", 1}, {"SERVFAIL", 2}, {"NXDOMAIN", 3},
        {"NOTIMP", 4},  {"REFUSED", 5}, {"YXDOMAIN", 6}, {"YXRRSET", 7},
        {"NXRRSET", 8}, {"NOTAUTH", 9}, {"NOTZONE", 10},
    };
    std::string s = upper(v.nonempty_str());
    if (std::isdigit(static_cast<unsigned char>(s[0])))
        return static_cast<std::uint16_t>(v.integer(0, 15));
    for (const auto& [name, code] : kNames)
        if (s == name) return code;
    v.fail("unknown rcode '" + v.node().Scalar() +
           "': use NOERROR, SERVFAIL, NXDOMAIN, REFUSED, ... or a number 0..15");
}

std::uint16_t parse_qtype(const Val& v) {
    static const std::pair<const char*, std::uint16_t> kNames[] = {
        {"A", 1},      {"NS", 2},    {"CNAME", 5}, {"SOA", 6},  {"PTR", 12},
        {"MX", 15},    {"TXT", 16},  {"AAAA", 28}, {"SRV", 33}, {"SVCB", 64},
        {"HTTPS", 65}, {"ANY", 255}, {"CAA", 257},
    };
    std::string s = upper(v.nonempty_str());
    if (std::isdigit(static_cast<unsigned char>(s[0])))
        return static_cast<std::uint16_t>(v.integer(1, 65535));
    for (const auto& [name, code] : kNames)
        if (s == name) return code;
    if (s.rfind("TYPE", 0) == 0 && s.size() > 4) {
        unsigned n = 0;
        auto [end, ec] = std::from_chars(s.data() + 4, s.data() + s.size(), n);
        if (ec == std::errc{} && end == s.data() + s.size() && n >= 1 && n <= 65535)
            return static_cast<std::uint16_t>(n);
    }
    v.fail("unknown query type '" + v.node().Scalar() +
           "': use A, AAAA, NS, SOA, TXT, ..., TYPEnnn or a number 1..65535");
}

util::IpAddr parse_ip(const Val& v) {
    std::string s = v.nonempty_str();
    auto a = util::IpAddr::parse(s);
    if (!a) v.fail("'" + s + "' is not an IPv4 or IPv6 address");
    return *a;
}

bool in_zone(std::string_view name, std::string_view zone) noexcept {
    if (zone == ".") return true;
    if (name.size() < zone.size()) return false;
    if (name.substr(name.size() - zone.size()) != zone) return false;
    return name.size() == zone.size() || name[name.size() - zone.size() - 1] == '.';
}

}  // namespace detail
}  // namespace gslbd::config
