// Replays the seed corpus through the fuzz target, then a fixed number of deterministic
// mutations of it, so an ordinary test run (any compiler, no libFuzzer) exercises the
// parser on hostile input. A broken invariant traps inside the target.
//
// Usage: fuzz_parse_query_replay CORPUS_DIR [MUTATIONS]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "dns/query.hh"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using Bytes = std::vector<std::uint8_t>;

/// xorshift64*: fixed seed, same sequence everywhere, so a failure reproduces.
struct Rng {
    std::uint64_t s = 0x9E3779B97F4A7C15ull;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

/// Bytes that matter to a DNS parser: pointers, label type bits, limits, OPT/ECS codes.
constexpr std::uint8_t kInteresting[] = {0x00, 0x01, 0x02, 0x08, 0x0c, 0x20, 0x29, 0x3f,
                                         0x40, 0x7f, 0x80, 0x81, 0xc0, 0xc1, 0xfe, 0xff};

void mutate(Bytes& b, Rng& rng, const std::vector<Bytes>& corpus) {
    const unsigned rounds = 1 + static_cast<unsigned>(rng.below(4));
    for (unsigned r = 0; r < rounds; ++r) {
        switch (rng.below(8)) {
            case 0:  // flip a bit
                if (!b.empty())
                    b[rng.below(b.size())] ^= static_cast<std::uint8_t>(1u << rng.below(8));
                break;
            case 1:  // interesting byte
                if (!b.empty())
                    b[rng.below(b.size())] = kInteresting[rng.below(sizeof kInteresting)];
                break;
            case 2:  // random byte
                if (!b.empty()) b[rng.below(b.size())] = static_cast<std::uint8_t>(rng.next());
                break;
            case 3:  // truncate
                b.resize(rng.below(b.size() + 1));
                break;
            case 4:  // insert bytes
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)),
                         1 + rng.below(4), kInteresting[rng.below(sizeof kInteresting)]);
                break;
            case 5:  // erase bytes
                if (!b.empty()) {
                    const std::size_t at = rng.below(b.size());
                    const std::size_t n = std::min(b.size() - at, 1 + rng.below(4));
                    b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                            b.begin() + static_cast<std::ptrdiff_t>(at + n));
                }
                break;
            case 6:  // set a 16-bit field in the header (counts mostly) to a small value
                if (b.size() >= 12) {
                    const std::size_t f = 2 * (2 + rng.below(4));
                    b[f] = 0;
                    b[f + 1] = static_cast<std::uint8_t>(rng.below(3));
                }
                break;
            case 7: {  // splice the tail of another seed
                const Bytes& o = corpus[rng.below(corpus.size())];
                const std::size_t at = rng.below(b.size() + 1);
                const std::size_t from = rng.below(o.size() + 1);
                b.resize(at);
                b.insert(b.end(), o.begin() + static_cast<std::ptrdiff_t>(from), o.end());
                break;
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
        return 2;
    }
    const unsigned long mutations = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200000;

    std::vector<std::filesystem::path> paths;
    for (const auto& e : std::filesystem::directory_iterator(argv[1]))
        if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());  // directory order is not deterministic
    std::vector<Bytes> corpus;
    for (const auto& p : paths) {
        std::ifstream f(p, std::ios::binary);
        corpus.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    if (corpus.empty()) {
        std::fprintf(stderr, "no seed files in %s\n", argv[1]);
        return 1;
    }

    // Count outcomes so a run that never reaches the interesting paths is visible.
    unsigned long by_status[5] = {};
    auto run = [&](const Bytes& b) {
        LLVMFuzzerTestOneInput(b.data(), b.size());
        gslbd::dns::Query q;
        const auto r = gslbd::dns::parse_query({b.data(), b.size()}, q);
        ++by_status[static_cast<unsigned>(r.status)];
    };
    for (const auto& b : corpus) run(b);
    const unsigned long seeds_ok = by_status[0];

    Rng rng;
    Bytes b;
    for (unsigned long i = 0; i < mutations; ++i) {
        b = corpus[rng.below(corpus.size())];
        mutate(b, rng, corpus);
        run(b);
    }
    std::printf(
        "%zu seeds (%lu Ok), %lu mutations: Ok %lu, Drop %lu, FormErr %lu, NotImp %lu, "
        "BadVers %lu\n",
        corpus.size(), seeds_ok, mutations, by_status[0], by_status[1], by_status[2], by_status[3],
        by_status[4]);
    // A corpus without valid queries, or mutations that never produce a valid or a
    // malformed query, would make this test pass without testing much.
    if (seeds_ok == 0 || (mutations > 0 && (by_status[0] == seeds_ok || by_status[2] == 0))) {
        std::fprintf(stderr, "replay did not reach both accepted and rejected inputs\n");
        return 1;
    }
    return 0;
}
