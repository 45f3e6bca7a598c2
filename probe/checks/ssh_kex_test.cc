// Unit tests of the SSH host-key exchange's pure pieces: wire encoding and
// packet framing (ssh_wire.h), KEXINIT (ssh_kexinit.h), host key blobs,
// signatures and fingerprints (ssh_hostkey.h), and SshKexClient replaying a
// key exchange recorded from a real OpenSSH 9.2p1 sshd (ed25519 host key):
// the client's X25519 key and KEXINIT cookie were fixed, so replaying the
// server's bytes recomputes the same exchange hash, and sshd's signature
// over it verifying proves the hash is computed as sshd computes it.
// Every truncation and oversize field of what the server sends is rejected.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "probe/checks/ssh_hostkey.h"
#include "probe/checks/ssh_kex_client.h"
#include "probe/checks/ssh_kexinit.h"
#include "probe/checks/ssh_wire.h"

namespace parallax::probe {
namespace {

// Recorded with a client using kPriv and kCookie below against
// "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10": everything the server sent
// after its identification line (KEXINIT, KEX_ECDH_REPLY, NEWKEYS).
constexpr char kServerIdent[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10";
constexpr char kClientIdent[] = "SSH-2.0-parallax_probe_test";
constexpr char kServerBytesHex[] =
    "0000043c09141f9203b18e565f0763b92ad20844a5950000013d736e747275703736317832353531392d7368613531"
    "32"
    "2c736e747275703736317832353531392d736861353132406f70656e7373682e636f6d2c637572766532353531392d"
    "73"
    "68613235362c637572766532353531392d736861323536406c69627373682e6f72672c656364682d736861322d6e69"
    "73"
    "74703235362c656364682d736861322d6e697374703338342c656364682d736861322d6e697374703532312c646966"
    "66"
    "69652d68656c6c6d616e2d67726f75702d65786368616e67652d7368613235362c6469666669652d68656c6c6d616e"
    "2d"
    "67726f757031362d7368613531322c6469666669652d68656c6c6d616e2d67726f757031382d7368613531322c6469"
    "66"
    "6669652d68656c6c6d616e2d67726f757031342d7368613235362c6b65782d7374726963742d732d763030406f7065"
    "6e"
    "7373682e636f6d0000000b7373682d656432353531390000006c63686163686132302d706f6c7931333035406f7065"
    "6e"
    "7373682e636f6d2c6165733132382d6374722c6165733139322d6374722c6165733235362d6374722c616573313238"
    "2d"
    "67636d406f70656e7373682e636f6d2c6165733235362d67636d406f70656e7373682e636f6d0000006c6368616368"
    "61"
    "32302d706f6c7931333035406f70656e7373682e636f6d2c6165733132382d6374722c6165733139322d6374722c61"
    "65"
    "733235362d6374722c6165733132382d67636d406f70656e7373682e636f6d2c6165733235362d67636d406f70656e"
    "73"
    "73682e636f6d000000d5756d61632d36342d65746d406f70656e7373682e636f6d2c756d61632d3132382d65746d40"
    "6f"
    "70656e7373682e636f6d2c686d61632d736861322d3235362d65746d406f70656e7373682e636f6d2c686d61632d73"
    "68"
    "61322d3531322d65746d406f70656e7373682e636f6d2c686d61632d736861312d65746d406f70656e7373682e636f"
    "6d"
    "2c756d61632d3634406f70656e7373682e636f6d2c756d61632d313238406f70656e7373682e636f6d2c686d61632d"
    "73"
    "6861322d3235362c686d61632d736861322d3531322c686d61632d73686131000000d5756d61632d36342d65746d40"
    "6f"
    "70656e7373682e636f6d2c756d61632d3132382d65746d406f70656e7373682e636f6d2c686d61632d736861322d32"
    "35"
    "362d65746d406f70656e7373682e636f6d2c686d61632d736861322d3531322d65746d406f70656e7373682e636f6d"
    "2c"
    "686d61632d736861312d65746d406f70656e7373682e636f6d2c756d61632d3634406f70656e7373682e636f6d2c75"
    "6d"
    "61632d313238406f70656e7373682e636f6d2c686d61632d736861322d3235362c686d61632d736861322d3531322c"
    "68"
    "6d61632d73686131000000156e6f6e652c7a6c6962406f70656e7373682e636f6d000000156e6f6e652c7a6c696240"
    "6f"
    "70656e7373682e636f6d00000000000000000000000000000000000000000000000000bc081f000000330000000b73"
    "73"
    "682d6564323535313900000020a05765d95ff5aeb8f7f1511b4bf57867bb2abd05ff113cec4adf96348cdbe0d20000"
    "00"
    "208d0de3139dd033c9ad3fa88af976bb8f2a49732e1536e6b1464185aef62b3a60000000530000000b7373682d6564"
    "32"
    "3535313900000040f6beb435ed7cf2a52149d27e13ae449e44348067bae07fa348c57a82bea660656789574320bbce"
    "ba"
    "3accc3b87936b3d97a14a3082f282145e8ee03a3511dc20000000000000000000000000c0a15000000000000000000"
    "00";
// The host key's `ssh-keygen -lf` fingerprint and exchange hash H.
constexpr char kFingerprint[] = "SHA256:PzASa0wY5XP4mStjxyE6wh3bjt3zizQgqpfMQVybYGE";
constexpr char kHashHex[] = "5454c0d598a0d375117e7aececa8ce2ea0532032dd8e617186539a3efe6d0e20";

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view s) {
  static const char* h = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o += h[c >> 4];
    o += h[c & 15];
  }
  return o;
}

SshKexClient::Options RecordedOptions() {
  std::string priv(32, '\0'), cookie(16, '\0');
  for (int i = 0; i < 32; ++i) priv[i] = static_cast<char>(i * 7 + 1);
  for (int i = 0; i < 16; ++i) cookie[i] = static_cast<char>(0xA0 + i);
  return {kClientIdent, kServerIdent, priv, cookie};
}

// The recorded server packets' payloads: [0] KEXINIT, [1] ECDH_REPLY, [2] NEWKEYS.
std::vector<std::string> RecordedPayloads() {
  PacketReader r;
  r.Feed(Unhex(kServerBytesHex));
  std::vector<std::string> out;
  std::string p;
  while (r.Next(&p) == PacketReader::State::kPacket) out.push_back(p);
  return out;
}

// Runs a client with the recorded keys on `server_bytes`; returns what it sent.
std::string Exchange(SshKexClient& c, std::string_view server_bytes) {
  std::string sent = c.Start();
  sent += c.Feed(server_bytes);
  return sent;
}

TEST(SshKexReplayTest, RecordedOpenSshExchangeVerifies) {
  SshKexClient c(RecordedOptions());
  std::string sent = Exchange(c, Unhex(kServerBytesHex));
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.result().error(), "");
  EXPECT_EQ(Hex(c.exchange_hash()), kHashHex);
  EXPECT_EQ(c.result().type(), "ssh-ed25519");
  EXPECT_EQ(c.result().fingerprint(), kFingerprint);
  EXPECT_EQ(c.result().kex_algorithm(), "curve25519-sha256");
  EXPECT_EQ(c.result().signature_algorithm(), "ssh-ed25519");
  EXPECT_FALSE(c.result().host_key_algorithms().empty());
  EXPECT_FALSE(c.result().ciphers().empty());
  // We sent KEXINIT, KEX_ECDH_INIT, DISCONNECT: nothing else (no NEWKEYS,
  // no SERVICE_REQUEST, no USERAUTH).
  PacketReader r;
  r.Feed(sent);
  std::string p;
  std::vector<int> types;
  while (r.Next(&p) == PacketReader::State::kPacket) types.push_back(static_cast<uint8_t>(p[0]));
  EXPECT_EQ(types, (std::vector<int>{kMsgKexInit, kMsgKexEcdhInit, kMsgDisconnect}));
}

