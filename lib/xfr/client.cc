// One query to a primary over TCP and its (multi-message) answer, parsed and TSIG-checked
// with libknot. Blocking I/O with poll() deadlines: this runs on the transfer thread only.
extern "C" {
#include <libdnssec/tsig.h>
#include <libknot/libknot.h>
}

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "util/sockaddr.hh"
#include "xfr/client.hh"

namespace gslbd::xfr {

namespace {

using Clock = std::chrono::steady_clock;

std::string knot_error(int rc) {
    return knot_strerror(rc);
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Waits for `events` on fd until `deadline`, in slices so that `stop` is seen.
void wait_for(int fd, short events, Clock::time_point deadline, const std::atomic<bool>& stop,
              const char* what) {
    for (;;) {
        if (stop.load(std::memory_order_relaxed)) throw XfrError("stopped");
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) throw XfrError(std::string("timed out ") + what);
        pollfd p{fd, events, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
        if (rc > 0) return;
        if (rc < 0 && errno != EINTR) throw XfrError(std::string("poll: ") + std::strerror(errno));
    }
}

void read_exact(int fd, std::uint8_t* buf, std::size_t n, const Limits& lim,
                Clock::time_point total, const std::atomic<bool>& stop, const char* what) {
    std::size_t got = 0;
    while (got < n) {
        const Clock::time_point deadline = std::min(total, Clock::now() + lim.idle);
        wait_for(fd, POLLIN, deadline, stop, what);
        const ssize_t r = ::recv(fd, buf + got, n - got, 0);
        if (r == 0) throw XfrError(std::string("connection closed by the primary ") + what);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw XfrError(std::string("read: ") + std::strerror(errno));
        }
        got += static_cast<std::size_t>(r);
    }
}

std::string lower_owner(const knot_dname_t* d) {
    const std::size_t n = knot_dname_size(d);
    std::string s(reinterpret_cast<const char*>(d), n);
    knot_dname_to_lower(reinterpret_cast<knot_dname_t*>(s.data()));
    return s;
}

struct PktFree {
    void operator()(knot_pkt_t* p) const noexcept { knot_pkt_free(p); }
};
using Pkt = std::unique_ptr<knot_pkt_t, PktFree>;

}  // namespace

TsigKey::TsigKey(const config::TsigKey& k) : name_(k.name) {
    auto* key = new knot_tsig_key_t{};
    const int rc = knot_tsig_key_init(key, k.algorithm.c_str(), k.name.c_str(), k.secret.c_str());
    if (rc != KNOT_EOK) {
        delete key;
        throw XfrError("TSIG key " + k.name + ": " + knot_error(rc));
    }
    key_ = key;
}

TsigKey::~TsigKey() {
    auto* key = static_cast<knot_tsig_key_t*>(key_);
    if (key == nullptr) return;
    knot_tsig_key_deinit(key);
    delete key;
}

Answer ask(const config::Primary& server, const std::string& origin, std::uint16_t qtype,
           const zone::Rr* soa, const TsigKey* key, const Limits& lim,
           const std::atomic<bool>& stop) {
    const auto* tkey = key != nullptr ? static_cast<const knot_tsig_key_t*>(key->knot()) : nullptr;
    const Clock::time_point total = Clock::now() + lim.total;

    // The query.
    std::vector<std::uint8_t> qbuf(KNOT_WIRE_MAX_PKTSIZE);
    Pkt q(knot_pkt_new(qbuf.data(), static_cast<std::uint16_t>(qbuf.size() - 1), nullptr));
    if (!q) throw XfrError("out of memory");
    static thread_local std::mt19937 rng{std::random_device{}()};
    const auto id = static_cast<std::uint16_t>(rng());
    knot_wire_set_id(q->wire, id);
    int rc = knot_pkt_put_question(q.get(), reinterpret_cast<const knot_dname_t*>(origin.data()),
                                   KNOT_CLASS_IN, qtype);
    if (rc == KNOT_EOK && soa != nullptr) {
        rc = knot_pkt_begin(q.get(), KNOT_AUTHORITY);
        knot_rrset_t* rr = nullptr;
        if (rc == KNOT_EOK) {
            rr = knot_rrset_new(reinterpret_cast<const knot_dname_t*>(soa->owner.data()),
                                KNOT_RRTYPE_SOA, KNOT_CLASS_IN, soa->ttl, nullptr);
            rc = rr == nullptr ? KNOT_ENOMEM
                               : knot_rrset_add_rdata(
                                     rr, reinterpret_cast<const std::uint8_t*>(soa->rdata.data()),
                                     static_cast<std::uint16_t>(soa->rdata.size()), nullptr);
        }
        if (rc == KNOT_EOK) {
            // the packet copies the rrset struct and, with KNOT_PF_FREE, frees its owner and
            // rdata; the struct knot_rrset_new allocated is ours to free
            rc = knot_pkt_put(q.get(), KNOT_COMPR_HINT_NONE, rr, KNOT_PF_FREE);
            if (rc == KNOT_EOK) {
                std::free(rr);
                rr = nullptr;
            }
        }
        if (rc != KNOT_EOK && rr != nullptr) knot_rrset_free(rr, nullptr);
    }
    if (rc != KNOT_EOK) throw XfrError("cannot build the query: " + knot_error(rc));
    std::uint8_t digest[64];
    std::size_t digest_len = 0;
    if (tkey != nullptr) {
        digest_len = dnssec_tsig_algorithm_size(tkey->algorithm);
        rc = knot_tsig_sign(q->wire, &q->size, q->max_size, nullptr, 0, digest, &digest_len, tkey,
                            0, 0);
        if (rc != KNOT_EOK) throw XfrError("TSIG: cannot sign the query: " + knot_error(rc));
    }

    // Connect and send.
    Fd s;
    sockaddr_storage sa{};
    const socklen_t salen = util::to_sockaddr(server.addr, server.port, sa);
    s.fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (s.fd < 0) throw XfrError(std::string("socket: ") + std::strerror(errno));
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&sa), salen) != 0 && errno != EINPROGRESS)
        throw XfrError(std::string("connect: ") + std::strerror(errno));
    wait_for(s.fd, POLLOUT, std::min(total, Clock::now() + lim.connect), stop, "connecting");
    int err = 0;
    socklen_t errlen = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &errlen);
    if (err != 0) throw XfrError(std::string("connect: ") + std::strerror(err));
    std::vector<std::uint8_t> out(q->size + 2);
    out[0] = static_cast<std::uint8_t>(q->size >> 8);
    out[1] = static_cast<std::uint8_t>(q->size);
    std::memcpy(out.data() + 2, q->wire, q->size);
    for (std::size_t sent = 0; sent < out.size();) {
        wait_for(s.fd, POLLOUT, std::min(total, Clock::now() + lim.idle), stop, "sending");
        const ssize_t w = ::send(s.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw XfrError(std::string("send: ") + std::strerror(errno));
        }
        sent += static_cast<std::size_t>(w);
    }

    // The answer.
    Answer ans;
    StreamEnd end(qtype == KNOT_RRTYPE_IXFR);
    const bool multi = qtype == KNOT_RRTYPE_AXFR || qtype == KNOT_RRTYPE_IXFR;
    std::vector<std::uint8_t> msg(65535);
    std::vector<std::uint8_t> unsigned_run;  // unsigned messages since the last signed one
    unsigned unsigned_count = 0;
    std::uint64_t prev_signed = 0;
    for (;;) {
        std::uint8_t len2[2];
        read_exact(s.fd, len2, 2, lim, total, stop, "waiting for the answer");
        const std::size_t len = (std::size_t{len2[0]} << 8) | len2[1];
        if (len < KNOT_WIRE_HEADER_SIZE) throw XfrError("a message shorter than a DNS header");
        read_exact(s.fd, msg.data(), len, lim, total, stop, "reading a message");
        ans.bytes += len + 2;
        ++ans.messages;
        if (ans.bytes > lim.max_bytes)
            throw XfrError("the answer exceeds " + std::to_string(lim.max_bytes >> 20) +
                           " MiB: zone too large");
        // The parse strips the TSIG RR off the wire (ARCOUNT - 1, r->size shorter): that is
        // the form the MAC is checked over. NOCANON: RDATA names keep their case.
        Pkt r(knot_pkt_new(msg.data(), static_cast<std::uint16_t>(len), nullptr));
        if (!r) throw XfrError("out of memory");
        rc = knot_pkt_parse(r.get(), KNOT_PF_NOCANON);
        if (rc != KNOT_EOK) throw XfrError("malformed message: " + knot_error(rc));
        if (knot_wire_get_id(r->wire) != id) throw XfrError("a message with a wrong ID");
        if (!knot_wire_get_qr(r->wire)) throw XfrError("a message that is not a response");
        if (knot_wire_get_tc(r->wire)) throw XfrError("a truncated (TC) message over TCP");
        if (ans.messages == 1 || knot_wire_get_qdcount(r->wire) != 0) {
            const knot_dname_t* qn = knot_pkt_qname(r.get());
            if (knot_wire_get_qdcount(r->wire) != 1 || qn == nullptr || lower_owner(qn) != origin ||
                knot_pkt_qtype(r.get()) != qtype)
                throw XfrError("the answer's question is not the one asked");
        }
        // TSIG (RFC 8945 §5.3.1).
        if (tkey != nullptr) {
            if (r->tsig_rr == nullptr) {
                if (ans.messages == 1) {
                    ans.rcode = knot_wire_get_rcode(r->wire);
                    throw XfrError("TSIG: the primary's answer is not signed (rcode " +
                                   std::to_string(ans.rcode) + "; wrong key name or secret?)");
                }
                if (++unsigned_count > 99)
                    throw XfrError("TSIG: more than 99 unsigned messages in a row");
                unsigned_run.insert(unsigned_run.end(), r->wire, r->wire + r->size);
            } else {
                if (knot_tsig_rdata_error(r->tsig_rr) != 0)
                    throw XfrError(
                        std::string("TSIG: the primary reports ") +
                        (knot_tsig_rdata_error(r->tsig_rr) == KNOT_RCODE_BADKEY
                             ? "BADKEY (it does not know this key)"
                         : knot_tsig_rdata_error(r->tsig_rr) == KNOT_RCODE_BADSIG
                             ? "BADSIG (the secrets differ)"
                         : knot_tsig_rdata_error(r->tsig_rr) == KNOT_RCODE_BADTIME
                             ? "BADTIME (clocks differ)"
                             : "error " + std::to_string(knot_tsig_rdata_error(r->tsig_rr))));
                unsigned_run.insert(unsigned_run.end(), r->wire, r->wire + r->size);
                rc = prev_signed == 0
                         ? knot_tsig_client_check(r->tsig_rr, unsigned_run.data(),
                                                  unsigned_run.size(), digest, digest_len, tkey, 0)
                         : knot_tsig_client_check_next(r->tsig_rr, unsigned_run.data(),
                                                       unsigned_run.size(), digest, digest_len,
                                                       tkey, prev_signed);
                if (rc != KNOT_EOK)
                    throw XfrError("TSIG: message " + std::to_string(ans.messages) +
                                   " does not verify with key " + key->name() + ": " +
                                   knot_error(rc));
                if (knot_tsig_rdata_mac_length(r->tsig_rr) != digest_len)
                    throw XfrError("TSIG: unexpected MAC length");
                std::memcpy(digest, knot_tsig_rdata_mac(r->tsig_rr), digest_len);
                prev_signed = knot_tsig_rdata_time_signed(r->tsig_rr);
                unsigned_count = 0;
                unsigned_run.clear();
                ans.signed_ok = true;
            }
        }
        ans.rcode = knot_wire_get_rcode(r->wire);
        if (ans.rcode != KNOT_RCODE_NOERROR) {
            if (ans.messages == 1) return ans;  // the caller decides (IXFR -> AXFR)
            throw XfrError("rcode " + std::to_string(ans.rcode) + " in the middle of the answer");
        }
        const knot_pktsection_t* an = knot_pkt_section(r.get(), KNOT_ANSWER);
        for (std::uint16_t i = 0; i < an->count; ++i) {
            const knot_rrset_t* rr = knot_pkt_rr(an, i);
            if (rr->rclass != KNOT_CLASS_IN) throw XfrError("an RR of class other than IN");
            const std::string owner = lower_owner(rr->owner);
            for (std::uint16_t j = 0; j < rr->rrs.count; ++j) {
                const knot_rdata_t* rd = knot_rdataset_at(&rr->rrs, j);
                zone::Rr z{owner, rr->type, rr->ttl,
                           std::string(reinterpret_cast<const char*>(rd->data), rd->len)};
                if (multi) {
                    if (end.complete()) throw XfrError("data after the end of the transfer");
                    end.add(z);
                }
                ans.rrs.push_back(std::move(z));
                if (ans.rrs.size() > lim.max_rrs)
                    throw XfrError("more than " + std::to_string(lim.max_rrs) +
                                   " RRs: zone too large");
            }
        }
        if (!multi) break;
        if (end.complete_at_message_end()) break;
    }
    if (tkey != nullptr && unsigned_count != 0)
        throw XfrError("TSIG: the last message of the answer is not signed");
    if (!multi && ans.rrs.empty()) throw XfrError("the SOA answer holds no SOA");
    return ans;
}

}  // namespace gslbd::xfr
