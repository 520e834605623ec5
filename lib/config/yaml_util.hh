#pragma once
/// Private to lib/config: reading YAML values with their position and dotted field path, so
/// that every problem becomes a ConfigError "FILE:LINE:COL: FIELD: PROBLEM".
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hh"
#include "config/yaml_doc.hh"
#include "util/hash.hh"

namespace gslbd::config::detail {

/// Reads and parses a YAML file. An unreadable file is blamed on `blame`/`field` (the key that
/// named it); a syntax error is reported at its own line and column in `path`.
yaml::Document load_yaml_file(const std::string& path, const SourcePos& blame,
                              const std::string& field);
/// The bytes of a file; an unreadable file is blamed on `blame`/`field`.
std::string read_text_file(const std::string& path, const SourcePos& blame,
                           const std::string& field);
/// Parses `text` (read from `path`) with its lines counted from `line_base`; a syntax error
/// becomes a ConfigError at its line and column in `path`.
yaml::Document parse_yaml_text(std::string_view text, const std::string& path,
                               std::uint32_t line_base = 0);

/// "parent.key"; keys that are not plain identifiers are quoted: records."www.example.".
std::string join_key(const std::string& parent, std::string_view key);
/// "parent[i]".
std::string join_index(const std::string& parent, std::size_t i);

struct KeyVal;

/// One YAML value with the file it came from, its dotted path and its position. Three words:
/// the path and position are worked out from the document only when asked for (errors, and
/// the positions the model keeps), so walking a large file builds no strings.
class Val {
  public:
    /// The root of `doc`; `file` and `doc` must outlive every Val taken from it. Every
    /// position taken from it shares `file`.
    Val(const FileName& file, const yaml::Document& doc)
        : file_(&file), doc_(&doc), idx_(doc.root()) {}
    Val(const FileName& file, const yaml::Document& doc, std::uint32_t node)
        : file_(&file), doc_(&doc), idx_(node) {}
    Val(FileName&&, const yaml::Document&) = delete;  // would dangle

    /// The dotted field path: records."www.example.".backends[0].address ("" at the root).
    std::string path() const;
    const std::string& file() const noexcept { return file_->str(); }
    /// Where the value starts; an empty value ("key:") is blamed on its key.
    SourcePos pos() const;

    [[noreturn]] void fail(const std::string& problem) const;

    bool is_null() const noexcept { return node().kind == yaml::Kind::Null; }
    bool is_map() const noexcept { return node().kind == yaml::Kind::Map; }
    bool is_seq() const noexcept { return node().kind == yaml::Kind::Seq; }
    bool is_scalar() const noexcept { return node().kind == yaml::Kind::Scalar; }
    /// The text of a scalar ("" for anything else), without any check.
    std::string_view text() const noexcept { return doc_->scalar(idx_); }

    /// A scalar as text (quoted or not). Maps, lists and null are errors.
    std::string str() const;
    /// Like str() but the empty string is an error too.
    std::string nonempty_str() const;
    /// A decimal integer within [lo, hi]; the error names the range.
    long long integer(long long lo, long long hi) const;
    /// true/false (also yes/no, on/off).
    bool boolean() const;
    /// "500ms", "10s", "1m", "1h", "1m30s", "1.5s" or an integer number of seconds; >= `min`.
    Millis duration(Millis min = Millis{1}) const;
    /// Items of a sequence; null is an empty list; anything else is an error.
    std::vector<Val> items() const;
    /// A scalar as a one-item list, a sequence as its items, null as nothing.
    std::vector<Val> one_or_many() const;
    /// Entries of a mapping in file order; null is empty; duplicated keys are errors.
    std::vector<KeyVal> entries() const;
    /// A hash of the value's content (kinds, keys and scalar text, in order), not of where it
    /// is: a record moved in its file hashes the same. Seeded with `seed`.
    std::uint64_t content_hash(std::uint64_t seed = 0) const;
    /// A hash of where the value's nodes are (line and column of each, in the order
    /// content_hash() visits them): equal content and layout hashes mean every position taken
    /// from the value is the same too.
    std::uint64_t layout_hash() const;

  private:
    const yaml::Node& node() const noexcept { return doc_->node(idx_); }
    /// pos() of node `i` of the same document.
    SourcePos pos_of(std::uint32_t i) const;

    const FileName* file_;
    const yaml::Document* doc_;
    std::uint32_t idx_;
};

/// One entry of a mapping: the key, where the key is, and the value.
struct KeyVal {
    std::string key;
    SourcePos key_pos;
    Val value;
    /// The key as the document holds it (stable while the document lives).
    std::string_view key_view;
};

/// A mapping whose keys are checked at construction: a key neither `known` nor `ignored` is an
/// error ("unknown key 'x'"), ignored keys are accepted and then never looked at.
class MapReader {
  public:
    MapReader(const Val& v, std::initializer_list<std::string_view> known,
              std::initializer_list<std::string_view> ignored = {});
    std::optional<Val> get(std::string_view key) const;
    /// Missing key (or null value) is an error at the mapping.
    Val require(std::string_view key) const;
    const Val& self() const noexcept { return self_; }

