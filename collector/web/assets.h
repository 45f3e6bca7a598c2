// The status page's stylesheet and script, compiled into the binary (no
// CDN, no framework). The script polls /api/status (or /api/target/NAME on
// an explanation page) and rebuilds the tables with createElement and
// textContent only: no string from the server is ever parsed as HTML.
// Constants; thread-safe.
#pragma once

#include <string_view>

namespace parallax::collector::web {

extern const std::string_view kStyleCss;
extern const std::string_view kAppJs;

}  // namespace parallax::collector::web
