// Where `parallax-probe enroll` keeps what it got, and how the probe finds
// it again: <state-dir>/enroll/{probe.key (0600), probe.pem, ca.pem, name}.
// A probe started without --ca/--cert/--key/--insecure uses these when they
// exist (and their name when --name is not given), and logs that it does.
// Pure file functions; thread-compatible.
#pragma once

#include <string>

#include "common/status.h"

namespace parallax::probe {

struct EnrolledCredentials {
  std::string dir;   // <state-dir>/enroll
  std::string cert;  // probe.pem
  std::string key;   // probe.key
  std::string ca;    // ca.pem
  std::string name;  // the probe name it was enrolled as
};

// The paths under `state_dir` (whether or not they exist).
EnrolledCredentials EnrolledPaths(const std::string& state_dir);
// True if an enrollment is stored under `state_dir` (all four files); fills
// *out. A partial set is an error naming what is missing.
Status FindEnrolled(const std::string& state_dir, EnrolledCredentials* out, bool* found);
// Writes the four files (key 0600, others 0644; each replaced atomically,
// the key first), creating the directory with mode 0700.
Status StoreEnrolled(const std::string& state_dir, const std::string& name,
                     const std::string& key_pem, const std::string& cert_pem,
                     const std::string& ca_pem, EnrolledCredentials* out);

}  // namespace parallax::probe
