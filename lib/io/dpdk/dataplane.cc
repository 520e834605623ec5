#include "io/dpdk/dataplane.hh"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "util/log.hh"

namespace gslbd::io::dpdk {

namespace {

constexpr std::uint16_t kRxDesc = 1024, kTxDesc = 1024;
constexpr unsigned kPoolCache = 256;

std::atomic<bool> g_eal_started{false};
std::atomic<const DpdkServer*> g_server{nullptr};

[[noreturn]] void fail(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + rte_strerror(err < 0 ? -err : err));
}

std::string vdev_name(const std::string& device) {
    return device.substr(0, device.find(','));
}

// The value of `key=` in a vdev argument string ("net_tap0,iface=gslbd0" -> "gslbd0").
std::string vdev_arg(const std::string& device, const std::string& key) {
    std::size_t pos = 0;
    while ((pos = device.find(',', pos)) != std::string::npos) {
        ++pos;
        if (device.compare(pos, key.size() + 1, key + "=") == 0) {
            std::size_t end = device.find(',', pos);
            return device.substr(pos + key.size() + 1, end == std::string::npos
                                                           ? std::string::npos
                                                           : end - pos - key.size() - 1);
        }
    }
    return {};
}

void fill(rte_tel_data* d, const WorkerStats& s) {
    auto u = [d](const char* name, std::uint64_t v) { rte_tel_data_add_dict_u64(d, name, v); };
    u("rx", s.rx);
    u("tx", s.tx);
    u("dns", s.dns);
    u("dns_replies", s.dns_replies);
    u("arp_replies", s.arp_replies);
    u("nd_replies", s.nd_replies);
    u("echo_replies", s.echo_replies);
    u("ipv4_options", s.ipv4_options);
    u("to_kernel", s.to_kernel);
    u("from_kernel", s.from_kernel);
    u("dropped", s.dropped());
    for (std::size_t i = 0; i < kDropReasons; ++i) {
        std::string name = std::string("drop_") + drop_reason_name(static_cast<DropReason>(i));
        u(name.c_str(), s.drops[i]);
    }
    u("busy_polls", s.busy_polls);
    u("idle_polls", s.idle_polls);
    u("busy_cycles", s.busy_cycles);
    u("idle_cycles", s.idle_cycles);
    const std::uint64_t all = s.busy_cycles + s.idle_cycles;
    u("busy_percent", all ? s.busy_cycles * 100 / all : 0);
    u("dns_noerror", s.pipeline.noerror);
    u("dns_nodata", s.pipeline.nodata);
    u("dns_nxdomain", s.pipeline.nxdomain);
    u("dns_refused", s.pipeline.refused);
    u("dns_servfail", s.pipeline.servfail);
    u("dns_formerr", s.pipeline.formerr);
    u("dns_truncated", s.pipeline.truncated);
}

int telemetry_stats(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    if (const DpdkServer* s = g_server.load()) {
        auto all = s->worker_stats();
        rte_tel_data_add_dict_u64(d, "workers", all.size());
        fill(d, s->totals());
    }
    return 0;
}

int telemetry_lcores(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    if (const DpdkServer* s = g_server.load()) {
        for (const auto& w : s->worker_stats()) {
            rte_tel_data* c = rte_tel_data_alloc();
            if (c == nullptr) return -ENOMEM;
            rte_tel_data_start_dict(c);
            rte_tel_data_add_dict_u64(c, "port", w.port);
            rte_tel_data_add_dict_u64(c, "queue", w.queue);
            fill(c, w);
            std::string name = "lcore_" + std::to_string(w.lcore);
            rte_tel_data_add_dict_container(d, name.c_str(), c, 0);
        }
    }
    return 0;
}

// A worker to build on its own lcore (see build_workers()).
struct WorkerBuild {
    const gslb::SnapshotHolder* holder = nullptr;
    const PortAddresses* addrs = nullptr;
    QueueBinding binding;
    std::uint64_t seed = 0;
    std::size_t cache_entries = 0, entry_bytes = 0;
    std::unique_ptr<Worker> worker;
    std::string error;
};

int build_worker(void* arg) {
    auto* b = static_cast<WorkerBuild*>(arg);
    try {
        b->worker = std::make_unique<Worker>(*b->holder, *b->addrs, b->binding, b->seed,
                                             b->cache_entries, b->entry_bytes);
    } catch (const std::exception& e) {
        b->error = e.what();  // exceptions must not unwind through the EAL's C frames
    }
    return 0;
}

// Layout of the kernel's struct in6_ifreq (linux/ipv6.h clashes with netinet/in.h).
struct In6Ifreq {
    in6_addr addr;
    std::uint32_t prefixlen;
    int ifindex;
};

}  // namespace

