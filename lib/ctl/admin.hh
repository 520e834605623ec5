#pragma once
/// Operator overrides of backends (enable / disable / drain / weight), set through the
/// control API, kept in a state file (never in the zone YAML) and laid over the health
/// verdicts when a snapshot is published.
///
/// An override belongs to one backend of one record, named by (record name, address), so it
/// survives reloads that keep that pair and is inert while the pair is absent. Selectors
/// (address, tags, location, record) are resolved against the topology current when the
/// call is made; a later reload does not widen them to backends that gained the tag.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gslb/snapshot.hh"

namespace gslbd::ctl {

/// The override itself is a type of the snapshot the workers read (gslb/snapshot.hh).
using gslb::AdminState;
using gslb::to_string;

struct Override {
    AdminState state = AdminState::Enabled;
    std::uint32_t weight = 0;  ///< 0 = the configured weight
    bool empty() const noexcept { return state == AdminState::Enabled && weight == 0; }
    friend bool operator==(const Override&, const Override&) = default;
};

/// What an API call names. At least one of address, tags, location, record must be set.
struct Selector {
    std::optional<util::IpAddr> address;
    std::vector<std::string> tags;  ///< the backend must carry every one
    std::optional<std::string> location;
    std::optional<std::string> record;  ///< absolute, lower case
    std::string describe() const;
};

/// Thrown for requests that cannot be applied; the API maps it to a 4xx status.
class RequestError : public std::runtime_error {
  public:
    RequestError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
    int status() const noexcept { return status_; }

  private:
    int status_;
};

using BackendKey = std::pair<std::string, std::string>;  ///< (record name, address text)

/// Overrides by backend. A plain value: copy, change, save, then swap (nothing half-applied).
class AdminStore {
  public:
    const std::map<BackendKey, Override>& overrides() const noexcept { return map_; }
    /// Pools set through the API (PUT .../records/{name}/backends) by record name: the
    /// backend list as the JSON text that was accepted, read again with the zone file's
    /// parser when the state file is loaded (config::parse_backend_list).
    const std::map<std::string, std::string>& pools() const noexcept { return pools_; }
    void set_pool(const std::string& record, std::string json_list) {
        pools_[record] = std::move(json_list);
    }
    void set_pools(std::map<std::string, std::string> p) { pools_ = std::move(p); }
    /// Live traffic shifts (ctl/shift.hh, ShiftBook::durable()) as JSON array text; "" =
    /// none. Read back by ShiftBook::restore(), which skips entries that do not read.
    const std::string& shifts() const noexcept { return shifts_; }
    void set_shifts(std::string json_array) { shifts_ = std::move(json_array); }
    Override get(const std::string& record, const std::string& address) const;
    void set(const BackendKey& key, const Override& o);

    /// Backends of `topo` that `sel` names, as (record, backend) pointers. Throws RequestError
    /// 404 when none matches.
    static std::vector<std::pair<const gslb::RecordRt*, const gslb::BackendRt*>> select(
        const gslb::Topology& topo, const Selector& sel);

    /// Fills admin state and weight override by backend id for `topo`.
    void overlay(const gslb::Topology& topo, std::vector<AdminState>& admin,
                 std::vector<std::uint32_t>& weight) const;

    /// JSON text of the state file.
    std::string to_json() const;
    /// Reads a state file; a missing file is an empty store. Throws std::runtime_error naming
    /// the file and the problem.
    static AdminStore load(const std::string& path);
    /// Writes the state atomically (temporary file in the same directory, fsync, rename).
    /// Throws std::runtime_error naming the file.
    void save(const std::string& path) const;

  private:
    std::map<BackendKey, Override> map_;
    std::map<std::string, std::string> pools_;
    std::string shifts_;
};

}  // namespace gslbd::ctl
