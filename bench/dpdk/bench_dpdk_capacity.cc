// In-process capacity of one DPDK worker (issue 5): a real io::dpdk::Worker behind a
// kernel-free ring port (rte_eth_from_rings), fed by a generator that recycles a fixed set
// of mbufs, answering from a real gslbd configuration (bench/dpdk/capacity.yml).
//
//   two-core  Worker::run on lcore 1, the generator on the main lcore: replies/s, the
//             worker's busy cycles per packet and its idle share.
//   inline    one thread: fill the RX ring with a burst, time Worker::poll() alone with
//             the TSC, drain and check the TX ring. Cycles per packet of the worker's own
//             work without cross-core ring traffic.
//
// Every reply is checked (DNS response, the query's ID, NOERROR, one question, at least
// one answer); the exit status is non-zero when any check failed, the worker dropped a
// frame or no reply came back. Not a timed assertion: the smoke test only runs it briefly.
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sched.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/model.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "io/dpdk/dataplane.hh"
#include "io/dpdk/worker.hh"
#include "pipeline/pipeline.hh"

using namespace gslbd;
using io::dpdk::Worker;
using io::dpdk::WorkerStats;

namespace {

constexpr std::uint16_t kEth = 14, kIp = 20, kUdpOff = kEth + kIp, kDnsOff = kUdpOff + 8;
constexpr std::array<std::uint8_t, 6> kPortMac = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
constexpr std::array<std::uint8_t, 6> kClientMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr std::array<std::uint8_t, 4> kClient = {198, 18, 0, 2};
constexpr unsigned kInFlight = 512;  ///< two-core: mbufs circulating (rings hold 1024)
constexpr unsigned kGenBurst = 64;   ///< two-core: replies taken from the TX ring at once
constexpr unsigned kEcsSubnets = 4096;

struct Options {
    double seconds = 5;
    std::vector<std::string> mixes = {"hit", "miss", "ecs"};
    std::vector<std::string> modes = {"two-core", "inline"};
    std::string json;
    std::string config = GSLBD_BENCH_DPDK_CONFIG;
    bool huge = false;
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "%s\nusage: bench_dpdk_capacity [--seconds S] [--mix hit,miss,ecs] "
                 "[--mode two-core,inline] [--json FILE] [--huge] [--config FILE]\n",
                 msg);
    std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--seconds") {
            o.seconds = std::atof(value().c_str());
            if (!(o.seconds > 0)) usage("--seconds must be > 0");
        } else if (a == "--mix") {
            o.mixes = split(value());
            for (const auto& m : o.mixes)
                if (m != "hit" && m != "miss" && m != "ecs") usage(("unknown mix " + m).c_str());
        } else if (a == "--mode") {
            o.modes = split(value());
            for (const auto& m : o.modes)
                if (m != "two-core" && m != "inline") usage(("unknown mode " + m).c_str());
        } else if (a == "--json") {
            o.json = value();
        } else if (a == "--config") {
            o.config = value();
        } else if (a == "--huge") {
            o.huge = true;
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    if (o.mixes.empty() || o.modes.empty()) usage("empty --mix or --mode");
    return o;
}

// ---- query frame templates (control side) ----------------------------------------------

/// A query frame with its DNS ID (and, for ECS, the 2nd and 3rd address bytes) left zero
/// and the UDP checksum precomputed without them, so the generator patches a few bytes and
/// adds their words to `base_sum` instead of summing the frame again.
struct Template {
    std::array<std::uint8_t, 192> bytes{};
    std::uint16_t len = 0;
    std::uint16_t sport = 0;
    std::uint16_t ecs_off = 0;  ///< frame offset of the variable ECS bytes, 0 = none
    std::uint32_t base_sum = 0;
    std::string what;
};

void put16(std::vector<std::uint8_t>& b, unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t s = 0) {
    for (std::size_t i = 0; i < n; i += 2)
        s += static_cast<std::uint32_t>(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0u);
    return s;
}

std::uint16_t fold(std::uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}