TEST(SshKexReplayTest, ByteByByteGivesTheSameResult) {
  SshKexClient c(RecordedOptions());
  c.Start();
  std::string bytes = Unhex(kServerBytesHex);
  for (size_t i = 0; i < bytes.size() && !c.done(); ++i) c.Feed(bytes.substr(i, 1));
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.result().error(), "");
  EXPECT_EQ(c.result().fingerprint(), kFingerprint);
}

TEST(SshKexReplayTest, HashCoversTheIdentificationLines) {
  SshKexClient::Options o = RecordedOptions();
  o.server_identification = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u11";
  SshKexClient c(o);
  Exchange(c, Unhex(kServerBytesHex));
  ASSERT_TRUE(c.done());
  EXPECT_NE(c.result().error().find("does not verify"), std::string::npos) << c.result().error();
  // The key itself is still reported (it is what the server showed).
  EXPECT_EQ(c.result().fingerprint(), kFingerprint);
}

TEST(SshKexReplayTest, AlteredSignatureFails) {
  std::vector<std::string> p = RecordedPayloads();
  ASSERT_GE(p.size(), 2u);
  std::string reply = p[1];
  reply[reply.size() - 5] ^= 0x01;  // inside the ed25519 signature
  SshKexClient c(RecordedOptions());
  Exchange(c, EncodePacket(p[0]) + EncodePacket(reply));
  ASSERT_TRUE(c.done());
  EXPECT_NE(c.result().error().find("does not verify"), std::string::npos) << c.result().error();
}

