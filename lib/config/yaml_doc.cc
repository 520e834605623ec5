#include "config/yaml_doc.hh"

#include <yaml.h>

#include <string>
#include <unordered_map>

namespace gslbd::config::yaml {

namespace {

/// Owns one libyaml parser and the event being handled.
struct Parser {
    yaml_parser_t p;
    yaml_event_t e;
    bool have_event = false;
    std::uint32_t line_base;
    Parser(std::string_view text, std::uint32_t base) : line_base(base) {
        yaml_parser_initialize(&p);
        yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()),
                                     text.size());
    }
    ~Parser() {
        if (have_event) yaml_event_delete(&e);
        yaml_parser_delete(&p);
    }
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    const yaml_event_t& next() {
        if (have_event) yaml_event_delete(&e);
        have_event = false;
        if (!yaml_parser_parse(&p, &e)) {
            std::string msg = p.problem != nullptr ? p.problem : "malformed YAML";
            if (p.context != nullptr) msg += std::string(" (") + p.context + ")";
            throw SyntaxError(msg, static_cast<std::uint32_t>(p.problem_mark.line) + line_base,
                              static_cast<std::uint32_t>(p.problem_mark.column));
        }
        have_event = true;
        return e;
    }
};

// YAML 1.2 core schema nulls, as yaml-cpp reads them: only plain, untagged scalars.
bool is_null_text(std::string_view s) noexcept {
    return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

constexpr std::string_view kNullTag = "tag:yaml.org,2002:null";

}  // namespace

Document Document::parse(std::string_view text, std::uint32_t line_base) {
    Document d;
    Parser parser(text, line_base);
    struct Level {
        std::uint32_t node;
        std::uint32_t pending_start;
    };
    std::vector<Level> stack;
    std::vector<std::uint32_t> pending;  // kids of the open containers, innermost last
    std::unordered_map<std::string, std::uint32_t> anchors;
    bool have_root = false;

    // Adds node `i` to the innermost open container (or makes it the root).
    auto attach = [&](std::uint32_t i, bool fresh) {
        if (stack.empty()) {
            d.root_ = i;
            have_root = true;
            return;
        }
        const Level& top = stack.back();
        const std::uint32_t pos = static_cast<std::uint32_t>(pending.size()) - top.pending_start;
        if (fresh) {
            Node& n = d.nodes_[i];
            n.parent = top.node;
            if (d.nodes_[top.node].kind == Kind::Seq) {
                n.slot = pos;
            } else if (pos % 2 == 0) {
                n.is_key = true;
            } else {
                n.slot = pending.back();
            }
        }
        pending.push_back(i);
    };
    auto make = [&](Kind kind, const yaml_mark_t& mark, const yaml_char_t* anchor) {
        const auto i = static_cast<std::uint32_t>(d.nodes_.size());
        Node n;
        n.kind = kind;
        n.line = static_cast<std::uint32_t>(mark.line) + parser.line_base;
        n.column = static_cast<std::uint32_t>(mark.column);
        d.nodes_.push_back(n);
        if (anchor != nullptr) anchors[reinterpret_cast<const char*>(anchor)] = i;
        return i;
    };

    for (bool done = false; !done;) {
        const yaml_event_t& e = parser.next();
        switch (e.type) {
            case YAML_SCALAR_EVENT: {
                const auto& s = e.data.scalar;
                const std::string_view value(reinterpret_cast<const char*>(s.value), s.length);
                const bool plain = s.style == YAML_PLAIN_SCALAR_STYLE && s.tag == nullptr;
                const bool null =
                    (plain && is_null_text(value)) ||
                    (s.tag != nullptr && reinterpret_cast<const char*>(s.tag) == kNullTag);
                const auto i = make(null ? Kind::Null : Kind::Scalar, e.start_mark, s.anchor);
                if (!null) {
                    d.nodes_[i].begin = static_cast<std::uint32_t>(d.text_.size());
                    d.nodes_[i].size = static_cast<std::uint32_t>(value.size());
                    d.text_.append(value);
                }
                attach(i, true);
                break;
            }
            case YAML_SEQUENCE_START_EVENT:
            case YAML_MAPPING_START_EVENT: {
                const bool seq = e.type == YAML_SEQUENCE_START_EVENT;
                const auto i =
                    make(seq ? Kind::Seq : Kind::Map, e.start_mark,
                         seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor);
                attach(i, true);
                stack.push_back({i, static_cast<std::uint32_t>(pending.size())});
                break;
            }
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT: {
                const Level top = stack.back();
                stack.pop_back();
                Node& n = d.nodes_[top.node];
                const auto count = static_cast<std::uint32_t>(pending.size() - top.pending_start);
                n.begin = static_cast<std::uint32_t>(d.kids_.size());
                n.size = n.kind == Kind::Map ? count / 2 : count;
                d.kids_.insert(d.kids_.end(), pending.begin() + top.pending_start, pending.end());
                pending.resize(top.pending_start);
                if (stack.empty()) done = true;  // the first document's root is complete
                break;
            }
            case YAML_ALIAS_EVENT: {
                const auto it = anchors.find(reinterpret_cast<const char*>(e.data.alias.anchor));
                if (it == anchors.end()) {
                    throw SyntaxError(
                        "unknown anchor '" +
                            std::string(reinterpret_cast<const char*>(e.data.alias.anchor)) + "'",
                        static_cast<std::uint32_t>(e.start_mark.line) + line_base,
                        static_cast<std::uint32_t>(e.start_mark.column));
                }
                attach(it->second, false);
                if (stack.empty()) done = true;
                break;
            }
            case YAML_DOCUMENT_END_EVENT:
            case YAML_STREAM_END_EVENT:
                done = true;
                break;
            default:  // stream and document start
                break;
        }
        if (have_root && stack.empty()) done = true;
    }
    if (!have_root) {
        d.nodes_.push_back(Node{});
        d.root_ = 0;
    }
    d.nodes_.shrink_to_fit();
    d.kids_.shrink_to_fit();
    d.text_.shrink_to_fit();
    return d;
}

}  // namespace gslbd::config::yaml
