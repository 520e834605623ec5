// A zone policy file cut at its records, so that a reload parses only the records whose text
// changed (issue 20). The cut is made on the text, line by line, and only where the YAML can
// be known without a parser: a block-style file (the shape every CoreDNS-GSLB file has)
// whose `records:` mapping is the last top-level key, without anchors or aliases (they tie
// pieces together) and without a second document. Anything else is read whole, as before.
#include <cstring>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

namespace {

// 64-bit FNV-1a, eight bytes at a time through util::mix64's finaliser (a zone file of
// 100,000 records is ~20 MB: one pass over it must cost milliseconds, not a parse).
std::uint64_t hash_text(std::string_view s, std::uint64_t seed) noexcept {
    std::uint64_t h = seed ^ 0x9e3779b97f4a7c15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = util::mix64(h ^ w);
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    return util::mix64(h ^ tail ^ 0xff51afd7ed558ccdull);
}

// An anchor (&a) or an alias (*a) where a node may start: after a space, a flow indicator
// or at the start of a line. A false hit ("a &b" in a string) only costs a whole parse.
bool has_anchor_or_alias(std::string_view text) noexcept {
    for (std::size_t i = text.find_first_of("&*"); i != std::string_view::npos;
         i = text.find_first_of("&*", i + 1)) {
        const char before = i == 0 ? '\n' : text[i - 1];
        const char after = i + 1 < text.size() ? text[i + 1] : ' ';
        if (std::strchr(" \t\n[{,", before) != nullptr &&
            std::strchr(" \t\r\n,]}", after) == nullptr)
            return true;
    }
    return false;
}

// "records:" alone on its line (a comment may follow): the block whose entries are cut.
bool is_records_line(std::string_view rest) noexcept {
    if (rest.substr(0, 8) != "records:") return false;
    rest.remove_prefix(8);
    const std::size_t i = rest.find_first_not_of(" \t");
    return i == std::string_view::npos || rest[i] == '#';
}

// The key of a record's first line (`rest`: the line without its indentation) as YAML reads
// it, when the line is KEY: (a value may follow on the line): a plain key, or a quoted one
// without escapes. False for anything else (then the file is read whole).
bool record_key(std::string_view rest, std::string_view& key) {
    std::size_t colon = 0;
    if (rest[0] == '"' || rest[0] == '\'') {
        const std::size_t close = rest.find(rest[0], 1);
        if (close == std::string_view::npos) return false;
        key = rest.substr(1, close - 1);
        if (rest[0] == '"' && key.find('\\') != std::string_view::npos) return false;
        if (rest[0] == '\'' && close + 1 < rest.size() && rest[close + 1] == '\'') return false;
        colon = close + 1;
        while (colon < rest.size() && rest[colon] == ' ') ++colon;
        if (colon >= rest.size() || rest[colon] != ':') return false;
    } else {
        if (std::strchr("-?:,[]{}#&*!|>'\"%@`", rest[0]) != nullptr) return false;
        for (colon = rest.find(':'); colon != std::string_view::npos;
             colon = rest.find(':', colon + 1))
            if (colon + 1 == rest.size() || rest[colon + 1] == ' ' || rest[colon + 1] == '\t' ||
                rest[colon + 1] == '\r')
                break;
        if (colon == std::string_view::npos) return false;
        std::string_view k = rest.substr(0, colon);
        while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
        if (k.find(" #") != std::string_view::npos || k.find("\t#") != std::string_view::npos)
            return false;
        key = k;
    }
    return colon + 1 == rest.size() || rest[colon + 1] == ' ' || rest[colon + 1] == '\t' ||
           rest[colon + 1] == '\r';
}

}  // namespace

std::uint64_t text_hash(std::string_view text, std::uint64_t seed) noexcept {
    return hash_text(text, seed);
}

std::optional<PolicyText> split_policy_text(std::string_view text) {
    if (has_anchor_or_alias(text)) return std::nullopt;
    PolicyText out;
    bool in_records = false, seen_key = false;
    std::size_t indent = 0;  // of the records' keys, from the first one
    std::uint32_t line = 0;
    for (std::size_t pos = 0; pos < text.size(); ++line) {
        const std::size_t eol = text.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
        std::string_view l = text.substr(pos, next - pos);
        while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
        const std::size_t ind = l.find_first_not_of(' ');
        const std::string_view rest = ind == std::string_view::npos ? "" : l.substr(ind);
        const bool content = !rest.empty() && rest[0] != '#';
        if (content && rest[0] == '\t') return std::nullopt;  // not an indentation to trust
        if (!in_records) {
            if (content && ind == 0) {
                if (rest.substr(0, 3) == "---") {
                    if (seen_key) return std::nullopt;  // a second document
                } else if (rest.substr(0, 3) == "..." || rest[0] == '%') {
                    return std::nullopt;
                } else {
                    seen_key = true;
                    if (is_records_line(rest)) {
                        in_records = true;
                        out.head = text.substr(0, next);
                        out.records_line = line;
                    }
                }
            }
        } else if (content) {
            // a top-level key or document marker after the records, or a shape other than a
            // mapping of records (a list, a flow mapping): read whole
            if (ind == 0) return std::nullopt;
            if (indent == 0) indent = ind;
            if (ind < indent) return std::nullopt;
            if (ind == indent) {
                PolicyText::Chunk c;
                if (!record_key(rest, c.key)) return std::nullopt;
                if (!out.chunks.empty()) {
                    PolicyText::Chunk& prev = out.chunks.back();
                    prev.text = text.substr(prev.text.data() - text.data(),
                                            pos - (prev.text.data() - text.data()));
                    prev.lines = line - prev.line;
                }
                c.line = line;
                c.column = static_cast<std::uint32_t>(ind);
                c.text = text.substr(pos, 0);
                out.chunks.push_back(c);
            }
        }
        pos = next;
    }
    if (!in_records || out.chunks.empty()) return std::nullopt;
    PolicyText::Chunk& last = out.chunks.back();
    const std::size_t at = static_cast<std::size_t>(last.text.data() - text.data());
    last.text = text.substr(at);
    last.lines = line - last.line;
    return out;
}

}  // namespace gslbd::config::detail