Template make_template(const std::string& name, std::uint16_t qtype, std::uint16_t sport, bool ecs,
                       const std::array<std::uint8_t, 4>& our) {
    std::vector<std::uint8_t> dns;
    put16(dns, 0);       // ID, patched per packet
    put16(dns, 0x0100);  // RD
    put16(dns, 1);
    put16(dns, 0);
    put16(dns, 0);
    put16(dns, 1);  // OPT
    std::stringstream ss(name);
    for (std::string label; std::getline(ss, label, '.');) {
        dns.push_back(static_cast<std::uint8_t>(label.size()));
        dns.insert(dns.end(), label.begin(), label.end());
    }
    dns.push_back(0);
    put16(dns, qtype);
    put16(dns, 1);
    dns.push_back(0);  // OPT: root name, type 41, UDP size 1232, no flags
    put16(dns, 41);
    put16(dns, 1232);
    put16(dns, 0);
    put16(dns, 0);
    std::size_t ecs_in_dns = 0;
    if (ecs) {
        put16(dns, 11);  // RDLEN: one option of 4 + 3 address bytes
        put16(dns, 8);   // ECS
        put16(dns, 7);
        put16(dns, 1);      // IPv4
        dns.push_back(24);  // source prefix
        dns.push_back(0);   // scope
        dns.push_back(10);  // 10.X.Y.0/24, X and Y patched per packet
        ecs_in_dns = dns.size();
        dns.push_back(0);
        dns.push_back(0);
    } else {
        put16(dns, 0);
    }

    std::vector<std::uint8_t> f(kPortMac.begin(), kPortMac.end());
    f.insert(f.end(), kClientMac.begin(), kClientMac.end());
    put16(f, 0x0800);
    const std::size_t udp_len = 8 + dns.size();
    f.push_back(0x45);
    f.push_back(0);
    put16(f, static_cast<unsigned>(kIp + udp_len));
    put16(f, 0);
    put16(f, 0x4000);
    f.push_back(64);
    f.push_back(17);
    put16(f, 0);
    f.insert(f.end(), kClient.begin(), kClient.end());
    f.insert(f.end(), our.begin(), our.end());
    const std::uint16_t ipsum = static_cast<std::uint16_t>(~fold(sum16(f.data() + kEth, kIp)));
    f[kEth + 10] = static_cast<std::uint8_t>(ipsum >> 8);
    f[kEth + 11] = static_cast<std::uint8_t>(ipsum);
    put16(f, sport);
    put16(f, 53);
    put16(f, static_cast<unsigned>(udp_len));
    put16(f, 0);
    f.insert(f.end(), dns.begin(), dns.end());

    Template t;
    if (f.size() > t.bytes.size()) throw std::runtime_error("query template too long: " + name);
    std::copy(f.begin(), f.end(), t.bytes.begin());
    t.len = static_cast<std::uint16_t>(f.size());
    t.sport = sport;
    t.ecs_off = ecs ? static_cast<std::uint16_t>(kDnsOff + ecs_in_dns) : 0;
    // Pseudo header (addresses, protocol, UDP length) + the UDP segment as it stands.
    std::uint32_t s = sum16(f.data() + kEth + 12, 8);
    s += 17 + static_cast<std::uint32_t>(udp_len);
    s = sum16(f.data() + kUdpOff, udp_len, s);
    t.base_sum = fold(s);
    t.what = name + (qtype == 28 ? " AAAA" : " A") + (ecs ? " +ECS /24" : "");
    return t;
}

// ---- per-packet generator work (no allocation, no locks, no syscalls) -------------------

/// Kept in the mbuf's private area: what the reply to this mbuf must carry.
struct Tag {
    std::uint16_t id;
    std::uint16_t sport;
};
static_assert(sizeof(Tag) <= 8);

inline Tag* tag_of(rte_mbuf* m) noexcept {
    return static_cast<Tag*>(rte_mbuf_to_priv(m));
}

inline void write_query(rte_mbuf* m, const Template& t, std::uint16_t id,
                        std::uint32_t subnet) noexcept {
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = t.len;
    m->pkt_len = t.len;
    m->ol_flags = 0;
    auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::memcpy(d, t.bytes.data(), t.len);
    d[kDnsOff] = static_cast<std::uint8_t>(id >> 8);
    d[kDnsOff + 1] = static_cast<std::uint8_t>(id);
    std::uint32_t s = t.base_sum + id;  // the ID sits at an even offset of the UDP segment
    if (t.ecs_off != 0) {
        const auto x = static_cast<std::uint8_t>(subnet >> 8),
                   y = static_cast<std::uint8_t>(subnet);
        d[t.ecs_off] = x;
        d[t.ecs_off + 1] = y;
        // kUdpOff is even, so frame offset parity is the parity within the checksum words.
        s += (t.ecs_off % 2 == 0) ? (std::uint32_t{x} << 8 | y) : (x + (std::uint32_t{y} << 8));
    }
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    std::uint16_t c = static_cast<std::uint16_t>(~s);
    if (c == 0) c = 0xffff;
    d[kUdpOff + 6] = static_cast<std::uint8_t>(c >> 8);
    d[kUdpOff + 7] = static_cast<std::uint8_t>(c);
    Tag* tg = tag_of(m);
    tg->id = id;
    tg->sport = t.sport;
}

