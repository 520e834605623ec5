#pragma once
/// The validated, immutable configuration model. Produced by load_config(); everything
/// downstream (geo, gslb, io, apps) reads only this, never YAML.
#include <array>
#include <chrono>
#include <compare>
#include <concepts>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/addr.hh"
#include "util/compact_vector.hh"

namespace gslbd::config {

using Millis = std::chrono::milliseconds;

/// A file name that every position in one file shares: one allocation per file, not one per
/// record, backend and check (a large zone file has hundreds of thousands of positions).
/// Reads as the `const std::string&` it holds; "" when default-constructed.
class FileName {
  public:
    FileName() = default;
    FileName(std::string name)
        : p_(name.empty() ? nullptr : std::make_shared<const std::string>(std::move(name))) {}
    FileName(const char* name) : FileName(std::string(name)) {}

    const std::string& str() const noexcept { return p_ != nullptr ? *p_ : empty_(); }
    operator const std::string&() const noexcept { return str(); }
    bool empty() const noexcept { return p_ == nullptr; }
    friend bool operator==(const FileName& a, std::string_view b) noexcept { return a.str() == b; }
    template <std::same_as<FileName> T>  // exact: a const char* must not find two overloads
    friend bool operator==(const FileName& a, const T& b) noexcept {
        return a.str() == b.str();
    }

  private:
    static const std::string& empty_() noexcept {
        static const std::string e;
        return e;
    }
    std::shared_ptr<const std::string> p_;
};

/// Where a value came from, for error messages: "zone.yml:12:7".
struct SourcePos {
    FileName file;
    int line = 0;    ///< 1-based; 0 = unknown
    int column = 0;  ///< 1-based
    std::string to_string() const;
    friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

/// Every config problem. what() reads "FILE:LINE:COL: FIELD: PROBLEM" so an operator can
/// jump straight to it.
class ConfigError : public std::runtime_error {
  public:
    ConfigError(const SourcePos& pos, const std::string& field, const std::string& problem);
    const SourcePos& pos() const noexcept { return pos_; }
    const std::string& field() const noexcept { return field_; }

  private:
    SourcePos pos_;
    std::string field_;
};

/// An inclusive range of acceptable HTTP status codes.
struct CodeRange {
    int lo = 200, hi = 200;
    friend bool operator==(const CodeRange&, const CodeRange&) = default;
};

/// One health check, CoreDNS-GSLB `healthchecks` entry (inline or from a profile).
/// Parsed and validated now; probing is lib/health's job.
struct HealthCheck {
    std::string type;  ///< http, https, tcp, dns, icmp; others are kept with supported=false
    bool supported = true;
    /// Where it is written. Empty in a check a backend holds through a CheckRef that shares
    /// it with checks written elsewhere: CheckRef::pos() is that backend's.
    SourcePos pos;
    // common
    Millis timeout{5000};
    std::optional<int> rise, fall;
    // http / https
    int port = 0;  ///< 0 = protocol default (80/443/53)
    std::string uri = "/";
    std::string method = "GET";
    std::string host;  ///< Host header and TLS SNI
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<CodeRange> expected_codes;  ///< empty = 200
    std::string expected_body;              ///< regular expression; empty = no body check
    /// `load_gauge`: one sample of the Prometheus text the check's response carries (its
    /// `uri` is then the backend's /metrics): the metric's name and the labels it must have
    /// (others may be there too). Empty name = none. Feeds the record's `scoring.load`.
    struct Gauge {
        std::string name;
        std::vector<std::pair<std::string, std::string>> labels;
        std::string text;  ///< as written
        friend bool operator==(const Gauge&, const Gauge&) = default;
    } load_gauge;
    bool enable_tls = false;
    bool skip_tls_verify = false;
    std::string tls_cert, tls_key, tls_ca;
    /// Reuse one connection per target across probes (HTTP keep-alive) instead of a new
    /// TCP (and TLS) connection every interval. Off by default.
    bool keepalive = false;
    // dns
    std::string query_name;
    std::uint16_t query_type = 1;
    int expected_rcode = 0;
    std::optional<util::IpAddr> expected_address;
    // icmp
    int count = 1;
    /// Kinds that lib/config does not parse itself (grpc, mysql, lua, ...: probe kind
    /// plug-ins of lib/health): every scalar param as written, with where it was written, so
    /// the kind's own parser can validate it and name file:line:column. `port` and `timeout`
    /// are also parsed into the fields above (the backend's port and timeout apply to them).
    struct RawParam {
        std::string key;
        std::string value;
        SourcePos pos;
        bool scalar = true;  ///< false: a map or a list (value is empty)
        friend bool operator==(const RawParam&, const RawParam&) = default;
    };
    std::vector<RawParam> raw_params;
    /// Every field, positions included (CheckInterner).
    friend bool operator==(const HealthCheck&, const HealthCheck&) = default;
};

/// A backend's health check: what the check is, an immutable HealthCheck shared by every
/// backend whose check reads the same (CheckInterner) and by the configurations a reload
/// derives from this one, and where this backend's check is written (pos()). Code that needs
/// a changed check makes a new one; a published HealthCheck is never changed.
class CheckRef {
  public:
    CheckRef() = default;
    /// A check of its own, at hc.pos (hand-built configurations, tests).
    explicit CheckRef(HealthCheck hc)
        : body_(std::make_shared<const HealthCheck>(std::move(hc))), pos_(body_->pos) {}
    CheckRef(std::shared_ptr<const HealthCheck> body, SourcePos pos)
        : body_(std::move(body)), pos_(std::move(pos)) {}
    /// The check; its `pos` may be empty (shared with checks written elsewhere): read pos().
    const HealthCheck& operator*() const noexcept { return *body_; }
    const HealthCheck* operator->() const noexcept { return body_.get(); }
    /// Where this backend's check is written (a profile's name refers to the profile).
    const SourcePos& pos() const noexcept { return pos_; }
    const std::shared_ptr<const HealthCheck>& body() const noexcept { return body_; }

