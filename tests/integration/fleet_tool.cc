// A fleet agent without the daemon, driven line by line on stdin, for the integration tests
// and for simulating many voters (bench/fleet). One process = one node.
//
//   fleet_tool --node NAME --endpoints URL[,URL...] [--prefix P] [--ttl S] [--quorum RULE]
//              [--min-voters N] [--passive] [--user U --password P] [--timeout MS]
//              [--ca FILE] [--cert FILE --key FILE]
// stdin commands, one per line; each is answered with exactly one line on stdout:
//   vote TARGET up|down|none      -> ok
//   votes N up|down               -> ok   (targets t0..t{N-1}, or the first N loaded ones:
//                                    simulated load)
//   load FILE                     -> N    (target names, one per line, replace t0..t{N-1})
//   setvotes up|down|none FIRST COUNT -> ok (loaded targets FIRST..FIRST+COUNT-1, one change)
//   verdicts FIRST COUNT          -> {"up", "down", "no_quorum"} over those loaded targets
//   override ID JSON|none         -> ok
//   view                          -> the current View as one JSON line
//   count                         -> {"up", "down", "no_quorum", "members", "connected",
//                                    "votes_written"}: cheap
//                                    with many targets (bench/fleet)
//   explain TARGET                -> {"verdict", "votes": [...]} of one target
//   wait_synced MS                -> true|false
//   quit [norevoke]               -> bye (stops the agent; revokes the lease unless norevoke)
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/fleet.hh"
#include "util/log.hh"

using namespace gslbd;
using nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep))
        if (!cur.empty()) out.push_back(cur);
    return out;
}

json view_json(const cluster::Fleet& fleet, const cluster::View& v, unsigned k) {
    json j;
    j["synced"] = v.synced;
    j["connected"] = v.connected;
    j["last_error"] = v.last_error;
    j["revision"] = v.revision;
    j["self_index"] = v.self_index;
    json members = json::object();
    for (const auto& [name, m] : v.members)
        members[name] = {{"role", std::string(cluster::to_string(m.info.role))},
                         {"labels", m.info.labels},
                         {"generation", m.info.generation},
                         {"config_digest", m.info.config_digest}};
    j["members"] = members;
    json targets = json::object();
    v.targets->for_each([&](const std::string& t, const cluster::TargetView& tv) {
        std::size_t up = 0, down = 0, stale = 0;  // the votes now (tv.tally: at the last change)
        for (const auto& vote : fleet.votes(t)) ++(!vote.fresh ? stale : vote.up ? up : down);
        targets[t] = {{"verdict", std::string(cluster::to_string(tv.verdict))},
                      {"up", up},
                      {"down", down},
                      {"stale", stale},
                      {"assigned", v.assigned(t, k)}};
    });
    j["targets"] = targets;
    json ov = json::object();
    for (const auto& [id, doc] : *v.overrides) ov[id] = doc;
    j["overrides"] = ov;
    const auto& c = v.counters;
    j["counters"] = {{"etcd_errors", c.etcd_errors},     {"resyncs", c.resyncs},
                     {"watch_events", c.watch_events},   {"txns", c.txns},
                     {"votes_written", c.votes_written}, {"lease_grants", c.lease_grants}};
    return j;
}

}  // namespace

