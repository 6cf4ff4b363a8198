// ApiKeys: who may call the API (OpenAI-style bearer keys) and the owner id jobs are kept under.
#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>

namespace soroka::api {

namespace {

// 16 characters: far below any generated key (OpenAI's are 51+), long enough that a typo'd
// fragment of a config line is not taken for one.
constexpr std::size_t kMinKeyLength = 16;
// An Authorization header longer than this is not a key of ours (and is not hashed).
constexpr std::size_t kMaxKeyLength = 512;

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> d{};
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<ApiKeys> ApiKeys::load(const std::vector<std::string>& keys, const std::string& file) {
  ApiKeys k;
  auto add = [&](std::string_view key, const std::string& where) -> Result<void> {
    key = trim(key);
    if (key.size() < kMinKeyLength || key.size() > kMaxKeyLength)
      return fail(where + ": an API key must be " + std::to_string(kMinKeyLength) + " to " +
                      std::to_string(kMaxKeyLength) + " characters",
                  EINVAL);
    for (char c : key)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F)
        return fail(where + ": an API key must be printable ASCII without spaces", EINVAL);
    k.digests_.push_back(sha256(key));
    return {};
  };
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (auto r = add(keys[i], "server.api_keys[" + std::to_string(i) + "]"); !r) return std::unexpected(r.error());
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return sys_fail("server.api_keys_file: cannot read " + file);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (n > 100000) return fail("server.api_keys_file: more than 100000 lines", EINVAL);
      auto t = trim(line);
      if (t.empty() || t.front() == '#') continue;
      if (auto r = add(t, file + ":" + std::to_string(n)); !r) return std::unexpected(r.error());
    }
  }
  return k;
}

std::optional<std::string> ApiKeys::owner(std::optional<std::string_view> authorization) const {
  if (!authorization) return std::nullopt;
  std::string_view h = trim(*authorization);
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || h.size() > kBearer.size() + kMaxKeyLength) return std::nullopt;
  for (std::size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(kBearer[i])))
      return std::nullopt;
  const auto d = sha256(trim(h.substr(kBearer.size())));
  // Every digest is compared, whichever matches: the time does not say which key is close.
  int found = -1;
  for (std::size_t i = 0; i < digests_.size(); ++i)
    if (CRYPTO_memcmp(d.data(), digests_[i].data(), d.size()) == 0) found = static_cast<int>(i);
  if (found < 0) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "key-";
  for (std::size_t i = 0; i < 8; ++i) {
    id += kHex[digests_[static_cast<std::size_t>(found)][i] >> 4];
    id += kHex[digests_[static_cast<std::size_t>(found)][i] & 0xF];
  }
  return id;
}

}  // namespace soroka::api
