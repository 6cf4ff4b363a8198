// Where transcripts go: a stream, one file (written whole or not at all), or a file per input.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/formats.h"
#include "pipeline/transcript.h"
#include "util/result.h"

namespace soroka::pipeline {

// Transcripts are added one by one, in input order, then the output is closed. Several
// inputs into one stream or file ("combined"): txt, srt and vtt get a "==> FILE <==" line
// before each transcript, json becomes an array, rttm lines (which name their file) follow
// each other. Not thread-safe.
class Output {
 public:
  virtual ~Output() = default;
  virtual Result<void> add(const Transcript& t) = 0;
  // Ends the output; a file output appears under its name only now.
  virtual Result<void> close() = 0;
  virtual std::string name() const = 0;  // for messages: "standard output", the path
};

// To `out` (standard output), flushed after each transcript.
std::unique_ptr<Output> stream_output(std::ostream& out, Format f, bool combined);
// One file for everything, streamed to PATH.partial and renamed into place by close(); an
// output dropped before close(), or whose writing failed, leaves neither file behind. With a
// single input (not combined) that failed, close() writes nothing.
std::unique_ptr<Output> file_output(std::string path, Format f, bool combined);
// DIR/STEM.EXT per input and format, each written atomically; inputs whose stems collide
// keep their extension (a.mp3.srt, a.wav.srt). `inputs` are the names transcripts will carry
// in `file`.
std::unique_ptr<Output> dir_output(std::string dir, std::vector<Format> formats,
                                   const std::vector<std::string>& inputs);

// The output `target` names: "" or "-" standard output, a directory (existing, or a path
// ending in '/', created) a file per input and format, anything else one file. Several
// formats need a directory (an error of kind invalid_request otherwise).
Result<std::unique_ptr<Output>> open_output(const std::string& target, const std::vector<Format>& formats,
                                            const std::vector<std::string>& inputs, std::ostream& out);
// "txt,srt,json" -> the formats in that order, each once; an unknown name is an error of kind
// invalid_request naming it.
Result<std::vector<Format>> parse_formats(std::string_view list);
// The format: `flag` when given, else the extension of a file `target`, else txt.
Format output_format(const std::optional<Format>& flag, const std::string& target);

// Writes `write`'s output to `path` through PATH.partial renamed into place, so a failure
// (the stream going bad, the disk full) never leaves a half-written file under either name.
Result<void> write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace soroka::pipeline
