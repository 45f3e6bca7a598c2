#include "collector/config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "collector/config/config_parser.h"

namespace parallax::collector {

bool TargetConfig::SelectsProbe(const Labels& probe_labels) const {
  for (const auto& [key, value] : probes) {
    auto it = probe_labels.find(key);
    if (it == probe_labels.end() || it->second != value) return false;
  }
  return true;
}

const TargetConfig* Config::FindTarget(std::string_view name) const {
  for (const TargetConfig& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Status ParseConfig(std::string_view yaml, const std::string& source, Config* out) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? "" : " at line " + std::to_string(e.mark.line + 1);
    return Status::InvalidArgument((source.empty() ? "" : source + ": ") + "YAML syntax error" +
                                   where + ": " + e.msg);
  }
  Config config;
  try {
    Status s = ParseConfigTree(root, source, &config);
    if (!s.ok()) return s;
  } catch (const YAML::Exception& e) {  // not expected: every access is type-checked
    return Status::InvalidArgument((source.empty() ? "" : source + ": ") + e.what());
  }
  *out = std::move(config);
  return Status::Ok();
}

Status LoadConfigFile(const std::string& path, Config* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read config file \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IoError("error reading config file \"" + path + "\"");
  return ParseConfig(text.str(), path, out);
}

}  // namespace parallax::collector
