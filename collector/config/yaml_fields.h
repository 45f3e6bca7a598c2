// Typed, validated reads of yaml-cpp nodes for the config loader. Every error
// is an InvalidArgument naming the source, the field path, the offending value
// and the 1-based line:
//   "collector.yaml: targets[2].port: 70000 is not a port (1..65535) at line 14"
//
// Paths are built with ChildPath()/IndexPath(): "storage.retention",
// "targets[1].labels.env". Thread-compatible (const methods, no state but the
// source name).
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace parallax::collector {

std::string ChildPath(const std::string& path, std::string_view key);
std::string IndexPath(const std::string& path, size_t index);
// 1-based line of a node from YAML::Load (0 if unknown).
int LineOf(const YAML::Node& node);
// "null", "a scalar", "a list", "a map".
std::string KindOf(const YAML::Node& node);
// The value in double quotes, as the error messages show it: "\"abc\"".
std::string Quote(const std::string& s);

class FieldReader {
 public:
  explicit FieldReader(std::string source) : source_(std::move(source)) {}

  // "<source>: <path>: <what> at line N<suffix>".
  Status Error(const std::string& path, const YAML::Node& at, const std::string& what,
               const std::string& suffix = "") const;
  Status ErrorAtLine(const std::string& path, int line, const std::string& what,
                     const std::string& suffix = "") const;

  Status ExpectMap(const YAML::Node& node, const std::string& path) const;
  Status ExpectList(const YAML::Node& node, const std::string& path) const;
  // `node` must be a map whose keys are all in `known`, each at most once,
  // each with a value unless listed in `nullable_keys`.
  Status CheckKeys(const YAML::Node& node, const std::string& path,
                   const std::vector<std::string_view>& known,
                   const std::vector<std::string_view>& nullable_keys = {}) const;

  // Scalars. A null or non-scalar value is a type error.
  Status String(const YAML::Node& node, const std::string& path, std::string* out) const;
  Status Int(const YAML::Node& node, const std::string& path, int64_t min, int64_t max,
             int64_t* out) const;
  Status Port(const YAML::Node& node, const std::string& path, uint16_t* out) const;
  Status Duration(const YAML::Node& node, const std::string& path,
                  std::chrono::milliseconds* out) const;
  // A list of distinct ports.
  Status PortList(const YAML::Node& node, const std::string& path,
                  std::vector<uint16_t>* out) const;
  // A map of label name ([A-Za-z_][A-Za-z0-9_]*) to scalar value.
  Status Labels(const YAML::Node& node, const std::string& path,
                std::map<std::string, std::string>* out) const;

 private:
  std::string source_;
};

}  // namespace parallax::collector