void init_eal(const std::vector<std::string>& args) {
    if (g_eal_started.exchange(true))
        throw std::runtime_error("DPDK EAL already initialised in this process");
    // The EAL may keep pointers into argv: the strings live for the whole process.
    static std::vector<std::string> storage;
    storage.clear();
    storage.push_back("gslbd");
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::string line;
    for (const auto& a : args) line += " " + a;
    if (rte_eal_init(static_cast<int>(storage.size()), argv.data()) < 0) {
        g_eal_started = false;
        fail("DPDK EAL initialisation failed (arguments:" + line +
                 "; are hugepages reserved and mounted, or is --no-huge given?)",
             rte_errno);
    }
}

bool is_pci_address(const std::string& d) {
    // [DDDD:]BB:DD.F
    std::string s = d;
    if (s.size() == 12 && s[4] == ':') s = s.substr(5);
    if (s.size() != 7 || s[2] != ':' || s[5] != '.') return false;
    for (std::size_t i : {0u, 1u, 3u, 4u})
        if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    if (d.size() == 12)
        for (std::size_t i = 0; i < 4; ++i)
            if (!std::isxdigit(static_cast<unsigned char>(d[i]))) return false;
    return s[6] >= '0' && s[6] <= '7';
}

std::vector<std::string> eal_arguments(const config::DpdkConfig& cfg) {
    std::vector<std::string> args = cfg.eal_args;
    for (const auto& p : cfg.ports) {
        if (is_pci_address(p.device)) {
            args.push_back("-a");
            args.push_back(p.device);
        } else {
            args.push_back("--vdev=" + p.device);
        }
        if (!p.exception.empty()) args.push_back("--vdev=" + p.exception);
    }
    return args;
}

std::uint16_t find_port(const std::string& device) {
    std::string name = is_pci_address(device) ? device : vdev_name(device);
    if (is_pci_address(device) && name.size() == 7) name = "0000:" + name;
    std::uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
        throw std::runtime_error("DPDK device '" + device + "' (port name '" + name +
                                 "') was not probed: check the PCI address and its vfio-pci "
                                 "binding, the vdev string, and that eal_args do not exclude it");
    }
    return id;
}

PortSetup setup_port(std::uint16_t port, unsigned queues, rte_mempool* pool, bool want_offload,
                     const std::string& what) {
    PortSetup ps;
    ps.port = port;
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) fail(what + ": device info", rc);
    queues = std::max(1u, std::min({queues, static_cast<unsigned>(info.max_rx_queues),
                                    static_cast<unsigned>(info.max_tx_queues)}));
    const std::uint64_t rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
    const bool fanout = info.driver_name && std::strcmp(info.driver_name, "net_af_packet") == 0;
    if (queues > 1 && rss_hf == 0 && !fanout) {
        util::log_warn("{}: device has no RSS on IP/UDP; using 1 queue instead of {}", what,
                       queues);
        queues = 1;
    }
    rte_eth_conf conf{};
    if (queues > 1 && rss_hf != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        ps.rss = true;
    }
    constexpr std::uint64_t kCksum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    if (want_offload && (info.tx_offload_capa & kCksum) == kCksum) {
        conf.txmode.offloads |= kCksum;
        ps.cksum_offload = true;
    }
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    const auto q16 = static_cast<std::uint16_t>(queues);
    if (int rc = rte_eth_dev_configure(port, q16, q16, &conf); rc != 0)
        fail(what + ": configure with " + std::to_string(queues) + " queue pairs", rc);
    std::uint16_t nrx = kRxDesc, ntx = kTxDesc;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx); rc != 0)
        fail(what + ": descriptor counts", rc);
    const int socket = rte_eth_dev_socket_id(port);
    const unsigned sock = socket < 0 ? 0u : static_cast<unsigned>(socket);
    for (std::uint16_t q = 0; q < q16; ++q) {
        if (int rc = rte_eth_rx_queue_setup(port, q, nrx, sock, nullptr, pool); rc != 0)
            fail(what + ": RX queue " + std::to_string(q), rc);
        rte_eth_txconf txc = info.default_txconf;
        txc.offloads = conf.txmode.offloads;
        if (int rc = rte_eth_tx_queue_setup(port, q, ntx, sock, &txc); rc != 0)
            fail(what + ": TX queue " + std::to_string(q), rc);
    }
    if (int rc = rte_eth_dev_start(port); rc != 0) fail(what + ": start", rc);
    rte_eth_allmulticast_enable(port);  // solicited-node multicast for ND; may be unsupported
    rte_ether_addr mac{};
    if (int rc = rte_eth_macaddr_get(port, &mac); rc != 0) fail(what + ": MAC address", rc);
    std::memcpy(ps.mac.data(), mac.addr_bytes, 6);
    std::uint16_t mtu = 1500;
    if (rte_eth_dev_get_mtu(port, &mtu) == 0 && mtu >= 1280) ps.mtu = mtu;
    ps.queues = queues;
    return ps;
}

