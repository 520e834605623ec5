#pragma once
/// A small etcd v3 client over etcd's JSON gateway (HTTP/1.1 + JSON, served by every etcd
/// member on its client URL), through libcurl. Why not gRPC: see docs/fleet.md ("Why the JSON
/// gateway").
///
/// Control side only: every call blocks (bounded by Options::timeout) and throws EtcdError;
/// gslbd runs it on the fleet thread, never on a worker or the probe loop. One Client is not
/// thread-safe; use one per thread (the fleet keeps one for calls and one for the watch).
///
/// Endpoints: calls go to the endpoint that answered last; on a connection failure or an
/// unavailable member the next endpoint is tried, each at most once per call.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gslbd::cluster::etcd {

struct Options {
    std::vector<std::string> endpoints;        ///< "http://127.0.0.1:2379", "https://etcd1:2379"
    std::string user, password;                ///< both empty = no authentication
    std::string ca_file, cert_file, key_file;  ///< TLS: CA to verify the members, client cert
    std::chrono::milliseconds timeout{2000};   ///< per call (connect + answer)
    std::chrono::milliseconds connect_timeout{1000};
};

class Error : public std::runtime_error {
  public:
    enum class Kind : std::uint8_t {
        Unavailable,  ///< no endpoint answered (connection refused, timeout, member unready)
        Auth,         ///< authentication failed or the user may not do this
        Compacted,    ///< the revision asked for has been compacted away
        Rejected,     ///< etcd refused the request (too large, too many ops, bad lease, ...)
        Protocol,     ///< an answer that is not what the gateway documents
    };
    Error(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

  private:
    Kind kind_;
};

struct KeyValue {
    std::string key, value;
    std::int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

struct RangeResult {
    std::vector<KeyValue> kvs;
    std::int64_t revision = 0;  ///< the store's revision the result was read at
};

/// One operation of a transaction (Client::txn).
struct Op {
    enum class Kind : std::uint8_t { Put, Delete, DeletePrefix };
    Kind kind = Kind::Put;
    std::string key, value;
    std::int64_t lease = 0;  ///< Put only
    static Op put(std::string key, std::string value, std::int64_t lease = 0) {
        return Op{Kind::Put, std::move(key), std::move(value), lease};
    }
    static Op del(std::string key) { return Op{Kind::Delete, std::move(key), {}, 0}; }
    static Op del_prefix(std::string prefix) {
        return Op{Kind::DeletePrefix, std::move(prefix), {}, 0};
    }
};

struct WatchEvent {
    enum class Type : std::uint8_t { Put, Delete };
    Type type = Type::Put;
    KeyValue kv;  ///< Delete: key and mod_revision only
};

/// Why Client::watch returned.
enum class WatchEnd : std::uint8_t {
    Stopped,    ///< the stop flag was set, or the callback returned false
    Compacted,  ///< start revision compacted: resync in full (range, then watch from there)
    Broken,     ///< the stream ended or failed (member gone, network): resume from next revision
};

/// The smallest key greater than every key starting with `prefix` (etcd's range_end).
std::string prefix_end(std::string_view prefix);
/// Standard base64 (the gateway's encoding of keys and values).
std::string base64_encode(std::string_view in);
/// Decodes standard base64; throws Error(Protocol) on bad input.
std::string base64_decode(std::string_view in);

class Client {
  public:
    /// Checks nothing on the network; throws std::invalid_argument without endpoints.
    explicit Client(Options opts);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// A new lease of `ttl_seconds`; returns its id.
    std::int64_t lease_grant(std::int64_t ttl_seconds);
    /// Renews a lease; returns the TTL it now has, 0 when the lease no longer exists.
    std::int64_t lease_keepalive(std::int64_t id);
    /// Revokes a lease (its keys are deleted at once). A missing lease is not an error.
    void lease_revoke(std::int64_t id);

    /// Puts one key; returns the store revision after it.
    std::int64_t put(std::string_view key, std::string_view value, std::int64_t lease = 0);
    /// Deletes one key (or, with `prefix`, every key starting with it); returns the revision.
    std::int64_t del(std::string_view key, bool prefix = false);
    /// Applies `ops` atomically (one etcd transaction without compares). etcd limits a
    /// transaction to --max-txn-ops operations (128 by default): callers batch. Returns the
    /// revision after it.
    std::int64_t txn(const std::vector<Op>& ops);
    /// Every key starting with `prefix`, read at one revision (`revision` 0 = the newest),
    /// fetched in pages of `page` keys.
    RangeResult range_prefix(std::string_view prefix, std::int64_t revision = 0,
                             std::size_t page = 5000);

    /// Watches keys starting with `prefix` from `start_revision` (0 = from now): calls
    /// `on_events(events, revision)` for every batch, `revision` being the store revision of
    /// the batch (watch from revision + 1 to resume). Blocks until the stream ends, `stop`
    /// becomes true (noticed within about 100 ms) or on_events returns false. Throws Error
    /// (Unavailable, Auth) when no endpoint accepts the watch. `on_created` is called once the
    /// watch is registered (with the store revision then).
    WatchEnd watch(
        std::string_view prefix, std::int64_t start_revision,
        const std::function<bool(const std::vector<WatchEvent>&, std::int64_t)>& on_events,
        const std::atomic<bool>& stop, const std::function<void(std::int64_t)>& on_created = {});

    /// The endpoint the last call went to (for logs and status).
    const std::string& endpoint() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gslbd::cluster::etcd
