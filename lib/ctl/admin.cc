#include "ctl/admin.hh"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace gslbd::ctl {

using nlohmann::json;

std::string Selector::describe() const {
    std::string s;
    auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
    if (address) add("address " + address->to_string());
    if (!tags.empty()) {
        std::string t;
        for (const auto& x : tags) t += (t.empty() ? "" : ",") + x;
        add("tags " + t);
    }
    if (location) add("location " + *location);
    if (record) add("record " + *record);
    return s.empty() ? "nothing" : s;
}

Override AdminStore::get(const std::string& record, const std::string& address) const {
    auto it = map_.find({record, address});
    return it == map_.end() ? Override{} : it->second;
}

void AdminStore::set(const BackendKey& key, const Override& o) {
    if (o.empty()) {
        map_.erase(key);
    } else {
        map_[key] = o;
    }
}

std::vector<std::pair<const gslb::RecordRt*, const gslb::BackendRt*>> AdminStore::select(
    const gslb::Topology& topo, const Selector& sel) {
    if (!sel.address && sel.tags.empty() && !sel.location && !sel.record)
        throw RequestError(400, "empty selector: give address, tags, location or record");
    std::vector<std::pair<const gslb::RecordRt*, const gslb::BackendRt*>> out;
    bool record_found = !sel.record;
    for (const auto& rec : topo.records) {
        if (sel.record && rec.cfg->name != *sel.record) continue;
        record_found = true;
        for (const auto* family : {&rec.v4, &rec.v6}) {
            for (const auto& b : *family) {
                if (sel.address && !(b.addr == *sel.address)) continue;
                const auto& tags = b.cfg->tags;
                if (!std::all_of(sel.tags.begin(), sel.tags.end(), [&](const std::string& t) {
                        return std::find(tags.begin(), tags.end(), t) != tags.end();
                    }))
                    continue;
                const auto& locs = b.cfg->locations;
                if (sel.location &&
                    std::find(locs.begin(), locs.end(), *sel.location) == locs.end())
                    continue;
                out.emplace_back(&rec, &b);
            }
        }
    }
    if (!record_found) throw RequestError(404, "unknown record '" + *sel.record + "'");
    if (out.empty()) throw RequestError(404, "no backend matches " + sel.describe());
    return out;
}

void AdminStore::overlay(const gslb::Topology& topo, std::vector<AdminState>& admin,
                         std::vector<std::uint32_t>& weight) const {
    // no override: both empty (gslb::Health reads a missing entry as enabled, weight as
    // configured), not 5 bytes per backend in every published Health
    admin.clear();
    weight.clear();
    if (map_.empty()) return;
    admin.assign(topo.backend_count, AdminState::Enabled);
    weight.assign(topo.backend_count, 0);
    std::string addr;
    for (const auto& rec : topo.records) {
        // the overrides of this record, if any: one lookup per record, an address text
        // only for the backends of a record that has some
        auto first = map_.lower_bound(BackendKey{rec.cfg->name, std::string()});
        if (first == map_.end() || first->first.first != rec.cfg->name) continue;
        for (const auto* family : {&rec.v4, &rec.v6}) {
            for (const auto& b : *family) {
                addr = b.addr.to_string();
                auto it = map_.find(BackendKey{rec.cfg->name, addr});
                if (it == map_.end() || b.id >= topo.backend_count) continue;
                admin[b.id] = it->second.state;
                weight[b.id] = it->second.weight;
            }
        }
    }
}

std::string AdminStore::to_json() const {
    json list = json::array();
    for (const auto& [key, o] : map_) {
        json e = {{"record", key.first}, {"address", key.second}, {"state", to_string(o.state)}};
        if (o.weight != 0) e["weight"] = o.weight;
        list.push_back(std::move(e));
    }
    json doc{{"version", 1}, {"overrides", std::move(list)}};
    if (!pools_.empty()) {
        json pools = json::object();
        for (const auto& [record, text] : pools_) pools[record] = json::parse(text);
        doc["pools"] = std::move(pools);
    }
    if (!shifts_.empty() && shifts_ != "[]") doc["shifts"] = json::parse(shifts_);
    return doc.dump(2) + "\n";
}

AdminStore AdminStore::load(const std::string& path) {
    AdminStore s;
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return s;
        throw std::runtime_error("state file " + path + ": cannot read: " + std::strerror(errno));
    }
    std::stringstream text;
    text << in.rdbuf();
    auto bad = [&](const std::string& why) {
        return std::runtime_error("state file " + path + ": " + why +
                                  " (fix or remove the file; it holds only API overrides)");
    };
    json doc;
    try {
        doc = json::parse(text.str());
    } catch (const json::exception& e) {
        throw bad(std::string("not valid JSON: ") + e.what());
    }
    if (!doc.is_object() || !doc.contains("overrides") || !doc["overrides"].is_array())
        throw bad("expected {\"version\": 1, \"overrides\": [...]}");
    std::size_t i = 0;
    for (const auto& e : doc["overrides"]) {
        const std::string where = "overrides[" + std::to_string(i++) + "]";
        if (!e.is_object() || !e.contains("record") || !e["record"].is_string() ||
            !e.contains("address") || !e["address"].is_string())
            throw bad(where + ": needs string fields record and address");
        auto addr = util::IpAddr::parse(e["address"].get<std::string>());
        if (!addr) throw bad(where + ": bad address '" + e["address"].get<std::string>() + "'");
        Override o;
        const std::string state = e.value("state", std::string("enabled"));
        if (state == "disabled") {
            o.state = AdminState::Disabled;
        } else if (state == "drained") {
            o.state = AdminState::Drained;
        } else if (state != "enabled") {
            throw bad(where + ": unknown state '" + state + "'");
        }
        if (e.contains("weight")) {
            if (!e["weight"].is_number_unsigned() || e["weight"].get<std::uint64_t>() > 1000000)
                throw bad(where + ": weight must be an integer in 0..1000000");
            o.weight = e["weight"].get<std::uint32_t>();
        }
        s.set({e["record"].get<std::string>(), addr->to_string()}, o);
    }
    if (doc.contains("pools")) {
        if (!doc["pools"].is_object()) throw bad("pools: expected {\"RECORD\": [backends]}");
        for (const auto& [record, list] : doc["pools"].items()) {
            if (!list.is_array() || list.empty())
                throw bad("pools." + record + ": expected a non-empty list of backends");
            s.pools_[record] = list.dump();
        }
    }
    if (doc.contains("shifts")) {
        if (!doc["shifts"].is_array()) throw bad("shifts: expected a list of shifts");
        s.shifts_ = doc["shifts"].dump();
    }
    return s;
}

void AdminStore::save(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    const std::string text = to_json();
    auto fail = [&](const char* what) {
        const std::string err = std::strerror(errno);
        ::unlink(tmp.c_str());
        throw std::runtime_error("state file " + path + ": " + what + ": " + err);
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create temporary file");
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            fail("write");
        }
        done += static_cast<std::size_t>(n);
    }
    // fsync before rename: after a crash the file is the old state or the new one, never empty.
    if (::fsync(fd) != 0) {
        ::close(fd);
        fail("fsync");
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
}

}  // namespace gslbd::ctl
