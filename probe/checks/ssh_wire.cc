#include "probe/checks/ssh_wire.h"

#include <openssl/rand.h>

namespace parallax::probe {

void SshWriter::Uint32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) Byte(static_cast<uint8_t>(v >> shift));
}

void SshWriter::String(std::string_view s) {
  Uint32(static_cast<uint32_t>(s.size()));
  out_.append(s);
}

void SshWriter::MpintUnsigned(std::string_view magnitude) {
  size_t i = 0;
  while (i < magnitude.size() && magnitude[i] == '\0') ++i;
  magnitude.remove_prefix(i);
  bool pad = !magnitude.empty() && (static_cast<uint8_t>(magnitude[0]) & 0x80) != 0;
  Uint32(static_cast<uint32_t>(magnitude.size() + (pad ? 1 : 0)));
  if (pad) Byte(0);
  out_.append(magnitude);
}

void SshWriter::NameList(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& n : names) {
    if (!joined.empty()) joined.push_back(',');
    joined += n;
  }
  String(joined);
}

bool SshReader::Byte(uint8_t* b) {
  if (!ok_ || pos_ + 1 > data_.size()) return Fail();
  *b = static_cast<uint8_t>(data_[pos_++]);
  return true;
}

bool SshReader::Uint32(uint32_t* v) {
  if (!ok_ || data_.size() - pos_ < 4) return Fail();
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r = (r << 8) | static_cast<uint8_t>(data_[pos_ + i]);
  pos_ += 4;
  *v = r;
  return true;
}

bool SshReader::Bool(bool* v) {
  uint8_t b = 0;
  if (!Byte(&b)) return false;
  *v = b != 0;
  return true;
}

bool SshReader::String(std::string_view* s, size_t max) {
  uint32_t n = 0;
  if (!Uint32(&n)) return false;
  if (n > max || n > data_.size() - pos_) return Fail();
  *s = data_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool SshReader::MpintUnsigned(std::string_view* magnitude, size_t max) {
  std::string_view raw;
  if (!String(&raw, max + 1)) return false;
  if (!raw.empty() && (static_cast<uint8_t>(raw[0]) & 0x80) != 0) return Fail();  // negative
  while (!raw.empty() && raw[0] == '\0') raw.remove_prefix(1);
  if (raw.size() > max) return Fail();
  *magnitude = raw;
  return true;
}

bool SshReader::Skip(size_t n) {
  if (!ok_ || data_.size() - pos_ < n) return Fail();
  pos_ += n;
  return true;
}

std::string EncodePacket(std::string_view payload) {
  // 4 (length) + 1 (padding length) + payload + padding: a multiple of 8.
  size_t padding = 8 - (5 + payload.size()) % 8;
  if (padding < 4) padding += 8;
  std::string pad(padding, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(pad.data()), static_cast<int>(pad.size()));
  SshWriter w;
  w.Uint32(static_cast<uint32_t>(1 + payload.size() + padding));
  w.Byte(static_cast<uint8_t>(padding));
  w.Raw(payload);
  w.Raw(pad);
  return w.Take();
}

PacketReader::State PacketReader::Next(std::string* payload) {
  if (!error_.empty()) return State::kError;
  if (buffer_.size() < 5) return State::kNeedMore;
  SshReader r(buffer_);
  uint32_t length = 0;
  uint8_t padding = 0;
  r.Uint32(&length);
  r.Byte(&padding);
  if (length > kMaxPacketLength) {
    error_ =
        "packet length " + std::to_string(length) + " exceeds " + std::to_string(kMaxPacketLength);
    return State::kError;
  }
  if (length < 2 || static_cast<uint32_t>(padding) + 1 >= length) {
    error_ = "packet length " + std::to_string(length) + " with padding length " +
             std::to_string(padding) + " leaves no payload";
    return State::kError;
  }
  if (buffer_.size() - 4 < length) return State::kNeedMore;
  payload->assign(buffer_, 5, length - 1 - padding);
  buffer_.erase(0, 4 + length);
  return State::kPacket;
}

}  // namespace parallax::probe
