// Fuzz target: the native http probe's response parser (probes/http1.hh) on arbitrary
// responses. Byte 0: bit 0 = the request was HEAD, bits 1-7 = where the rest is cut in two
// (after 1 + bits 1-7 bytes; the two parts are fed one after the other, as two reads). The rest is
// the response, then the end of the stream. The parser must never read outside its input, must hand
// out the body as slices of it, and must reach the same verdict, status and body whether the input
// comes in one piece, in two, or byte by byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hh"
#include "http1.hh"

using gslbd::probes::http1::Event;
using gslbd::probes::http1::ResponseParser;

namespace {

struct Outcome {
    Event last = Event::Need;
    int status = 0;
    bool keep_alive = false;
    bool headers_done = false;
    std::string body;
    std::size_t used = 0;  ///< input bytes consumed when the message ended
};

/// Feeds `data` in pieces of at most `step` bytes (the first piece `first` bytes), then eof.
Outcome run(const std::uint8_t* data, std::size_t size, bool head, std::size_t first,
            std::size_t step) {
    ResponseParser p;
    p.reset(head);
    Outcome o;
    const char* base = reinterpret_cast<const char*>(data);
    std::size_t off = 0;
    bool ended = false;
    while (off < size && !ended) {
        const std::size_t n = std::min(size - off, off == 0 ? first : step);
        const char* cur = base + off;
        const char* end = cur + n;
        for (;;) {
            std::string_view body;
            const Event e = p.next(cur, end, body);
            FUZZ_CHECK(cur >= base + off && cur <= end);
            if (e == Event::Body) {
                FUZZ_CHECK(!body.empty());
                FUZZ_CHECK(body.data() >= base && body.data() + body.size() <= cur);
                o.body.append(body);
                continue;
            }
            if (e == Event::Done || e == Event::Error) {
                o.last = e;
                o.used = static_cast<std::size_t>(cur - base);
                ended = true;
            } else {
                FUZZ_CHECK(cur == end);  // Need: every byte consumed
            }
            break;
        }
        off += n;
    }
    if (!ended) {
        o.last = p.eof();
        o.used = size;
        FUZZ_CHECK(o.last != Event::Need && o.last != Event::Body);
    }
    o.status = p.status();
    o.keep_alive = p.keep_alive();
    o.headers_done = p.headers_done();
    FUZZ_CHECK(o.body.size() <= size);
    if (o.last == Event::Done) {
        FUZZ_CHECK(o.status >= 100 && o.status <= 999 && o.headers_done);
        if (head) FUZZ_CHECK(o.body.empty());
    } else {
        FUZZ_CHECK(p.error() != nullptr && p.error()[0] != '\0');
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const bool head = (data[0] & 1) != 0;
    const std::size_t cut = (data[0] >> 1) + 1u;  // the first read: 1..128 bytes
    const std::uint8_t* msg = data + 1;
    const std::size_t len = size - 1;
    const Outcome whole = run(msg, len, head, len + 1, len + 1);
    const Outcome two = run(msg, len, head, cut, len + 1);
    const Outcome bytes = run(msg, len, head, 1, 1);
    for (const Outcome* o : {&two, &bytes}) {
        FUZZ_CHECK(o->last == whole.last);
        FUZZ_CHECK(o->status == whole.status);
        FUZZ_CHECK(o->body == whole.body);
        FUZZ_CHECK(o->keep_alive == whole.keep_alive);
        FUZZ_CHECK(o->used == whole.used);
    }
    return 0;
}
