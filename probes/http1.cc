#include "http1.hh"

#include <cstring>

namespace gslbd::probes::http1 {

namespace {

constexpr char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}
constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}
int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/// Whether the comma-separated list `v` (lower case, trimmed) holds the token `t`; `other`
/// is set when it holds any token that is neither `t` nor `also`.
bool has_token(std::string_view v, std::string_view t, std::string_view also, bool* other) {
    bool found = false;
    while (!v.empty()) {
        std::size_t comma = v.find(',');
        std::string_view tok = v.substr(0, comma);
        while (!tok.empty() && is_ows(tok.front())) tok.remove_prefix(1);
        while (!tok.empty() && is_ows(tok.back())) tok.remove_suffix(1);
        if (tok == t) {
            found = true;
        } else if (!tok.empty() && tok != also && other != nullptr) {
            *other = true;
        }
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return found;
}

}  // namespace

void ResponseParser::reset(bool head) noexcept {
    *this = ResponseParser{};
    head_ = head;
}

Event ResponseParser::fail(Fault f, const char* why) noexcept {
    state_ = State::Failed;
    fault_ = f;
    error_ = why;
    return Event::Error;
}

void ResponseParser::end_header() noexcept {
    const std::string_view v(value_, value_len_);
    switch (header_) {
        case Header::ContentLength: {
            // digits only (trailing blanks were not stored); the last one counts, as in curl
            std::uint64_t n = 0;
            bool ok = !v.empty() && !value_overflow_;
            for (char c : v) {
                if (!is_digit(c) || n > (std::uint64_t{1} << 58)) {
                    ok = false;
                    break;
                }
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
            }
            has_length_ = true;
            bad_length_ = !ok;
            length_ = n;
            break;
        }
        case Header::TransferEncoding:
            if (value_overflow_) {
                other_coding_ = true;
            } else if (has_token(v, "chunked", "identity", &other_coding_)) {
                chunked_ = true;
            }
            break;
        case Header::Connection:
            // too long to hold: not reused (safe either way)
            if (value_overflow_ || has_token(v, "close", {}, nullptr)) close_ = true;
            if (!value_overflow_ && has_token(v, "keep-alive", {}, nullptr)) ka_header_ = true;
            break;
        case Header::Other:
            break;
    }
    header_ = Header::Other;
    value_len_ = 0;
    value_overflow_ = false;
}

Event ResponseParser::start_body() noexcept {
    if (status_ >= 100 && status_ < 200 && status_ != 101) {
        // an interim response (100 Continue, 103 Early Hints): the real one follows
        const bool head = head_;
        const std::size_t seen = header_bytes_;
        reset(head);
        any_ = true;
        header_bytes_ = seen;
        return Event::Need;  // not returned to the caller: next() goes on
    }
    if (bad_length_ && !chunked_)
        return fail(Fault::BadReply, "invalid Content-Length in the response");
    if (other_coding_)
        return fail(Fault::BadReply, "unsupported Transfer-Encoding in the response");
    keep_alive_ = http10_ ? ka_header_ && !close_ : !close_;
    if (head_ || status_ == 204 || status_ == 304 || status_ == 101) {
        if (status_ == 101) keep_alive_ = false;
        state_ = State::Done;
        return Event::Done;
    }
    if (chunked_) {
        state_ = State::ChunkSize;
        hex_any_ = false;
        remaining_ = 0;
        return Event::Need;
    }
    if (has_length_) {
        remaining_ = length_;
        if (remaining_ == 0) {
            state_ = State::Done;
            return Event::Done;
        }
        state_ = State::Length;
        return Event::Need;
    }
    until_close_ = true;
    state_ = State::UntilClose;
    return Event::Need;
}

