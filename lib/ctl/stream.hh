#pragma once
/// Large control API answers written in bounded chunks (docs/api.md "Large answers"): the full
/// status and /metrics of 100,000 records are hundreds of MB of text that the API never holds
/// whole. A generator writes text into a ChunkWriter, which hands every ~64 KB to its sink
/// (an HTTP/1.1 chunk written to the socket, with the API's write timeout); JSON documents
/// are written by write_json() exactly as nlohmann::json::dump(2) would, with some arrays
/// (a zone's records) filled element by element while they are written.
#include <chrono>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gslbd::ctl {

/// The sink refused a chunk (the client is gone or stopped reading past the write timeout):
/// thrown through the generator, which stops.
class StreamAborted : public std::runtime_error {
  public:
    StreamAborted() : std::runtime_error("API client stopped reading") {}
    explicit StreamAborted(const std::string& why) : std::runtime_error(why) {}
};

/// The least a client must read: an answer may take `grace` plus its size at `bytes_per_s`;
/// past that the next chunk is not sent (StreamAborted). A client that trickles its reads
/// (each write succeeds within the write timeout, but the answer never ends) thus holds an
/// API thread, and the snapshot the answer is written from, for a bounded time.
struct MinPace {
    std::chrono::steady_clock::duration grace = std::chrono::seconds(30);
    double bytes_per_s = 256.0 * 1024;
};

class ChunkWriter {
  public:
    /// `sink` returns false when the bytes could not be sent.
    using Sink = std::function<bool(const char*, std::size_t)>;
    static constexpr std::size_t kChunk = 64 * 1024;
    explicit ChunkWriter(Sink sink, std::size_t chunk = kChunk, MinPace pace = {});
    ChunkWriter(const ChunkWriter&) = delete;
    ChunkWriter& operator=(const ChunkWriter&) = delete;

    void write(std::string_view s) {
        buf_.append(s);
        if (buf_.size() >= chunk_) flush();
    }
    void write(char c) {
        buf_.push_back(c);
        if (buf_.size() >= chunk_) flush();
    }
    /// Hands what is buffered to the sink; throws StreamAborted when it refuses, or when the
    /// answer is already behind the MinPace.
    void flush();
    std::size_t written() const noexcept { return written_ + buf_.size(); }

  private:
    Sink sink_;
    std::size_t chunk_;
    MinPace pace_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::string buf_;
    std::size_t written_ = 0;
};

/// Writes the elements of a deferred array: calls `element` once per element, in order, with
/// the JSON of that element (written at the array's depth by write_json).
using ElementFn = std::function<void(const nlohmann::json&)>;
using ArrayFiller = std::function<void(const ElementFn& element)>;
/// Which nodes of the document are deferred arrays: the node's address -> its filler (null:
/// written as it is).
using DeferredFn = std::function<const ArrayFiller*(const nlohmann::json*)>;

/// `j` as nlohmann's j.dump(2) writes it (invalid UTF-8 replaced by U+FFFD instead of
/// throwing), with the deferred arrays' elements produced while they are written.
void write_json(ChunkWriter& w, const nlohmann::json& j, const DeferredFn& deferred = nullptr);

}  // namespace gslbd::ctl
