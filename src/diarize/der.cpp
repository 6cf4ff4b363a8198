// DER: RTTM parsing, a sweep over the reference and hypothesis turns, Hungarian mapping.
#include "diarize/der.h"

#include <algorithm>
#include <limits>
#include <map>

#include "util/parse.h"

namespace soroka::diarize {

namespace {

constexpr double kMaxTimeS = 1e7;  // ~115 days: anything later in an RTTM is garbage

Result<RttmTurn> parse_speaker_line(std::string_view line, std::size_t lineno) {
  std::string_view f[8];
  for (auto& x : f) x = parse::next_token(line);
  auto start = parse::f64(f[3]), dur = parse::f64(f[4]);
  if (!start || !dur || *start < 0 || *dur < 0 || *start + *dur > kMaxTimeS || f[7].empty())
    return fail(FailureKind::invalid_request,
                "RTTM line " + std::to_string(lineno) + ": expected SPEAKER file chan start dur "
                "<NA> <NA> name");
  return RttmTurn{*start, *dur, std::string(f[7])};
}

// Which speakers are active between consecutive event times: index per side.
struct Event {
  double t;
  int delta;  // +1 start, -1 end
  int side;   // 0 ref, 1 hyp, 2 collar
  int spk;
};

std::vector<Event> events(const std::vector<RttmTurn>& ref, const std::vector<RttmTurn>& hyp,
                          double collar, std::map<std::string, int> ids[2]) {
  std::vector<Event> ev;
  auto add = [&](const std::vector<RttmTurn>& turns, int side) {
    for (const auto& t : turns) {
      if (t.dur_s <= 0) continue;
      int spk = ids[side].emplace(t.speaker, static_cast<int>(ids[side].size())).first->second;
      ev.push_back({t.start_s, +1, side, spk});
      ev.push_back({t.start_s + t.dur_s, -1, side, spk});
      if (side == 0 && collar > 0)
        for (double b : {t.start_s, t.start_s + t.dur_s}) {
          ev.push_back({b - collar, +1, 2, 0});
          ev.push_back({b + collar, -1, 2, 0});
        }
    }
  };
  add(ref, 0);
  add(hyp, 1);
  std::sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) { return a.t < b.t; });
  return ev;
}

}  // namespace

Result<std::vector<RttmTurn>> parse_rttm(std::string_view text) {
  std::vector<RttmTurn> out;
  for (std::size_t lineno = 1; !text.empty(); ++lineno) {
    if (lineno > kMaxRttmLines)
      return fail(FailureKind::invalid_request, "RTTM: more than 1000000 lines");
    std::string_view line = parse::trim(parse::next_line(text));
    if (line.empty() || line.front() == '#') continue;
    std::string_view rest = line;
    if (parse::next_token(rest) != "SPEAKER") continue;
    auto t = parse_speaker_line(line, lineno);
    if (!t) return std::unexpected(t.error());
    out.push_back(std::move(*t));
  }
  return out;
}

DerScore score_der(const std::vector<RttmTurn>& ref, const std::vector<RttmTurn>& hyp,
                   double collar_s) {
  std::map<std::string, int> ids[2];
  std::vector<Event> ev = events(ref, hyp, collar_s, ids);
  DerScore s;
  s.ref_speakers = static_cast<int>(ids[0].size());
  s.hyp_speakers = static_cast<int>(ids[1].size());
  std::vector<int> active[2] = {std::vector<int>(ids[0].size()), std::vector<int>(ids[1].size())};
  std::vector<std::vector<double>> co(ids[0].size(), std::vector<double>(ids[1].size(), 0.0));
  int in_collar = 0;
  double both = 0;  // sum over time of min(|R|, |H|)
  for (std::size_t i = 0; i < ev.size(); ++i) {
    const Event& e = ev[i];
    if (e.side == 2) in_collar += e.delta;
    else active[e.side][static_cast<std::size_t>(e.spk)] += e.delta;
    double dur = i + 1 < ev.size() ? ev[i + 1].t - e.t : 0;
    if (dur <= 0 || in_collar > 0) continue;
    int nr = 0, nh = 0;
    for (int a : active[0]) nr += a > 0;
    for (int a : active[1]) nh += a > 0;
    s.scored_s += nr * dur;
    s.missed_s += std::max(0, nr - nh) * dur;
    s.false_alarm_s += std::max(0, nh - nr) * dur;
    both += std::min(nr, nh) * dur;
    for (std::size_t r = 0; r < active[0].size(); ++r)
      for (std::size_t h = 0; h < active[1].size(); ++h)
        if (active[0][r] > 0 && active[1][h] > 0) co[r][h] += dur;
  }
  std::vector<int> map = max_weight_assignment(co);
  double correct = 0;
  for (std::size_t r = 0; r < map.size(); ++r)
    if (map[r] >= 0) correct += co[r][static_cast<std::size_t>(map[r])];
  s.confusion_s = std::max(0.0, both - correct);
  return s;
}

// The Hungarian method with potentials on a square cost matrix (cost = max weight - weight,
// padded with zeros' complement), O(n^3).
std::vector<int> max_weight_assignment(const std::vector<std::vector<double>>& weight) {
  std::size_t rows = weight.size(), cols = rows ? weight[0].size() : 0;
  std::size_t n = std::max(rows, cols);
  if (rows == 0 || cols == 0) return std::vector<int>(rows, -1);
  double top = 0;
  for (const auto& r : weight)
    for (double w : r) top = std::max(top, w);
  auto cost = [&](std::size_t i, std::size_t j) {  // 1-based
    return i <= rows && j <= cols ? top - weight[i - 1][j - 1] : top;
  };
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<std::size_t> p(n + 1, 0), way(n + 1, 0);
  for (std::size_t i = 1; i <= n; ++i) {
    p[0] = i;
    std::size_t j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<bool> used(n + 1, false);
    do {
      used[j0] = true;
      std::size_t i0 = p[j0], j1 = 0;
      double delta = inf;
      for (std::size_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        double cur = cost(i0, j) - u[i0] - v[j];
        if (cur < minv[j]) minv[j] = cur, way[j] = j0;
        if (minv[j] < delta) delta = minv[j], j1 = j;
      }
      for (std::size_t j = 0; j <= n; ++j) {
        if (used[j]) u[p[j]] += delta, v[j] -= delta;
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      std::size_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> out(rows, -1);
  for (std::size_t j = 1; j <= n; ++j)
    if (p[j] >= 1 && p[j] <= rows && j <= cols) out[p[j] - 1] = static_cast<int>(j - 1);
  return out;
}

}  // namespace soroka::diarize
