// Agglomerative BIC clustering with a penalty-independent merge order, CEM refinement, and
// the capped online unit pool that feeds it.
#include "diarize/cluster.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace soroka::diarize {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double total_frames(const std::vector<GaussStats>& units) {
  double n = 0;
  for (const auto& u : units) n += u.n;
  return n;
}

// -0.5 n log|S|: a cluster's maximised log-likelihood, constants dropped.
double cluster_loglik(const GaussStats& s) { return -0.5 * s.n * logdet_cov(s); }

struct Dendrogram {
  std::vector<std::pair<int, int>> merges;  // (kept, absorbed) cluster indices, in order
  std::vector<double> loglik_by_k;          // index k = clusters left
};

// Merges the pair that loses the least likelihood until one cluster is left.
Dendrogram build_dendrogram(std::vector<GaussStats> c) {
  auto n = c.size();
  Dendrogram d;
  d.loglik_by_k.assign(n + 1, 0.0);
  std::vector<double> ll(n);
  std::vector<bool> alive(n, true);
  std::vector<double> cost(n * n, kInf);
  for (std::size_t i = 0; i < n; ++i) {
    ll[i] = cluster_loglik(c[i]);
    for (std::size_t j = 0; j < i; ++j) cost[i * n + j] = merge_cost(c[i], c[j]);
  }
  double total = std::accumulate(ll.begin(), ll.end(), 0.0);
  d.loglik_by_k[n] = total;
  for (std::size_t k = n; k > 1; --k) {
    auto best = static_cast<std::size_t>(std::min_element(cost.begin(), cost.end()) - cost.begin());
    std::size_t a = best / n, b = best % n;  // a > b
    c[b].merge(c[a]);
    alive[a] = false;
    total -= ll[a] + ll[b];
    ll[b] = cluster_loglik(c[b]);
    total += ll[b];
    d.loglik_by_k[k - 1] = total;
    d.merges.emplace_back(static_cast<int>(b), static_cast<int>(a));
    for (std::size_t j = 0; j < n; ++j) {
      cost[a * n + j] = cost[j * n + a] = kInf;
      if (j == b || !alive[j]) continue;
      cost[std::max(b, j) * n + std::min(b, j)] = merge_cost(c[b], c[j]);
    }
  }
  return d;
}

// Labels after the first n - k merges, renumbered 0..k-1.
std::vector<int> labels_at(const Dendrogram& d, std::size_t n, std::size_t k) {
  std::vector<int> owner(n);
  std::iota(owner.begin(), owner.end(), 0);
  for (std::size_t m = 0; m + k < n; ++m) {
    auto [kept, gone] = d.merges[m];
    for (auto& o : owner)
      if (o == gone) o = kept;
  }
  std::vector<int> dense(n, -1), out(n);
  int next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto& slot = dense[static_cast<std::size_t>(owner[i])];
    if (slot < 0) slot = next++;
    out[i] = slot;
  }
  return out;
}

// Classification EM: rebuild each speaker's Gaussian, move every unit to the one that
// explains it best, until nothing moves. Empty speakers disappear.
std::vector<int> refine(const std::vector<GaussStats>& units, std::vector<int> labels, int iters) {
  for (int it = 0; it < iters; ++it) {
    int k = *std::max_element(labels.begin(), labels.end()) + 1;
    std::vector<GaussStats> sums(static_cast<std::size_t>(k), GaussStats(units[0].dim()));
    for (std::size_t i = 0; i < units.size(); ++i)
      sums[static_cast<std::size_t>(labels[i])].merge(units[i]);
    std::vector<GaussModel> models;
    for (const auto& s : sums) models.push_back(GaussModel::from(s));
    bool moved = false;
    for (std::size_t i = 0; i < units.size(); ++i) {
      int best = labels[i];
      double best_ll = models[static_cast<std::size_t>(best)].loglik(units[i]);
      for (int c = 0; c < k; ++c) {
        double ll = models[static_cast<std::size_t>(c)].loglik(units[i]);
        if (ll > best_ll) best_ll = ll, best = c;
      }
      moved |= best != labels[i];
      labels[i] = best;
    }
    std::vector<int> dense(static_cast<std::size_t>(k), -1);
    int next = 0;
    for (auto& l : labels) {
      auto& s = dense[static_cast<std::size_t>(l)];
      if (s < 0) s = next++;
      l = s;
    }
    if (!moved) break;
  }
  return labels;
}

