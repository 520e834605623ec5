#include "dns/query.hh"
#include "dns/response.hh"

namespace gslbd::dns {

std::size_t name_from_text(std::string_view text, std::uint8_t out[kMaxNameWire]) noexcept {
    if (text.empty()) return 0;
    if (text == ".") {
        out[0] = 0;
        return 1;
    }
    const auto digit = [&](std::size_t k) { return text[k] >= '0' && text[k] <= '9'; };
    std::size_t label_at = 0;  // where the current label's length byte goes
    std::size_t len = 1;       // bytes used in out, the current length byte included
    std::size_t label_len = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::uint8_t c = static_cast<std::uint8_t>(text[i]);
        if (c == '.') {
            if (label_len == 0) return 0;  // empty label (leading dot or "..")
            out[label_at] = static_cast<std::uint8_t>(label_len);
            if (++i == text.size()) {
                out[len] = 0;  // trailing dot: the root label
                return len + 1;
            }
            label_at = len++;
            label_len = 0;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= text.size()) return 0;
            if (digit(i + 1)) {
                if (i + 3 >= text.size() || !digit(i + 2) || !digit(i + 3)) return 0;
                const unsigned v = static_cast<unsigned>(text[i + 1] - '0') * 100u +
                                   static_cast<unsigned>(text[i + 2] - '0') * 10u +
                                   static_cast<unsigned>(text[i + 3] - '0');
                if (v > 255) return 0;
                c = static_cast<std::uint8_t>(v);
                i += 4;
            } else {
                c = static_cast<std::uint8_t>(text[i + 1]);
                i += 2;
            }
        } else {
            ++i;
        }
        if (label_len == kMaxLabel) return 0;
        if (len + 2 > kMaxNameWire) return 0;  // this byte, then at least the root byte
        out[len++] = (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + 32) : c;
        ++label_len;
    }
    out[label_at] = static_cast<std::uint8_t>(label_len);  // label_len > 0: text ends in a byte
    out[len] = 0;
    return len + 1;
}

std::size_t name_to_text(const std::uint8_t* wire, std::size_t len, char* out,
                         std::size_t cap) noexcept {
    std::size_t n = 0;
    auto put = [&](char c) noexcept -> bool {
        if (n + 1 >= cap) return false;  // keep room for the NUL
        out[n++] = c;
        return true;
    };
    if (len == 0 || len > kMaxNameWire || cap == 0) return 0;
    std::size_t i = 0;
    for (;;) {
        if (i >= len) return 0;
        const std::uint8_t l = wire[i++];
        if (l == 0) {
            if (i != len) return 0;
            if (n == 0 && !put('.')) return 0;
            break;
        }
        if (l > kMaxLabel || i + l > len) return 0;
        for (std::size_t k = 0; k < l; ++k) {
            const std::uint8_t c = wire[i + k];
            if (c > 0x20 && c < 0x7F && c != '.' && c != '\\') {
                if (!put(static_cast<char>(c))) return 0;
            } else {
                if (!put('\\') || !put(static_cast<char>('0' + c / 100)) ||
                    !put(static_cast<char>('0' + c / 10 % 10)) ||
                    !put(static_cast<char>('0' + c % 10)))
                    return 0;
            }
        }
        if (!put('.')) return 0;
        i += l;
    }
    out[n] = '\0';
    return n;
}

}  // namespace gslbd::dns
