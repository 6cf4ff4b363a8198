// Sufficient statistics of a full-covariance Gaussian (count, sum, sum of outer products) and
// the likelihood arithmetic the change detector and the clustering share.
#pragma once

#include <Eigen/Core>
#include <cstddef>

namespace soroka::diarize {

// What a set of feature frames leaves behind: enough to rebuild its maximum-likelihood
// Gaussian and to merge it with another set, in d + d*d doubles whatever the frame count.
struct GaussStats {
  double n = 0;
  Eigen::VectorXd sum;
  Eigen::MatrixXd sq;  // sum of x x^T; only the lower triangle is kept

  explicit GaussStats(int dim = 0);
  int dim() const { return static_cast<int>(sum.size()); }
  // Adds rows [from, to) of a row-major frame matrix with dim() columns.
  void add_rows(const Eigen::MatrixXf& frames, Eigen::Index from, Eigen::Index to);
  void merge(const GaussStats& o);
  Eigen::VectorXd mean() const;
  // The regularised covariance (see gauss.cpp for the shrinkage).
  Eigen::MatrixXd cov() const;
  static std::size_t bytes(int dim);
};

// log det of the regularised covariance.
double logdet_cov(const GaussStats& s);
// Log-likelihood lost by modelling a and b with one Gaussian instead of two (the generalised
// likelihood ratio, >= 0 up to the regularisation): 0.5 (N ld(ab) - na ld(a) - nb ld(b)).
double merge_cost(const GaussStats& a, const GaussStats& b);
// Free parameters of one full-covariance Gaussian in `dim` dimensions: d + d(d+1)/2.
double gauss_params(int dim);

// A Gaussian ready to score data: mean, inverse covariance, log det.
struct GaussModel {
  Eigen::VectorXd mu;
  Eigen::MatrixXd inv;
  double logdet = 0;
  static GaussModel from(const GaussStats& s);
  // Log-likelihood of the frames summarised by `s` (constants dropped, the same for every
  // model of the same dimension).
  double loglik(const GaussStats& s) const;
};

}  // namespace soroka::diarize
