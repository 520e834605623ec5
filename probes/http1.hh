#pragma once
/// An incremental HTTP/1.x response parser for the native `http` probe client
/// (probes/http_native.cc). Untrusted input: it never allocates, never reads outside what it
/// is given and keeps a few dozen bytes of state, whatever the peer sends. It reads the
/// status line, the framing headers (Content-Length, Transfer-Encoding: chunked, Connection)
/// and hands out the body (de-chunked) as slices of the caller's input; every other header
/// is skipped. Interim 1xx responses (but 101) are skipped as libcurl does.
///
/// Use: reset(), then feed the bytes received through next() until it returns Need (all of
/// them consumed), Done or Error; at the end of the stream call eof().
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gslbd::probes::http1 {

enum class Event : std::uint8_t {
    Need,   ///< every input byte consumed, the message is not complete
    Body,   ///< `body` is a slice of the body (non-empty); call next() again
    Done,   ///< the message is complete (the remaining input is not consumed)
    Error,  ///< error() tells what; the connection is unusable
};

/// What kind of failure an Error is (the probe's ErrorKind).
enum class Fault : std::uint8_t {
    None,
    BadReply,  ///< not an HTTP/1.x response, bad framing
    Partial,   ///< the stream ended before the body did
};

class ResponseParser {
  public:
    /// Limit on the bytes of the status line and headers (libcurl refuses 100 KiB headers).
    static constexpr std::size_t kMaxHeaderBytes = 100 * 1024;

    /// Ready for a response to a request; `head`: the request was HEAD (no body follows).
    void reset(bool head) noexcept;
    /// Consumes from `p` (advanced past what was used) up to `end`.
    Event next(const char*& p, const char* end, std::string_view& body) noexcept;
    /// The peer closed the stream: Done (a body delimited by the close), or Error.
    Event eof() noexcept;

    int status() const noexcept { return status_; }  ///< 0 until a status line was read
    bool headers_done() const noexcept { return state_ >= State::BodyStart; }
    /// A complete message leaves the connection usable for the next request.
    bool keep_alive() const noexcept { return keep_alive_ && !until_close_; }
    bool got_anything() const noexcept { return any_; }
    Fault fault() const noexcept { return fault_; }
    const char* error() const noexcept { return error_; }
    /// Body bytes still expected when the stream ended early (Content-Length framing).
    std::uint64_t remaining() const noexcept { return remaining_; }

  private:
    enum class State : std::uint8_t {
        Status,       ///< matching "HTTP/1.x NNN"
        StatusRest,   ///< the reason phrase up to LF
        LineStart,    ///< first byte of a header line (or the blank line)
        HeaderEndLf,  ///< CR of the blank line seen
        Name,
        Value,
        Skip,  ///< the rest of an uninteresting or folded line
        BodyStart,
        Length,
        ChunkSize,
        ChunkExt,
        ChunkData,
        ChunkDataCr,
        ChunkDataLf,
        TrailerStart,
        TrailerSkip,
        TrailerEndLf,
        UntilClose,
        Done,
        Failed,
    };
    enum class Header : std::uint8_t { Other, ContentLength, TransferEncoding, Connection };

    Event fail(Fault f, const char* why) noexcept;
    void end_header() noexcept;  ///< a header line ended: apply name_/value_
    Event start_body() noexcept;

    State state_ = State::Status;
    Header header_ = Header::Other;
    bool head_ = false;
    bool any_ = false;
    bool http10_ = false;
    bool keep_alive_ = true;
    bool close_ = false;      ///< Connection: close
    bool ka_header_ = false;  ///< Connection: keep-alive
    bool chunked_ = false;
    bool other_coding_ = false;  ///< a transfer coding other than chunked/identity
    bool has_length_ = false;
    bool bad_length_ = false;
    bool until_close_ = false;
    bool value_overflow_ = false;
    bool hex_any_ = false;
    Fault fault_ = Fault::None;
    std::uint8_t match_ = 0;  ///< bytes of the status line prefix matched
    std::uint8_t name_len_ = 0;
    std::uint8_t value_len_ = 0;
    int status_ = 0;
    std::size_t header_bytes_ = 0;
    std::uint64_t length_ = 0;
    std::uint64_t remaining_ = 0;
    const char* error_ = "";
    char name_[20] = {};
    char value_[96] = {};
};

}  // namespace gslbd::probes::http1
