#pragma once
/// The on-disk copy of a transferred zone (`secondary_dir`), so that a restart serves the
/// zone before its primary answers. One file per zone, written atomically (a temporary file
/// in the same directory, fsync, rename, fsync of the directory): a crash leaves the old copy
/// or the new one, never half of one. A binary format of our own (BIND's secondaries also
/// keep a raw format), checked by a trailing FNV-1a hash; a damaged file is refused whole.
#include <chrono>
#include <optional>
#include <string>

#include "zone/contents.hh"

namespace gslbd::xfr {

struct DiskCopy {
    zone::Contents zone;
    std::chrono::system_clock::time_point refreshed;  ///< last time the primary confirmed it
};

/// `dir`/`zone`.xfr ("example.com." -> example.com.xfr, the root -> root.xfr).
std::string copy_path(const std::string& dir, const std::string& zone);
/// Writes atomically; throws XfrError (with errno's text) when it cannot.
void write_copy(const std::string& dir, const std::string& zone, const zone::Contents& c,
                std::chrono::system_clock::time_point refreshed);
/// nullopt when there is no file; throws XfrError when it is unreadable, damaged or for
/// another zone.
std::optional<DiskCopy> read_copy(const std::string& dir, const std::string& zone);

}  // namespace gslbd::xfr
