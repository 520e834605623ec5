// A zone policy file cut at its records, so that a reload parses only the records whose text
// changed (issue 20). The cut is made on the text, line by line, and only where the YAML can
// be known without a parser: a block-style file (the shape every CoreDNS-GSLB file has)
// whose `records:` mapping is the last top-level key, without anchors or aliases (they tie
// pieces together) and without a second document. A line is a cut only when nothing is open
// on it (a multi-line quoted scalar, a flow collection, a block scalar: `Open`). Anything else
// is read whole, as before.
#include <algorithm>
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

// `---` or `...` at the start of a line, alone (a comment may follow).
bool is_marker(std::string_view rest, std::string_view marker) noexcept {
    if (rest.substr(0, 3) != marker) return false;
    rest.remove_prefix(3);
    if (rest.empty()) return true;
    if (rest[0] != ' ' && rest[0] != '\t') return false;
    const std::size_t i = rest.find_first_not_of(" \t");
    return i == std::string_view::npos || rest[i] == '#';
}

// Line breaks that libyaml counts besides "\n" and "\r\n": a lone CR, NEL, LS and PS. With
// one of them the lines counted here would not be libyaml's (positions after it would be off).
bool has_other_line_breaks(std::string_view text) noexcept {
    const char* p = text.data();
    const char* end = p + text.size();
    for (const char* q = p; (q = static_cast<const char*>(std::memchr(q, '\r', end - q)));) {
        if (q + 1 == end || q[1] != '\n') return true;
        q += 2;
    }
    for (const char* q = p; (q = static_cast<const char*>(std::memchr(q, '\xC2', end - q)));) {
        if (q + 1 < end && q[1] == '\x85') return true;
        ++q;
    }
    for (const char* q = p; (q = static_cast<const char*>(std::memchr(q, '\xE2', end - q)));) {
        if (q + 2 < end && q[1] == '\x80' && (q[2] == '\xA8' || q[2] == '\xA9')) return true;
        ++q;
    }
    return false;
}

// What a line leaves open for the next ones: a quoted scalar, flow collections or a block
// scalar. Only a line that starts with nothing open can be a record's key (or `records:`, or
// a top-level key after the records). The scan knows just enough YAML to tell where those
// constructs open and close; when it is wrong, a piece fails its parse or holds two records
// and the file is read whole, so a mistake here costs time, never a wrong answer.
struct Open {
    char quote = 0;          ///< '"' or '\'' while a quoted scalar goes on
    int flow = 0;            ///< depth of open [ and {
    bool node_start = true;  ///< in a flow collection: the next token starts a node
    int block = -1;          ///< a block scalar: lines indented more than this are its text
    bool none() const noexcept { return quote == 0 && flow == 0 && block < 0; }
};

