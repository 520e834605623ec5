// Replays a fuzz target's seed corpus through it, then a fixed number of deterministic
// mutations of it, so an ordinary test run (any compiler, no libFuzzer) exercises the
// parser on hostile input. A broken invariant traps inside the target. Linked with each
// target (tests/fuzz/meson.build); a target may define FuzzReplaySummary() to check that
// the run reached what it should.
//
// Usage: fuzz_<target>_replay CORPUS_DIR|FILE... [MUTATIONS]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));
/// Called after the run with the number of inputs; non-zero fails the run.
extern "C" int FuzzReplaySummary(unsigned long inputs) __attribute__((weak));

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
        std::fprintf(stderr, "usage: %s CORPUS_DIR|FILE... [MUTATIONS]\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    // The last argument is the mutation count when it is a number.
    unsigned long mutations = 200000;
    int nargs = argc;
    {
        char* end = nullptr;
        const unsigned long n = std::strtoul(argv[argc - 1], &end, 10);
        if (argc > 2 && end != argv[argc - 1] && *end == '\0') {
            mutations = n;
            --nargs;
        }
    }

    std::vector<std::filesystem::path> paths;
    for (int i = 1; i < nargs; ++i) {
        if (std::filesystem::is_directory(argv[i])) {
            for (const auto& e : std::filesystem::directory_iterator(argv[i]))
                if (e.is_regular_file()) paths.push_back(e.path());
        } else {
            paths.emplace_back(argv[i]);
        }
    }
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

    for (const auto& b : corpus) LLVMFuzzerTestOneInput(b.data(), b.size());
    Rng rng;
    Bytes b;
    for (unsigned long i = 0; i < mutations; ++i) {
        b = corpus[rng.below(corpus.size())];
        mutate(b, rng, corpus);
        LLVMFuzzerTestOneInput(b.data(), b.size());
    }
    std::printf("%zu seeds, %lu mutations\n", corpus.size(), mutations);
    return FuzzReplaySummary ? FuzzReplaySummary(corpus.size() + mutations) : 0;
}