inline std::uint16_t ld16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

/// True when `m` holds a well-formed answer to the query it was sent with.
inline bool reply_ok(rte_mbuf* m) noexcept {
    if (m->nb_segs != 1 || m->data_len < kDnsOff + 12) return false;
    const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
    const Tag* tg = tag_of(m);
    if (ld16(d + 12) != 0x0800 || d[kEth + 9] != 17 ||
        std::memcmp(d + kEth + 16, kClient.data(), 4) != 0)
        return false;
    if (ld16(d + kUdpOff) != 53 || ld16(d + kUdpOff + 2) != tg->sport) return false;
    const std::uint8_t* h = d + kDnsOff;
    const std::uint16_t flags = ld16(h + 2);
    return ld16(h) == tg->id && (flags & 0x8000) != 0 && (flags & 0x000f) == 0 &&
           ld16(h + 4) == 1 && ld16(h + 6) >= 1;
}

/// Round robin over the mix's templates (and over the ECS subnets).
struct Feed {
    const std::vector<Template>* templates = nullptr;
    std::size_t next = 0;
    std::uint32_t subnet = 0;
    std::uint16_t id = 1;

    void fill(rte_mbuf* m) noexcept {
        const Template& t = (*templates)[next];
        if (++next == templates->size()) next = 0;
        write_query(m, t, id++, subnet);
        if (t.ecs_off != 0 && ++subnet == kEcsSubnets) subnet = 0;
    }
};

// ---- environment: EAL, pool, ring port ----------------------------------------------

struct Machine {
    std::string cpu_model, kernel;
    std::vector<int> cpus;  ///< CPUs this process may run on
    std::uint64_t tsc_hz = 0;
    std::string loadavg;
};

Machine probe_machine() {
    Machine m;
    std::ifstream ci("/proc/cpuinfo");
    for (std::string line; std::getline(ci, line);)
        if (line.rfind("model name", 0) == 0) {
            m.cpu_model = line.substr(line.find(':') + 2);
            break;
        }
    utsname u{};
    if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) m.cpus.push_back(c);
    std::ifstream la("/proc/loadavg");
    std::getline(la, m.loadavg);
    return m;
}

struct Env {
    rte_mempool* pool = nullptr;
    rte_ring *rx = nullptr, *tx = nullptr;
    io::dpdk::PortSetup ps;
    io::dpdk::PortAddresses addrs;
    std::string eal;
    bool two_cores = false;
};

