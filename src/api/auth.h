// ApiKeys: who may call the API (OpenAI-style bearer keys) and the owner id jobs are kept under.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace soroka::api {

// Keys are kept only as SHA-256 digests; a presented key is hashed and compared with every
// digest in constant time, so neither timing nor a memory dump gives a key away. The owner
// id of a key is the first 16 hex digits of its digest: stable across restarts and reloads,
// and safe to store and log.
class ApiKeys {
 public:
  // Keys from the settings list and from a file (one a line; blank lines and # comments
  // skipped). A key shorter than 16 characters is refused (an error naming its line).
  static Result<ApiKeys> load(const std::vector<std::string>& keys, const std::string& file);

  bool empty() const { return digests_.empty(); }
  std::size_t size() const { return digests_.size(); }
  // The owner id for `Authorization: Bearer KEY`, or nullopt if the header is missing,
  // malformed or names no key.
  std::optional<std::string> owner(std::optional<std::string_view> authorization) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace soroka::api