Event ResponseParser::next(const char*& p, const char* end, std::string_view& body) noexcept {
    static constexpr char kPrefix[] = "http/1.";
    // the rest of a line that is skipped: one memchr (header bytes counted, capped)
    auto skip_line = [&](State then) -> bool {
        const char* nl =
            static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        const char* stop = nl != nullptr ? nl + 1 : end;
        if (state_ < State::BodyStart) header_bytes_ += static_cast<std::size_t>(stop - p) - 1;
        p = stop;
        if (nl != nullptr) state_ = then;
        return header_bytes_ <= kMaxHeaderBytes;
    };
    while (p < end) {
        if (state_ < State::BodyStart) {
            any_ = true;
            if (++header_bytes_ > kMaxHeaderBytes)
                return fail(Fault::BadReply, "response header too large");
        }
        const char c = *p;
        switch (state_) {
            case State::Status:
                if (match_ < 7) {
                    if (lower(c) != kPrefix[match_])
                        return fail(Fault::BadReply, "not an HTTP/1.x response");
                } else if (match_ == 7) {
                    if (!is_digit(c)) return fail(Fault::BadReply, "not an HTTP/1.x response");
                    http10_ = c == '0';
                } else if (match_ == 8) {
                    if (c != ' ') return fail(Fault::BadReply, "not an HTTP/1.x response");
                } else {
                    if (!is_digit(c))
                        return fail(Fault::BadReply, "bad status code in the response");
                    status_ = status_ * 10 + (c - '0');
                    if (match_ == 11) {
                        if (status_ < 100)
                            return fail(Fault::BadReply, "bad status code in the response");
                        state_ = State::StatusRest;
                    }
                }
                ++match_;
                ++p;
                break;
            case State::StatusRest:
                if (!skip_line(State::LineStart))
                    return fail(Fault::BadReply, "response header too large");
                break;
            case State::LineStart:
                ++p;
                if (c == '\r') {
                    state_ = State::HeaderEndLf;
                } else if (c == '\n') {
                    state_ = State::BodyStart;
                } else if (is_ows(c)) {
                    state_ = State::Skip;  // a folded continuation: ignored
                } else {
                    name_[0] = lower(c);
                    name_len_ = 1;
                    state_ = c == ':' ? State::Skip : State::Name;
                }
                break;
            case State::HeaderEndLf:
                ++p;
                if (c != '\n') return fail(Fault::BadReply, "bad end of the response header");
                state_ = State::BodyStart;
                break;
            case State::Name:
                ++p;
                if (c == ':') {
                    const std::string_view n(name_, name_len_);
                    header_ = n == "content-length"      ? Header::ContentLength
                              : n == "transfer-encoding" ? Header::TransferEncoding
                              : n == "connection"        ? Header::Connection
                                                         : Header::Other;
                    value_len_ = 0;
                    value_overflow_ = false;
                    state_ = header_ == Header::Other ? State::Skip : State::Value;
                } else if (c == '\n') {
                    state_ = State::LineStart;  // a line without a colon: ignored
                } else if (name_len_ < sizeof name_) {
                    name_[name_len_++] = lower(c);
                } else {
                    state_ = State::Skip;  // longer than any name we look for
                }
                break;
            case State::Value:
                ++p;
                if (c == '\n') {
                    while (value_len_ > 0 &&
                           (is_ows(value_[value_len_ - 1]) || value_[value_len_ - 1] == '\r'))
                        --value_len_;
                    end_header();
                    state_ = State::LineStart;
                } else if (value_len_ == 0 && is_ows(c)) {
                    // leading blanks
                } else if (value_len_ < sizeof value_) {
                    value_[value_len_++] = lower(c);
                } else {
                    value_overflow_ = true;
                }
                break;
            case State::Skip:
                if (!skip_line(State::LineStart))
                    return fail(Fault::BadReply, "response header too large");
                break;
            case State::BodyStart:
            case State::Length:
            case State::ChunkData:
            case State::UntilClose:
                break;  // below
            case State::ChunkSize: {
                const int h = hex_value(c);
                if (h >= 0) {
                    if (remaining_ > (std::uint64_t{1} << 56))
                        return fail(Fault::BadReply, "chunk size too large");
                    remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(h);
                    hex_any_ = true;
                    ++p;
                    break;
                }
                if (!hex_any_) return fail(Fault::BadReply, "bad chunk size in the response");
                state_ = State::ChunkExt;
                break;
            }
            case State::ChunkExt:
                ++p;
                if (c == '\n') {
                    if (remaining_ == 0) {
                        state_ = State::TrailerStart;
                    } else {
                        state_ = State::ChunkData;
                    }
                }
                break;
            case State::ChunkDataCr:
                ++p;
                if (c == '\r') {
                    state_ = State::ChunkDataLf;
                } else if (c == '\n') {
                    state_ = State::ChunkSize;
                    hex_any_ = false;
                } else {
                    return fail(Fault::BadReply, "bad end of a chunk in the response");
                }
                break;
            case State::ChunkDataLf:
                ++p;
                if (c != '\n') return fail(Fault::BadReply, "bad end of a chunk in the response");
                state_ = State::ChunkSize;
                hex_any_ = false;
                break;
            case State::TrailerStart:
                ++p;
                if (c == '\r') {
                    state_ = State::TrailerEndLf;
                } else if (c == '\n') {
                    state_ = State::Done;
                    return Event::Done;
                } else {
                    state_ = State::TrailerSkip;
                }
                break;
            case State::TrailerSkip:
                skip_line(State::TrailerStart);
                break;
            case State::TrailerEndLf:
                ++p;
                if (c != '\n') return fail(Fault::BadReply, "bad end of the chunked trailer");
                state_ = State::Done;
                return Event::Done;
            case State::Done:
                return Event::Done;
            case State::Failed:
                return Event::Error;
        }
        if (state_ == State::BodyStart) {
            const Event e = start_body();
            if (e == Event::Done || e == Event::Error) return e;
            continue;
        }
        if (state_ == State::Length || state_ == State::ChunkData) {
            if (p == end) break;
            const auto avail = static_cast<std::uint64_t>(end - p);
            const std::size_t n = static_cast<std::size_t>(remaining_ < avail ? remaining_ : avail);
            body = std::string_view(p, n);
            p += n;
            remaining_ -= n;
            if (remaining_ == 0) {
                if (state_ == State::Length) {
                    state_ = State::Done;  // the next call says Done
                } else {
                    state_ = State::ChunkDataCr;
                }
            }
            return Event::Body;
        }
        if (state_ == State::UntilClose) {
            if (p == end) break;
            body = std::string_view(p, static_cast<std::size_t>(end - p));
            p = end;
            return Event::Body;
        }
    }
    if (state_ == State::Done) return Event::Done;
    if (state_ == State::Failed) return Event::Error;
    if (state_ == State::BodyStart) {
        // the header ended with the input: decide the framing now
        const Event e = start_body();
        if (e == Event::Done || e == Event::Error) return e;
        if (state_ == State::Status) return Event::Need;  // after an interim response
    }
    return Event::Need;
}

Event ResponseParser::eof() noexcept {
    switch (state_) {
        case State::Done:
            return Event::Done;
        case State::Failed:
            return Event::Error;
        case State::UntilClose:
            state_ = State::Done;
            return Event::Done;
        case State::Length:
        case State::ChunkSize:
        case State::ChunkExt:
        case State::ChunkData:
        case State::ChunkDataCr:
        case State::ChunkDataLf:
        case State::TrailerStart:
        case State::TrailerSkip:
        case State::TrailerEndLf:
            return fail(Fault::Partial, "transfer closed with outstanding read data remaining");
        default:
            return fail(Fault::BadReply, any_ ? "connection closed in the response header"
                                              : "Empty reply from server");
    }
}

}  // namespace gslbd::probes::http1