  private:
    std::shared_ptr<const HealthCheck> body_;
    SourcePos pos_;
};

/// Equal health checks as one object: a check costs a CheckRef per backend (40 bytes) plus
/// one HealthCheck (~570 bytes) per distinct check, not a copy per backend. A check without
/// `raw_params` is compared without its position (which its CheckRef keeps), so the same
/// inline check written under every backend is one object, like a profile named by every
/// backend with the same `port` and `timeout` applied. A check with `raw_params` (kinds that
/// lib/config does not parse: each param keeps where it is written) is shared only with
/// checks at the same positions (a profile). One interner per file read or backend list.
class CheckInterner {
  public:
    /// The check `hc` at hc.pos, its content shared with the equal ones already interned.
    CheckRef intern(HealthCheck&& hc);
    /// Distinct checks held.
    std::size_t size() const noexcept { return by_hash_.size(); }

  private:
    std::unordered_multimap<std::uint64_t, std::shared_ptr<const HealthCheck>> by_hash_;
};

/// Health check profiles by name: a zone file's own `healthcheck_profiles` over the global
/// ones (the main file's `healthcheck_profiles` file; a zone's profile of the same name wins).
using HealthProfiles = std::map<std::string, HealthCheck, std::less<>>;

struct Backend {
    util::IpAddr address;
    std::string address_text;
    int priority = 0;  ///< lower = preferred
    int weight = 1;    ///< as configured; <= 0 treated as 1 by weighted mode
    bool enable = true;
    std::string description;
    // The lists are CompactVectors (one pointer when empty): most backends have none of them.
    util::CompactVector<std::string> tags;
    util::CompactVector<std::string> countries;   ///< ISO 3166 alpha-2, upper case
    util::CompactVector<std::string> cities;      ///< as in the MaxMind English name
    util::CompactVector<std::uint32_t> asns;      ///< "AS12345" or "12345" accepted
    util::CompactVector<std::string> locations;   ///< names from the location map
    util::CompactVector<std::string> continents;  ///< two-letter codes (EU, NA, ...)
    /// ISO 3166-2 subdivision codes, upper case: "CA" (the part after the country, as
    /// MaxMind's subdivisions[0].iso_code) or "US-CA" (country and subdivision).
    util::CompactVector<std::string> subdivisions;
    /// `latitude` / `longitude` in degrees (both or neither): the nearest-backend step.
    bool has_coordinates = false;
    double latitude = 0, longitude = 0;
    /// Their content shared with every backend whose check is the same (CheckInterner).
    util::CompactVector<CheckRef> healthchecks;
    std::optional<int> rise, fall;
    bool assume_healthy = false;
    int port = 0;  ///< service port; default port of its health checks (0 = none)
    std::optional<Millis>
        timeout;  ///< overrides the timeout of its health checks (already applied)
    SourcePos pos;
};

/// What a record answers when none of its backends is eligible (enabled, healthy, not
/// drained or disabled by the operator). Zone files spell it `failover_policy` (CoreDNS-GSLB's
/// current key) or `fallback_policy` (the older one).
enum class FallbackMode : std::uint8_t {
    /// Every enabled backend of the queried family, the mode not applied (the default, as in
    /// CoreDNS-GSLB's `fail-open`: "return all enabled backends").
    FailOpen,
    Rcode,  ///< answer with a fixed rcode (SERVFAIL by default): `fail-closed`
    Ips,    ///< serve fixed fallback addresses: `fail-specific` + `fallback_ips`
    Cname,  ///< answer with a CNAME to a fixed name: `fail-specific` + `fallback_cname`
    /// The mode applied to the enabled backends as if they were healthy (a failover record
    /// answers only its best priority): gslbd's `fail-open-select`.
    FailOpenSelect,
};

/// What geoip's steps that match several backends (city, subdivision, country, continent,
/// location map) answer: a zone file's `geo_priority` (gslbd's own key).
enum class GeoPriority : std::uint8_t {
    All,   ///< every eligible match, whatever its priority (CoreDNS-GSLB): the default
    Best,  ///< the best (lowest) priority among the matches (gslbd before issue 15)
};

struct Fallback {
    FallbackMode mode = FallbackMode::FailOpen;
    std::uint16_t rcode = 2;  ///< SERVFAIL
    std::vector<util::IpAddr> ips;
    std::string cname;  ///< absolute, lower case, trailing dot
};

/// Moving traffic gradually (docs/gradual.md): a record's `slow_start`, `flap_damping` and
/// `dynamic_ttl` blocks, each off unless written (or inherited from the file's `defaults`).
struct SlowStart {
    Millis window{0};                ///< 0 = off: a usable-again backend gets its full weight
    std::uint32_t min_percent = 10;  ///< the share of its weight it starts with (1..100)
    SourcePos pos;
    bool on() const noexcept { return window.count() > 0; }
};
/// RFC 2439's scheme, with times in seconds rather than minutes.
struct FlapDamping {
    bool enabled = false;
    double penalty = 1000;        ///< added by every up/down change of the health verdict
    double suppress = 2000;       ///< at or over it: out of the answers
    double reuse = 750;           ///< suppressed until the penalty decays under it
    Millis half_life{30000};      ///< the penalty halves in this time
    Millis max_suppress{120000};  ///< the longest a backend stays suppressed after its last flap
    SourcePos pos;
};
/// Answers that may change soon carry `min`..record_ttl (as gdnsd shortens them).
struct DynamicTtl {
    bool enabled = false;
    std::uint32_t min = 5;  ///< the shortest TTL given
    Millis recent{0};       ///< a verdict change this recent counts (0 = the record's TTL)
    SourcePos pos;
};
/// Health scores: a probed backend's recent rounds turn into a percent of its weight.
struct Scoring {
    bool enabled = false;
    std::uint32_t window = 10;               ///< rounds looked at (1..64)
    std::uint32_t min_success_percent = 80;  ///< under it: out of the answers
    Millis latency{0};                       ///< mean latency over it reduces the weight (0 = off)
    std::uint32_t floor_percent = 10;        ///< the least a slow backend keeps (1..100)
    double load = 0;  ///< a load gauge (check's load_gauge) over it reduces the weight (0 = off)
    SourcePos pos;
};
struct Gradual {
    Scoring scoring;
    SlowStart slow_start;
    FlapDamping damping;
    DynamicTtl ttl;
};

/// A record's `discovery:` block (docs/discovery.md): where its pool comes from at run time.
/// lib/discovery fetches it; the backends it finds replace the record's `backends`.
struct Discovery {
    enum class Type : std::uint8_t { Http, Consul, Svcb, Https };
    Type type = Type::Http;
    std::string type_name;  ///< as written: http, consul, svcb, https
    /// http: the URL of the JSON list; consul: the agent ("http://127.0.0.1:8500").
    std::string url;
    std::string service;     ///< consul: the catalog service name
    std::string datacenter;  ///< consul: `?dc=` ("" = the agent's own)
    std::string token;       ///< consul: X-Consul-Token ("" = none)
    std::vector<std::pair<std::string, std::string>> headers;  ///< http: extra request headers
    std::string query_name;  ///< svcb/https: the name asked (absolute, lower case)
    util::IpAddr server;     ///< svcb/https: the upstream DNS server
    std::uint16_t server_port = 53;
    Millis interval{30000};
    Millis timeout{5000};
    /// What every discovered backend starts from (`backend:`: priority, weight, tags, port,
    /// healthchecks, ...); its address is unset. Checks without a port of their own probe the
    /// discovered port (else this template's port).
    std::shared_ptr<const Backend> defaults;
    SourcePos pos;
};

struct Record {
    std::string name;               ///< absolute, lower case, with trailing dot
    std::string mode = "failover";  ///< as written; gslb::resolve_policy() reads it
    Millis scrape_interval{10000};
    Millis scrape_timeout{5000};
    int scrape_retries = 1;
    std::optional<int> rise, fall;
    std::uint32_t ttl = 30;
    /// Where the record itself writes `geo_priority` (line 0: it does not; the value may
    /// still come from `defaults`). The file is pos.file. A mode that does not read the key
    /// refuses it there (gslb::Policy::reads_geo_priority()).
    int geo_priority_line = 0;
    std::uint16_t geo_priority_column = 0;
    GeoPriority geo_priority = GeoPriority::All;  ///< the record's, else its file's defaults'
    std::string owner, description;
    /// ALPN ids of the record's HTTPS/SVCB answers (`alpn` or `svcb_alpn`; empty: h3, h2).
    util::CompactVector<std::string> alpn;
    std::vector<Backend> backends;
    Fallback fallback;
    Gradual gradual;  ///< slow start, flap damping, dynamic TTL (docs/gradual.md)
    /// `discovery:` (null = none): its backends replace `backends` once found; `backends`
    /// (may be empty then) serve until the first good answer.
    std::shared_ptr<const Discovery> discovery;
    SourcePos pos;
    /// A hash of the record's YAML and of its file's `defaults` and `healthcheck_profiles`
    /// (not of positions): a reload compares it to count the records that changed.
    std::uint64_t source_hash = 0;
    /// A hash of where every node of the record's YAML is (line, column): with source_hash and
    /// `pos` equal, a reload reuses the previous load's Record object (every SourcePos in it
    /// is still right).
    std::uint64_t layout_hash = 0;
    /// Where the record's text was in its zone file when the file was read piece by piece
    /// (detail::split_policy_text: the lines from its key to the next record's key), and a
    /// hash of that text and of what the record inherits (the content of `defaults` and of the
    /// health check profiles, not their text or place); chunk_hash 0 = read with the whole
    /// file parsed at once. A reload reuses the record when the hash is equal: the same object
    /// at the same line, a copy with its positions moved otherwise (its own lines shifted,
    /// inherited positions mapped to where `defaults` and the profiles are now).
    std::uint64_t chunk_hash = 0;
    std::uint32_t chunk_line = 0;   ///< 0-based line of the record's key
    std::uint32_t chunk_lines = 0;  ///< lines of its text
};

/// A zone's records, each held by a shared pointer: load_config(path, previous) puts the
/// previous configuration's Record object in the list when the record's YAML, its position
/// and what it inherits are unchanged, so a reload of a large zone where little changed
/// neither parses nor stores the unchanged records again (structural sharing, issue 20).
/// Reading (iteration, const []) gives `const Record&`; writing (`edit()`, non-const [],
/// back()) copies a record that another list shares first, so no other configuration ever
/// sees the change.
class RecordList {
  public:
    class const_iterator {
      public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = Record;
        using difference_type = std::ptrdiff_t;
        using pointer = const Record*;
        using reference = const Record&;
        const_iterator() = default;
        explicit const_iterator(const std::shared_ptr<Record>* p) : p_(p) {}
        const Record& operator*() const noexcept { return **p_; }
        const Record* operator->() const noexcept { return p_->get(); }
        const Record& operator[](difference_type n) const noexcept { return *p_[n]; }
        const_iterator& operator++() noexcept { return ++p_, *this; }
        const_iterator operator++(int) noexcept { return const_iterator(p_++); }
        const_iterator& operator--() noexcept { return --p_, *this; }
        const_iterator operator--(int) noexcept { return const_iterator(p_--); }
        const_iterator& operator+=(difference_type n) noexcept { return p_ += n, *this; }
        const_iterator& operator-=(difference_type n) noexcept { return p_ -= n, *this; }
        friend const_iterator operator+(const_iterator i, difference_type n) noexcept {
            return i += n;
        }
        friend const_iterator operator+(difference_type n, const_iterator i) noexcept {
            return i += n;
        }
        friend const_iterator operator-(const_iterator i, difference_type n) noexcept {
            return i -= n;
        }
        friend difference_type operator-(const_iterator a, const_iterator b) noexcept {
            return a.p_ - b.p_;
        }
        friend auto operator<=>(const const_iterator&, const const_iterator&) = default;