class BicClusterer final : public Clusterer {
 public:
  explicit BicClusterer(BicParams p) : p_(p) {}
  std::vector<int> cluster(const std::vector<GaussStats>& units, CountRange range) override {
    if (units.empty()) return {};
    if (units.size() == 1) return {0};
    Dendrogram d = build_dendrogram(units);
    double per_cluster = p_.lambda * 0.5 * gauss_params(units[0].dim()) *
                         std::log(std::max(2.0, total_frames(units)));
    int k = choose_count(d.loglik_by_k, per_cluster, range);
    return refine(units, labels_at(d, units.size(), static_cast<std::size_t>(k)),
                  p_.refine_iterations);
  }
  std::size_t working_bytes(std::size_t units, int dim) const override {
    return units * units * sizeof(double) + 2 * units * GaussStats::bytes(dim) +
           units * (sizeof(GaussModel) + static_cast<std::size_t>(dim * dim + dim) * 8) +
           units * 64;
  }

 private:
  BicParams p_;
};

}  // namespace

int choose_count(const std::vector<double>& loglik_by_k, double per_cluster_penalty,
                 CountRange range) {
  int n = static_cast<int>(loglik_by_k.size()) - 1;
  if (n <= 1) return std::max(n, 1);
  if (range.exact > 0) return std::clamp(range.exact, 1, n);
  int lo = std::clamp(range.min, 1, n), hi = std::clamp(range.max, lo, n);
  int best = lo;
  double best_bic = -kInf;
  for (int k = lo; k <= hi; ++k) {
    double bic = loglik_by_k[static_cast<std::size_t>(k)] - per_cluster_penalty * k;
    if (bic > best_bic) best_bic = bic, best = k;
  }
  return best;
}

std::unique_ptr<Clusterer> make_bic_clusterer(BicParams p) {
  return std::make_unique<BicClusterer>(p);
}

UnitPool::UnitPool(int dim, int cap, double lambda)
    : dim_(dim), cap_(std::max(cap, 2)), lambda_(lambda) {
  auto c = static_cast<std::size_t>(cap_) + 1;
  units_.reserve(c);
  unit_id_.reserve(c);
  costs_.assign(c * c, kInf);
}

double UnitPool::cost(std::size_t a, std::size_t b) const {
  const auto &x = units_[a], &y = units_[b];
  return merge_cost(x, y) - lambda_ * 0.5 * gauss_params(dim_) * std::log(x.n + y.n);
}

int UnitPool::add(GaussStats s) {
  int id = static_cast<int>(parent_.size());
  parent_.push_back(id);
  units_.push_back(std::move(s));
  unit_id_.push_back(id);
  auto c = static_cast<std::size_t>(cap_) + 1, i = units_.size() - 1;
  for (std::size_t j = 0; j < i; ++j) costs_[i * c + j] = cost(i, j);
  if (units_.size() > static_cast<std::size_t>(cap_)) merge_closest();
  return id;
}

void UnitPool::merge_closest() {
  auto c = static_cast<std::size_t>(cap_) + 1;
  auto at = [&](std::size_t i, std::size_t j) -> double& {
    return costs_[std::max(i, j) * c + std::min(i, j)];
  };
  auto best = static_cast<std::size_t>(std::min_element(costs_.begin(), costs_.end()) - costs_.begin());
  std::size_t a = best / c, b = best % c;  // a > b: a goes into b, the last slot moves to a
  units_[b].merge(units_[a]);
  parent_[static_cast<std::size_t>(unit_id_[a])] = unit_id_[b];
  std::size_t last = units_.size() - 1;
  if (a != last) {
    units_[a] = std::move(units_[last]);
    unit_id_[a] = unit_id_[last];
    for (std::size_t j = 0; j < last; ++j)
      if (j != a) at(a, j) = at(last, j);
  }
  for (std::size_t j = 0; j < last; ++j) at(last, j) = kInf;
  units_.pop_back();
  unit_id_.pop_back();
  for (std::size_t j = 0; j < units_.size(); ++j)
    if (j != b) at(b, j) = cost(b, j);
}

int UnitPool::find(int id) {
  auto i = static_cast<std::size_t>(id);
  while (parent_[i] != static_cast<int>(i)) {
    parent_[i] = parent_[static_cast<std::size_t>(parent_[i])];  // path halving
    i = static_cast<std::size_t>(parent_[i]);
  }
  return static_cast<int>(i);
}

std::size_t UnitPool::slot_of(int id) {
  int root = find(id);
  auto it = std::find(unit_id_.begin(), unit_id_.end(), root);
  return static_cast<std::size_t>(it - unit_id_.begin());
}

std::size_t UnitPool::working_bytes(int dim, int cap) {
  auto c = static_cast<std::size_t>(cap) + 1;
  // the units, their merge costs, and one temporary GaussStats per merge cost computed
  return c * (GaussStats::bytes(dim) + 2 * sizeof(int)) + c * c * sizeof(double) +
         4 * GaussStats::bytes(dim);
}

}  // namespace soroka::diarize