  private:
    Val self_;
    std::vector<KeyVal> entries_;
};

/// "NOERROR", "SERVFAIL", ... or a number 0..15.
std::uint16_t parse_rcode(const Val& v);
/// "A", "AAAA", "TYPE65", ... or a number 1..65535.
std::uint16_t parse_qtype(const Val& v);
/// An IPv4 or IPv6 literal.
util::IpAddr parse_ip(const Val& v);

// Internal entry points of the other files of this module.

/// Health check profiles by name, in the order they appear.
using Profiles = HealthProfiles;
/// One `healthchecks` item: a profile name or an inline {type, params, rise, fall} map.
HealthCheck parse_healthcheck_item(const Val& v, const Profiles& profiles);
/// A definition {type, params, rise, fall} (profile body or inline item).
HealthCheck parse_healthcheck_def(const Val& v);

/// What a reload may reuse (load_config's `previous`): the records of the previous load's zone
/// of the same name and policy file, and a hash of what every record inherits from outside its
/// own file (the global health check profiles), which is part of every record's source_hash.
struct Reuse {
    const RecordList* records = nullptr;
    std::uint64_t inherited = 0;
    LoadStats* stats = nullptr;  ///< counts parsed / shared / moved records when not null
};

/// A zone policy file's text cut at its records (policy_text.cc): `head` is everything up to
/// and including the `records:` line; each chunk is one record, from its key's line to the
/// next record's key line (comments and blank lines included). Only a file whose shape is
/// known from its lines is cut: block style, `records:` the last top-level key, no anchors
/// or aliases, one document.
struct PolicyText {
    struct Chunk {
        std::string_view key;    ///< as YAML reads it (quotes removed; a view into the text)
        std::string_view text;   ///< the record's lines, its indentation included
        std::uint32_t line = 0;  ///< 0-based line of the key
        std::uint32_t lines = 0;
        std::uint32_t column = 0;  ///< 0-based column of the key (the records' indentation)
    };
    std::string_view head;
    std::uint32_t records_line = 0;  ///< 0-based
    std::vector<Chunk> chunks;
};
/// `text` cut at its records, or nullopt when it must be parsed whole.
std::optional<PolicyText> split_policy_text(std::string_view text);
/// A fast 64-bit hash of `text` seeded with `seed` (chunk comparison; not stable across
/// versions).
std::uint64_t text_hash(std::string_view text, std::uint64_t seed) noexcept;

/// Reads a CoreDNS-GSLB zone policy file. Records are checked to lie inside `zone_name`.
/// Its backends may name `global` profiles (the file's own of the same name win); the
/// profiles in force are stored in `*profiles_out` when not null. A record of
/// `reuse.records` with the same name, position, source_hash and layout_hash is shared, not
/// parsed again.
RecordList load_policy_file(const std::string& path, const std::string& zone_name,
                            const SourcePos& blame, const std::string& field,
                            const Profiles& global = {},
                            std::shared_ptr<const Profiles>* profiles_out = nullptr,
                            const Reuse& reuse = {});

/// Reads a global profiles file (`healthcheck_profiles:` mapping, CoreDNS-GSLB's format);
/// the content hash of its YAML goes to `*hash_out` when not null.
Profiles load_profiles_file(const std::string& path, const SourcePos& blame,
                            const std::string& field, std::uint64_t* hash_out = nullptr);

/// One zone-file backend. `tmpl`: a discovery template (no address; its checks keep port 0
/// unless they set one, so that the discovered port fills them). Its checks come from
/// `checks` (shared with the other backends of the file or list that have the same).
Backend parse_backend(const Val& v, const Profiles& profiles, CheckInterner& checks,
                      bool tmpl = false);

/// Backend keys whose value is one string or a list (tags, country, city, asn, location,
/// continent): replaces that field of `b` from `v` with the zone file's rules. False for any
/// other key.
bool read_backend_list_key(std::string_view key, const Val& v, Backend& b);

/// A record's `discovery:` block.
std::shared_ptr<const Discovery> parse_discovery(const Val& v, const Profiles& profiles,
                                                 CheckInterner& checks);

/// `latitude` / `longitude` of `m` (a backend, a location map entry): both or neither, in
/// decimal degrees (-90..90, -180..180); false when neither is given. Errors at the value.
bool read_coordinates(const MapReader& m, double& latitude, double& longitude);

/// Reads a location map (`subnets: [{subnet, location, latitude, longitude}]`).
std::vector<LocationEntry> load_location_map(const std::string& path, const SourcePos& blame,
                                             const std::string& field);

/// `tsig_keys:` into cfg.tsig_keys (secondary.cc).
void parse_tsig_keys(const Val& v, Config& cfg);
/// A zone's `primaries:` into z.primaries; keys must be in cfg.tsig_keys already.
void parse_primaries(const Val& v, const Config& cfg, Zone& z);

/// The `cluster:` block into cfg.cluster (cfg.file must be set: relative paths).
void parse_cluster(const Val& v, Config& cfg);

/// The edge blocks of the main file (`acl`, `rrl`, `cookies`, `user`, `group`) into
/// cfg.edge.
void parse_edge(const MapReader& top, Config& cfg);

/// A record's (or `defaults`') slow_start, flap_damping and dynamic_ttl keys of `m` into `g`.
void parse_gradual(const MapReader& m, Gradual& g);
/// Warns (log) about gradual settings that work against the record's TTL.
void check_gradual(const Record& r);

/// True when `name` equals `zone` or lies below it (both normalized).
bool in_zone(std::string_view name, std::string_view zone) noexcept;

}  // namespace gslbd::config::detail
