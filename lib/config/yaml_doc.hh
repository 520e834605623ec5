#pragma once
/// A read-only YAML document: the first document of a text, parsed with libyaml's event API
/// into one flat array of nodes, every scalar's text in one buffer.
///
/// Why not yaml-cpp's node tree: measured on this machine, yaml-cpp's `Load` of a zone file of
/// 20,000 records (3 backends each) took 6.0 s and 260 MB before gslbd looked at a single
/// value, and grew faster than linearly; libyaml's event parser reads the same file in 0.35 s
/// (100,000 records: 1.6 s). A node here costs 28 bytes and a scalar its text, so a document
/// is a few times the size of its file, and parsing allocates only when the arrays grow.
///
/// Anchors and aliases are kept (an alias is the anchored node, shared); merge keys (`<<`) are
/// ordinary keys, as they were with yaml-cpp. Positions are libyaml's start marks, 0-based.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gslbd::config::yaml {

enum class Kind : std::uint8_t { Null, Scalar, Seq, Map };

inline constexpr std::uint32_t kNone = 0xFFFFFFFFu;

struct Node {
    Kind kind = Kind::Null;
    bool is_key = false;           ///< a mapping key (then `slot` is unused)
    std::uint32_t line = 0;        ///< 0-based line of the node's first character
    std::uint32_t column = 0;      ///< 0-based column
    std::uint32_t parent = kNone;  ///< the container that holds it first (kNone for the root)
    /// In a sequence: the item's index. In a mapping (value): the index of its key node.
    std::uint32_t slot = 0;
    /// Scalar: offset and length of the text. Seq: offset into the kid array and item count.
    /// Map: offset into the kid array and the number of entries (kids are key, value, ...).
    std::uint32_t begin = 0, size = 0;
};

/// A syntax error with libyaml's problem text and its 0-based position.
class SyntaxError : public std::runtime_error {
  public:
    SyntaxError(const std::string& problem, std::uint32_t line, std::uint32_t column)
        : std::runtime_error(problem), line_(line), column_(column) {}
    std::uint32_t line() const noexcept { return line_; }
    std::uint32_t column() const noexcept { return column_; }

  private:
    std::uint32_t line_, column_;
};

class Document {
  public:
    /// Parses the first document of `text` (an empty text is one null node). Throws
    /// SyntaxError; the input may hold anything, including NUL bytes and invalid UTF-8.
    /// `line_base` is added to every line (nodes and errors): a piece of a file parsed alone
    /// (a zone file's record, config::detail's incremental reload) keeps the file's lines.
    static Document parse(std::string_view text, std::uint32_t line_base = 0);

    std::uint32_t root() const noexcept { return root_; }
    const Node& node(std::uint32_t i) const noexcept { return nodes_[i]; }
    std::size_t node_count() const noexcept { return nodes_.size(); }
    /// The text of a scalar node (empty for any other kind).
    std::string_view scalar(std::uint32_t i) const noexcept {
        const Node& n = nodes_[i];
        return n.kind == Kind::Scalar ? std::string_view(text_).substr(n.begin, n.size)
                                      : std::string_view();
    }
    /// Items of a sequence, or key, value, key, value, ... of a mapping; empty otherwise.
    std::span<const std::uint32_t> kids(std::uint32_t i) const noexcept {
        const Node& n = nodes_[i];
        if (n.kind == Kind::Seq) return {kids_.data() + n.begin, n.size};
        if (n.kind == Kind::Map) return {kids_.data() + n.begin, 2 * std::size_t{n.size}};
        return {};
    }
    /// Bytes held by the document (nodes, kid array, scalar text), for the scale benchmark.
    std::size_t bytes() const noexcept {
        return nodes_.capacity() * sizeof(Node) + kids_.capacity() * 4 + text_.capacity();
    }

  private:
    std::vector<Node> nodes_;
    std::vector<std::uint32_t> kids_;
    std::string text_;
    std::uint32_t root_ = 0;
};

}  // namespace gslbd::config::yaml
