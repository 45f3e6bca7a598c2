#include "collector/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <string>
#include <vector>

#include "collector/config/config_parser.h"
#include "collector/config/known_hosts.h"

namespace parallax::collector {

bool TargetConfig::SelectsProbe(const Labels& probe_labels) const {
  for (const auto& [key, value] : probes) {
    auto it = probe_labels.find(key);
    if (it == probe_labels.end() || it->second != value) return false;
  }
  return true;
}

std::string CanonicalSerial(std::string_view hex) {
  if (hex.empty() || hex.size() > 40) return "";
  std::string out;
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return "";
    if (out.empty() && c == '0') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out.empty() ? "0" : out;
}

const TargetConfig* Config::FindTarget(std::string_view name) const {
  for (const TargetConfig& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

// Nesting depth of YAML text, estimated without parsing: flow brackets
// outside quotes and comments, plus the stack of block indentation levels
// (a "- " item counts as one more level). Stops counting past `limit`.
int NestingDepth(std::string_view yaml, int limit) {
  std::vector<size_t> indents;
  int flow = 0, deepest = 0;
  size_t pos = 0;
  while (pos < yaml.size() && deepest <= limit) {
    size_t end = yaml.find('\n', pos);
    if (end == std::string_view::npos) end = yaml.size();
    std::string_view line = yaml.substr(pos, end - pos);
    pos = end + 1;
    size_t i = 0;
    if (flow == 0) {
      auto open_level = [&](size_t column) {
        while (!indents.empty() && indents.back() >= column) indents.pop_back();
        indents.push_back(column);
      };
      while (i < line.size() && line[i] == ' ') ++i;
      if (i == line.size() || line[i] == '#' || line[i] == '\r') continue;  // blank or comment
      open_level(i);
      while (i + 1 < line.size() && line[i] == '-' && line[i + 1] == ' ') {  // "- - x"
        i += 2;
        while (i < line.size() && line[i] == ' ') ++i;
        open_level(i);
      }
    }
    char quote = 0;
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (quote != 0) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '#' && (i == 0 || line[i - 1] == ' ')) {
        break;
      } else if (c == '[' || c == '{') {
        ++flow;
        deepest = std::max(deepest, static_cast<int>(indents.size()) + flow);
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      }
    }
    deepest = std::max(deepest, static_cast<int>(indents.size()) + flow);
  }
  return deepest;
}

std::string Prefix(const std::string& source) { return source.empty() ? "" : source + ": "; }

}  // namespace

Status ParseConfig(std::string_view yaml, const std::string& source, Config* out) {
  if (yaml.size() > kMaxConfigBytes) {
    return Status::InvalidArgument(Prefix(source) + "config is " + std::to_string(yaml.size()) +
                                   " bytes, more than the limit of " +
                                   std::to_string(kMaxConfigBytes) + " bytes");
  }
  if (NestingDepth(yaml, kMaxConfigNesting) > kMaxConfigNesting) {
    return Status::InvalidArgument(Prefix(source) + "config nests deeper than " +
                                   std::to_string(kMaxConfigNesting) +
                                   " levels (a Parallax config needs fewer than 10)");
  }
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
  // Read at most one byte more than the limit: a huge file fails without
  // being loaded.
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return Status::IoError("error reading config file \"" + path + "\"");
  if (text.size() > kMaxConfigBytes) {
    return Status::InvalidArgument(path + ": config file is larger than the limit of " +
                                   std::to_string(kMaxConfigBytes) + " bytes");
  }
  Config config;
  Status s = ParseConfig(text, path, &config);
  if (!s.ok()) return s;
  if (!config.known_hosts.empty()) {
    KnownHosts known;
    if (!(s = LoadKnownHosts(config.known_hosts, &known)).ok()) return s;
    for (auto& t : config.targets) {
      if (t.host_keys.empty()) t.host_keys = KnownHostKeys(known, t.host, t.port);
    }
  }
  *out = std::move(config);
  return Status::Ok();
}

}  // namespace parallax::collector
