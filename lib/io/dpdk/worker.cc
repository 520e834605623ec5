#include "io/dpdk/worker.hh"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

namespace gslbd::io::dpdk {

Worker::Worker(const gslb::SnapshotHolder& holder, const PortAddresses& addrs,
               const QueueBinding& q, std::uint64_t seed)
    : q_(q),
      pipe_(holder, seed),
      proc_(pipe_, addrs, counters_, q.mtu, q.cksum_offload),
      tsc_hz_(rte_get_tsc_hz() > 0 ? rte_get_tsc_hz() : 1) {
    start_clock();
}

Worker::Worker(const gslb::SnapshotHolder& holder, const PortAddresses& addrs,
               const QueueBinding& q, std::uint64_t seed, std::size_t cache_entries,
               std::size_t entry_bytes)
    : q_(q),
      pipe_(holder, seed, cache_entries, entry_bytes),
      proc_(pipe_, addrs, counters_, q.mtu, q.cksum_offload),
      tsc_hz_(rte_get_tsc_hz() > 0 ? rte_get_tsc_hz() : 1) {
    start_clock();
}

void Worker::start_clock() noexcept {
    const std::uint64_t now = rte_rdtsc();
    clock_seconds_ = static_cast<std::uint32_t>(now / tsc_hz_);
    next_second_tsc_ = (now / tsc_hz_ + 1) * tsc_hz_;
    pipe_.tick(cache::coarse_now());
}

void Worker::tick_clock() noexcept {
    const std::uint64_t now = rte_rdtsc();
    if (now < next_second_tsc_) return;
    // Normally one step; after a long stall, jump straight to the current second.
    const std::uint64_t seconds = now / tsc_hz_;
    clock_seconds_ = static_cast<std::uint32_t>(seconds);
    next_second_tsc_ = (seconds + 1) * tsc_hz_;
    // The TSC says when a second passed; the value is CLOCK_MONOTONIC_COARSE (a vDSO read
    // once a second), the clock of the socket workers and of the control side's view of
    // the dynamic blocks.
    pipe_.tick(cache::coarse_now());
}

void Worker::send(std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, unsigned n,
                  DropReason on_full) noexcept {
    unsigned sent = 0;
    for (unsigned attempt = 0; sent < n && attempt <= kTxRetries; ++attempt)
        sent += rte_eth_tx_burst(port, queue, pkts + sent, static_cast<std::uint16_t>(n - sent));
    if (sent < n) {
        counters_.drops[static_cast<std::size_t>(on_full)].add(n - sent);
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
    if (port == q_.port) counters_.tx.add(sent);
}

unsigned Worker::poll() noexcept {
    rte_mbuf* rx[kBurst];
    rte_mbuf* out[kBurst];
    rte_mbuf* kernel[kBurst];
    unsigned n_out = 0, n_kernel = 0;

    const unsigned n = rte_eth_rx_burst(q_.port, q_.queue, rx, kBurst);
    if (n > 0) {
        tick_clock();
        counters_.rx.add(n);
        for (unsigned i = 0; i < n; ++i) {
            rte_mbuf* m = rx[i];
            if (m->nb_segs != 1) {
                counters_.drops[static_cast<std::size_t>(DropReason::Multiseg)].add();
                rte_pktmbuf_free(m);
                continue;
            }
            auto* data = rte_pktmbuf_mtod(m, std::uint8_t*);
            const std::uint32_t room = static_cast<std::uint32_t>(m->buf_len - m->data_off);
            const Result r = proc_.process(data, m->data_len, room);
            switch (r.verdict) {
                case Verdict::Reply:
                    m->data_len = r.len;
                    m->pkt_len = r.len;
                    m->ol_flags = 0;
                    if (r.offload_ipv4 || r.offload_ipv6) {
                        m->l2_len = r.l2_len;
                        m->l3_len = r.l3_len;
                        m->ol_flags = r.offload_ipv4
                                          ? (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
                                             RTE_MBUF_F_TX_UDP_CKSUM)
                                          : (RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM);
                    }
                    out[n_out++] = m;
                    break;
                case Verdict::Exception:
                    if (q_.exc_port == kNoPort) {
                        counters_.drops[static_cast<std::size_t>(DropReason::NoException)].add();
                        rte_pktmbuf_free(m);
                    } else {
                        m->ol_flags = 0;
                        kernel[n_kernel++] = m;
                    }
                    break;
                case Verdict::Drop:
                    rte_pktmbuf_free(m);
                    break;
            }
        }
        if (n_out > 0) {
            send(q_.port, q_.queue, out, n_out, DropReason::TxFull);
        }
        if (n_kernel > 0) {
            counters_.to_kernel.add(n_kernel);
            send(q_.exc_port, q_.exc_queue, kernel, n_kernel, DropReason::ExceptionFull);
        }
    }

    unsigned from_kernel = 0;
    if (q_.exc_port != kNoPort) {
        from_kernel = rte_eth_rx_burst(q_.exc_port, q_.exc_queue, kernel, kBurst);
        if (from_kernel > 0) {
            counters_.from_kernel.add(from_kernel);
            send(q_.port, q_.queue, kernel, from_kernel, DropReason::KernelTxFull);
        }
    }
    return n + from_kernel;
}

void Worker::run(const std::atomic<bool>& stop) noexcept {
    gslb::RcuThread rcu;
    std::uint64_t t0 = rte_rdtsc();
    while (!stop.load(std::memory_order_relaxed)) {
        const unsigned n = poll();
        gslb::RcuThread::quiescent();
        const std::uint64_t t1 = rte_rdtsc();
        if (n > 0) {
            counters_.busy_polls.add();
            counters_.busy_cycles.add(t1 - t0);
        } else {
            counters_.idle_polls.add();
            counters_.idle_cycles.add(t1 - t0);
        }
        t0 = t1;
    }
}

WorkerStats Worker::stats() const noexcept {
    WorkerStats s = snapshot(counters_);
    s.port = q_.port;
    s.queue = q_.queue;
    pipeline::add_relaxed(s.pipeline, pipe_.counters());
    pipeline::add_relaxed(s.cache, pipe_.cache_counters());
    edge::add_relaxed(s.edge, pipe_.edge_counters());
    return s;
}

}  // namespace gslbd::io::dpdk
