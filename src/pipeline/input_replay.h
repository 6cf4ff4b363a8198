// The input file opened a second time, as the diarizer's resegmentation pass reads it. Only a
// regular file can be read twice: a pipe, a FIFO or a device gives its bytes once.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>

#include "diarize/diarizer.h"
#include "media/decoder.h"
#include "util/result.h"

namespace soroka::pipeline {

class DecoderReplay final : public diarize::AudioReplay {
 public:
  explicit DecoderReplay(media::AudioDecoder d) : d_(std::move(d)) {}
  Result<std::size_t> read(std::span<std::int16_t> out) override { return d_.read(out); }

 private:
  media::AudioDecoder d_;
};

// The input from its start again, or why it cannot be read twice. `limits` are the ones the
// first reading had (StageInput::decode): length and stall bound the second reading alike.
inline Result<std::unique_ptr<diarize::AudioReplay>> reopen_input(const std::string& path,
                                                                  const media::DecodeLimits& limits) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail(FailureKind::invalid_input, "the input is not a regular file: it can be read once only");
  auto d = media::AudioDecoder::open(path, limits);
  if (!d) return std::unexpected(d.error());
  return std::make_unique<DecoderReplay>(std::move(*d));
}

}  // namespace soroka::pipeline
