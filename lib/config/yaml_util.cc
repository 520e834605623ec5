#include "config/yaml_util.hh"

#include <unordered_map>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

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

std::string read_text_file(const std::string& path, const SourcePos& blame,
                           const std::string& field) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(blame, field,
                          "cannot read '" + path + "': " + std::strerror(errno ? errno : ENOENT));
    }
    // Sized from the file up front and read in one call: grown by doubling, a 20 MB zone file
    // (100,000 records) became a 32 MB string after a 16 MB one, 48 MB at once (what made a
    // reload's RSS peak at that size). A file that is not seekable, or grew meanwhile, is read
    // on to its end.
    std::string text;
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size > 0) {
        text.resize(static_cast<std::size_t>(size));
        in.seekg(0, std::ios::beg);
        in.read(text.data(), size);
        text.resize(static_cast<std::size_t>(in.gcount()));
    }
    in.clear();  // a short read (the file shrank meanwhile) or a pipe's failed seek
    if (size <= 0) {
        in.seekg(0, std::ios::beg);
        in.clear();
    }
    text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return text;
}

yaml::Document parse_yaml_text(std::string_view text, const std::string& path,
                               std::uint32_t line_base) {
    try {
        return yaml::Document::parse(text, line_base);
    } catch (const yaml::SyntaxError& e) {
        throw ConfigError(
            SourcePos{path, static_cast<int>(e.line()) + 1, static_cast<int>(e.column()) + 1}, "",
            std::string("YAML syntax error: ") + e.what());
    }
}

yaml::Document load_yaml_file(const std::string& path, const SourcePos& blame,
                              const std::string& field) {
    const std::string text = read_text_file(path, blame, field);
    return parse_yaml_text(text, path);
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

std::string Val::path() const {
    // Segments from this node up to the root, then joined root first.
    std::vector<std::uint32_t> chain;
    for (std::uint32_t i = idx_; doc_->node(i).parent != yaml::kNone; i = doc_->node(i).parent)
        chain.push_back(i);
    std::string p;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const yaml::Node& n = doc_->node(*it);
        if (n.is_key) {
            p = join_key(p, doc_->scalar(*it));
        } else if (doc_->node(n.parent).kind == yaml::Kind::Seq) {
            p = join_index(p, n.slot);
        } else {
            p = join_key(p, doc_->scalar(n.slot));
        }
    }
    return p;
}

SourcePos Val::pos_of(std::uint32_t i) const {
    // An empty value ("key:") is marked where the next token starts, often the next line:
    // blame the key instead (or the list that holds it, or the start of the file).
    for (;;) {
        const yaml::Node& n = doc_->node(i);
        if (n.kind != yaml::Kind::Null)
            return SourcePos{*file_, static_cast<int>(n.line) + 1, static_cast<int>(n.column) + 1};
        if (n.parent == yaml::kNone) return SourcePos{*file_, 1, 1};
        i = doc_->node(n.parent).kind == yaml::Kind::Map && !n.is_key ? n.slot : n.parent;
    }
}

SourcePos Val::pos() const {
    return pos_of(idx_);
}

void Val::fail(const std::string& problem) const {
    throw ConfigError(pos(), path(), problem);
}

std::string Val::str() const {
    if (is_null()) fail("missing value");
    if (!is_scalar())
        fail(is_map() ? "expected a string, got a mapping" : "expected a string, got a list");
    return std::string(text());
}

std::string Val::nonempty_str() const {
    std::string s = str();
    if (s.empty()) fail("must not be empty");
    return s;
}

long long Val::integer(long long lo, long long hi) const {
    std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    if (is_null() || !is_scalar()) fail("expected an integer in " + range);
    const std::string& s = std::string(text());
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
        std::string s = lower(std::string(text()));
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
    }
    fail("expected a boolean (true or false)" +
         (is_scalar() ? ", got '" + std::string(text()) + "'" : std::string()));
}

