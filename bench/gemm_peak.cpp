// Single-precision matrix-multiply throughput of this machine with Eigen, the yardstick
// for "close to the machine's arithmetic limit": C = A B for square N x N float matrices
// (2 N^3 flops per product), best of several repetitions, on one thread (Eigen is built
// without OpenMP, so its GEMM is single-threaded; multiply by the core count for the
// machine's peak). With COLUMNS, B is N x COLUMNS instead (2 N^2 COLUMNS flops): the shape
// of one hidden layer of width N applied to a work unit's candidates (benchmarks.md,
// section 2: on a machine whose throughput varies, compare it with the square product
// timed in the same minute).
//   gemm-peak [N=2048] [REPEATS=5] [COLUMNS=N]
// Prints one JSON line: {"n": N, "columns": COLUMNS, "seconds": best, "gflops": flops / best / 1e9}.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <Eigen/Core>

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2048;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  const int columns = argc > 3 ? std::atoi(argv[3]) : n;
  if (n <= 0 || repeats <= 0 || columns <= 0) {
    std::fprintf(stderr, "gemm-peak: usage: gemm-peak [N>0] [REPEATS>0] [COLUMNS>0]\n");
    return 2;
  }
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, columns);
  Eigen::MatrixXf c(n, columns);
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds < best) best = seconds;
  }
  const double flops = 2.0 * n * static_cast<double>(n) * columns;
  // Printing a coefficient keeps the product from being optimised away.
  std::printf("{\"n\": %d, \"columns\": %d, \"seconds\": %.6f, \"gflops\": %.1f, \"check\": %.3f}\n", n, columns,
              best, flops / best / 1e9, static_cast<double>(c(0, 0)));
  return 0;
}
