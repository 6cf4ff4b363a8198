// From labelled pieces of speech to the Turns the caller sees: contiguous pieces of one
// speaker joined, speakers numbered by first appearance and named.
#pragma once

#include <string>
#include <vector>

#include "diarize/diarizer.h"

namespace soroka::diarize {

struct LabeledSpan {
  double start_s = 0, end_s = 0;
  int cluster = 0;  // any non-negative id
};

// Spans in time order. cluster_names[c] is cluster c's known name, or "" for an unnamed voice
// (missing entries are unnamed). Spans of one cluster that touch (gap under 1 ms) join.
std::vector<Turn> make_turns(const std::vector<LabeledSpan>& spans,
                             const std::vector<std::string>& cluster_names);

}  // namespace soroka::diarize
