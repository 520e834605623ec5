#pragma once
/// The fixed topology the pipeline and frame fuzz targets answer from: tests/fuzz/data
/// (every policy, glue, a fallback CNAME, ECS trust, a location map), loaded through the
/// real config loader and published once in kHealthStates holders that differ only in
/// health: every backend up, every backend down, and every other one down with admin
/// overrides (drained, disabled, a weight) on some of the rest.
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "config/model.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"

namespace fuzz {

inline constexpr unsigned kHealthStates = 3;

/// The main files in tests/fuzz/data: the same zones, with edge protection differing.
enum class Variant : unsigned {
    Plain,           ///< gslbd.yml: no edge rules
    Cookies,         ///< cookies.yml: DNS cookies with a fixed secret and a previous one
    CookiesEnforce,  ///< cookies-enforce.yml: the same, `enforce: true`
};
inline constexpr unsigned kVariants = 3;
inline constexpr const char* kVariantFiles[kVariants] = {"gslbd.yml", "cookies.yml",
                                                         "cookies-enforce.yml"};

/// The snapshots themselves (not published; for callers that must not be RCU readers).
inline const gslbd::gslb::Snapshot& fixed_snapshot(unsigned health_state,
                                                   Variant variant = Variant::Plain) {
    using namespace gslbd;
    static const auto build = [](const char* file) {
        auto cfg = std::make_shared<config::Config>(
            config::load_config(std::string(GSLBD_FUZZ_DATA) + "/" + file));
        auto topo = gslb::build_topology(cfg, geo::load_geo(*cfg));
        std::vector<gslb::Snapshot> v(kHealthStates);
        for (unsigned i = 0; i < kHealthStates; ++i) {
            auto h = std::make_shared<gslb::Health>(*gslb::all_up(*topo));
            const std::size_t n = h->up.size();
            if (i == 1) h->up.assign(n, 0);
            if (i == 2) {
                using Admin = std::remove_reference_t<decltype(h->admin[0])>;
                h->admin.assign(n, Admin{});
                h->weight.assign(n, 0);
                for (std::size_t b = 0; b < n; ++b) {
                    h->up[b] = b % 2;
                    if (b % 3 == 0) h->admin[b] = static_cast<Admin>(1 + b % 2);
                    if (b % 5 == 0) h->weight[b] = 7;
                }
            }
            v[i].generation = 1;
            v[i].topo = topo;
            v[i].health = std::move(h);
        }
        return v;
    };
    static const std::vector<gslb::Snapshot> snaps[kVariants] = {
        build(kVariantFiles[0]), build(kVariantFiles[1]), build(kVariantFiles[2])};
    return snaps[static_cast<unsigned>(variant) % kVariants][health_state % kHealthStates];
}

/// fixed_snapshot(health_state, variant), published on first use. The calling thread becomes
/// an online RCU reader and stays one.
inline const gslbd::gslb::SnapshotHolder& fixed_topology(unsigned health_state,
                                                         Variant variant = Variant::Plain) {
    using namespace gslbd;
    static gslb::RcuThread reader;
    static gslb::SnapshotHolder holders[kVariants][kHealthStates];
    static const bool once = [] {
        // publish() waits for a grace period: not from an online reader.
        gslb::RcuThread::offline();
        for (unsigned v = 0; v < kVariants; ++v) {
            for (unsigned i = 0; i < kHealthStates; ++i) {
                auto snap = std::make_unique<const gslb::Snapshot>(
                    fixed_snapshot(i, static_cast<Variant>(v)));
                std::thread([&] { holders[v][i].publish(std::move(snap)); }).join();
            }
        }
        gslb::RcuThread::online();
        return true;
    }();
    (void)once;
    return holders[static_cast<unsigned>(variant) % kVariants][health_state % kHealthStates];
}

}  // namespace fuzz
