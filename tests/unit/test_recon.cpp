#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "lexico/error.h"
#include "lexico/fp8.h"
#include "lexico/recon.h"

using namespace lexico;

TEST_CASE("reconstruct applies D to every row, FP8 or float") {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  const Eigen::MatrixXf d = Eigen::MatrixXf::NullaryExpr(6, 20, [&] { return normal(rng); });
  SparseCoefs coefs;
  coefs.dim = 6;
  coefs.n_atoms = 20;
  coefs.row_ptr = {0, 3, 3, 4};
  coefs.indices = {4, 19, 0, 7};
  coefs.values = {0.5f, -1.25f, 3.0f, 0.1f};
  const Eigen::MatrixXf dense = reconstruct(d, coefs);
  REQUIRE(dense.rows() == 6);
  REQUIRE(dense.cols() == 3);
  CHECK(dense.col(0).isApprox(0.5f * d.col(4) - 1.25f * d.col(19) + 3.0f * d.col(0)));
  CHECK(dense.col(1).isZero());
  CHECK(dense.col(2).isApprox(0.1f * d.col(7)));

  const SparseCodes codes = quantize_fp8(coefs);
  const Eigen::MatrixXf from_fp8 = reconstruct(d, codes);
  CHECK(from_fp8.col(0).isApprox(dense.col(0)));  // 0.5, -1.25, 3 are FP8-exact
  CHECK(from_fp8.col(2).isApprox(fp8_e4m3_decode(fp8_e4m3_encode(0.1f)) * d.col(7)));
  Eigen::VectorXf row(6);
  decode_row(codes, 2, d, row.data());
  CHECK(row.isApprox(from_fp8.col(2)));

  CHECK_THROWS_AS(reconstruct(d.leftCols(19), coefs), Error);
  CHECK_THROWS_AS(reconstruct(d.topRows(5), coefs), Error);
}

TEST_CASE("relative errors, zero vectors included") {
  Eigen::MatrixXf x(2, 4), x_hat(2, 4);
  x << 3, 0, 0, 1,  //
      4, 0, 0, 1;
  x_hat << 3, 0, 1, 0,  //
      1, 0, 0, 0;
  const std::vector<double> e = relative_errors(x, x_hat);
  CHECK(e[0] == doctest::Approx(3.0 / 5.0));
  CHECK(e[1] == 0.0);             // zero vector, zero reconstruction
  CHECK(std::isinf(e[2]));        // zero vector, non-zero reconstruction
  CHECK(e[3] == doctest::Approx(1.0));
  CHECK_THROWS_AS(relative_errors(x, x_hat.leftCols(3)), Error);
}

TEST_CASE("mean and population standard deviation") {
  const RreStats stats = rre_stats({1.0, 3.0});
  CHECK(stats.count == 2);
  CHECK(stats.mean == 2.0);
  CHECK(stats.std == 1.0);  // population: sqrt(((1-2)² + (3-2)²) / 2)
  const RreStats none = rre_stats({});
  CHECK(none.count == 0);
  CHECK(none.mean == 0.0);
  const RreStats one = rre_stats({0.25});
  CHECK(one.mean == 0.25);
  CHECK(one.std == 0.0);
}
