#include "collector/cli/client_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace parallax::cli {
namespace {

constexpr size_t kMaxFileBytes = 64 * 1024;

std::string At(const std::string& file, const std::string& key, const YAML::Node&) {
  return file + ": " + key + ": ";
}

std::string Line(const YAML::Node& n) { return " at line " + std::to_string(n.Mark().line + 1); }

}  // namespace

std::string DefaultClientConfigPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/parallax/cli.yaml";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.config/parallax/cli.yaml";
  return "";
}

Status ParseClientConfig(const std::string& yaml, const std::string& file, ClientConfig* out) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ": " + e.msg + " at line " +
                                   std::to_string(e.mark.line + 1));
  }
  ClientConfig c;
  if (root.IsNull()) {
    *out = c;
    return Status::Ok();
  }
  if (!root.IsMap()) {
    return Status::InvalidArgument(file + ": expected a map of options" + Line(root));
  }
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) {
      return Status::InvalidArgument(file + ": keys must be plain words" + Line(kv.first));
    }
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (!v.IsScalar()) {
      return Status::InvalidArgument(At(file, key, v) + "expected a single value" + Line(v));
    }
    const std::string s = v.Scalar();
    if (key == "insecure") {
      if (s == "true" || s == "yes") {
        c.insecure = true;
      } else if (s == "false" || s == "no") {
        c.insecure = false;
      } else {
        return Status::InvalidArgument(At(file, key, v) + "\"" + s + "\" is not true or false" +
                                       Line(v));
      }
      continue;
    }
    if (s.empty()) return Status::InvalidArgument(At(file, key, v) + "is empty" + Line(v));
    if (key == "collector") {
      c.collector = s;
    } else if (key == "output") {
      if (s != "table" && s != "json") {
        return Status::InvalidArgument(At(file, key, v) + "\"" + s + "\" is not table or json" +
                                       Line(v));
      }
      c.output = s;
    } else if (key == "ca") {
      c.ca = s;
    } else if (key == "cert") {
      c.cert = s;
    } else if (key == "key") {
      c.key = s;
    } else if (key == "tls_server_name") {
      c.tls_server_name = s;
    } else {
      return Status::InvalidArgument(
          At(file, key, v) + "unknown key" + Line(kv.first) +
          " (known: collector, output, ca, cert, key, tls_server_name, insecure)");
    }
  }
  *out = c;
  return Status::Ok();
}

Status LoadClientConfig(const std::string& path, ClientConfig* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": " + std::strerror(err));
  }
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return Status::InvalidArgument(path + ": larger than 64 KiB; not a client config");
  }
  return ParseClientConfig(text, path, out);
}

}  // namespace parallax::cli