      private:
        const std::shared_ptr<Record>* p_ = nullptr;
    };
    using iterator = const_iterator;
    using value_type = Record;
    using size_type = std::size_t;

    std::size_t size() const noexcept { return items_.size(); }
    bool empty() const noexcept { return items_.empty(); }
    const_iterator begin() const noexcept { return const_iterator(items_.data()); }
    const_iterator end() const noexcept { return const_iterator(items_.data() + items_.size()); }
    const Record& operator[](std::size_t i) const noexcept { return *items_[i]; }
    const Record& at(std::size_t i) const { return *items_.at(i); }
    const Record& front() const noexcept { return *items_.front(); }
    const Record& back() const noexcept { return *items_.back(); }
    /// Record `i` to change (a private copy first when another list shares it).
    Record& edit(std::size_t i);
    Record& operator[](std::size_t i) { return edit(i); }
    Record& back() { return edit(items_.size() - 1); }
    /// The shared object of record `i` (load_config hands it to the next load).
    const std::shared_ptr<Record>& shared(std::size_t i) const noexcept { return items_[i]; }

    void reserve(std::size_t n) { items_.reserve(n); }
    void push_back(Record r) { items_.push_back(std::make_shared<Record>(std::move(r))); }
    /// Shares `r` (a record of the previous load, unchanged).
    void push_back(std::shared_ptr<Record> r) { items_.push_back(std::move(r)); }
    template <typename... A>
    Record& emplace_back(A&&... args) {
        return *items_.emplace_back(std::make_shared<Record>(std::forward<A>(args)...));
    }
    void resize(std::size_t n);
    void clear() noexcept { items_.clear(); }
    void shrink_to_fit() { items_.shrink_to_fit(); }
    /// How many records this list shares with `other` (the same objects).
    std::size_t shared_with(const RecordList& other) const;