void init(Env& e, const Options& o, const Machine& m, const config::Config& cfg) {
    std::vector<std::string> args;
    std::string lcores = "0@" + std::to_string(m.cpus.at(0));
    e.two_cores = m.cpus.size() >= 2;
    if (e.two_cores) lcores += ",1@" + std::to_string(m.cpus[1]);
    if (o.huge) {
        // Our own hugepage files, none left behind; -m keeps us well inside the pages the
        // shared testbed reserved.
        args = {"--in-memory", "--huge-dir=/dev/hugepages", "-m", "64"};
        args.push_back("--file-prefix=gslbd-bench-" + std::to_string(::getpid()));
    } else {
        args = {"--no-huge", "--no-shconf", "-m", "128",
                "--file-prefix=gslbd-bench-" + std::to_string(::getpid())};
    }
    for (std::string a : {std::string("--no-pci"), std::string("--no-telemetry"),
                          "--lcores=" + lcores, std::string("--log-level=lib.eal:error")})
        args.push_back(a);
    for (const auto& a : args) e.eal += (e.eal.empty() ? "" : " ") + a;
    io::dpdk::init_eal(args);

    e.pool = rte_pktmbuf_pool_create("bench_pool", 4095, 256, sizeof(std::uint64_t),
                                     RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (e.pool == nullptr)
        throw std::runtime_error("mbuf pool: " + std::string(rte_strerror(rte_errno)));
    e.rx = rte_ring_create("bench_rx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    e.tx = rte_ring_create("bench_tx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (e.rx == nullptr || e.tx == nullptr) throw std::runtime_error("ring create failed");
    if (cfg.dpdk.ports.empty()) throw std::runtime_error(cfg.file + ": dpdk.ports is empty");
    const auto& pc = cfg.dpdk.ports[0];
    const int port = rte_eth_from_rings(pc.device.c_str(), &e.rx, 1, &e.tx, 1, 0);
    if (port < 0) throw std::runtime_error("rte_eth_from_rings failed");
    e.ps =
        io::dpdk::setup_port(static_cast<std::uint16_t>(port), 1, e.pool, true, "bench ring port");
    e.addrs = io::dpdk::PortAddresses::from_config(pc, cfg.dpdk.udp_port, kPortMac);
}

// ---- measurements ---------------------------------------------------------------------

struct Result {
    std::string mix, mode;
    std::uint64_t packets = 0;  ///< replies received in the timed window
    double seconds = 0;
    double qps = 0;
    double cycles_per_packet = 0;
    double ns_per_packet = 0;
    double capacity_pps = 0;
    std::uint64_t errors = 0;  ///< failed reply checks + worker drops (whole run)
    std::uint64_t check_failures = 0, worker_drops = 0;
    std::uint64_t cache_hits = 0, cache_misses = 0, cache_uncacheable = 0;
    double idle_fraction = 0;
    bool generator_limited = false;
    double avg_burst = 0;  ///< frames per busy poll
    /// inline: median over polls of (poll cycles / frames), robust to the odd preemption
    double cycles_per_packet_p50 = 0;
    /// two-core: CPU time the worker / generator thread got over the window's wall time
    /// (well below 1 = the machine was contended and cycles/packet include preemption)
    double worker_cpu_share = 0, generator_cpu_share = 0;
    /// two-core: busy cycles per packet scaled by worker_cpu_share (preemption removed,
    /// assuming it hit busy and idle polls alike); inline: equal to cycles_per_packet
    double cycles_per_packet_on_cpu = 0;
    bool contended = false;  ///< two-core: a thread got < 90 % of a CPU in the window
};

struct Sample {
    WorkerStats w;
    cache::Counters c;
    std::uint64_t tsc = 0, replies = 0;
};

Sample sample(const Worker& w, std::uint64_t replies) {
    const WorkerStats s = w.stats();
    return Sample{s, s.cache, rte_rdtsc(), replies};
}

void fill_common(Result& r, const Sample& a, const Sample& b, std::uint64_t tsc_hz) {
    r.seconds = static_cast<double>(b.tsc - a.tsc) / static_cast<double>(tsc_hz);
    r.packets = b.replies - a.replies;
    r.qps = r.seconds > 0 ? static_cast<double>(r.packets) / r.seconds : 0;
    r.cache_hits = b.c.hits - a.c.hits;
    r.cache_misses = b.c.misses - a.c.misses;
    r.cache_uncacheable = b.c.uncacheable - a.c.uncacheable;
    if (r.cycles_per_packet > 0) {
        r.ns_per_packet = r.cycles_per_packet * 1e9 / static_cast<double>(tsc_hz);
        r.capacity_pps = static_cast<double>(tsc_hz) / r.cycles_per_packet;
    }
}

double warmup_seconds(double total) {
    return std::clamp(total * 0.1, 0.02, 0.5);
}

/// Returns every mbuf still in the rings to the pool.
void drain(Env& e) {
    void* p[64];
    for (rte_ring* r : {e.rx, e.tx})
        for (unsigned n; (n = rte_ring_dequeue_burst(r, p, 64, nullptr)) > 0;)
            rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(p), n);
}

/// Cycles per packet of single polls, 4-cycle buckets (no allocation in the loop).
struct Histogram {
    static constexpr std::size_t kBuckets = 16384, kWidth = 4;
    std::array<std::uint64_t, kBuckets> n{};
    std::uint64_t total = 0;
    void add(std::uint64_t cycles) noexcept {
        ++n[std::min<std::uint64_t>(cycles / kWidth, kBuckets - 1)];
        ++total;
    }
    double median() const noexcept {
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i)
            if ((seen += n[i]) * 2 >= total && total > 0)
                return static_cast<double>(i * kWidth) + kWidth / 2.0;
        return 0;
    }
};

