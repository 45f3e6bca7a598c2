#include "collector/config/yaml_fields.h"

#include <charconv>
#include <set>

#include "common/duration.h"

namespace parallax::collector {
namespace {

bool ValidLabelName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string ChildPath(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string IndexPath(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::string KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
  }
  return "unknown";
}

Status FieldReader::ErrorAtLine(const std::string& path, int line, const std::string& what,
                                const std::string& suffix) const {
  std::string msg;
  if (!source_.empty()) msg = source_ + ": ";
  msg += (path.empty() ? "config" : path) + ": " + what;
  if (line > 0) msg += " at line " + std::to_string(line);
  return Status::InvalidArgument(msg + suffix);
}

Status FieldReader::Error(const std::string& path, const YAML::Node& at, const std::string& what,
                          const std::string& suffix) const {
  return ErrorAtLine(path, LineOf(at), what, suffix);
}

Status FieldReader::ExpectMap(const YAML::Node& node, const std::string& path) const {
  if (node.IsMap()) return Status::Ok();
  return Error(path, node, "expected a map, got " + KindOf(node));
}

Status FieldReader::ExpectList(const YAML::Node& node, const std::string& path) const {
  if (node.IsSequence()) return Status::Ok();
  return Error(path, node, "expected a list, got " + KindOf(node));
}

Status FieldReader::CheckKeys(const YAML::Node& node, const std::string& path,
                              const std::vector<std::string_view>& known,
                              const std::vector<std::string_view>& nullable_keys) const {
  Status s = ExpectMap(node, path);
  if (!s.ok()) return s;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const YAML::Node key = kv.first;
    if (!key.IsScalar()) return Error(path, key, "a key must be a scalar, got " + KindOf(key));
    const std::string name = key.Scalar();
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == name;
    if (!ok) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return Error(ChildPath(path, name), key, "unknown key", " (known: " + list + ")");
    }
    if (!seen.insert(name).second) return Error(ChildPath(path, name), key, "duplicate key");
    // A null value's mark points past it: report it at its key.
    const YAML::Node value = kv.second;
    bool nullable = false;
    for (std::string_view k : nullable_keys) nullable = nullable || k == name;
    if (value.IsNull() && !nullable) return Error(ChildPath(path, name), key, "has no value");
  }
  return Status::Ok();
}

Status FieldReader::String(const YAML::Node& node, const std::string& path,
                           std::string* out) const {
  if (!node.IsScalar()) return Error(path, node, "expected a string, got " + KindOf(node));
  *out = node.Scalar();
  return Status::Ok();
}

Status FieldReader::Int(const YAML::Node& node, const std::string& path, int64_t min, int64_t max,
                        int64_t* out) const {
  if (!node.IsScalar()) return Error(path, node, "expected an integer, got " + KindOf(node));
  const std::string& text = node.Scalar();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Error(path, node, Quote(text) + " is not an integer");
  }
  if (v < min || v > max) {
    return Error(
        path, node,
        text + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  *out = v;
  return Status::Ok();
}

Status FieldReader::Port(const YAML::Node& node, const std::string& path, uint16_t* out) const {
  if (!node.IsScalar()) return Error(path, node, "expected a port number, got " + KindOf(node));
  const std::string& text = node.Scalar();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > 65535) {
    return Error(path, node, text + " is not a port (1..65535)");
  }
  *out = static_cast<uint16_t>(v);
  return Status::Ok();
}

Status FieldReader::Duration(const YAML::Node& node, const std::string& path,
                             std::chrono::milliseconds* out) const {
  if (!node.IsScalar()) {
    return Error(path, node, "expected a duration (e.g. 10s, 500ms), got " + KindOf(node));
  }
  Status s = ParseDuration(node.Scalar(), out);
  if (!s.ok()) return Error(path, node, s.message());
  return Status::Ok();
}

Status FieldReader::PortList(const YAML::Node& node, const std::string& path,
                             std::vector<uint16_t>* out) const {
  Status s = ExpectList(node, path);
  if (!s.ok()) return s;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < node.size(); ++i) {
    uint16_t port = 0;
    s = Port(node[i], IndexPath(path, i), &port);
    if (!s.ok()) return s;
    for (uint16_t p : ports) {
      if (p == port) {
        return Error(IndexPath(path, i), node[i], "duplicate port " + std::to_string(port));
      }
    }
    ports.push_back(port);
  }
  *out = std::move(ports);
  return Status::Ok();
}

Status FieldReader::Labels(const YAML::Node& node, const std::string& path,
                           std::map<std::string, std::string>* out) const {
  Status s = ExpectMap(node, path);
  if (!s.ok()) return s;
  std::map<std::string, std::string> labels;
  for (const auto& kv : node) {
    const YAML::Node key = kv.first;
    const YAML::Node val = kv.second;
    std::string name;
    s = String(key, path, &name);
    if (!s.ok()) return s;
    const std::string child = ChildPath(path, name);
    if (!ValidLabelName(name)) {
      return Error(child, key,
                   Quote(name) + " is not a label name ([A-Za-z_][A-Za-z0-9_]*, 1..64 chars)");
    }
    if (labels.count(name) != 0) return Error(child, key, "duplicate key");
    if (val.IsNull()) return Error(child, key, "has no value");
    std::string value;
    s = String(val, child, &value);
    if (!s.ok()) return s;
    labels[name] = value;
  }
  *out = std::move(labels);
  return Status::Ok();
}

}  // namespace parallax::collector
