// Transcript: the plain-text view of a transcript.
#include "pipeline/transcript.h"

namespace soroka::pipeline {

std::string Transcript::text() const {
  std::string out;
  for (const auto& seg : segments) {
    if (seg.text.empty()) continue;
    if (!out.empty()) out += ' ';
    out += seg.text;
  }
  return out;
}

}  // namespace soroka::pipeline