int main(int argc, char** argv) {
    cluster::FleetOptions o;
    o.lease_ttl = std::chrono::seconds{3};
    o.etcd.timeout = std::chrono::milliseconds{1000};
    o.etcd.connect_timeout = std::chrono::milliseconds{300};
    o.max_backoff = std::chrono::milliseconds{500};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--node")
            o.self.name = next();
        else if (a == "--endpoints")
            o.etcd.endpoints = split(next(), ',');
        else if (a == "--prefix")
            o.prefix = next();
        else if (a == "--ttl")
            o.lease_ttl = std::chrono::seconds{std::stoi(next())};
        else if (a == "--quorum")
            o.rule = *cluster::QuorumRule::parse(next());
        else if (a == "--min-voters")
            o.rule.min_voters = static_cast<unsigned>(std::stoi(next()));
        else if (a == "--probes-per-target")
            o.probes_per_target = static_cast<unsigned>(std::stoi(next()));
        else if (a == "--passive")
            o.self.role = cluster::Role::Passive;
        else if (a == "--user")
            o.etcd.user = next();
        else if (a == "--password")
            o.etcd.password = next();
        else if (a == "--timeout")
            o.etcd.timeout = std::chrono::milliseconds{std::stoi(next())};
        else if (a == "--ca")
            o.etcd.ca_file = next();
        else if (a == "--cert")
            o.etcd.cert_file = next();
        else if (a == "--key")
            o.etcd.key_file = next();
        else if (a == "--debug")
            util::set_log_level(util::LogLevel::debug);
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    cluster::Fleet fleet(o, nullptr);
    fleet.start();
    std::vector<std::string> loaded;  // `load`: real target keys (bench/fleet)
    auto target_name = [&](std::size_t i) {
        return i < loaded.size() ? loaded[i] : "t" + std::to_string(i);
    };
    std::string line;
    while (std::getline(std::cin, line)) {
        auto w = split(line, ' ');
        if (w.empty()) continue;
        json out = "ok";
        if (w[0] == "vote" && w.size() == 3) {
            fleet.set_vote(w[1], w[2] == "none" ? std::nullopt : std::optional<bool>(w[2] == "up"));
        } else if (w[0] == "votes" && w.size() == 3) {
            std::unordered_map<std::string, bool> votes;
            const int n = std::stoi(w[1]);
            for (int i = 0; i < n; ++i)
                votes[target_name(static_cast<std::size_t>(i))] = w[2] == "up";
            fleet.set_votes(std::move(votes));
        } else if (w[0] == "load" && w.size() == 2) {
            std::ifstream in(w[1]);
            loaded.clear();
            for (std::string t; std::getline(in, t);)
                if (!t.empty()) loaded.push_back(t);
            out = loaded.size();
        } else if (w[0] == "setvotes" && w.size() == 4) {
            const auto first = static_cast<std::size_t>(std::stoul(w[2]));
            const auto count = static_cast<std::size_t>(std::stoul(w[3]));
            std::optional<bool> up;
            if (w[1] != "none") up = w[1] == "up";
            fleet.update_votes([&](cluster::VoteEdit& votes) {
                for (std::size_t i = first; i < first + count; ++i) {
                    if (up)
                        votes.set(target_name(i), *up);
                    else
                        votes.erase(target_name(i));
                }
            });
        } else if (w[0] == "verdicts" && w.size() == 3) {
            const auto v = fleet.view();
            const auto first = static_cast<std::size_t>(std::stoul(w[1]));
            const auto count = static_cast<std::size_t>(std::stoul(w[2]));
            std::size_t up = 0, down = 0, nq = 0;
            for (std::size_t i = first; i < first + count; ++i) {
                const auto fv = v->target(target_name(i)).verdict;
                ++(fv == cluster::FleetVerdict::Up     ? up
                   : fv == cluster::FleetVerdict::Down ? down
                                                       : nq);
            }
            out = {{"up", up}, {"down", down}, {"no_quorum", nq}};
        } else if (w[0] == "override" && w.size() >= 3) {
            const std::string doc = line.substr(line.find(w[1]) + w[1].size() + 1);
            fleet.set_override(w[1],
                               doc == "none" ? std::nullopt : std::optional<std::string>(doc));
        } else if (w[0] == "count") {
            const auto v = fleet.view();
            std::size_t up = 0, down = 0, nq = 0;
            v->targets->for_each([&](const std::string&, const cluster::TargetView& tv) {
                if (tv.verdict == cluster::FleetVerdict::Up)
                    ++up;
                else if (tv.verdict == cluster::FleetVerdict::Down)
                    ++down;
                else
                    ++nq;
            });
            out = {{"up", up},
                   {"down", down},
                   {"no_quorum", nq},
                   {"members", v->members.size()},
                   {"connected", v->connected},
                   {"votes_written", v->counters.votes_written}};
        } else if (w[0] == "view") {
            out = view_json(fleet, *fleet.view(), o.probes_per_target);
        } else if (w[0] == "explain" && w.size() == 2) {
            out = {
                {"verdict", std::string(cluster::to_string(fleet.view()->target(w[1]).verdict))}};
        } else if (w[0] == "wait_synced" && w.size() == 2) {
            out = fleet.wait_synced(std::chrono::milliseconds{std::stoi(w[1])});
        } else if (w[0] == "quit") {
            fleet.stop(!(w.size() == 2 && w[1] == "norevoke"));
            std::cout << "\"bye\"" << std::endl;
            return 0;
        } else {
            out = {{"error", "unknown command: " + line}};
        }
        std::cout << out.dump() << std::endl;
    }
    fleet.stop();
    return 0;
}
