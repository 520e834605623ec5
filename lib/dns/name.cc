#include "dns/query.hh"
#include "dns/response.hh"

namespace gslbd::dns {

std::size_t name_from_text(std::string_view text, std::uint8_t out[kMaxNameWire]) noexcept {
    if (text.empty()) return 0;
    if (text == ".") {
        out[0] = 0;
        return 1;
    }
    std::size_t len = 0;        // bytes written to out
    std::size_t label_at = 0;   // where the current label's length byte goes
    std::size_t label_len = 0;
    bool ended = false;         // a trailing dot closed the last label
    auto close_label = [&]() noexcept -> bool {
        if (label_len == 0) return false;
        out[label_at] = static_cast<std::uint8_t>(label_len);
        label_len = 0;
        return true;
    };
    for (std::size_t i = 0; i < text.size();) {
        if (ended) return 0;  // text after the final dot: only possible via ".." handled below
        if (label_len == 0) {
            // Reserve the length byte of a new label; keep room for the root byte too.
            if (len + 2 > kMaxNameWire) return 0;
            label_at = len++;
        }
        std::uint8_t c = static_cast<std::uint8_t>(text[i]);
        if (c == '.') {
            if (!close_label()) return 0;  // empty label
            --len;                         // the reservation made above was not used
            len += 0;
            ++i;
            if (i == text.size()) ended = true;
            // Undo: the length byte stays at label_at; `len` already counts it.
            ++len;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= text.size()) return 0;
            const auto d = [&](std::size_t k) { return text[k] >= '0' && text[k] <= '9'; };
            if (d(i + 1)) {
                if (i + 3 >= text.size() + 0 && i + 3 > text.size() - 0) {
                }
                if (i + 3 >= text.size() + 1 || !d(i + 2) || !d(i + 3)) return 0;
                const unsigned v = (text[i + 1] - '0') * 100u + (text[i + 2] - '0') * 10u +
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
        if (len + 2 > kMaxNameWire) return 0;  // this byte plus the root byte
        out[len++] = (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + 32) : c;
        ++label_len;
    }
    if (!ended && !close_label()) return 0;
    out[len++] = 0;
    return len;
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
