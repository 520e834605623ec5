#include "ctl/stream.hh"

namespace gslbd::ctl {

using nlohmann::json;

ChunkWriter::ChunkWriter(Sink sink, std::size_t chunk, MinPace pace)
    : sink_(std::move(sink)), chunk_(chunk), pace_(pace) {
    buf_.reserve(chunk_ + 4096);
}

void ChunkWriter::flush() {
    if (buf_.empty()) return;
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    const auto allowed =
        pace_.grace +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(written_) / pace_.bytes_per_s));
    if (elapsed > allowed)
        throw StreamAborted(
            "API client read too slowly: " + std::to_string(written_) + " bytes in " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count()) +
            " s");
    if (!sink_(buf_.data(), buf_.size())) throw StreamAborted();
    written_ += buf_.size();
    buf_.clear();
}

namespace {

constexpr int kIndent = 2;

void indent(ChunkWriter& w, int n) {
    static const std::string spaces(256, ' ');
    while (n > 0) {
        const int k = std::min<int>(n, static_cast<int>(spaces.size()));
        w.write(std::string_view(spaces.data(), static_cast<std::size_t>(k)));
        n -= k;
    }
}

std::string scalar(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A value that is not a deferred array, written at depth `d` (its first line already
/// indented by the caller): nlohmann's format for dump(2).
void write_value(ChunkWriter& w, const json& j, int d, const DeferredFn& deferred);

void write_deferred(ChunkWriter& w, const ArrayFiller& fill, int d) {
    bool first = true;
    fill([&](const json& e) {
        w.write(first ? "[\n" : ",\n");
        first = false;
        indent(w, d + kIndent);
        write_value(w, e, d + kIndent, nullptr);
    });
    if (first) {
        w.write("[]");
        return;
    }
    w.write('\n');
    indent(w, d);
    w.write(']');
}

void write_value(ChunkWriter& w, const json& j, int d, const DeferredFn& deferred) {
    if (deferred) {
        if (const ArrayFiller* f = deferred(&j); f != nullptr && *f) {
            write_deferred(w, *f, d);
            return;
        }
    }
    if (j.is_object()) {
        if (j.empty()) {
            w.write("{}");
            return;
        }
        w.write("{\n");
        bool first = true;
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (!first) w.write(",\n");
            first = false;
            indent(w, d + kIndent);
            w.write(scalar(json(it.key())));
            w.write(": ");
            write_value(w, it.value(), d + kIndent, deferred);
        }
        w.write('\n');
        indent(w, d);
        w.write('}');
        return;
    }
    if (j.is_array()) {
        if (j.empty()) {
            w.write("[]");
            return;
        }
        w.write("[\n");
        bool first = true;
        for (const auto& e : j) {
            if (!first) w.write(",\n");
            first = false;
            indent(w, d + kIndent);
            write_value(w, e, d + kIndent, deferred);
        }
        w.write('\n');
        indent(w, d);
        w.write(']');
        return;
    }
    w.write(scalar(j));
}

}  // namespace

void write_json(ChunkWriter& w, const json& j, const DeferredFn& deferred) {
    write_value(w, j, 0, deferred);
}

}  // namespace gslbd::ctl