    /// Where the positions that records may hold from outside their own text (their file's
    /// `defaults` blocks, the health check profiles in force) were when the records were read,
    /// in lib/config's fixed order: the next reload maps them to where they are then, so that
    /// a record reused under a head that only moved (a comment added above it) still names
    /// the lines a fresh load would. Null: unknown (a reload then reuses no record).
    const std::shared_ptr<const std::vector<SourcePos>>& scope_positions() const noexcept {
        return scope_positions_;
    }
    void set_scope_positions(std::shared_ptr<const std::vector<SourcePos>> p) noexcept {
        scope_positions_ = std::move(p);
    }

  private:
    std::vector<std::shared_ptr<Record>> items_;
    std::shared_ptr<const std::vector<SourcePos>> scope_positions_;
};

struct NameServer {
    std::string name;                     ///< absolute, lower case
    std::vector<util::IpAddr> addresses;  ///< glue, served when the name is inside the zone
};

struct Soa {
    std::string mname, rname;  ///< absolute, lower case
    std::uint32_t serial = 1, refresh = 3600, retry = 600, expire = 604800, minimum = 60;
    std::uint32_t ttl = 3600;
};

/// A `tsig_keys:` item (RFC 8945), written as Knot's `key:` section: name, algorithm, base64
/// secret. Only hmac-sha256 is accepted.
struct TsigKey {
    std::string name;       ///< absolute, lower case, with trailing dot
    std::string algorithm;  ///< "hmac-sha256"
    std::string secret;     ///< base64, as written (checked to decode)
    SourcePos pos;
};

/// One of a secondary zone's `primaries:`: where to ask, and the TSIG key (by name) to sign
/// with ("" = none). NOTIFY is accepted from these addresses only.
struct Primary {
    util::IpAddr addr;
    std::uint16_t port = 53;
    std::string key;   ///< a TsigKey::name, or ""
    std::string text;  ///< "ADDRESS:PORT" for logs and status
    SourcePos pos;
};

struct Zone {
    std::string name;  ///< absolute, lower case, with trailing dot
    Soa soa;
    std::vector<NameServer> ns;
    std::uint32_t ns_ttl = 3600;
    std::string policy_file;  ///< resolved against the main file's directory
    RecordList records;       ///< from the policy file; every name is inside the zone
    /// The profiles the zone's backends could name (the API's backend lists use them too).
    std::shared_ptr<const HealthProfiles> profiles;
    SourcePos pos;
    /// `file:` an RFC 1035 master file with the zone's static data (lib/zone), resolved
    /// against the main file's directory; "" = none. With a file, `soa`/`ns` come from it
    /// (and the main config may not give them: `ns` stays empty here).
    std::string file;
    SourcePos file_pos;
    /// `primaries:` (docs/zones.md, lib/xfr): a secondary zone. Its static data comes from
    /// these servers by AXFR/IXFR (tried in this order); no `file`, `soa` or `ns` then.
    std::vector<Primary> primaries;
};

struct Listener {
    util::IpAddr addr;
    std::uint16_t port = 53;
};

struct LocationEntry {
    util::IpPrefix prefix;
    std::string location;
    SourcePos pos;
    /// `latitude` / `longitude` (both or neither; gslbd's addition to CoreDNS-GSLB's map):
    /// where the subnet's clients are for the nearest steps, ahead of the city database.
    bool has_coordinates = false;
    double latitude = 0, longitude = 0;
};

/// How UDP DNS reaches the pipeline.
enum class IoMode : std::uint8_t {
    Socket,  ///< kernel sockets (recvmmsg/sendmmsg), the default
    Dpdk,    ///< DPDK poll-mode ports (lib/io/dpdk); TCP stays on kernel sockets
};

/// An address a DPDK port answers for, with the prefix length the kernel side of the
/// exception path is given (so the kernel can route its own replies back out).
struct DpdkAddress {
    util::IpAddr addr;
    std::uint8_t prefix_len = 32;  ///< 32 / 128 when written without "/LEN"
};

/// One DPDK port (`dpdk.ports[]`).
struct DpdkPort {
    /// A PCI address ("0000:03:00.0", passed to the EAL as `-a`) or a vdev string
    /// ("net_af_packet0,iface=veth-gslb", passed as `--vdev`).
    std::string device;
    std::vector<DpdkAddress> addresses;  ///< what ARP/ND/ICMP/DNS are answered for
    unsigned queues = 1;                 ///< RX/TX queue pairs = worker lcores for this port
    /// vdev of the exception path to the kernel ("net_tap0,iface=gslbd0"); "" = none
    /// (then everything that is not answered here is dropped and counted).
    std::string exception;
    SourcePos pos;
};

/// The `dpdk:` block; read only when `io: dpdk`.
struct DpdkConfig {
    std::vector<std::string> eal_args;  ///< as on a DPDK command line, without argv[0]
    std::vector<DpdkPort> ports;
    std::uint16_t udp_port = 53;  ///< DNS port answered on the ports' addresses
    unsigned mbufs = 16383;       ///< mbufs per port pool
    SourcePos pos;
};

/// The `api:` block: the control API and metrics (lib/ctl). Paths are resolved against the
/// main file's directory; the token file is read by lib/ctl at start (not kept here).
struct ApiConfig {
    bool enabled = true;           ///< `listen: off` turns the API off
    bool listen_explicit = false;  ///< false: the default address (a busy port is a warning)
    util::IpAddr addr;             ///< default 127.0.0.1
    std::uint16_t port = 8053;
    std::string token_file;  ///< "" = no token: mutating calls are refused (403)
    bool read_requires_token = true;
    std::string tls_cert, tls_key;  ///< both or neither; HTTPS when set
    std::string state_file;         ///< admin overrides (enable/disable/drain/weight); "" = none
    bool watch = false;             ///< reload when a config file changes (inotify)
    SourcePos pos;
};

/// The `cluster:` block (docs/fleet.md): this node's place in a fleet that shares health
/// verdicts and operator overrides through etcd. Absent = a standalone node (enabled false).
struct ClusterConfig {
    bool enabled = false;
    std::vector<std::string> endpoints;  ///< "http://127.0.0.1:2379" (scheme added when missing)
    std::string ca_file, cert_file, key_file;   ///< TLS to etcd (https:// endpoints)
    std::string user, password;                 ///< etcd authentication; both or neither
    std::string prefix = "/gslbd/";             ///< key prefix, ends with '/'
    std::string node;                           ///< this node's name; default: the host name
    std::map<std::string, std::string> labels;  ///< site, region, ...
    Millis lease_ttl{10000};                    ///< votes of a dead node expire after this
    bool passive = false;             ///< role passive: answers from the fleet, never probes
    std::string quorum = "majority";  ///< majority, any, all or a fraction "0.18"
    unsigned min_voters = 1;
    unsigned probes_per_target = 0;  ///< 0 = every probing node probes every target
    bool override_fleet = true;      ///< override_scope: fleet (true) or node
    Millis timeout{2000};            ///< per etcd call
    SourcePos pos;
};

/// What an ACL rule (or the ACL's default) does with a matching query (`acl:`).
enum class AclAction : std::uint8_t {
    Allow,   ///< answer as usual
    Drop,    ///< send nothing, before the message is parsed
    Refuse,  ///< answer REFUSED
};

struct AclRule {
    util::IpPrefix prefix;
    AclAction action = AclAction::Allow;
    SourcePos pos;
};

/// Response rate limiting (`rrl:`, docs/edge.md): BIND/Knot semantics, per worker.
/// A rate of 0 turns that response class off.
struct RrlConfig {
    bool enabled = false;
    std::uint32_t responses_per_second = 0;  ///< positive answers, per (prefix, qname, qtype)
    std::uint32_t nodata_per_second = 0;     ///< NODATA, per (prefix, qname)
    std::uint32_t nxdomains_per_second = 0;  ///< NXDOMAIN, per (prefix, zone)
    std::uint32_t errors_per_second = 0;     ///< REFUSED, SERVFAIL, FORMERR..., per prefix
    std::uint32_t window = 15;               ///< seconds of debt a flooding class keeps
    std::uint32_t slip = 2;                  ///< every Nth limited response goes out with TC
    std::uint8_t ipv4_prefix = 24, ipv6_prefix = 56;
    std::vector<util::IpPrefix> exempt;
    bool log_only = false;
    std::size_t table_size = 65536;  ///< entries per worker (rounded up to a power of two)
    SourcePos pos;
};

/// DNS cookies (`cookies:`, RFC 7873 with RFC 9018 server cookies).
struct CookieConfig {
    bool enabled = false;
    /// A UDP query with a client cookie but no valid server cookie gets BADCOOKIE.
    bool enforce = false;
    /// 16-byte SipHash keys; unset: one random secret per process.
    std::optional<std::array<std::uint8_t, 16>> secret, previous_secret;
    SourcePos pos;
};

/// What a dynamic block does to its prefix's queries.
enum class BlockAction : std::uint8_t { Drop, Refuse, Truncate };

/// One threshold of `dynamic_blocks:`: more than `rate` per second over the window blocks the
/// prefix for `duration` seconds with `action`. rate 0 = off.
struct DynBlockRule {
    std::uint32_t rate = 0;
    BlockAction action = BlockAction::Drop;
    std::uint32_t duration = 60;
    SourcePos pos;
};

/// Dynamic blocks (`dynamic_blocks:`, docs/edge.md): dnsdist's per-prefix rate thresholds.
struct DynBlockConfig {
    bool enabled = false;
    DynBlockRule queries, nxdomains, any, response_bytes;  ///< per second
    std::uint32_t window = 10;                             ///< seconds
    std::uint8_t ipv4_prefix = 24, ipv6_prefix = 56;
    std::vector<util::IpPrefix> exempt;
    std::size_t table_size = 8192;  ///< prefixes per worker (rounded up to a power of two)
    SourcePos pos;
};

/// The edge protection blocks (docs/edge.md) and the privileges to keep.
struct EdgeConfig {
    AclAction acl_default = AclAction::Allow;
    std::vector<AclRule> acl;  ///< longest prefix wins
    RrlConfig rrl;
    CookieConfig cookies;
    DynBlockConfig dynblocks;
    std::string user, group;  ///< drop root to these after start-up ("" = stay)
    SourcePos user_pos;
};

/// How load_config read the zone policy files' records (for the reload log): parsed from
/// YAML, shared with the previous load (the same object), or copied from it with their
/// positions moved (the text is the same but lines above it were added or removed).
struct LoadStats {
    std::size_t parsed = 0, shared = 0, moved = 0;
    /// Policy files read whole (their text could not be split at its records: anchors,
    /// flow style, top-level keys after `records:`, ...), and read piece by piece.
    std::size_t files_whole = 0, files_split = 0;
};

struct Config {
    /// `health:` defaults for every probed backend (zone files can override rise/fall).
    /// health_assume_healthy: start-up state; true = up until `fall` failed rounds
    /// (`start: healthy`, the default), false = down until the first verdict (`start: wait`).
    bool health_assume_healthy = true;
    int health_rise = 2;
    int health_fall = 3;
    /// `health.source`: local addresses probes are sent from, at most one per family
    /// (unset = the kernel chooses). Lets each node of a fleet probe from its own address.
    std::optional<util::IpAddr> probe_source_v4, probe_source_v6;
    /// `health.resolution_idle_timeout` / `health.healthcheck_idle_multiplier`: a record
    /// nobody asked for during the timeout has its probes run `multiplier` times less often
    /// (0 / 1 = off, the default).
    Millis idle_timeout{0};
    unsigned idle_multiplier = 1;
    /// `health.batch_window`: probes due within it start together (health::Options).
    Millis probe_batch_window{20};
    /// `healthcheck_profiles`: a file of profiles every zone file may name ("" = none).
    std::string healthcheck_profiles_file;
    std::string file;  ///< main config path as given
    std::vector<Listener> udp;
    std::vector<Listener> tcp;
    unsigned workers = 1;
    Millis tcp_idle_timeout{10000};
    unsigned tcp_max_connections = 1024;
    std::uint16_t edns_udp_size = 1232;       ///< what we advertise and the most we send over UDP
    bool ecs_enabled = true;                  ///< use ECS when present and trusted
    std::vector<util::IpPrefix> ecs_trust;    ///< empty = trust everyone
    std::string country_db, city_db, asn_db;  ///< MaxMind paths, "" = none
    std::string location_map;                 ///< path, "" = none
    std::vector<LocationEntry> locations;     ///< parsed location map
    bool debug_txt = false;
    /// Response cache per worker (`cache:`): at most `cache_entries` entries (0 = off) in at
    /// most `cache_bytes` bytes; each entry gets cache_bytes / cache_entries bytes, rounded
    /// down to 64 and capped at kCacheMaxEntryBytes (answers larger than that bypass it).
    std::size_t cache_entries = 65536;
    std::size_t cache_bytes = 16u << 20;
    std::string log_level = "info";
    std::vector<Zone> zones;
    /// `tsig_keys:` (named by zones' primaries) and `secondary_dir:` (where transferred zones
    /// are kept; required when a zone has `primaries`), docs/zones.md.
    std::vector<TsigKey> tsig_keys;
    std::string secondary_dir;
    IoMode io = IoMode::Socket;
    DpdkConfig dpdk;
    ApiConfig api;
    ClusterConfig cluster;
    EdgeConfig edge;
    LoadStats load_stats;
};

/// Smallest and largest response cache entry (see Config::cache_bytes).
inline constexpr std::size_t kCacheMinEntryBytes = 128;
inline constexpr std::size_t kCacheMaxEntryBytes = 4096;
/// The entry size a cache sized by `cfg` uses (0 when the cache is off).
inline std::size_t cache_entry_bytes(const Config& cfg) noexcept {
    if (cfg.cache_entries == 0) return 0;
    const std::size_t per = cfg.cache_bytes / cfg.cache_entries / 64 * 64;
    return per < kCacheMaxEntryBytes ? per : kCacheMaxEntryBytes;
}

/// Loads the main YAML at `path`, every zone's policy file and the location map.
/// Throws ConfigError naming file, line, column and field on the first problem.
/// `previous` (a reload: the configuration in force, or null): a record of a zone of the
/// same name and policy file whose YAML, position and inherited settings are unchanged is
/// not parsed again; its Record object is shared (RecordList).
Config load_config(const std::string& path, const Config* previous = nullptr);

/// A backend list as text (YAML or JSON): a list of zone-file backends, or {"backends": [...]}
/// (the API's PUT body). Validated exactly like a zone file's `backends`, naming `zone`'s
/// health check profiles; errors read "SOURCE:LINE:COL: backends[1].address: ...". An empty
/// list is an error.
std::vector<Backend> parse_backend_list(std::string_view text, const std::string& source,
                                        const Zone& zone);

/// An `http` discovery answer: a JSON list of addresses, or of objects with `address` and
/// optionally `port`, `priority`, `weight`, `enable`, `description`, `tags`, `country`,
/// `city`, `asn`, `location`, `continent` (other keys are ignored). Each backend starts from
/// d.defaults. Throws ConfigError (naming `source`) on anything else; an empty list is an
/// error (a registry that lost everything must not empty a record).
std::vector<Backend> parse_discovered_list(std::string_view text, const std::string& source,
                                           const Discovery& d);

/// A Consul catalog answer (GET /v1/catalog/service/NAME): per entry `ServiceAddress` (or
/// `Address` when that is empty) and `ServicePort`. Same rules as parse_discovered_list().
std::vector<Backend> parse_consul_catalog(std::string_view text, const std::string& source,
                                          const Discovery& d);

/// One discovered backend: d.defaults with `address` and `port` (0 = the template's); checks
/// without a port of their own probe that port (a new check, from `checks` when given, so that
/// the backends of one answer share theirs).
Backend discovered_backend(const Discovery& d, const util::IpAddr& address, int port,
                           CheckInterner* checks = nullptr);

/// Normalizes a domain name from config text: lower case, trailing dot added; throws
/// ConfigError (at `pos`, `field`) when it is not a valid name.
std::string normalize_name(const std::string& text, const SourcePos& pos, const std::string& field);

}  // namespace gslbd::config