TEST(SshKexReplayTest, EveryTruncatedEcdhReplyFails) {
  std::vector<std::string> p = RecordedPayloads();
  ASSERT_GE(p.size(), 2u);
  for (size_t n = 1; n < p[1].size(); ++n) {
    SshKexClient c(RecordedOptions());
    Exchange(c, EncodePacket(p[0]) + EncodePacket(p[1].substr(0, n)));
    ASSERT_TRUE(c.done()) << n;
    EXPECT_NE(c.result().error(), "") << n;
  }
  // And trailing garbage after the signature.
  SshKexClient c(RecordedOptions());
  Exchange(c, EncodePacket(p[0]) + EncodePacket(p[1] + "x"));
  EXPECT_EQ(c.result().error(), "KEX_ECDH_REPLY: trailing bytes");
}

TEST(SshKexReplayTest, EveryTruncatedKexInitFails) {
  std::vector<std::string> p = RecordedPayloads();
  ASSERT_GE(p.size(), 1u);
  KexInit k;
  ASSERT_TRUE(ParseKexInit(p[0], &k).ok());
  for (size_t n = 0; n < p[0].size(); ++n) {
    EXPECT_FALSE(ParseKexInit(p[0].substr(0, n), &k).ok()) << n;
  }
  EXPECT_FALSE(ParseKexInit(p[0] + "x", &k).ok());
}

TEST(SshKexClientTest, IncompleteStreamIsNotDoneAndAbortSaysWhy) {
  std::string bytes = Unhex(kServerBytesHex);
  SshKexClient c(RecordedOptions());
  c.Start();
  c.Feed(bytes.substr(0, 200));
  EXPECT_FALSE(c.done());
  c.Abort("the server closed the connection during the key exchange");
  EXPECT_TRUE(c.done());
  EXPECT_EQ(c.result().error(), "the server closed the connection during the key exchange");
}

TEST(SshKexClientTest, ServerDisconnectIsEscaped) {
  SshWriter w;
  w.Byte(kMsgDisconnect);
  w.Uint32(2);
  w.String("bye\x1b[31m");
  w.String("");
  SshKexClient c(RecordedOptions());
  Exchange(c, EncodePacket(w.data()));
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.result().error(), "the server disconnected (reason 2): bye\\x1b[31m");
}

TEST(SshKexClientTest, NoCommonKexIsNamed) {
  KexInit server = ClientKexInit();
  server.lists[KexInit::kKex] = {"diffie-hellman-group14-sha256"};
  SshKexClient c(RecordedOptions());
  std::string sent = Exchange(c, EncodePacket(EncodeKexInit(server)));
  ASSERT_TRUE(c.done());
  EXPECT_NE(c.result().error().find("no common key exchange"), std::string::npos);
  EXPECT_EQ(c.result().kex_algorithms(0), "diffie-hellman-group14-sha256");
  // It still says goodbye.
  EXPECT_NE(sent.find("host key check failed"), std::string::npos);
}

TEST(SshKexClientTest, UnexpectedMessageAndFloodsFail) {
  {
    SshKexClient c(RecordedOptions());
    Exchange(c, EncodePacket(std::string(1, '\x05')));  // SERVICE_REQUEST
    EXPECT_NE(c.result().error().find("unexpected message 5"), std::string::npos);
  }
  {
    // IGNORE packets are skipped, but not forever.
    std::string flood;
    for (int i = 0; i <= kMaxPackets; ++i) flood += EncodePacket(std::string("\x02\0\0\0\0", 5));
    SshKexClient c(RecordedOptions());
    Exchange(c, flood);
    EXPECT_NE(c.result().error().find("more than 32 packets"), std::string::npos)
        << c.result().error();
  }
  {
    // Large IGNORE packets, each within the packet limit: the byte budget ends it.
    SshKexClient c(RecordedOptions());
    c.Start();
    std::string big = EncodePacket(std::string(1, '\x02') + std::string(30000, 'x'));
    for (int i = 0; i < 20 && !c.done(); ++i) c.Feed(big);
    ASSERT_TRUE(c.done());
    EXPECT_NE(c.result().error().find("more than 262144 bytes"), std::string::npos)
        << c.result().error();
  }
}

