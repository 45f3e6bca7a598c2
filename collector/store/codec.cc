#include "collector/store/codec.h"

#include <nlohmann/json.hpp>

namespace parallax::collector {

std::string LabelsToJson(const std::map<std::string, std::string>& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  // Replace invalid UTF-8 instead of throwing: labels are validated upstream.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status LabelsFromJson(const std::string& json, std::map<std::string, std::string>* out) {
  out->clear();
  if (json.empty()) return Status::Ok();
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Internal("labels column is not a JSON object: " + json);
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return Status::Internal("label \"" + k + "\" is not a string: " + json);
    (*out)[k] = v.get<std::string>();
  }
  return Status::Ok();
}

std::string PreBannerToJson(const std::vector<std::string>& lines) {
  if (lines.empty()) return {};
  nlohmann::json j = nlohmann::json::array();
  for (const auto& line : lines) j.push_back(line);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status PreBannerFromJson(const std::string& json, std::vector<std::string>* out) {
  out->clear();
  if (json.empty()) return Status::Ok();
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return Status::Internal("pre_banner column is not a JSON array: " + json);
  for (const auto& v : j) {
    if (!v.is_string()) return Status::Internal("pre_banner entry is not a string: " + json);
    out->push_back(v.get<std::string>());
  }
  return Status::Ok();
}

Status ReadResultRow(const sqlite::Statement& st, ResultRow* row) {
  row->probe = st.ColumnText(0);
  row->target = st.ColumnText(1);
  row->boot_id = st.ColumnText(2);
  v1::CheckResult& r = row->result;
  r.Clear();
  r.set_seq(static_cast<uint64_t>(st.ColumnInt64(3)));
  r.set_target(row->target);
  r.set_started_unix_ms(st.ColumnInt64(4));
  r.set_outcome(static_cast<v1::Outcome>(st.ColumnInt64(5)));
  r.set_connect_us(static_cast<uint32_t>(st.ColumnInt64(6)));
  r.set_banner_us(static_cast<uint32_t>(st.ColumnInt64(7)));
  r.set_address(st.ColumnText(8));
  r.set_error_number(static_cast<int32_t>(st.ColumnInt64(9)));
  r.set_identification(st.ColumnText(10));
  std::vector<std::string> lines;
  Status s = PreBannerFromJson(st.ColumnText(11), &lines);
  if (!s.ok()) return s;
  for (auto& line : lines) r.add_pre_banner(std::move(line));
  r.set_detail(st.ColumnText(12));
  if (!st.ColumnIsNull(13)) {
    if (!r.mutable_liveness()->ParseFromString(st.ColumnBlob(13))) {
      return Status::Internal("liveness column of result seq " + std::to_string(r.seq()) +
                              " is not a serialized Liveness");
    }
  }
  r.set_late_us(static_cast<uint32_t>(st.ColumnInt64(14)));
  // ts_ms is on the collector's clock; rows stored before schema version 3
  // have no separate probe time (their ts_ms was the probe's).
  const int64_t probe_ts = st.ColumnInt64(15);
  if (probe_ts != 0) {
    r.set_collector_started_unix_ms(r.started_unix_ms());
    r.set_started_unix_ms(probe_ts);
  }
  r.set_received_unix_ms(st.ColumnInt64(16));
  r.set_adhoc_id(st.ColumnText(17));
  return Status::Ok();
}

}  // namespace parallax::collector