Millis Val::duration(Millis min) const {
    auto bad = [&] {
        fail("bad duration" + (is_scalar() ? " '" + std::string(text()) + "'" : std::string()) +
             ": use 500ms, 10s, 1m, 1h (or combinations like 1m30s) or an integer number of "
             "seconds");
    };
    if (is_null() || !is_scalar()) bad();
    std::string s = lower(std::string(text()));
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
    if (total > 1e11) fail("duration '" + std::string(text()) + "' is too long");
    Millis ms{static_cast<long long>(std::llround(total))};
    if (ms < min) {
        fail("duration '" + std::string(text()) + "' is too short: the minimum is " +
             std::to_string(min.count()) + "ms");
    }
    return ms;
}

std::vector<Val> Val::items() const {
    std::vector<Val> out;
    if (is_null()) return out;
    if (!is_seq()) fail("expected a list");
    const auto kids = doc_->kids(idx_);
    out.reserve(kids.size());
    for (std::uint32_t k : kids) out.emplace_back(*file_, *doc_, k);
    return out;
}

std::uint64_t Val::content_hash(std::uint64_t seed) const {
    // FNV-1a over a pre-order walk; every node adds its kind and size, so that structure
    // differences ("a: [b]" against "a: b") change the hash too.
    std::uint64_t h = seed ^ 14695981039346656037ull;
    auto add = [&h](std::string_view bytes) {
        for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    };
    std::vector<std::uint32_t> stack{idx_};
    while (!stack.empty()) {
        const std::uint32_t i = stack.back();
        stack.pop_back();
        const yaml::Node& n = doc_->node(i);
        const char head[2] = {static_cast<char>(n.kind), static_cast<char>(n.size & 0xFF)};
        add({head, 2});
        add(doc_->scalar(i));
        const auto kids = doc_->kids(i);
        for (std::size_t k = kids.size(); k-- > 0;) stack.push_back(kids[k]);
    }
    return h;
}

std::uint64_t Val::layout_hash() const {
    std::uint64_t h = 14695981039346656037ull;
    std::vector<std::uint32_t> stack{idx_};
    while (!stack.empty()) {
        const std::uint32_t i = stack.back();
        stack.pop_back();
        const yaml::Node& n = doc_->node(i);
        for (std::uint32_t x : {n.line, n.column}) h = (h ^ x) * 1099511628211ull;
        const auto kids = doc_->kids(i);
        for (std::size_t k = kids.size(); k-- > 0;) stack.push_back(kids[k]);
    }
    return h;
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
    // Duplicates are found with a hash set once the map is large (a zone's `records:` has
    // one key per record: comparing each key with every earlier one made loading quadratic).
    // The views point into the document's text, which outlives this call.
    constexpr std::size_t kLinearScan = 16;
    std::unordered_map<std::string_view, std::size_t> seen;
    const auto kids = doc_->kids(idx_);
    out.reserve(kids.size() / 2);
    for (std::size_t k = 0; k < kids.size(); k += 2) {
        const std::uint32_t key_node = kids[k];
        SourcePos kpos = pos_of(key_node);
        if (doc_->node(key_node).kind != yaml::Kind::Scalar)
            throw ConfigError(kpos, path(), "keys must be plain strings");
        const std::string_view key = doc_->scalar(key_node);
        const KeyVal* first = nullptr;
        if (out.size() < kLinearScan) {
            for (const auto& e : out)
                if (e.key_view == key) first = &e;
        } else {
            if (seen.empty())
                for (std::size_t i = 0; i < out.size(); ++i) seen.emplace(out[i].key_view, i);
            if (auto f = seen.find(key); f != seen.end()) first = &out[f->second];
        }
        if (first != nullptr) {
            throw ConfigError(
                kpos, join_key(path(), key),
                "duplicate key (first at line " + std::to_string(first->key_pos.line) + ")");
        }
        if (!seen.empty()) seen.emplace(key, out.size());
        out.push_back(
            KeyVal{std::string(key), std::move(kpos), Val(*file_, *doc_, kids[k + 1]), key});
    }
    return out;
}

MapReader::MapReader(const Val& v, std::initializer_list<std::string_view> known,
                     std::initializer_list<std::string_view> ignored)
    : self_(v) {
    if (!v.is_null() && !v.is_map())
        v.fail(v.is_seq() ? "expected a mapping (key: value), got a list"
                          : "expected a mapping (key: value), got '" + std::string(v.text()) + "'");
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
    v.fail("unknown rcode '" + std::string(v.text()) +
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
    v.fail("unknown query type '" + std::string(v.text()) +
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
