#include "ctl/explain.hh"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "dns/query.hh"
#include "dns/response.hh"
#include "dns/wire.hh"
#include "gslb/engine.hh"
#include "gslb/policy.hh"
#include "health/gradual.hh"
#include "pipeline/pipeline.hh"

namespace gslbd::ctl {

using nlohmann::json;

namespace {

struct TypeName {
    std::uint16_t type;
    const char* name;
};
constexpr std::array<TypeName, 16> kTypes = {{{1, "A"},
                                              {2, "NS"},
                                              {5, "CNAME"},
                                              {6, "SOA"},
                                              {12, "PTR"},
                                              {13, "HINFO"},
                                              {15, "MX"},
                                              {16, "TXT"},
                                              {28, "AAAA"},
                                              {33, "SRV"},
                                              {41, "OPT"},
                                              {64, "SVCB"},
                                              {65, "HTTPS"},
                                              {252, "AXFR"},
                                              {255, "ANY"},
                                              {257, "CAA"}}};

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string prefix_text(const util::IpAddr& a, unsigned len) {
    util::IpPrefix p;
    p.addr = a;
    const unsigned bits = a.family == 4 ? 32 : 128;
    p.len = static_cast<std::uint8_t>(std::min(len, bits));
    for (unsigned i = p.len; i < bits; ++i)
        p.addr.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
    return p.to_string();
}

std::string code_text(std::uint16_t packed) {
    if (packed == 0) return "";
    return std::string{static_cast<char>(packed >> 8), static_cast<char>(packed & 0xff)};
}

/// A query in wire format: header, question, OPT (DO=0, 1232) with ECS when given.
std::vector<std::uint8_t> build_query(const gslb::WireName& name, std::uint16_t qtype,
                                      const std::optional<util::IpPrefix>& ecs) {
    dns::Ecs e;
    if (ecs) {
        e.present = true;
        e.family = ecs->addr.family == 4 ? 1 : 2;
        e.source_prefix = ecs->len;
        std::copy_n(ecs->addr.bytes.begin(), dns::ecs_addr_len(ecs->len), e.addr.begin());
    }
    std::vector<std::uint8_t> q(dns::kHeaderSize + name.len + 4 + dns::opt_size(&e));
    dns::Writer w(q);
    w.u16(0x4a11);  // ID
    w.u16(0);       // flags: QUERY, RD clear
    w.u16(1);       // QDCOUNT
    w.u16(0);
    w.u16(0);
    w.u16(1);  // ARCOUNT: the OPT
    w.bytes(name.span());
    w.u16(qtype);
    w.u16(dns::kClassIN);
    dns::put_opt(w, dns::kDefaultEdnsUdpSize, 0, false, &e, 0);
    return q;
}

[[noreturn]] void unreadable() {
    throw RequestError(500, "internal: cannot read the response built for the explanation");
}

std::string name_text(const std::uint8_t* wire, std::size_t n) {
    char text[4 * dns::kMaxNameWire + 1];  // every byte as \DDD at worst
    if (n == 0 || dns::name_to_text(wire, n, text, sizeof text) == 0) unreadable();
    return text;
}

/// The (possibly compressed) name at the cursor as text; the cursor moves past it.
std::string read_name(dns::Reader& r) {
    std::uint8_t wire[dns::kMaxNameWire];
    return name_text(wire, dns::read_name(r, wire));
}

/// The answer as a resolver sees it: rcode, flags, records, ECS scope.
json decode_response(std::span<const std::uint8_t> m) {
    dns::Reader r(m);
    dns::Header h;
    if (!dns::read_header(r, h)) return json{{"rcode", "none (dropped)"}};
    json out = {{"aa", (h.flags & dns::flag::AA) != 0}, {"tc", (h.flags & dns::flag::TC) != 0}};
    for (unsigned i = 0; i < h.qdcount; ++i)
        if (!dns::skip_question(r)) unreadable();
    json answer = json::array(), authority = json::array();
    unsigned ext_rcode = 0;
    const unsigned counts[3] = {h.ancount, h.nscount, h.arcount};
    for (int section = 0; section < 3; ++section) {
        for (unsigned i = 0; i < counts[section]; ++i) {
            std::uint8_t owner[dns::kMaxNameWire];
            dns::RrInfo info;
            const std::size_t owner_len = dns::read_rr(r, owner, info);
            if (owner_len == 0) unreadable();
            const std::uint8_t* rd = m.data() + info.rdata;
            if (info.type == dns::qtype::OPT) {
                ext_rcode = (info.ttl >> 24) & 0xff;
                dns::Reader o(m.subspan(info.rdata, info.rdlength));
                while (o.left() >= dns::kOptionHead) {
                    const std::uint16_t code = o.u16(), len = o.u16();
                    const std::uint8_t* v = o.bytes(len);
                    if (v == nullptr) break;
                    if (code == dns::kOptionEcs && len >= dns::kEcsFixed) {
                        out["ecs_scope"] = v[3];
                        out["ecs_source"] = v[2];
                    }
                }
                continue;
            }
            json rr = {{"name", name_text(owner, owner_len)},
                       {"type", qtype_name(info.type)},
                       {"ttl", info.ttl}};
            char buf[INET6_ADDRSTRLEN];
            if (info.type == dns::qtype::A && info.rdlength == 4) {
                rr["data"] = inet_ntop(AF_INET, rd, buf, sizeof buf);
            } else if (info.type == dns::qtype::AAAA && info.rdlength == 16) {
                rr["data"] = inet_ntop(AF_INET6, rd, buf, sizeof buf);
            } else if (info.type == dns::qtype::CNAME || info.type == dns::qtype::NS ||
                       info.type == dns::qtype::SOA) {
                dns::Reader target(m);
                target.seek(info.rdata);
                rr["data"] = read_name(target);  // for SOA: its MNAME
            } else if (info.type == dns::qtype::TXT && info.rdlength > 0) {
                rr["data"] = std::string(reinterpret_cast<const char*>(rd + 1),
                                         std::min<std::size_t>(rd[0], info.rdlength - 1u));
            }
            if (section == 0) answer.push_back(std::move(rr));
            if (section == 1) authority.push_back(std::move(rr));
        }
    }
    out["rcode"] = rcode_name(ext_rcode << 4 | (h.flags & 0x0f));
    out["answer"] = std::move(answer);
    out["authority"] = std::move(authority);
    return out;
}

// The part every MaxMind lookup's facts share: which database, and what it matched.
template <typename Result>
json db_fact(const geo::MaxMindDb& db, const util::IpAddr& a, const Result& r) {
    return {{"database", db.path()},
            {"found", r.found},
            {"network", prefix_text(a, r.prefix)},
            {"scope", r.prefix}};
}

/// What every configured geo source says about `a` (the same lookups geoip makes).
json geo_facts(const gslb::Topology& topo, const util::IpAddr& a) {
    json g = json::object();
    const geo::GeoDbs* geo = topo.geo.get();
    if (geo == nullptr) return g;
    const config::Config& cfg = *topo.config;
    if (geo->locations) {
        const auto m = geo->locations->lookup(a);
        json e = {{"source", cfg.location_map}, {"scope", m.prefix}, {"matched", m.id >= 0}};
        if (m.id >= 0) {
            e["location"] = geo->locations->name_of(m.id);
            const std::string net = prefix_text(a, m.matched);
            e["network"] = net;
            for (const auto& le : cfg.locations) {
                if (le.prefix.to_string() == net && le.location == geo->locations->name_of(m.id)) {
                    e["entry"] = le.pos.to_string() + ": " + net + " -> " + le.location;
                    break;
                }
            }
        } else {
            e["network"] = prefix_text(a, m.prefix);
        }
        g["location_map"] = std::move(e);
    }
    if (geo->asn_db) {
        const auto r = geo->asn_db->asn(a);
        json e = db_fact(*geo->asn_db, a, r);
        if (r.found) e["asn"] = r.asn;
        g["asn"] = std::move(e);
    }
    if (geo->city_db) {
        const auto r = geo->city_db->city(a);
        json e = db_fact(*geo->city_db, a, r);
        if (r.found) e["city"] = std::string(r.name);
        // what the subdivision and nearest steps read (geoip, geoip_affinity)
        const auto p = geo->city_db->place(a);
        if (p.subdivision != 0) e["subdivision"] = geo::subdivision_text(p.subdivision);
        if (p.has_coordinates) e["coordinates"] = {p.latitude, p.longitude};
        g["city"] = std::move(e);
    }
    const geo::MaxMindDb* cdb = geo->country_db ? geo->country_db.get() : geo->city_db.get();
    if (cdb != nullptr) {
        const auto r = cdb->country(a);
        json e = db_fact(*cdb, a, r);
        if (r.found) {
            e["country"] = code_text(r.country);
            e["continent"] = code_text(r.continent);
        }
        g["country"] = std::move(e);
    }
    return g;
}

std::string fallback_mode_name(config::FallbackMode m) {
    switch (m) {
        case config::FallbackMode::Rcode:
            return "rcode";
        case config::FallbackMode::Ips:
            return "fallback_ips";
        case config::FallbackMode::Cname:
            return "fallback_cname";
        case config::FallbackMode::FailOpenSelect:
            return "fail_open_select";
        default:
            return "fail_open";
    }
}

/// The query explain asks about, in wire format and as the pipeline parses it.
struct Asked {
    std::uint16_t qtype = 0;
    std::vector<std::uint8_t> packet;
    dns::Query q;
};

Asked parse_request(const ExplainRequest& req) {
    const auto qt = qtype_from_text(req.qtype);
    if (!qt) throw RequestError(400, "unknown qtype '" + req.qtype + "'");
    if (req.client.family == 0) throw RequestError(400, "client address missing");
    if (req.name.empty()) throw RequestError(400, "name missing");
    gslb::WireName wire;
    try {
        wire = gslb::WireName::from_text(req.name, config::SourcePos{"request", 0, 0}, "name");
    } catch (const std::exception& e) {
        throw RequestError(400, "bad name '" + req.name + "'");
    }
    Asked a;
    a.qtype = *qt;
    a.packet = build_query(wire, *qt, req.ecs);
    if (dns::parse_query(a.packet, a.q).status != dns::ParseStatus::Ok)
        throw RequestError(400, "cannot build a valid query from these parameters");
    return a;
}

std::string client_why(gslb::ClientChoice c, const ExplainRequest& req) {
    switch (c) {
        case gslb::ClientChoice::Ecs:
            return "ECS subnet " + req.ecs->to_string();
        case gslb::ClientChoice::EcsDisabled:
            return "packet source: ECS is disabled (ecs.enabled: false)";
        case gslb::ClientChoice::EcsUntrusted:
            return "packet source: " + req.client.to_string() + " is not in ecs.trust";
        case gslb::ClientChoice::EcsPrefixZero:
            return "packet source: ECS source prefix 0 asks for an answer for everyone";
        case gslb::ClientChoice::Source:
            break;
    }
    return "packet source (no ECS in the query)";
}

/// The answer as dig gets it: a cache-less pipeline on the same snapshot.
json run_pipeline(const gslb::Snapshot& snap, const Asked& a, const util::IpAddr& source) {
    gslb::SnapshotHolder holder;
    holder.publish(std::make_unique<const gslb::Snapshot>(snap));
    pipeline::Pipeline pipe(holder, 0x5eed, 0, 256);
    pipe.count_answers(false);
    std::vector<std::uint8_t> buf(dns::kMaxMessage);
    std::size_t n = 0;
    {
        gslb::RcuThread reader;
        n = pipe.handle(a.packet, source, buf, false);
        gslb::RcuThread::quiescent();
    }
    return decode_response({buf.data(), n});
}

/// The zone's name as the config spells it.
std::string zone_name(const gslb::Topology& topo, const gslb::ZoneRt& zone) {
    for (const auto& z : topo.config->zones) {
        gslb::WireName zn = gslb::WireName::from_text(z.name, z.pos, "name");
        if (zn.view() == zone.name.view()) return z.name;
    }
    return "";
}

/// Why a candidate is out of the answer, or served only as a last resort ("" when neither).
std::string candidate_why(const gslb::BackendRt& b, bool up, gslb::AdminState adm, bool eligible) {
    if (!b.enabled) return "enable: false in the zone file";
    if (adm == gslb::AdminState::Disabled) return "disabled through the API";
    if (adm == gslb::AdminState::Drained && !eligible) return "drained through the API";
    if (!up && !eligible) return "health: down";
    if (!up) return "health: down, served by fail-open";
    if (adm == gslb::AdminState::Drained) return "drained, served by fail-open";
    return "";
}

}  // namespace

json weight_json(std::uint64_t weight, std::uint32_t percent) {
    if (weight * percent % 100 == 0) return weight * percent / 100;
    return std::round(static_cast<double>(weight * percent) * 10.0) / 1000.0;
}

json gradual_json(const gslb::Health& h, const gslb::BackendRt& b, const config::Gradual& g) {
    if (b.id >= h.notes.size()) return nullptr;
    const gslb::GradualNote& n = h.notes[b.id];
    const double now = health::steady_seconds();
    auto round1 = [](double x) { return std::round(x * 10.0) / 10.0; };
    json j = json::object();
    if (g.slow_start.on()) {
        const bool ramping = n.ramp_until > now;
        const std::uint32_t pct = b.id < h.ramp.size() && h.ramp[b.id] != 0 ? h.ramp[b.id] : 100;
        j["slow_start"] = {{"ramping", ramping},
                           {"percent", pct},
                           {"window_s", round1(g.slow_start.window.count() / 1000.0)}};
        if (ramping) j["slow_start"]["full_in_s"] = round1(n.ramp_until - now);
    }
    if (g.damping.enabled) {
        const double hl = g.damping.half_life.count() / 1000.0;
        const double pen =
            n.penalty <= 0 ? 0.0 : n.penalty * std::exp2(-std::max(now - n.penalty_at, 0.0) / hl);
        j["damping"] = {{"penalty", std::round(pen)},
                        {"flaps", n.flaps},
                        {"suppressed", n.suppressed},
                        {"suppress", g.damping.suppress},
                        {"reuse", g.damping.reuse}};
        if (n.suppressed) j["damping"]["reuse_in_s"] = round1(std::max(n.reuse_at - now, 0.0));
    }
    if (g.scoring.enabled) {
        json sc = {{"percent", n.score}, {"samples", n.samples}};
        if (n.samples != 0) {
            sc["success_percent"] = round1(n.success * 100.0);
            sc["latency_ms"] = round1(n.latency_ms);
        }
        if (g.scoring.load > 0) sc["load"] = n.load >= 0 ? json(n.load) : json(nullptr);
        j["score"] = std::move(sc);
    }
    if (n.changed_at >= 0) j["changed_s_ago"] = round1(now - n.changed_at);
    return j;
}

namespace {

json candidate_json(const gslb::Snapshot& snap, const gslb::BackendRt& b, bool eligible,
                    bool selected) {
    const bool up = snap.backend_up(b);
    const gslb::AdminState adm = snap.backend_state(b);
    json c = {
        {"address", b.addr.to_string()}, {"priority", b.priority}, {"weight", snap.weight_of(b)},
        {"configured_weight", b.weight}, {"enabled", b.enabled},   {"health", up ? "up" : "down"},
        {"admin", to_string(adm)},       {"eligible", eligible},   {"selected", selected}};
    // slow start, score and traffic shift percents multiplied in (Snapshot::effective_weight)
    c["effective_weight"] = weight_json(snap.effective_weight(b), 1);
    const std::string why = candidate_why(b, up, adm, eligible);
    if (!why.empty()) c["why"] = why;
    const gslb::Topology& topo = *snap.topo;
    if (!b.locations.empty() && topo.geo && topo.geo->locations) {
        json l = json::array();
        for (auto id : b.locations) l.push_back(topo.geo->locations->name_of(id));
        c["location"] = std::move(l);
    }
    if (!b.cfg->countries.empty()) c["country"] = b.cfg->countries;
    if (!b.cfg->continents.empty()) c["continent"] = b.cfg->continents;
    if (!b.cfg->cities.empty()) c["city"] = b.cfg->cities;
    if (!b.cfg->asns.empty()) c["asn"] = b.cfg->asns;
    if (!b.cfg->subdivisions.empty()) c["subdivision"] = b.cfg->subdivisions;
    if (b.has_coords) c["coordinates"] = {b.latitude, b.longitude};
    return c;
}

/// Every backend of the queried family: in or out, and why.
json candidates_json(const gslb::Snapshot& snap, const gslb::RecordRt& rec,
                     std::span<const gslb::BackendRt> family, const gslb::Plan& plan,
                     const gslb::ClientInfo& client, const std::vector<std::string>& answered) {
    const std::vector<std::uint8_t>* split = snap.splitting() ? &snap.health->split : nullptr;
    json cands = json::array();
    const auto eligible_end = plan.eligible.begin() + plan.eligible_count;
    for (std::size_t i = 0; i < family.size(); ++i) {
        const bool eligible = std::find(plan.eligible.begin(), eligible_end,
                                        static_cast<std::uint16_t>(i)) != eligible_end;
        const std::string addr = family[i].addr.to_string();
        const bool selected = std::find(answered.begin(), answered.end(), addr) != answered.end();
        json c = candidate_json(snap, family[i], eligible, selected);
        if (snap.health != nullptr) {
            json g = gradual_json(*snap.health, family[i], rec.cfg->gradual);
            if (g.is_object() && !g.empty()) {
                if (g.contains("damping") && g["damping"].value("suppressed", false))
                    c["why"] = "flap damping: suppressed until the penalty decays under reuse";
                else if (g.contains("score") && g["score"].value("percent", 100) == 0)
                    c["why"] = "health score: success rate under min_success_percent";
                c["gradual"] = std::move(g);
            }
        }
        // a shift's client split took it out for this client (engine.cc's split_eligible)
        const std::uint32_t id = family[i].id;
        if (!eligible && plan.split != 0 && plan.split != gslb::kSplitKept && split != nullptr &&
            id < split->size() && (*split)[id] >= plan.split)
            c["why"] = "traffic shift: the client's bucket " +
                       std::to_string(gslb::split_bucket(client)) + " is among the " +
                       std::to_string((*split)[id]) + " % of clients moved away";
        cands.push_back(std::move(c));
    }
    return cands;
}

/// The record's mode describing its own decision (Policy::explain), when it made one.
gslb::Explanation mode_explanation(const gslb::Snapshot& snap, const gslb::RecordRt& rec, bool v4,
                                   const gslb::ClientInfo& client, gslb::WorkerState& ws,
                                   const gslb::Plan& plan) {
    gslb::Explanation e;
    if (!plan.address || rec.policy == nullptr) return e;
    if (plan.fallback && rec.fallback.mode == config::FallbackMode::FailOpen) {
        e.notes.emplace_back("rule", "fail-open: every enabled backend, the mode not applied");
        return e;
    }
    const gslb::SelectContext ctx{snap,
                                  rec,
                                  v4 ? std::span<const gslb::BackendRt>(rec.v4) : rec.v6,
                                  {plan.eligible.data(), plan.eligible_count},
                                  client,
                                  ws,
                                  v4 ? std::uint8_t{4} : std::uint8_t{6}};
    rec.policy->explain(ctx, plan.decision, e);
    return e;
}

json decision_json(const gslb::Plan& plan, const gslb::Explanation& e) {
    char cls[16];
    std::snprintf(cls, sizeof cls, "0x%08x", plan.decision.decision_class);
    json d = {{"class", cls},
              {"scope", plan.decision.scope},
              {"variant", plan.decision.variant},
              {"cacheable", plan.cacheable}};
    if (!e.notes.empty()) {
        json why = json::object();
        for (const auto& [what, text] : e.notes) why[what] = text;
        d["why"] = std::move(why);
    }
    return d;
}

std::string result_text(const gslb::RecordRt& rec, std::uint16_t qtype, const gslb::Plan& plan,
                        const json& answer, std::size_t answered, const gslb::Explanation& e) {
    const std::string mode(rec.policy->name());
    std::string result;
    if (qtype != dns::qtype::A && qtype != dns::qtype::AAAA) {
        result = qtype_name(qtype) + " at a GSLB record: " + answer.value("rcode", std::string()) +
                 (answer["answer"].empty() ? " without data" : "");
    } else if ((qtype == dns::qtype::A ? rec.v4 : rec.v6).empty()) {
        result = "NODATA: the record has no " + qtype_name(qtype) + " backends";
    } else if (plan.fallback) {
        result = "no eligible backend: fallback policy " + fallback_mode_name(rec.fallback.mode);
    } else {
        result = std::to_string(plan.eligible_count) + " eligible backend(s); " + mode +
                 " selected " + std::to_string(answered);
    }
    if (e.per_query)
        result += " (" + mode + " picks per query: another query may get another eligible backend)";
    return result;
}

}  // namespace

std::optional<std::uint16_t> qtype_from_text(const std::string& text) {
    const std::string t = upper(text);
    for (const auto& e : kTypes)
        if (t == e.name) return e.type;
    std::string digits = t.rfind("TYPE", 0) == 0 ? t.substr(4) : t;
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    const unsigned long v = std::stoul(digits);
    if (v == 0 || v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

std::string qtype_name(std::uint16_t t) {
    for (const auto& e : kTypes)
        if (e.type == t) return e.name;
    return "TYPE" + std::to_string(t);
}

std::string rcode_name(unsigned rcode) {
    static const char* const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode < std::size(names)) return names[rcode];
    if (rcode == 16) return "BADVERS";
    return "RCODE" + std::to_string(rcode);
}

json explain(const gslb::Snapshot& snap, const ExplainRequest& req) {
    if (snap.topo == nullptr) throw RequestError(503, "no configuration loaded yet");
    const Asked asked = parse_request(req);
    const gslb::Topology& topo = *snap.topo;

    // The client, chosen by the function the pipeline calls.
    gslb::ClientInfo client;
    const gslb::ClientChoice choice = gslb::choose_client(topo, asked.q, req.client, client);
    json out = {{"generation", snap.generation},
                {"query",
                 {{"name", req.name},
                  {"qtype", qtype_name(asked.qtype)},
                  {"client", req.client.to_string()}}},
                {"client",
                 {{"address", client.addr.to_string()},
                  {"source_prefix", client.source_prefix},
                  {"from_ecs", client.from_ecs},
                  {"why", client_why(choice, req)}}}};
    if (req.ecs) out["query"]["ecs"] = req.ecs->to_string();

    // The engine's plan on the same snapshot: zone, record, eligible set, decision.
    gslb::WorkerState ws(0x5eed);
    ws.prepare(topo);
    auto plan = std::make_unique<gslb::Plan>();
    gslb::plan(snap, asked.q, client, ws, *plan);
    json answer = run_pipeline(snap, asked, req.client);

    if (plan->zone == nullptr) {
        out["zone"] = nullptr;
        out["result"] = "REFUSED: the name is in none of our zones (or the class/type is refused)";
        out["answer"] = std::move(answer);
        return out;
    }
    if (std::string z = zone_name(topo, *plan->zone); !z.empty()) out["zone"] = z;
    if (plan->rec == nullptr) {
        out["record"] = nullptr;
        out["result"] = "not a GSLB record: answered from the zone itself (" +
                        answer.value("rcode", std::string()) + ")";
        out["answer"] = std::move(answer);
        return out;
    }
    const gslb::RecordRt& rec = *plan->rec;
    out["record"] = rec.cfg->name;
    out["mode"] = rec.policy->name();
    const bool v4 = asked.qtype == dns::qtype::A;
    out["ttl"] = snap.ttl_of(rec, v4 ? 4 : 6);  // dynamic_ttl may shorten it
    out["record_ttl"] = rec.ttl;
    std::vector<std::string> answered;
    for (const auto& rr : answer["answer"])
        if (rr.contains("data")) answered.push_back(rr["data"].get<std::string>());
    out["candidates"] =
        v4 || asked.qtype == dns::qtype::AAAA
            ? candidates_json(snap, rec, v4 ? rec.v4 : rec.v6, *plan, client, answered)
            : json::array();
    if (plan->split != 0) {
        // a traffic shift splits this record's clients (docs/gradual.md)
        const std::uint8_t bits = gslb::split_bits(client);
        out["shift"] = {
            {"client_prefix", client.addr.masked(bits).to_string() + "/" + std::to_string(bits)},
            {"bucket", gslb::split_bucket(client)},
            {"moved", plan->split != gslb::kSplitKept}};
    }
    out["fallback"] = {{"taken", plan->fallback},
                       {"policy", fallback_mode_name(rec.fallback.mode)}};
    const gslb::Explanation expl = mode_explanation(snap, rec, v4, client, ws, *plan);
    out["decision"] = decision_json(*plan, expl);
    if (expl.consults_geo) out["geo"] = geo_facts(topo, client.addr);
    out["result"] = result_text(rec, asked.qtype, *plan, answer, answered.size(), expl);
    out["answer"] = std::move(answer);
    return out;
}

}  // namespace gslbd::ctl
