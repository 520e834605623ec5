#pragma once
// Helpers for the config tests: the source root and a scratch directory of YAML files.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace gslbd::test {

/// GSLBD_SOURCE_ROOT as set by tests/meson.build.
inline std::string source_root() {
    const char* root = std::getenv("GSLBD_SOURCE_ROOT");
    if (!root || !*root)
        throw std::runtime_error("GSLBD_SOURCE_ROOT is not set (run via meson test)");
    return root;
}

/// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "gslbd-config-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }

    /// Writes `text` to `name` (relative, parent directories created); returns the full path.
    std::string write(const std::string& name, const std::string& text) const {
        std::filesystem::path p = std::filesystem::path(path_) / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

  private:
    std::string path_;
};

}  // namespace gslbd::test