void configure_kernel_interface(const std::string& ifname,
                                const std::vector<config::DpdkAddress>& addrs) {
    if (ifname.empty() || ifname.size() >= IFNAMSIZ)
        throw std::runtime_error("exception interface name '" + ifname + "' is not usable");
    // The addresses are ours by configuration; DAD would only delay binding to them.
    {
        std::ofstream dad("/proc/sys/net/ipv6/conf/" + ifname + "/accept_dad");
        if (dad) dad << "0\n";
    }
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int fd6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto cleanup = [&] {
        if (fd >= 0) ::close(fd);
        if (fd6 >= 0) ::close(fd6);
    };
    auto error = [&](const std::string& step) {
        const int err = errno;
        cleanup();
        throw std::runtime_error("exception interface " + ifname + ": " + step + ": " +
                                 std::strerror(err));
    };
    if (fd < 0) error("socket");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) error("get flags");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) error("set up");
    const unsigned index = if_nametoindex(ifname.c_str());
    unsigned n4 = 0;
    for (const auto& a : addrs) {
        const std::string text = a.addr.to_string() + "/" + std::to_string(a.prefix_len);
        if (a.addr.family == 4) {
            // The first IPv4 address is the primary; further ones are labelled aliases.
            std::string label = n4 == 0 ? ifname : ifname + ":" + std::to_string(n4);
            ++n4;
            if (label.size() >= IFNAMSIZ) error("alias name for " + text + " too long");
            ifreq r{};
            std::strncpy(r.ifr_name, label.c_str(), IFNAMSIZ - 1);
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            std::memcpy(&sin.sin_addr, a.addr.bytes.data(), 4);
            std::memcpy(&r.ifr_addr, &sin, sizeof sin);
            if (::ioctl(fd, SIOCSIFADDR, &r) != 0) error("add " + text);
            const std::uint32_t mask =
                a.prefix_len == 0 ? 0 : htonl(~std::uint32_t{0} << (32 - a.prefix_len));
            std::memcpy(&sin.sin_addr, &mask, 4);
            std::memcpy(&r.ifr_netmask, &sin, sizeof sin);
            if (::ioctl(fd, SIOCSIFNETMASK, &r) != 0) error("netmask of " + text);
        } else {
            if (fd6 < 0) error("IPv6 socket");
            In6Ifreq r{};
            std::memcpy(&r.addr, a.addr.bytes.data(), 16);
            r.prefixlen = a.prefix_len;
            r.ifindex = static_cast<int>(index);
            if (::ioctl(fd6, SIOCSIFADDR, &r) != 0 && errno != EEXIST) error("add " + text);
        }
    }
    cleanup();
}

