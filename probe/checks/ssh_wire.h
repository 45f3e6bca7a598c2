// SSH wire encoding (RFC 4251 5) and the unencrypted binary packet framing
// used before NEWKEYS (RFC 4253 6), for the probe's host-key exchange.
//
//  - SshWriter appends byte / uint32 / string / mpint / name-list.
//  - SshReader reads them from an untrusted buffer: every read is bounds
//    checked and fails (returns false, sticky) instead of reading past the
//    end; strings are capped by the caller's limit.
//  - EncodePacket() frames a payload: uint32 packet_length, byte
//    padding_length, payload, random padding (>= 4 bytes, total a multiple
//    of 8), no MAC.
//  - PacketReader is the incremental receiving side: Feed() bytes, Next()
//    yields whole payloads. packet_length is at most kMaxPacketLength (35000,
//    RFC 4253 6.1), padding_length must leave a non-empty payload; anything
//    else is an error (the stream cannot be resynchronised).
//
// Pure, thread-compatible (one reader per connection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parallax::probe {

class SshWriter {
 public:
  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void Uint32(uint32_t v);
  void String(std::string_view s);
  // `magnitude`: an unsigned big-endian integer (leading zero bytes are
  // stripped; a 0x00 is prepended when the top bit is set).
  void MpintUnsigned(std::string_view magnitude);
  void NameList(const std::vector<std::string>& names);
  void Raw(std::string_view s) { out_.append(s); }
  const std::string& data() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class SshReader {
 public:
  explicit SshReader(std::string_view data) : data_(data) {}
  bool Byte(uint8_t* b);
  bool Uint32(uint32_t* v);
  bool Bool(bool* v);
  // A string of at most `max` bytes (a longer one fails).
  bool String(std::string_view* s, size_t max);
  // A non-negative mpint of at most `max` magnitude bytes, returned without
  // its sign byte. Negative values fail.
  bool MpintUnsigned(std::string_view* magnitude, size_t max);
  bool Skip(size_t n);
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  bool ok() const { return ok_; }

 private:
  bool Fail() { return ok_ = false; }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

constexpr size_t kMaxPacketLength = 35000;

// The bytes of `s` as OpenSSL's functions take them.
inline const unsigned char* UChars(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Frames `payload` as an unencrypted binary packet.
std::string EncodePacket(std::string_view payload);

class PacketReader {
 public:
  enum class State { kNeedMore, kPacket, kError };
  void Feed(std::string_view bytes) { buffer_.append(bytes); }
  // kPacket: *payload holds the next payload (consumed from the buffer).
  // kError: error() says why; every later call returns kError too.
  State Next(std::string* payload);
  const std::string& error() const { return error_; }
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  std::string error_;
};

}  // namespace parallax::probe
