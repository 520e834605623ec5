// gslbctl shift: traffic shifts and drills (docs/gradual.md), kept apart from client.cc so
// that the other commands' code stays as it was.
#include <cstdlib>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "ctl/client.hh"

namespace gslbd::ctl::client {

using nlohmann::json;

namespace {

std::string text_of(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    if (j[key].is_string()) return j[key].get<std::string>();
    return j[key].dump();
}

std::string percent_of(const json& share) {
    if (!share.is_number()) return "-";
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << share.get<double>() * 100.0 << "%";
    return s.str();
}

std::string seconds_of(const json& v) {
    if (!v.is_number()) return "-";
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << v.get<double>();
    return s.str();
}

}  // namespace

Request make_shift_request(const CommandLine& cl) {
    const auto& args = cl.args;
    const std::string sub = args.size() > 1 ? args[1] : "list";
    if (sub == "list" && args.size() <= 2)
        return {Command::kShiftList, "shift list", false, "/api/v1/shift", {}};
    auto id_arg = [&]() {
        if (args.size() != 3 || args[2].empty() ||
            args[2].find_first_not_of("0123456789") != std::string::npos)
            throw UsageError("shift " + sub + " ID (the number `shift list` shows)");
        return args[2];
    };
    if (sub == "show") {
        Request r{Command::kShiftShow, "shift show", false, "/api/v1/shift/" + id_arg(), {}};
        r.wait = cl.wait;
        return r;
    }
    if (sub == "pause" || sub == "resume" || sub == "abort")
        return {Command::kShift, "shift " + sub, true, "/api/v1/shift/" + id_arg() + "/" + sub,
                json::object()};
    if (sub == "start") {
        if (args.size() != 2) throw UsageError("shift start takes options only");
        if (cl.selector.empty())
            throw UsageError(
                "shift start needs a selector: --address, --tag, --location or --record");
        json body = cl.selector;
        for (const char* key : {"share", "step"}) {
            if (!cl.shift.contains(key)) continue;
            const std::string v = cl.shift[key].get<std::string>();
            char* end = nullptr;
            const long p = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || p < 1 || p > 100)
                throw UsageError(std::string("--") + key + " must be a percent in 1..100");
            body[key] = p;
        }
        if (cl.shift.contains("interval")) body["interval"] = cl.shift["interval"];
        if (cl.shift.contains("drill")) body["restore_after"] = cl.shift["drill"];
        Request r{Command::kShift, "shift start", true, "/api/v1/shift", std::move(body)};
        r.wait = cl.wait;
        return r;
    }
    throw UsageError(
        "shift start SELECTOR [--share P] [--step P] [--interval D] [--drill D] [--wait] | shift "
        "list | shift show ID | shift pause|resume|abort ID");
}

void print_shift(const json& s, std::ostream& out) {
    out << "shift " << text_of(s, "id") << (s.value("drill", false) ? " (drill)" : "") << ": "
        << text_of(s, "describe") << ", " << text_of(s, "state");
    if (s.contains("reason")) out << " (" << text_of(s, "reason") << ")";
    out << "\n"
        << "plan: " << text_of(s, "share") << " % in steps of " << text_of(s, "step") << " % every "
        << seconds_of(s["interval_s"]) << " s";
    if (s.contains("restore_after_s"))
        out << ", restored after " << seconds_of(s["restore_after_s"]) << " s";
    out << "; step " << text_of(s, "steps_taken") << " of " << text_of(s, "steps_total")
        << ", moved " << text_of(s, "moved_percent") << " %, elapsed " << seconds_of(s["elapsed_s"])
        << " s";
    if (s.contains("next_step_in_s"))
        out << ", next step in " << seconds_of(s["next_step_in_s"]) << " s";
    if (s.contains("restore_in_s")) out << ", restore in " << seconds_of(s["restore_in_s"]) << " s";
    out << "\n";
    if (s.contains("warnings"))
        for (const auto& w : s["warnings"]) out << "warning: " << w.get<std::string>() << "\n";
    // one column per backend, in the order of the first step that counted it
    std::vector<std::pair<std::string, std::string>> cols;
    std::map<std::pair<std::string, std::string>, bool> target;
    std::map<std::string, bool> recs;
    for (const auto& st : s["steps"])
        for (const auto& b : st["backends"]) {
            const auto key = std::make_pair(b.value("record", ""), b.value("address", ""));
            if (!target.count(key)) cols.push_back(key);
            target[key] = b.value("target", false);
            recs[key.first] = true;
        }
    std::vector<std::string> head = {"STEP",  "MOVED",      "STATE", "FROM_S",  "TO_S",
                                     "TOTAL", "TO_TARGETS", "SHARE", "EXPECTED"};
    for (const auto& c : cols)
        head.push_back((recs.size() > 1 ? c.first + " " : "") + c.second + (target[c] ? "*" : ""));
    std::vector<std::vector<std::string>> rows = {head};
    for (const auto& st : s["steps"]) {
        std::map<std::pair<std::string, std::string>, std::string> n;
        for (const auto& b : st["backends"])
            n[{b.value("record", ""), b.value("address", "")}] = text_of(b, "answers");
        std::vector<std::string> row = {text_of(st, "step"),
                                        text_of(st, "moved_percent") + "%",
                                        text_of(st, "state"),
                                        seconds_of(st["from_s"]),
                                        seconds_of(st["to_s"]),
                                        text_of(st["answers"], "total"),
                                        text_of(st["answers"], "targets"),
                                        percent_of(st["target_share"]),
                                        percent_of(st["expected_target_share"])};
        for (const auto& c : cols) row.push_back(n.count(c) ? n[c] : "0");
        rows.push_back(std::move(row));
    }
    print_table(rows, out);
    out << "* = target; SHARE = answers to the targets / all answers of their records in that "
           "step; EXPECTED = the documented function\n";
}

void print_shifts(const json& list, std::ostream& out) {
    std::vector<std::vector<std::string>> rows = {
        {"ID", "STATE", "SELECTOR", "MOVED", "STEP", "OF", "ELAPSED_S", "LAST_SHARE"}};
    for (const auto& s : list["shifts"]) {
        std::string share = "-";
        if (!s["steps"].empty()) share = percent_of(s["steps"].back()["target_share"]);
        rows.push_back({text_of(s, "id") + (s.value("drill", false) ? " (drill)" : ""),
                        text_of(s, "state"), text_of(s, "describe"),
                        text_of(s, "moved_percent") + "%", text_of(s, "steps_taken"),
                        text_of(s, "steps_total"), seconds_of(s["elapsed_s"]), share});
    }
    print_table(rows, out);
    out << list["shifts"].size() << " shift(s)\n";
}

}  // namespace gslbd::ctl::client