DpdkServer::DpdkServer(const gslb::SnapshotHolder& holder, const config::Config& cfg)
    : holder_(holder) {
    const config::DpdkConfig& dc = cfg.dpdk;
    if (dc.ports.empty()) throw std::runtime_error("io is dpdk but dpdk.ports is empty");
    std::vector<std::string> eal_args = eal_arguments(dc);
    // Once root is dropped (`user:`), the EAL could not remove its hugepage files at exit:
    // unlink them right after mapping instead.
    if (!cfg.edge.user.empty() &&
        std::none_of(eal_args.begin(), eal_args.end(), [](const std::string& a) {
            return a.rfind("--huge-unlink", 0) == 0 || a == "--no-huge" || a == "--in-memory";
        }))
        eal_args.push_back("--huge-unlink");
    init_eal(eal_args);
    unsigned needed = 0;
    for (const auto& p : dc.ports) needed += p.queues;
    const unsigned available = rte_lcore_count() - 1;
    if (available < needed)
        throw std::runtime_error("DPDK: the ports ask for " + std::to_string(needed) +
                                 " queue pairs, which need " + std::to_string(needed) +
                                 " worker lcores, but the EAL has " + std::to_string(available) +
                                 " besides the main lcore (give e.g. -l 0-" +
                                 std::to_string(needed) + " in dpdk.eal_args)");

    unsigned lcore = rte_get_next_lcore(static_cast<unsigned>(-1), 1, 0);
    std::vector<WorkerBuild> builds;
    for (std::size_t i = 0; i < dc.ports.size(); ++i) {
        const auto& pc = dc.ports[i];
        auto port = std::make_unique<Port>();
        port->device = pc.device;
        port->exception = pc.exception;
        const std::uint16_t id = find_port(pc.device);
        const int socket = rte_eth_dev_socket_id(id);
        // Every descriptor of the port and of its exception device may hold an mbuf.
        const unsigned mbufs =
            std::max(dc.mbufs, pc.queues * 4u * (kRxDesc + kTxDesc) + (needed + 1) * kPoolCache);
        std::string pool_name = "gslbd_pool" + std::to_string(i);
        port->pool =
            rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, kPoolCache, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, socket < 0 ? SOCKET_ID_ANY : socket);
        if (port->pool == nullptr)
            fail("DPDK: mbuf pool of " + std::to_string(mbufs) + " for " + pc.device +
                     " (not enough hugepage memory?)",
                 rte_errno);
        port->setup = setup_port(id, pc.queues, port->pool, true, "port " + pc.device);
        port->addrs = PortAddresses::from_config(pc, dc.udp_port, port->setup.mac);
        if (!pc.exception.empty()) {
            port->exc_port = find_port(pc.exception);
            rte_ether_addr mac{};
            std::memcpy(mac.addr_bytes, port->setup.mac.data(), 6);
            PortSetup es = setup_port(port->exc_port, port->setup.queues, port->pool, false,
                                      "exception device " + pc.exception);
            if (es.queues != port->setup.queues)
                throw std::runtime_error("exception device " + pc.exception + " offers " +
                                         std::to_string(es.queues) + " queues, the port needs " +
                                         std::to_string(port->setup.queues));
            // The kernel answers with the port's MAC, so clients see one MAC per address.
            if (int rc = rte_eth_dev_default_mac_addr_set(port->exc_port, &mac); rc != 0)
                fail("exception device " + pc.exception + ": set MAC", rc);
            rte_eth_dev_info info{};
            std::string ifname = vdev_arg(pc.exception, "iface");
            char buf[IF_NAMESIZE] = {};
            if (rte_eth_dev_info_get(port->exc_port, &info) == 0 && info.if_index != 0 &&
                if_indextoname(info.if_index, buf) != nullptr)
                ifname = buf;
            configure_kernel_interface(ifname, pc.addresses);
            kernel_ifs_.push_back(ifname);
        }
        for (unsigned q = 0; q < port->setup.queues; ++q) {
            QueueBinding b;
            b.port = id;
            b.queue = static_cast<std::uint16_t>(q);
            b.exc_port = port->exc_port;
            b.exc_queue = static_cast<std::uint16_t>(q);
            b.mtu = port->setup.mtu;
            b.cksum_offload = port->setup.cksum_offload;
            WorkerBuild wb;
            wb.holder = &holder_;
            wb.addrs = &port->addrs;
            wb.binding = b;
            wb.seed = rte_rdtsc() ^ lcore;
            wb.cache_entries = cfg.cache_entries;
            wb.entry_bytes = config::cache_entry_bytes(cfg);
            builds.push_back(std::move(wb));
            lanes_.push_back(Lane{lcore, nullptr});
            lcore = rte_get_next_lcore(lcore, 1, 0);
        }
        ports_.push_back(std::move(port));
    }

    // Each worker is built on its own lcore, all at once: the pipeline, its cache and the
    // counters are allocated and first touched by the thread that will use them, so the
    // kernel places them on that lcore's NUMA node, and the main lcore touches none of it.
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        if (int rc = rte_eal_remote_launch(build_worker, &builds[i], lanes_[i].lcore); rc != 0) {
            for (std::size_t j = 0; j < i; ++j) rte_eal_wait_lcore(lanes_[j].lcore);
            fail("DPDK: build worker on lcore " + std::to_string(lanes_[i].lcore), rc);
        }
    }
    for (std::size_t i = 0; i < lanes_.size(); ++i) rte_eal_wait_lcore(lanes_[i].lcore);
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        if (!builds[i].error.empty())
            throw std::runtime_error("DPDK: worker on lcore " + std::to_string(lanes_[i].lcore) +
                                     ": " + builds[i].error);
        lanes_[i].worker = std::move(builds[i].worker);
    }
}

