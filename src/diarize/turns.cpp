// Joins touching pieces of one speaker and numbers speakers in order of first appearance.
#include "diarize/turns.h"

#include <map>

namespace soroka::diarize {

namespace {
constexpr double kTouchS = 0.001;  // pieces cut from one segment share their boundary exactly
}

std::vector<Turn> make_turns(const std::vector<LabeledSpan>& spans,
                             const std::vector<std::string>& cluster_names) {
  std::vector<Turn> out;
  std::map<int, std::pair<int, std::string>> who;  // cluster -> (number, name)
  int unnamed = 0;
  for (const auto& s : spans) {
    auto it = who.find(s.cluster);
    if (it == who.end()) {
      auto c = static_cast<std::size_t>(s.cluster);
      std::string name = c < cluster_names.size() ? cluster_names[c] : "";
      if (name.empty()) name = "Speaker " + std::to_string(++unnamed);
      it = who.emplace(s.cluster, std::pair{static_cast<int>(who.size()), name}).first;
    }
    int number = it->second.first;
    if (!out.empty() && out.back().speaker == number && s.start_s - out.back().end_s < kTouchS) {
      out.back().end_s = std::max(out.back().end_s, s.end_s);
      continue;
    }
    out.push_back(Turn{s.start_s, s.end_s, number, it->second.second});
  }
  return out;
}

}  // namespace soroka::diarize