bool blank(char c) noexcept {
    return c == ' ' || c == '\t';
}
bool flow_indicator(char c) noexcept {
    return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

// From `i` inside a scalar quoted with `q`: the index after its closing quote, or npos when
// the line ends first.
std::size_t close_quote(std::string_view l, std::size_t i, char q) noexcept {
    while (i < l.size()) {
        const char c = l[i];
        if (q == '"' && c == '\\') {
            i += 2;  // an escaped character (or, at the end, an escaped line break)
        } else if (c == q) {
            if (q == '\'' && i + 1 < l.size() && l[i + 1] == '\'') {
                i += 2;  // '' is a quote inside a single-quoted scalar
            } else {
                return i + 1;
            }
        } else {
            ++i;
        }
    }
    return std::string_view::npos;
}

// Scans line `l` (without its line break; `ind` spaces of indentation) and updates `st`.
void scan_line(std::string_view l, std::size_t ind, Open& st) {
    const std::size_t n = l.size();
    if (st.block >= 0) {
        if (ind >= n || static_cast<int>(ind) > st.block) return;  // the block scalar's text
        st.block = -1;
    }
    std::size_t i = ind;
    bool start = st.flow > 0 ? st.node_start : true;
    int key_col = static_cast<int>(ind);  // the innermost key or `-` (a block scalar's parent)
    auto after_blank = [&](std::size_t k) { return k == 0 || blank(l[k - 1]); };
    auto ends_token = [&](std::size_t k) { return k >= n || blank(l[k]); };
    std::size_t quoted_at = std::string_view::npos;  // where a closed quoted scalar began
    while (true) {
        if (st.quote != 0) {
            i = close_quote(l, i, st.quote);
            if (i == std::string_view::npos) return;  // goes on on the next line
            st.quote = 0;
            start = false;
            continue;
        }
        while (i < n && blank(l[i])) ++i;
        if (i >= n) break;
        const char c = l[i];
        if (c == '#' && after_blank(i)) break;  // a comment
        if (st.flow > 0) {
            if (c == '[' || c == '{') {
                ++st.flow, start = true, ++i;
            } else if (c == ']' || c == '}') {
                --st.flow, start = false, ++i;
            } else if (c == ',') {
                start = true, ++i;
            } else if (start && (c == '"' || c == '\'')) {
                st.quote = c, ++i;
            } else if ((c == ':' || c == '?') && (ends_token(i + 1) || flow_indicator(l[i + 1]))) {
                start = true, ++i;
            } else {  // a plain scalar: up to a flow indicator, ": " or " #"
                start = false;
                for (; i < n; ++i) {
                    const char d = l[i];
                    if (flow_indicator(d)) break;
                    if (d == ':' && (ends_token(i + 1) || flow_indicator(l[i + 1]))) break;
                    if (d == '#' && after_blank(i)) break;
                }
            }
            continue;
        }
        if (start) {
            if (c == '"' || c == '\'') {
                quoted_at = i;
                st.quote = c, ++i;
                continue;
            }
            if (c == '[' || c == '{') {
                st.flow = 1, start = true, ++i;
                continue;
            }
            if ((c == '-' || c == '?' || c == ':') && ends_token(i + 1)) {
                if (c != ':') key_col = static_cast<int>(i);
                ++i;
                continue;
            }
            if (c == '|' || c == '>') {
                st.block = key_col;  // the rest of the line: indicators and a comment
                return;
            }
            if (c == '!') {  // a tag: the node follows it
                while (i < n && !blank(l[i])) ++i;
                continue;
            }
        }
        // a plain scalar (or what follows a closed quote): up to ": " (it was a key) or " #"
        const std::size_t tok = quoted_at != std::string_view::npos ? quoted_at : i;
        quoted_at = std::string_view::npos;
        for (; i < n; ++i) {
            if (l[i] == ':' && ends_token(i + 1)) break;
            if (l[i] == '#' && after_blank(i)) return;
        }
        if (i >= n) break;
        key_col = static_cast<int>(tok);
        start = true;
        ++i;
    }
    st.node_start = start;
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
    if (has_anchor_or_alias(text) || has_other_line_breaks(text)) return std::nullopt;
    PolicyText out;
    bool in_records = false, seen_key = false, ended = false;
    std::size_t indent = 0;  // of the records' keys, from the first one
    std::uint32_t line = 0;
    std::size_t records_end = text.size();  // `...` ends the document (and the last record)
    std::uint32_t end_line = 0;
    Open open;
    for (std::size_t pos = 0; pos < text.size(); ++line) {
        const std::size_t eol = text.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
        std::string_view l = text.substr(pos, next - pos);
        while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
        if (pos == 0 && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);  // a BOM
        const std::size_t ind = std::min(l.find_first_not_of(' '), l.size());
        const bool fresh = open.none() || (open.block >= 0 && ind < l.size() &&
                                           static_cast<int>(ind) <= open.block);
        const std::string_view rest = l.substr(ind);
        const bool content = !rest.empty() && rest[0] != '#';
        if (fresh && content && !ended) {
            if (rest[0] == '\t') return std::nullopt;  // not an indentation to trust
            if (!in_records) {
                if (ind == 0) {
                    if (rest.substr(0, 3) == "---") {
                        // a document start before any key; a second document is read whole
                        if (seen_key || !is_marker(rest, "---")) return std::nullopt;
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
            } else if (ind == 0) {
                // the end of the document (nothing but comments may follow), or a top-level
                // key or a document start after the records: read whole
                if (!is_marker(rest, "...") || out.chunks.empty()) return std::nullopt;
                ended = true;
                records_end = pos;
                end_line = line;
            } else {
                if (indent == 0) indent = ind;
                // a shape other than a mapping of records (a list, a flow mapping): read whole
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
        } else if (fresh && content && ended) {
            return std::nullopt;  // something after `...`
        }
        if (!ended) scan_line(l, ind, open);
        pos = next;
    }
    if (!in_records || out.chunks.empty()) return std::nullopt;
    PolicyText::Chunk& last = out.chunks.back();
    const std::size_t at = static_cast<std::size_t>(last.text.data() - text.data());
    last.text = text.substr(at, records_end - at);
    last.lines = (ended ? end_line : line) - last.line;
    return out;
}

}  // namespace gslbd::config::detail