struct Lane {
    Worker* worker;
    const std::atomic<bool>* stop;
    std::atomic<clockid_t> cpu_clock{};
    std::atomic<bool> started{false};
};

/// CPU time the thread of `clk` has received, in seconds (control side, not per packet).
double cpu_seconds(clockid_t clk) {
    timespec ts{};
    clock_gettime(clk, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int lane_main(void* arg) {
    auto* l = static_cast<Lane*>(arg);
    clockid_t clk{};
    pthread_getcpuclockid(pthread_self(), &clk);
    l->cpu_clock.store(clk);
    l->started.store(true);
    l->worker->run(*l->stop);
    return 0;
}

Result two_core(Env& e, const gslb::SnapshotHolder& holder, const std::vector<Template>& tmpl,
                const Options& o, std::uint64_t tsc_hz) {
    Worker w(
        holder, e.addrs,
        io::dpdk::QueueBinding{e.ps.port, 0, io::dpdk::kNoPort, 0, e.ps.mtu, e.ps.cksum_offload},
        1);
    std::atomic<bool> stop{false};
    Lane lane{&w, &stop};
    double wcpu0 = 0, gcpu0 = 0;
    const unsigned wl = rte_get_next_lcore(-1, 1, 0);
    if (wl >= RTE_MAX_LCORE) throw std::runtime_error("no worker lcore");
    if (rte_eal_remote_launch(lane_main, &lane, wl) != 0)
        throw std::runtime_error("remote launch failed");

    Feed feed{&tmpl};
    rte_mbuf* bufs[kInFlight];
    if (rte_pktmbuf_alloc_bulk(e.pool, bufs, kInFlight) != 0)
        throw std::runtime_error("mbuf alloc failed");
    for (auto* m : bufs) feed.fill(m);
    if (rte_ring_sp_enqueue_bulk(e.rx, reinterpret_cast<void**>(bufs), kInFlight, nullptr) !=
        kInFlight)
        throw std::runtime_error("RX ring too small for the mbufs in flight");

    std::uint64_t replies = 0, bad = 0;
    const std::uint64_t t0 = rte_rdtsc();
    const std::uint64_t t_warm =
        t0 + static_cast<std::uint64_t>(warmup_seconds(o.seconds) * tsc_hz);
    const std::uint64_t t_end = t_warm + static_cast<std::uint64_t>(o.seconds * tsc_hz);
    Sample a{}, b{};
    bool warm = false;
    rte_mbuf* got[kGenBurst];
    for (;;) {
        const std::uint64_t now = rte_rdtsc();
        if (!warm && now >= t_warm) {
            a = sample(w, replies);
            if (lane.started.load()) wcpu0 = cpu_seconds(lane.cpu_clock.load());
            gcpu0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
            warm = true;
        }
        if (now >= t_end) break;
        const unsigned n =
            rte_ring_sc_dequeue_burst(e.tx, reinterpret_cast<void**>(got), kGenBurst, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            bad += reply_ok(got[i]) ? 0 : 1;
            feed.fill(got[i]);
        }
        replies += n;
        if (n > 0) rte_ring_sp_enqueue_bulk(e.rx, reinterpret_cast<void**>(got), n, nullptr);
    }
    b = sample(w, replies);
    const double wcpu = lane.started.load() ? cpu_seconds(lane.cpu_clock.load()) - wcpu0 : 0;
    const double gcpu = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - gcpu0;
    stop.store(true, std::memory_order_relaxed);
    rte_eal_wait_lcore(wl);
    drain(e);

    Result r;
    r.mode = "two-core";
    const std::uint64_t rx = b.w.rx - a.w.rx;
    const std::uint64_t busy = b.w.busy_cycles - a.w.busy_cycles,
                        idle = b.w.idle_cycles - a.w.idle_cycles;
    r.cycles_per_packet = rx > 0 ? static_cast<double>(busy) / static_cast<double>(rx) : 0;
    r.idle_fraction =
        busy + idle > 0 ? static_cast<double>(idle) / static_cast<double>(busy + idle) : 0;
    r.generator_limited = r.idle_fraction > 0.05;
    const std::uint64_t polls = b.w.busy_polls - a.w.busy_polls;
    r.avg_burst = polls > 0 ? static_cast<double>(rx) / static_cast<double>(polls) : 0;
    fill_common(r, a, b, tsc_hz);
    r.worker_cpu_share = r.seconds > 0 ? wcpu / r.seconds : 0;
    r.generator_cpu_share = r.seconds > 0 ? gcpu / r.seconds : 0;
    r.cycles_per_packet_on_cpu = r.cycles_per_packet * std::min(1.0, r.worker_cpu_share);
    r.contended = r.worker_cpu_share < 0.9 || r.generator_cpu_share < 0.9;
    r.check_failures = bad;
    r.worker_drops = w.stats().dropped();
    r.errors = r.check_failures + r.worker_drops;
    return r;
}

Result inline_mode(Env& e, const gslb::SnapshotHolder& holder, const std::vector<Template>& tmpl,
                   const Options& o, std::uint64_t tsc_hz) {
    Worker w(
        holder, e.addrs,
        io::dpdk::QueueBinding{e.ps.port, 0, io::dpdk::kNoPort, 0, e.ps.mtu, e.ps.cksum_offload},
        1);
    gslb::RcuThread rcu;  // this thread now reads snapshots; unregistered before the next publish
    constexpr unsigned kB = Worker::kBurst;
    Feed feed{&tmpl};
    rte_mbuf* bufs[kB];
    if (rte_pktmbuf_alloc_bulk(e.pool, bufs, kB) != 0)
        throw std::runtime_error("mbuf alloc failed");

    std::uint64_t replies = 0, bad = 0, poll_cycles = 0, polled = 0;
    const std::uint64_t t0 = rte_rdtsc();
    const std::uint64_t t_warm =
        t0 + static_cast<std::uint64_t>(warmup_seconds(o.seconds) * tsc_hz);
    const std::uint64_t t_end = t_warm + static_cast<std::uint64_t>(o.seconds * tsc_hz);
    Sample a{}, b{};
    std::uint64_t a_cycles = 0, a_polled = 0;
    bool warm = false;
    unsigned have = kB;
    auto hist_owner = std::make_unique<Histogram>();  // before the loop: no allocation in it
    Histogram& hist = *hist_owner;
    for (;;) {
        const std::uint64_t now = rte_rdtsc();
        if (!warm && now >= t_warm) {
            a = sample(w, replies);
            a_cycles = poll_cycles;
            a_polled = polled;
            warm = true;
        }
        if (now >= t_end) break;
        if (have < kB) {  // the worker dropped frames (counted as errors): top up
            if (rte_pktmbuf_alloc_bulk(e.pool, bufs + have, kB - have) != 0) break;
            have = kB;
        }
        for (unsigned i = 0; i < kB; ++i) feed.fill(bufs[i]);
        rte_ring_sp_enqueue_bulk(e.rx, reinterpret_cast<void**>(bufs), kB, nullptr);
        const std::uint64_t p0 = rte_rdtsc();
        const unsigned n = w.poll();
        const std::uint64_t p1 = rte_rdtsc();
        gslb::RcuThread::quiescent();
        poll_cycles += p1 - p0;
        polled += n;
        if (warm && n > 0) hist.add((p1 - p0) / n);
        have = rte_ring_sc_dequeue_burst(e.tx, reinterpret_cast<void**>(bufs), kB, nullptr);
        for (unsigned i = 0; i < have; ++i) bad += reply_ok(bufs[i]) ? 0 : 1;
        replies += have;
    }
    b = sample(w, replies);
    rte_pktmbuf_free_bulk(bufs, have);
    drain(e);

    Result r;
    r.mode = "inline";
    const std::uint64_t n = polled - a_polled;
    r.cycles_per_packet =
        n > 0 ? static_cast<double>(poll_cycles - a_cycles) / static_cast<double>(n) : 0;
    r.idle_fraction = 0;  // every poll finds a full burst
    r.avg_burst = static_cast<double>(kB);
    r.cycles_per_packet_on_cpu = r.cycles_per_packet;
    r.cycles_per_packet_p50 = hist.median();
    fill_common(r, a, b, tsc_hz);
    r.check_failures = bad;
    r.worker_drops = w.stats().dropped();
    r.errors = r.check_failures + r.worker_drops;
    return r;
}

// ---- output ---------------------------------------------------------------------------

std::string json_str(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

void write_json(const std::string& path, const Machine& m, const Env& e, const Options& o,
                const std::vector<Result>& rs, const std::string& note) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr)
        throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    std::string cpus;
    for (int c : m.cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
    std::fprintf(f,
                 "{\n  \"machine\": {\"cpu_model\": %s, \"tsc_hz\": %llu, \"cpus\": [%s], "
                 "\"kernel\": %s, \"loadavg_at_start\": %s},\n",
                 json_str(m.cpu_model).c_str(), static_cast<unsigned long long>(m.tsc_hz),
                 cpus.c_str(), json_str(m.kernel).c_str(), json_str(m.loadavg).c_str());
    std::fprintf(f, "  \"eal\": %s,\n", json_str(e.eal).c_str());
    std::fprintf(f,
                 "  \"settings\": {\"seconds\": %g, \"hugepages\": %s, \"config\": %s, "
                 "\"in_flight_two_core\": %u, \"burst\": %u, \"tx_cksum_offload\": %s, "
                 "\"ecs_subnets\": %u, \"note\": %s},\n",
                 o.seconds, o.huge ? "true" : "false", json_str(o.config).c_str(), kInFlight,
                 Worker::kBurst, e.ps.cksum_offload ? "true" : "false", kEcsSubnets,
                 json_str(note).c_str());
    std::fprintf(f, "  \"results\": [\n");
    for (std::size_t i = 0; i < rs.size(); ++i) {
        const Result& r = rs[i];
        std::fprintf(
            f,
            "    {\"mix\": %s, \"mode\": %s, \"packets\": %llu, \"seconds\": %.6f, \"qps\": %.1f, "
            "\"cycles_per_packet\": %.1f, \"ns_per_packet\": %.2f, \"capacity_pps\": %.0f, "
            "\"errors\": %llu, \"check_failures\": %llu, \"worker_drops\": %llu, "
            "\"cache_hits\": %llu, \"cache_misses\": %llu, \"cache_uncacheable\": %llu, "
            "\"idle_fraction\": %.4f, \"generator_limited\": %s, \"avg_burst\": %.1f, "
            "\"cycles_per_packet_p50\": %.1f, \"worker_cpu_share\": %.3f, "
            "\"generator_cpu_share\": %.3f, \"cycles_per_packet_on_cpu\": %.1f, "
            "\"contended\": %s}%s\n",
            json_str(r.mix).c_str(), json_str(r.mode).c_str(),
            static_cast<unsigned long long>(r.packets), r.seconds, r.qps, r.cycles_per_packet,
            r.ns_per_packet, r.capacity_pps, static_cast<unsigned long long>(r.errors),
            static_cast<unsigned long long>(r.check_failures),
            static_cast<unsigned long long>(r.worker_drops),
            static_cast<unsigned long long>(r.cache_hits),
            static_cast<unsigned long long>(r.cache_misses),
            static_cast<unsigned long long>(r.cache_uncacheable), r.idle_fraction,
            r.generator_limited ? "true" : "false", r.avg_burst, r.cycles_per_packet_p50,
            r.worker_cpu_share, r.generator_cpu_share, r.cycles_per_packet_on_cpu,
            r.contended ? "true" : "false", i + 1 < rs.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
}

void print_table(const std::vector<Result>& rs) {
    std::printf(
        "| mix | mode | replies/s | cycles/pkt | ns/pkt | 1-core capacity (Mpps) | "
        "burst | cache hits / misses | idle | CPU worker/gen | errors |\n");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const auto& r : rs) {
        const bool two = r.mode == "two-core";
        char cpp[64], idle[64], share[64];
        if (two)
            std::snprintf(cpp, sizeof cpp, "%.0f (on-CPU %.0f)", r.cycles_per_packet,
                          r.cycles_per_packet_on_cpu);
        else
            std::snprintf(cpp, sizeof cpp, "%.0f (p50 %.0f)", r.cycles_per_packet,
                          r.cycles_per_packet_p50);
        std::snprintf(idle, sizeof idle, "%s", "-");
        std::snprintf(share, sizeof share, "%s", "-");
        if (two) {
            std::snprintf(idle, sizeof idle, "%.0f%%%s", r.idle_fraction * 100,
                          r.generator_limited ? " (generator-limited)" : "");
            std::snprintf(share, sizeof share, "%.2f / %.2f%s", r.worker_cpu_share,
                          r.generator_cpu_share, r.contended ? " (contended)" : "");
        }
        std::printf("| %s | %s | %.0f | %s | %.1f | %.2f | %.1f | %llu / %llu | %s | %s | %llu |\n",
                    r.mix.c_str(), r.mode.c_str(), r.qps, cpp, r.ns_per_packet,
                    r.capacity_pps / 1e6, r.avg_burst,
                    static_cast<unsigned long long>(r.cache_hits),
                    static_cast<unsigned long long>(r.cache_misses), idle, share,
                    static_cast<unsigned long long>(r.errors));
    }
}

std::vector<Template> templates_for(const std::string& mix, const io::dpdk::PortAddresses& a) {
    const std::array<std::uint8_t, 4> our = a.v4[0];
    if (mix == "ecs") return {make_template("geo.bench.example", 1, 41000, true, our)};
    return {make_template("www.bench.example", 1, 40000, false, our),
            make_template("www.bench.example", 28, 40001, false, our),
            make_template("weighted.bench.example", 1, 40002, false, our),
            make_template("rr.bench.example", 1, 40003, false, our),
            make_template("geo.bench.example", 1, 40004, false, our)};
}

/// The config as the daemon turns it into its first snapshot (all backends up: nothing
/// is probed), with the response cache on or off.
std::unique_ptr<gslb::Snapshot> snapshot_for(const config::Config& base, bool cache_on,
                                             std::uint64_t generation) {
    auto cfg = std::make_shared<config::Config>(base);
    if (!cache_on) cfg->cache_entries = 0;
    auto geo = geo::load_geo(*cfg);
    auto snap = std::make_unique<gslb::Snapshot>();
    snap->generation = generation;
    snap->topo = gslb::build_topology(cfg, std::move(geo));
    snap->health = gslb::all_up(*snap->topo);
    return snap;
}

int run(const Options& o) {
    Machine m = probe_machine();
    if (m.cpus.empty()) throw std::runtime_error("sched_getaffinity found no CPU");
    const config::Config cfg = config::load_config(o.config);
    Env e;
    init(e, o, m, cfg);
    m.tsc_hz = rte_get_tsc_hz();
    std::string note;
    std::vector<std::string> modes = o.modes;
    if (!e.two_cores) {
        note = "only one CPU available: two-core mode skipped, inline only";
        std::fprintf(stderr, "bench_dpdk_capacity: %s\n", note.c_str());
        modes = {"inline"};
    }

    gslb::SnapshotHolder holder;
    std::vector<Result> results;
    std::uint64_t generation = 0;
    for (const auto& mix : o.mixes) {
        // Published with no registered reader online (the daemon's control thread does
        // the same); each Worker sizes its cache from this snapshot's config.
        holder.publish(snapshot_for(cfg, mix != "miss", ++generation));
        const auto tmpl = templates_for(mix, e.addrs);
        for (const auto& mode : modes) {
            Result r = mode == "two-core" ? two_core(e, holder, tmpl, o, m.tsc_hz)
                                          : inline_mode(e, holder, tmpl, o, m.tsc_hz);
            r.mix = mix;
            results.push_back(r);
        }
    }
    print_table(results);
    std::printf("\nTSC %.3f GHz; %s; EAL: %s\n", static_cast<double>(m.tsc_hz) / 1e9,
                m.cpu_model.c_str(), e.eal.c_str());
    if (!o.json.empty()) write_json(o.json, m, e, o, results, note);

    int rc = 0;
    for (const auto& r : results) {
        if (r.errors > 0) {
            std::fprintf(stderr, "%s/%s: %llu failed checks, %llu worker drops\n", r.mix.c_str(),
                         r.mode.c_str(), static_cast<unsigned long long>(r.check_failures),
                         static_cast<unsigned long long>(r.worker_drops));
            rc = 1;
        }
        if (r.packets == 0) {
            std::fprintf(stderr, "%s/%s: no replies\n", r.mix.c_str(), r.mode.c_str());
            rc = 1;
        }
    }
    rte_eth_dev_stop(e.ps.port);
    rte_eth_dev_close(e.ps.port);
    // The EAL leaves its (empty) runtime directory behind even without shared config;
    // ours is per process, so remove it rather than pile one up per run.
    const std::filesystem::path runtime = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    if (runtime.filename().string().rfind("gslbd-bench-", 0) == 0) {
        std::error_code ec;
        std::filesystem::remove_all(runtime, ec);
    }
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_args(argc, argv);
    try {
        return run(o);
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "bench_dpdk_capacity: %s\n", ex.what());
        return 1;
    }
}
