// libzscanner's header has no extern "C" of its own
extern "C" {
#include <libzscanner/scanner.h>
}

#include <cstring>
#include <exception>
#include <memory>

#include "zone/zone.hh"

namespace gslbd::zone {

namespace {

struct ReadState {
    ZoneBuilder* builder = nullptr;
    config::FileName main_file;
    config::FileName current;  ///< the FileName of the file being read (one per $INCLUDE)
    std::size_t count = 0;
    bool failed = false;
    config::SourcePos error_pos;
    std::string error;
    std::exception_ptr exc;  ///< the builder's error, rethrown as it is
};

const config::FileName& file_of(ReadState& st, const zs_scanner_t* s) {
    const char* name = s->file.name != nullptr ? s->file.name : "";
    if (!(st.current == std::string_view(name))) st.current = config::FileName(std::string(name));
    return st.current;
}

void on_record(zs_scanner_t* s) {
    auto* st = static_cast<ReadState*>(s->process.data);
    if (st->failed) return;
    const config::SourcePos pos{file_of(*st, s), static_cast<int>(s->line_counter), 0};
    if (s->r_class != 1) {
        st->failed = true;
        st->error_pos = pos;
        st->error = "class " + std::to_string(s->r_class) + ": only class IN is served";
        s->state = ZS_STATE_STOP;
        return;
    }
    try {
        st->builder->add({s->r_owner, s->r_owner_length}, s->r_type, s->r_ttl,
                         {s->r_data, s->r_data_length}, pos);
        ++st->count;
    } catch (...) {
        st->failed = true;
        st->exc = std::current_exception();
        s->state = ZS_STATE_STOP;
    }
}

void on_error(zs_scanner_t* s) {
    auto* st = static_cast<ReadState*>(s->process.data);
    if (st->failed) return;
    st->failed = true;
    st->error_pos = config::SourcePos{file_of(*st, s), static_cast<int>(s->line_counter), 0};
    st->error = std::string(zs_strerror(s->error.code)) + " (" + zs_errorname(s->error.code) + ")";
    s->state = ZS_STATE_STOP;
}

}  // namespace

std::size_t read_master_file(const std::string& path, const std::string& origin,
                             ZoneBuilder& builder) {
    ReadState st;
    st.builder = &builder;
    st.main_file = config::FileName(path);
    st.current = st.main_file;
    auto scanner = std::make_unique<zs_scanner_t>();
    if (zs_init(scanner.get(), origin.c_str(), 1, 3600) != 0)
        throw config::ConfigError({st.main_file, 0, 0}, "", "cannot start the zone parser");
    struct Deinit {
        zs_scanner_t* s;
        ~Deinit() { zs_deinit(s); }
    } deinit{scanner.get()};
    if (zs_set_input_file(scanner.get(), path.c_str()) != 0) {
        throw config::ConfigError(
            {st.main_file, 0, 0}, "",
            std::string("cannot read the zone file: ") + zs_strerror(scanner->error.code));
    }
    if (zs_set_processing(scanner.get(), on_record, on_error, &st) != 0)
        throw config::ConfigError({st.main_file, 0, 0}, "", "cannot start the zone parser");
    const int rc = zs_parse_all(scanner.get());
    if (st.failed) {
        if (st.exc) std::rethrow_exception(st.exc);
        throw config::ConfigError(st.error_pos, "", st.error);
    }
    if (rc != 0)
        throw config::ConfigError({st.main_file, 0, 0}, "",
                                  std::string("zone file: ") + zs_strerror(scanner->error.code));
    return st.count;
}

}  // namespace gslbd::zone
