#include "config/model.hh"

namespace gslbd::config {

std::string SourcePos::to_string() const {
    std::string s = file.empty() ? std::string("<config>") : file.str();
    if (line > 0) {
        s += ":" + std::to_string(line);
        if (column > 0) s += ":" + std::to_string(column);
    }
    return s;
}

ConfigError::ConfigError(const SourcePos& pos, const std::string& field, const std::string& problem)
    : std::runtime_error(pos.to_string() + ": " + (field.empty() ? "" : field + ": ") + problem),
      pos_(pos),
      field_(field) {}

}  // namespace gslbd::config
