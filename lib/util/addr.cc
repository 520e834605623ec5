#include "util/addr.hh"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace gslbd::util {

IpAddr IpAddr::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) noexcept {
    IpAddr r;
    r.family = 4;
    r.bytes[0] = a;
    r.bytes[1] = b;
    r.bytes[2] = c;
    r.bytes[3] = d;
    return r;
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) noexcept {
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddr r;
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, r.bytes.data()) != 1) return std::nullopt;
        r.family = 4;
    } else {
        if (inet_pton(AF_INET6, buf, r.bytes.data()) != 1) return std::nullopt;
        r.family = 6;
    }
    return r;
}

std::string IpAddr::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    if (family == 4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
    if (family == 6) return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return "<none>";
}

IpAddr IpAddr::masked(unsigned len) const noexcept {
    IpAddr r = *this;
    for (unsigned i = 0; i < 16; ++i) {
        unsigned lo = i * 8;
        if (lo >= len) {
            r.bytes[i] = 0;
        } else if (lo + 8 > len) {
            r.bytes[i] &= static_cast<std::uint8_t>(0xff00u >> (len - lo));
        }
    }
    return r;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, bool strict) noexcept {
    auto slash = text.find('/');
    auto a = IpAddr::parse(text.substr(0, slash));
    if (!a) return std::nullopt;
    unsigned len = a->max_prefix();
    if (slash != std::string_view::npos) {
        auto rest = text.substr(slash + 1);
        auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), len);
        if (ec != std::errc{} || p != rest.data() + rest.size() || rest.empty()) return std::nullopt;
        if (len > a->max_prefix()) return std::nullopt;
    }
    IpPrefix r{a->masked(len), static_cast<std::uint8_t>(len)};
    if (strict && !(r.addr == *a)) return std::nullopt;
    return r;
}

bool IpPrefix::contains(const IpAddr& a) const noexcept {
    return a.family == addr.family && a.masked(len) == addr;
}

std::string IpPrefix::to_string() const { return addr.to_string() + "/" + std::to_string(len); }

std::optional<SockAddrText> SockAddrText::parse(std::string_view text,
                                                std::uint16_t default_port) noexcept {
    SockAddrText r;
    std::string_view host = text, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
            if (port.empty()) return std::nullopt;
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        auto colon = text.find(':');
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) return std::nullopt;
    }
    auto a = IpAddr::parse(host);
    if (!a) return std::nullopt;
    r.addr = *a;
    r.port = default_port;
    if (!port.empty()) {
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535)
            return std::nullopt;
        r.port = static_cast<std::uint16_t>(p);
    }
    return r;
}

std::string SockAddrText::to_string() const {
    return addr.family == 6 ? "[" + addr.to_string() + "]:" + std::to_string(port)
                            : addr.to_string() + ":" + std::to_string(port);
}

}  // namespace gslbd::util