TEST(SshWireTest, PacketRoundTripAndPadding) {
  for (size_t n = 1; n < 40; ++n) {
    std::string payload(n, 'a');
    std::string packet = EncodePacket(payload);
    EXPECT_EQ(packet.size() % 8, 0u);
    EXPECT_GE(static_cast<uint8_t>(packet[4]), 4);
    PacketReader r;
    std::string out;
    for (size_t i = 0; i + 1 < packet.size(); ++i) {
      PacketReader partial;
      partial.Feed(packet.substr(0, i));
      EXPECT_EQ(partial.Next(&out), PacketReader::State::kNeedMore) << i;
    }
    r.Feed(packet);
    ASSERT_EQ(r.Next(&out), PacketReader::State::kPacket);
    EXPECT_EQ(out, payload);
  }
}

TEST(SshWireTest, OversizeAndEmptyPacketsAreErrors) {
  std::string out;
  {
    SshWriter w;
    w.Uint32(kMaxPacketLength + 1);
    w.Byte(4);
    PacketReader r;
    r.Feed(w.data());
    EXPECT_EQ(r.Next(&out), PacketReader::State::kError);
    EXPECT_NE(r.error().find("exceeds 35000"), std::string::npos);
    EXPECT_EQ(r.Next(&out), PacketReader::State::kError);  // sticky
  }
  {
    SshWriter w;
    w.Uint32(12);
    w.Byte(11);  // padding fills the packet: no payload
    PacketReader r;
    r.Feed(w.data() + std::string(11, '\0'));
    EXPECT_EQ(r.Next(&out), PacketReader::State::kError);
  }
  {
    PacketReader r;
    r.Feed(std::string("\xff\xff\xff\xff\x04", 5));
    EXPECT_EQ(r.Next(&out), PacketReader::State::kError);
  }
}

TEST(SshWireTest, ReaderNeverReadsPastTheEnd) {
  SshWriter w;
  w.String("hello");
  std::string data = w.data();
  for (size_t n = 0; n < data.size(); ++n) {
    SshReader r(std::string_view(data).substr(0, n));
    std::string_view s;
    EXPECT_FALSE(r.String(&s, 100)) << n;
  }
  SshReader r(data);
  std::string_view s;
  EXPECT_FALSE(r.String(&s, 4));  // longer than the caller's limit
  SshWriter neg;
  neg.Uint32(1);
  neg.Byte(0x80);
  SshReader nr(neg.data());
  EXPECT_FALSE(nr.MpintUnsigned(&s, 8));  // negative
}

TEST(SshKexInitTest, NameListBounds) {
  KexInit k = ClientKexInit();
  KexInit parsed;
  ASSERT_TRUE(ParseKexInit(EncodeKexInit(k), &parsed).ok());
  EXPECT_EQ(parsed.lists[KexInit::kHostKey], k.lists[KexInit::kHostKey]);

  KexInit bad = k;
  bad.lists[KexInit::kKex] = {std::string(kMaxNameBytes + 1, 'a')};
  EXPECT_FALSE(ParseKexInit(EncodeKexInit(bad), &parsed).ok());
  bad = k;
  bad.lists[KexInit::kKex].assign(kMaxNames + 1, "a");
  EXPECT_FALSE(ParseKexInit(EncodeKexInit(bad), &parsed).ok());
  bad = k;
  bad.lists[KexInit::kCipherC2S] = {"aes\x01"};
  EXPECT_FALSE(ParseKexInit(EncodeKexInit(bad), &parsed).ok());
  bad = k;
  bad.lists[KexInit::kMacC2S] = {"a", ""};  // "a,": an empty name
  EXPECT_FALSE(ParseKexInit(EncodeKexInit(bad), &parsed).ok());
  bad = k;
  bad.lists[KexInit::kLanguageC2S] = {std::string(kMaxNameListBytes, 'a')};
  EXPECT_FALSE(ParseKexInit(EncodeKexInit(bad), &parsed).ok());

  EXPECT_EQ(Negotiate({"a", "b"}, {"c", "b", "a"}), "a");
  EXPECT_EQ(Negotiate({"a"}, {"b"}), "");
}