int DpdkServer::lcore_main(void* arg) {
    auto* self = static_cast<std::pair<DpdkServer*, Worker*>*>(arg);
    self->second->run(self->first->stop_);
    delete self;
    return 0;
}

void DpdkServer::start() {
    if (started_) return;
    started_ = true;
    for (auto& lane : lanes_) {
        auto* arg = new std::pair<DpdkServer*, Worker*>(this, lane.worker.get());
        if (int rc = rte_eal_remote_launch(lcore_main, arg, lane.lcore); rc != 0) {
            delete arg;
            stop();
            fail("DPDK: launch worker on lcore " + std::to_string(lane.lcore), rc);
        }
    }
    g_server = this;
    static bool registered = false;
    if (!registered) {
        registered = true;
        rte_telemetry_register_cmd("/gslbd/stats", telemetry_stats,
                                   "gslbd DPDK counters summed over all worker lcores");
        rte_telemetry_register_cmd("/gslbd/lcores", telemetry_lcores,
                                   "gslbd DPDK counters per worker lcore");
    }
}

void DpdkServer::stop() {
    stop_ = true;
    if (started_) {
        for (auto& lane : lanes_) rte_eal_wait_lcore(lane.lcore);
        started_ = false;
    }
}

DpdkServer::~DpdkServer() {
    stop();
    if (g_server.load() == this) g_server = nullptr;
    for (auto& p : ports_) {
        if (p->exc_port != kNoPort) {
            rte_eth_dev_stop(p->exc_port);
            rte_eth_dev_close(p->exc_port);
        }
        rte_eth_dev_stop(p->setup.port);
        rte_eth_dev_close(p->setup.port);
    }
    lanes_.clear();
    for (auto& p : ports_) rte_mempool_free(p->pool);
    ports_.clear();
    rte_eal_cleanup();
}

std::vector<WorkerStats> DpdkServer::worker_stats() const {
    std::vector<WorkerStats> v;
    for (const auto& lane : lanes_) {
        WorkerStats s = lane.worker->stats();
        s.lcore = lane.lcore;
        v.push_back(s);
    }
    return v;
}

WorkerStats DpdkServer::totals() const {
    WorkerStats t;
    for (const auto& s : worker_stats()) t.add(s);
    return t;
}

void DpdkServer::collect(Stats& into) const {
    std::array<std::uint64_t, kDropReasons> drops{};
    unsigned i = 0;
    for (const auto& w : worker_stats()) {
        pipeline::add_relaxed(into.udp, w.pipeline);
        pipeline::add_relaxed(into.cache, w.cache);
        edge::add_relaxed(into.edge, w.edge);
        into.udp_rx += w.dns;
        into.udp_tx += w.dns_replies;
        for (std::size_t k = 0; k < drops.size(); ++k) drops[k] += w.drops[k];
        into.workers.push_back({"dpdk", i++, w.rx, true, w.busy_cycles, w.idle_cycles});
    }
    for (std::size_t k = 0; k < drops.size(); ++k)
        into.drops.emplace_back(std::string("dpdk_") + drop_reason_name(static_cast<DropReason>(k)),
                                drops[k]);
}

std::string DpdkServer::summary() const {
    const WorkerStats d = totals();
    return "DPDK: " + std::to_string(d.rx) + " received, " + std::to_string(d.tx) + " sent, " +
           std::to_string(d.dns_replies) + " DNS answered, " + std::to_string(d.to_kernel) +
           " to the kernel, " + std::to_string(d.from_kernel) + " from the kernel, " +
           std::to_string(d.dropped()) + " dropped";
}

std::string DpdkServer::describe() const {
    std::string out = "DPDK: ";
    for (const auto& p : ports_) {
        const auto& m = p->setup.mac;
        char mac[32];
        std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
                      m[4], m[5]);
        if (&p != &ports_.front()) out += "; ";
        out += "port " + std::to_string(p->setup.port) + " " + p->device + " mac " + mac + ", " +
               std::to_string(p->setup.queues) + " queue(s)" + (p->setup.rss ? " RSS" : "") +
               (p->setup.cksum_offload ? ", checksum offload" : ", software checksums") + ", mtu " +
               std::to_string(p->setup.mtu) + ", exception " +
               (p->exception.empty() ? std::string("none") : p->exception);
    }
    return out;
}

}  // namespace gslbd::io::dpdk
