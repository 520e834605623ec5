#pragma once
/// Test-only DNS message decoder and name encoder, independent of lib/dns, so assertions
/// on responses do not trust the code under test. Throws std::runtime_error on anything
/// malformed (a malformed response is itself a test failure).
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace testdns {

struct Rr {
    std::string name;  ///< owner as text, case as on the wire, "." for the root
    std::uint16_t type = 0, klass = 0;
    std::uint32_t ttl = 0;
    std::vector<std::uint8_t> rdata;
    // decoded RDATA, by type
    std::string addr;                  ///< A / AAAA
    std::string target;                ///< NS / CNAME
    std::vector<std::string> strings;  ///< TXT / HINFO character-strings
    std::string mname, rname;          ///< SOA
    std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

struct Opt {
    bool present = false;
    std::uint16_t udp_size = 0;
    std::uint8_t ext_rcode = 0;
    std::uint8_t version = 0;
    bool do_bit = false;
    std::string owner;
    bool ecs = false;
    std::uint16_t ecs_family = 0;
    std::uint8_t ecs_source = 0, ecs_scope = 0;
    std::vector<std::uint8_t> ecs_addr;
};

struct Msg {
    std::uint16_t id = 0, flags = 0;
    std::uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
    std::string qname;
    std::uint16_t qtype = 0, qclass = 0;
    std::vector<Rr> answer, authority, additional;  ///< additional excludes OPT
    Opt opt;

    unsigned rcode() const { return (flags & 0xF) | (static_cast<unsigned>(opt.ext_rcode) << 4); }
    bool qr() const { return flags & 0x8000; }
    bool aa() const { return flags & 0x0400; }
    bool tc() const { return flags & 0x0200; }
    bool rd() const { return flags & 0x0100; }
    unsigned opcode() const { return (flags >> 11) & 0xF; }
};

/// "www.Example.com." / "www.example.com" -> wire, letter case kept. "." -> root.
inline std::vector<std::uint8_t> encode_name(const std::string& text) {
    std::vector<std::uint8_t> out;
    if (text == ".") return {0};
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t dot = text.find('.', start);
        if (dot == std::string::npos) dot = text.size();
        std::size_t len = dot - start;
        if (len == 0 || len > 63) throw std::runtime_error("encode_name: bad label in " + text);
        out.push_back(static_cast<std::uint8_t>(len));
        out.insert(out.end(), text.begin() + static_cast<long>(start),
                   text.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    out.push_back(0);
    return out;
}

class Decoder {
  public:
    explicit Decoder(std::span<const std::uint8_t> p) : p_(p) {}

    Msg decode() {
        Msg m;
        m.id = u16();
        m.flags = u16();
        m.qdcount = u16();
        m.ancount = u16();
        m.nscount = u16();
        m.arcount = u16();
        if (m.qdcount > 1) throw std::runtime_error("more than one question");
        if (m.qdcount == 1) {
            m.qname = name();
            m.qtype = u16();
            m.qclass = u16();
        }
        for (unsigned i = 0; i < m.ancount; ++i) m.answer.push_back(rr());
        for (unsigned i = 0; i < m.nscount; ++i) m.authority.push_back(rr());
        for (unsigned i = 0; i < m.arcount; ++i) {
            Rr r = rr();
            if (r.type == 41) {
                if (m.opt.present) throw std::runtime_error("two OPT records");
                m.opt = opt(r);
            } else {
                m.additional.push_back(std::move(r));
            }
        }
        if (pos_ != p_.size()) throw std::runtime_error("trailing bytes after the last record");
        return m;
    }

  private:
    void need(std::size_t n) const {
        if (pos_ + n > p_.size()) throw std::runtime_error("message truncated");
    }
    std::uint8_t u8() {
        need(1);
        return p_[pos_++];
    }
    std::uint16_t u16() {
        need(2);
        std::uint16_t v = static_cast<std::uint16_t>(p_[pos_] << 8 | p_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    std::uint32_t u32() {
        std::uint32_t hi = u16();
        return hi << 16 | u16();
    }

    /// Name at the cursor (compression followed, only backwards), advancing the cursor.
    std::string name() { return name_at(pos_, true); }

    std::string name_at(std::size_t& at, bool advance) {
        std::string out;
        std::size_t cur = at;
        bool jumped = false;
        std::size_t wire = 0;
        for (int hops = 0;; ++hops) {
            if (hops > 128) throw std::runtime_error("compression loop");
            if (cur >= p_.size()) throw std::runtime_error("name out of bounds");
            std::uint8_t len = p_[cur];
            if ((len & 0xC0) == 0xC0) {
                if (cur + 1 >= p_.size()) throw std::runtime_error("pointer out of bounds");
                std::size_t target = static_cast<std::size_t>((len & 0x3F) << 8 | p_[cur + 1]);
                if (target >= cur) throw std::runtime_error("forward compression pointer");
                if (!jumped && advance) at = cur + 2;
                jumped = true;
                cur = target;
                continue;
            }
            if (len > 63) throw std::runtime_error("bad label type");
            if (cur + 1 + len > p_.size()) throw std::runtime_error("label out of bounds");
            wire += len + 1u;
            if (wire > 255) throw std::runtime_error("name too long");
            if (len == 0) {
                if (!jumped && advance) at = cur + 1;
                break;
            }
            out.append(reinterpret_cast<const char*>(&p_[cur + 1]), len);
            out.push_back('.');
            cur += len + 1u;
        }
        return out.empty() ? "." : out;
    }

    static std::string addr_text(int af, const std::uint8_t* b) {
        char buf[INET6_ADDRSTRLEN];
        if (inet_ntop(af, b, buf, sizeof buf) == nullptr) throw std::runtime_error("inet_ntop");
        return buf;
    }

    Rr rr() {
        Rr r;
        r.name = name();
        r.type = u16();
        r.klass = u16();
        r.ttl = u32();
        std::uint16_t rdlen = u16();
        need(rdlen);
        const std::size_t start = pos_, end = pos_ + rdlen;
        r.rdata.assign(p_.begin() + static_cast<long>(start), p_.begin() + static_cast<long>(end));
        switch (r.type) {
            case 1:
                if (rdlen != 4) throw std::runtime_error("A rdlength");
                r.addr = addr_text(AF_INET, &p_[start]);
                break;
            case 28:
                if (rdlen != 16) throw std::runtime_error("AAAA rdlength");
                r.addr = addr_text(AF_INET6, &p_[start]);
                break;
            case 2:
            case 5:
                r.target = name();
                if (pos_ != end) throw std::runtime_error("NS/CNAME rdlength");
                break;
            case 6:
                r.mname = name();
                r.rname = name();
                r.serial = u32();
                r.refresh = u32();
                r.retry = u32();
                r.expire = u32();
                r.minimum = u32();
                if (pos_ != end) throw std::runtime_error("SOA rdlength");
                break;
            case 13:
            case 16:
                while (pos_ < end) {
                    std::uint8_t l = u8();
                    if (pos_ + l > end) throw std::runtime_error("character-string overflows");
                    r.strings.emplace_back(reinterpret_cast<const char*>(&p_[pos_]), l);
                    pos_ += l;
                }
                break;
            default:
                break;
        }
        pos_ = end;
        return r;
    }

    Opt opt(const Rr& r) {
        Opt o;
        o.present = true;
        o.owner = r.name;
        o.udp_size = r.klass;
        o.ext_rcode = static_cast<std::uint8_t>(r.ttl >> 24);
        o.version = static_cast<std::uint8_t>(r.ttl >> 16);
        o.do_bit = (r.ttl & 0x8000) != 0;
        std::size_t i = 0;
        const auto& d = r.rdata;
        while (i < d.size()) {
            if (i + 4 > d.size()) throw std::runtime_error("option header truncated");
            std::uint16_t code = static_cast<std::uint16_t>(d[i] << 8 | d[i + 1]);
            std::uint16_t len = static_cast<std::uint16_t>(d[i + 2] << 8 | d[i + 3]);
            i += 4;
            if (i + len > d.size()) throw std::runtime_error("option truncated");
            if (code == 8) {
                if (len < 4) throw std::runtime_error("ECS option too short");
                o.ecs = true;
                o.ecs_family = static_cast<std::uint16_t>(d[i] << 8 | d[i + 1]);
                o.ecs_source = d[i + 2];
                o.ecs_scope = d[i + 3];
                o.ecs_addr.assign(d.begin() + static_cast<long>(i + 4),
                                  d.begin() + static_cast<long>(i + len));
            }
            i += len;
        }
        return o;
    }

    std::span<const std::uint8_t> p_;
    std::size_t pos_ = 0;
};

inline Msg decode(std::span<const std::uint8_t> packet) {
    return Decoder(packet).decode();
}

}  // namespace testdns