// The blob inside an OpenSSH public key file ("type base64 comment").
std::string BlobOfPubFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  char line[8192] = {};
  if (f == nullptr) return "";
  if (fgets(line, sizeof line, f) == nullptr) line[0] = 0;
  fclose(f);
  std::string s(line);
  size_t a = s.find(' ');
  size_t b = s.find(' ', a + 1);
  std::string b64 = s.substr(a + 1, b - a - 1);
  std::string out(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return "";
  out.resize(n);
  size_t pad = 0;
  while (pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
  out.resize(out.size() - pad);
  return out;
}

std::string Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (p != nullptr) pclose(p);
  return out;
}

TEST(SshHostKeyTest, FingerprintsMatchSshKeygen) {
  if (Shell("command -v ssh-keygen").empty()) GTEST_SKIP() << "apt-get install openssh-client";
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sshkex_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  struct Case {
    const char* keygen;
    const char* type;
    uint32_t bits;
  };
  for (Case c : {Case{"ed25519", "ssh-ed25519", 256}, Case{"ecdsa", "ecdsa-sha2-nistp256", 256},
                 Case{"rsa", "ssh-rsa", 1024}}) {
    std::string key = (dir / c.keygen).string();
    std::string bits = std::string(c.keygen) == "rsa" ? " -b 1024" : "";
    Shell(std::string("ssh-keygen -q -N '' -t ") + c.keygen + bits + " -f " + key);
    std::string blob = BlobOfPubFile(key + ".pub");
    ASSERT_FALSE(blob.empty()) << c.keygen;
    SshPublicKey k;
    ASSERT_TRUE(ParseHostKeyBlob(blob, &k).ok()) << c.keygen;
    EXPECT_EQ(k.type, c.type);
    EXPECT_EQ(k.bits, c.bits);
    std::string printed = Shell("ssh-keygen -l -E sha256 -f " + key + ".pub");
    EXPECT_NE(printed.find(" " + SshFingerprint(blob) + " "), std::string::npos)
        << printed << " vs " << SshFingerprint(blob);
    // Every truncation and a trailing byte are rejected.
    for (size_t n = 0; n < blob.size(); ++n) {
      EXPECT_FALSE(ParseHostKeyBlob(blob.substr(0, n), &k).ok()) << c.keygen << " " << n;
    }
    EXPECT_FALSE(ParseHostKeyBlob(blob + "x", &k).ok());
  }
  std::filesystem::remove_all(dir);
}

TEST(SshHostKeyTest, WeakOrUnknownKeysAndMismatchedAlgorithms) {
  SshWriter rsa;
  rsa.String("ssh-rsa");
  rsa.MpintUnsigned(std::string("\x01\x00\x01", 3));
  rsa.MpintUnsigned(std::string(64, '\xff'));  // 512 bits
  SshPublicKey k;
  EXPECT_NE(ParseHostKeyBlob(rsa.data(), &k).message().find("512 bits"), std::string::npos);
  SshWriter dss;
  dss.String("ssh-dss");
  EXPECT_FALSE(ParseHostKeyBlob(dss.data(), &k).ok());
  EXPECT_FALSE(ParseHostKeyBlob(std::string(kMaxHostKeyBlobBytes + 1, 'a'), &k).ok());
  // A point not on P-256.
  SshWriter ec;
  ec.String("ecdsa-sha2-nistp256");
  ec.String("nistp256");
  ec.String(std::string("\x04", 1) + std::string(64, '\x01'));
  ASSERT_TRUE(ParseHostKeyBlob(ec.data(), &k).ok());
  SshWriter sig;
  sig.String("ecdsa-sha2-nistp256");
  SshWriter rs;
  rs.MpintUnsigned(std::string(32, '\x01'));
  rs.MpintUnsigned(std::string(32, '\x01'));
  sig.String(rs.data());
  EXPECT_FALSE(VerifySshSignature(k, "ecdsa-sha2-nistp256", sig.data(), "h").ok());
  EXPECT_FALSE(VerifySshSignature(k, "ssh-ed25519", sig.data(), "h").ok());
}

}  // namespace
}  // namespace parallax::probe
