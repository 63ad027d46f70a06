// The reference arbiter (contract in reference_tracer.hpp). Built with -ffp-contract=off
// -fno-fast-math (consensus/CMakeLists.txt): its bits settle verdicts, so every operation must
// round the same way on every compiler, flag set and CPU.
//
// Rules this file keeps, so that the result is one function of its inputs:
// - Only + - * / and std::sqrt on double and float, all correctly rounded by IEEE-754, and
//   conversions between them. exp, log and erf are written out below.
// - Every sum runs in one fixed index order. Loops are arranged so that the innermost loop runs
//   over independent outputs (the compiler may vectorise those; it never reorders a sum without
//   -ffast-math), never over the terms of one sum.
// - Threads split outputs, never a sum: each output is computed by the same operations whatever
//   the thread count.
// - Activations between ops are float, as libtorch keeps them; everything inside an op is double.
#include <algorithm>
#include <array>
#include <bit>
#include <cfenv>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <learnchain/consensus/reference_tracer.hpp>
#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/units.hpp>

// Every float and double operation must round to its own type: no x87 extended precision.
static_assert(FLT_EVAL_METHOD == 0, "the arbiter needs IEEE single and double evaluation");

namespace learnchain::consensus {
namespace {

using std::size_t;

constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr double layer_norm_eps = 1e-5;

// ---------------------------------------------------------------------------------------------
// Elementary functions from + - * / only. libm's exp, log and erf differ between C libraries
// in their last bits; these are the same everywhere. Accurate to a few ulp in double, far below
// the float rounding of the activations they feed.

constexpr double ln2_hi = 6.93147180369123816490e-01;  // ln 2 with 32 low zero bits (fdlibm),
constexpr double ln2_lo = 1.90821492927058770002e-10;  // so k * ln2_hi is exact; ln 2 - ln2_hi
constexpr double inv_ln2 = 1.44269504088896338700e+00;
constexpr double sqrt2 = 1.41421356237309504880;
constexpr double sqrt1_2 = 0.70710678118654752440;  // 1 / sqrt 2
constexpr double two_over_sqrt_pi = 1.12837916709551257390;
constexpr double inv_sqrt_2pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

// 2^k for k in [-1022, 1023], from its exponent bits.
double pow2(std::int64_t k) {
    return std::bit_cast<double>(static_cast<std::uint64_t>(k + 1023) << 52);
}

// e^x. x = k ln 2 + r with |r| <= ln 2 / 2 (Cody-Waite: the reduction rounds only in its last
// subtraction), e^r by Horner on its Taylor polynomial of degree 13 (truncation below 4e-18),
// times 2^k. Below -708 the result nears the subnormal range; every caller rounds it to float,
// where it is 0 anyway, so it is 0.
double exp_ref(double x) {
    if (x != x) return x;
    if (x > 709.0) return infinity;
    if (x < -708.0) return 0.0;
    const double t = x * inv_ln2;
    const auto k = static_cast<std::int64_t>(t < 0.0 ? t - 0.5 : t + 0.5);  // nearest
    const double kd = static_cast<double>(k);
    const double r = (x - kd * ln2_hi) - kd * ln2_lo;
    // 1/n! for n = 13 down to 0; each quotient is one correctly rounded division.
    constexpr double c[] = {1.0 / 6227020800.0,
                            1.0 / 479001600.0,
                            1.0 / 39916800.0,
                            1.0 / 3628800.0,
                            1.0 / 362880.0,
                            1.0 / 40320.0,
                            1.0 / 5040.0,
                            1.0 / 720.0,
                            1.0 / 120.0,
                            1.0 / 24.0,
                            1.0 / 6.0,
                            1.0 / 2.0,
                            1.0,
                            1.0};
    double p = c[0];
    for (size_t i = 1; i < std::size(c); ++i) p = p * r + c[i];
    return p * pow2(k);
}

// ln x. x = m 2^e with m in [sqrt(1/2), sqrt 2), ln m = 2 atanh(s) with s = (m - 1) / (m + 1),
// |s| <= 0.1716, by its odd series to s^23 (truncation below 1e-19); m - 1 is exact there.
double log_ref(double x) {
    if (x != x) return x;
    if (x <= 0.0) return x == 0.0 ? -infinity : std::numeric_limits<double>::quiet_NaN();
    if (x == infinity) return x;
    std::int64_t e = 0;
    if (x < std::numeric_limits<double>::min()) {  // subnormal: scale into the normal range
        x = x * 18014398509481984.0;               // 2^54, exact
        e = -54;
    }
    const auto bits = std::bit_cast<std::uint64_t>(x);
    e += static_cast<std::int64_t>((bits >> 52) & 0x7ff) - 1023;
    double m = std::bit_cast<double>((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
    if (m > sqrt2) {
        m = m * 0.5;
        ++e;
    }
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    // atanh(s) / s = sum of z^j / (2j + 1), j = 0..11, by Horner from j = 11.
    double p = 1.0 / 23.0;
    for (int j = 10; j >= 0; --j) p = p * z + 1.0 / static_cast<double>(2 * j + 1);
    const double ln_m = (2.0 * s) * p;
    const double ed = static_cast<double>(e);
    return ed * ln2_hi + (ed * ln2_lo + ln_m);
}

// erf(x) for |x| < 1 by its Taylor series 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)), to
// n = 18 (truncation below 5e-18 at |x| = 1; the terms shrink in magnitude, so the alternating
// sum loses nothing to cancellation): coefficients of z = x^2, evaluated at compile time.
constexpr int erf_terms = 19;

constexpr std::array<double, erf_terms> erf_coefficients() {
    std::array<double, erf_terms> c{};
    double factorial = 1.0;  // n!, exact in double up to 22!
    for (int n = 0; n < erf_terms; ++n) {
        if (n > 0) factorial = factorial * n;
        const double sign = n % 2 == 0 ? 1.0 : -1.0;
        c[n] = sign / (factorial * (2 * n + 1));
    }
    return c;
}
constexpr std::array<double, erf_terms> erf_taylor = erf_coefficients();

// The standard normal's cdf Phi(u) and density phi(u) = e^(-u^2/2) / sqrt(2 pi), for the exact
// GELU u Phi(u) and its derivative Phi(u) + u phi(u); Phi(u) = (1 + erf(u / sqrt 2)) / 2. For
// 1 <= |x| < 6, erf by Kummer's series erf(x) = 2/sqrt(pi) x e^(-x^2) sum_n (2x^2)^n / (1 3 5 ...
// (2n+1)), whose terms are all positive, summed until a term no longer changes the sum; for
// |x| >= 6, erf is +-1 in double (erfc(6) = 2e-17).
struct Gaussian {
    double cdf;
    double pdf;
};

Gaussian gaussian(double u) {
    if (u != u) return {u, u};
    const double x = u * sqrt1_2;
    const double x2 = x * x;
    const double e = exp_ref(-x2);  // e^(-u^2/2)
    double erf = x < 0.0 ? -1.0 : 1.0;
    if (x2 < 1.0) {
        double p = erf_taylor[erf_terms - 1];
        for (int n = erf_terms - 2; n >= 0; --n) p = p * x2 + erf_taylor[n];
        erf = two_over_sqrt_pi * x * p;
    } else if (x2 < 36.0) {
        const double a = 2.0 * x2;
        double term = 1.0, sum = 1.0;
        // The terms peak near n = x^2 and are negligible before n = 150.
        for (int n = 1; n < 400; ++n) {
            term = term * a / static_cast<double>(2 * n + 1);
            const double next = sum + term;
            if (next == sum) break;
            sum = next;
        }
        erf = two_over_sqrt_pi * x * e * sum;
    }
    return {0.5 * (1.0 + erf), e * inv_sqrt_2pi};
}

// ---------------------------------------------------------------------------------------------
// Threads and matrix products.

// The arithmetic assumes the IEEE defaults: round to nearest, subnormals kept. The calling
// thread may have changed them (fesetround, or the flush-to-zero and denormals-are-zero bits that
// a library built with -ffast-math sets at startup), so every thread of a trace installs the
// defaults (glibc's FE_DFL_ENV clears both bits) and gives back what it found.
class DefaultFloatingPoint {
public:
    DefaultFloatingPoint() {
        std::fegetenv(&saved_);
        std::fesetenv(FE_DFL_ENV);
    }
    ~DefaultFloatingPoint() { std::fesetenv(&saved_); }
    DefaultFloatingPoint(const DefaultFloatingPoint&) = delete;
    DefaultFloatingPoint& operator=(const DefaultFloatingPoint&) = delete;

private:
    std::fenv_t saved_;
};

// Runs fn(part, begin, end) on `parts` contiguous pieces of [0, count), one thread each. Callers
// give each piece outputs that no other piece touches, computed by the same operations whatever
// the split, so the thread count never shows in the result. fn must not throw.
template <class Fn>
void parallel_for(unsigned threads, size_t count, const Fn& fn) {
    const size_t parts = std::max<size_t>(1, std::min<size_t>(threads, count));
    if (parts == 1) {
        fn(size_t{0}, size_t{0}, count);
        return;
    }
    std::vector<std::jthread> pool;
    pool.reserve(parts - 1);
    for (size_t p = 1; p < parts; ++p)
        pool.emplace_back([&fn, p, parts, count] {
            const DefaultFloatingPoint fp;
            fn(p, count * p / parts, count * (p + 1) / parts);
        });
    fn(size_t{0}, size_t{0}, count / parts);
}

// C = A B (+ bias): A is [m, k] with row stride lda, B [k, n] with row stride ldb, C [m, n]
// with row stride ldc, all float. Each C[i][j] is bias[j] (or +0) plus A[i][q] * B[q][j] for
// q = 0, 1, .., k-1 in that order, accumulated in double and rounded to float once. A product of
// two floats is exact in double, so only the additions round (and an FMA, were one contracted,
// would give the same bits).
struct MatMul {
    const float* a = nullptr;
    size_t lda = 0;
    const float* b = nullptr;
    size_t ldb = 0;
    float* c = nullptr;
    size_t ldc = 0;
    size_t m = 0, k = 0, n = 0;
    const float* bias = nullptr;
};

// The kernel works on a block of rows of C at a time, held in double, and walks the depth in
// blocks; the partial sums wait in that double block between depth blocks, so blocking changes
// where a sum waits, never its order. Within a depth block, B is widened to double once, in
// panels of 4 columns, and serves every row tile of the block; each tile's 4 rows of A are
// widened (and paired) once for all its column panels. A tile of 4 rows x 4 columns keeps its 16
// sums in 8 registers of two doubles (the x86-64 baseline has 16). GCC's vector extension
// spells the pairs out: its + and * are the IEEE operations lane by lane, and the
// auto-vectoriser would not keep so many sums in registers on its own.
constexpr size_t block_rows = 64;
constexpr size_t depth_block = 128;
constexpr size_t tile_rows = 4;
constexpr size_t tile_cols = 4;

using f64x2 = double __attribute__((vector_size(16)));

f64x2 pair(double x, double y) {
    return f64x2{x, y};
}

// Scratch of one thread: its block of sums and the widened operands.
struct MatMulScratch {
    std::vector<double> acc;  // block_rows x n
    std::vector<f64x2> b;     // panels x depth x 2: columns 4j..4j+3 of the depth block
    std::vector<f64x2> a;     // depth x 4: one tile's rows, each value as a pair
};

// acc[r * ldacc + j] += sum over the depth of a[q][r] * b[q][j], r, j < 4, in depth order.
void tile(const f64x2* a, const f64x2* b, size_t depth, double* acc, size_t ldacc) {
    double* c0 = acc;
    double* c1 = c0 + ldacc;
    double* c2 = c1 + ldacc;
    double* c3 = c2 + ldacc;
    f64x2 t00 = pair(c0[0], c0[1]), t01 = pair(c0[2], c0[3]);
    f64x2 t10 = pair(c1[0], c1[1]), t11 = pair(c1[2], c1[3]);
    f64x2 t20 = pair(c2[0], c2[1]), t21 = pair(c2[2], c2[3]);
    f64x2 t30 = pair(c3[0], c3[1]), t31 = pair(c3[2], c3[3]);
    for (size_t q = 0; q < depth; ++q, a += 4, b += 2) {
        const f64x2 b0 = b[0], b1 = b[1];
        t00 += a[0] * b0;
        t01 += a[0] * b1;
        t10 += a[1] * b0;
        t11 += a[1] * b1;
        t20 += a[2] * b0;
        t21 += a[2] * b1;
        t30 += a[3] * b0;
        t31 += a[3] * b1;
    }
    const f64x2* sums[][2] = {{&t00, &t01}, {&t10, &t11}, {&t20, &t21}, {&t30, &t31}};
    double* out[] = {c0, c1, c2, c3};
    for (size_t r = 0; r < tile_rows; ++r)
        for (size_t h = 0; h < 2; ++h) {
            out[r][2 * h] = (*sums[r][h])[0];
            out[r][2 * h + 1] = (*sums[r][h])[1];
        }
}

// Rows [begin, end) of C.
void matmul_rows(const MatMul& p, size_t begin, size_t end, MatMulScratch& scratch) {
    const size_t panels = p.n / tile_cols, wide = panels * tile_cols;
    for (size_t r0 = begin; r0 < end; r0 += block_rows) {
        const size_t r1 = std::min(end, r0 + block_rows);
        double* acc = scratch.acc.data();
        for (size_t r = 0; r < r1 - r0; ++r)
            for (size_t j = 0; j < p.n; ++j) acc[r * p.n + j] = p.bias ? p.bias[j] : 0.0;
        for (size_t q0 = 0; q0 < p.k; q0 += depth_block) {
            const size_t q1 = std::min(p.k, q0 + depth_block), depth = q1 - q0;
            for (size_t j = 0; j < panels; ++j)
                for (size_t q = 0; q < depth; ++q) {
                    const float* b = p.b + (q0 + q) * p.ldb + j * tile_cols;
                    f64x2* dst = scratch.b.data() + (j * depth + q) * 2;
                    dst[0] = pair(b[0], b[1]);
                    dst[1] = pair(b[2], b[3]);
                }
            for (size_t i0 = r0; i0 < r1; i0 += tile_rows) {
                const size_t rows = std::min(tile_rows, r1 - i0);
                double* block = acc + (i0 - r0) * p.n;
                size_t j0 = 0;
                if (rows == tile_rows) {
                    for (size_t q = 0; q < depth; ++q)
                        for (size_t r = 0; r < tile_rows; ++r) {
                            const double x = p.a[(i0 + r) * p.lda + q0 + q];
                            scratch.a[q * tile_rows + r] = pair(x, x);
                        }
                    for (size_t j = 0; j < panels; ++j)
                        tile(scratch.a.data(), scratch.b.data() + j * depth * 2, depth,
                             block + j * tile_cols, p.n);
                    j0 = wide;
                }
                // The rest (last rows, last columns): the same additions in the same order.
                for (size_t r = 0; r < rows; ++r) {
                    double* out = block + r * p.n;
                    const float* arow = p.a + (i0 + r) * p.lda;
                    for (size_t q = q0; q < q1; ++q) {
                        const double x = arow[q];
                        const float* brow = p.b + q * p.ldb;
                        for (size_t j = j0; j < p.n; ++j)
                            out[j] += x * static_cast<double>(brow[j]);
                    }
                }
            }
        }
        for (size_t r = r0; r < r1; ++r)
            for (size_t j = 0; j < p.n; ++j)
                p.c[r * p.ldc + j] = static_cast<float>(acc[(r - r0) * p.n + j]);
    }
}

void matmul(unsigned threads, const MatMul& p) {
    // Pieces start on tile boundaries only for speed; any split gives the same bits.
    const size_t tiles = (p.m + tile_rows - 1) / tile_rows;
    std::vector<MatMulScratch> scratch(std::min<size_t>(threads, std::max<size_t>(tiles, 1)));
    for (auto& s : scratch) {
        s.acc.resize(block_rows * p.n);
        s.b.resize((p.n / tile_cols) * depth_block * 2);
        s.a.resize(depth_block * tile_rows);
    }
    parallel_for(threads, tiles, [&](size_t part, size_t first, size_t last) {
        matmul_rows(p, first * tile_rows, std::min(p.m, last * tile_rows), scratch[part]);
    });
}

// The [cols, rows] transpose of a row-major [rows, cols] matrix, so that matrix products walk
// their outputs contiguously; in 32 x 32 squares, so that both sides stay in cache.
std::vector<float> transpose(const float* x, size_t rows, size_t cols) {
    constexpr size_t square = 32;
    std::vector<float> out(rows * cols);
    for (size_t i0 = 0; i0 < rows; i0 += square)
        for (size_t j0 = 0; j0 < cols; j0 += square)
            for (size_t i = i0; i < std::min(rows, i0 + square); ++i)
                for (size_t j = j0; j < std::min(cols, j0 + square); ++j)
                    out[j * rows + i] = x[i * cols + j];
    return out;
}

// Column sums of a [rows, cols] float matrix in row order, in double: a bias's gradient.
std::vector<double> column_sums(const float* x, size_t rows, size_t cols) {
    std::vector<double> sum(cols, 0.0);
    for (size_t i = 0; i < rows; ++i)
        for (size_t j = 0; j < cols; ++j) sum[j] += static_cast<double>(x[i * cols + j]);
    return sum;
}

// ---------------------------------------------------------------------------------------------
// The model's ops, forward and backward, over n = B * t token rows.

// The gradient being built, in the canonical flat layout.
struct Gradient {
    const ModelLayout* layout;
    std::vector<float> values;

    // Tensor `t`'s gradient from double sums. Adding +0 turns -0 into +0, as the trainer does.
    void set(size_t t, const std::vector<double>& sums) {
        float* out = values.data() + layout->tensors()[t].offset;
        for (size_t i = 0; i < sums.size(); ++i) out[i] = static_cast<float>(sums[i]) + 0.0f;
    }
    void set(size_t t, const std::vector<float>& v) {
        float* out = values.data() + layout->tensors()[t].offset;
        for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] + 0.0f;
    }
};

// y = x W^T + b for n rows; W is [out, in], torch's layout. Each output sums its products over
// the input features in order.
std::vector<float> linear_forward(unsigned threads, const std::vector<float>& x, size_t n,
                                  size_t in, std::span<const float> w, const float* bias,
                                  size_t out) {
    const auto wt = transpose(w.data(), out, in);  // [in, out]
    std::vector<float> y(n * out);
    matmul(threads, {x.data(), in, wt.data(), out, y.data(), out, n, in, out, bias});
    return y;
}

// Backward of y = x W^T (+ b) given dy [n, out]: dW = dy^T x and db = column sums of dy, both
// summed over the tokens in order, into the gradient of tensors `w_index` (and `w_index + 1`);
// returns dx = dy W, each summed over the outputs in order.
std::vector<float> linear_backward(unsigned threads, const std::vector<float>& dy,
                                   const std::vector<float>& x, size_t n, size_t in,
                                   std::span<const float> w, size_t out, size_t w_index,
                                   bool has_bias, Gradient& grad) {
    const auto dyt = transpose(dy.data(), n, out);  // [out, n]
    std::vector<float> dw(out * in);
    matmul(threads, {dyt.data(), n, x.data(), in, dw.data(), in, out, n, in, nullptr});
    grad.set(w_index, dw);
    if (has_bias) grad.set(w_index + 1, column_sums(dy.data(), n, out));
    std::vector<float> dx(n * in);
    matmul(threads, {dy.data(), out, w.data(), in, dx.data(), in, n, out, in, nullptr});
    return dx;
}

// LN(x) = (x - mean) / sqrt(var + eps) * g + b over each row of d features (biased variance).
// Keeps each row's mean and 1 / sqrt(var + eps) for the backward.
struct Norm {
    std::vector<float> y;
    std::vector<double> mean, rstd;
};

Norm layer_norm_forward(unsigned threads, const std::vector<float>& x, size_t n, size_t d,
                        std::span<const float> g, std::span<const float> b) {
    Norm out{std::vector<float>(n * d), std::vector<double>(n), std::vector<double>(n)};
    const double dd = static_cast<double>(d);
    parallel_for(threads, n, [&](size_t, size_t first, size_t last) {
        for (size_t r = first; r < last; ++r) {
            const float* xr = x.data() + r * d;
            double sum = 0.0;
            for (size_t i = 0; i < d; ++i) sum += static_cast<double>(xr[i]);
            const double mean = sum / dd;
            double sq = 0.0;
            for (size_t i = 0; i < d; ++i) {
                const double c = static_cast<double>(xr[i]) - mean;
                sq += c * c;
            }
            const double rstd = 1.0 / std::sqrt(sq / dd + layer_norm_eps);
            for (size_t i = 0; i < d; ++i) {
                const double xhat = (static_cast<double>(xr[i]) - mean) * rstd;
                out.y[r * d + i] = static_cast<float>(xhat * static_cast<double>(g[i]) +
                                                      static_cast<double>(b[i]));
            }
            out.mean[r] = mean;
            out.rstd[r] = rstd;
        }
    });
    return out;
}

// Backward of LN given dy: dx = rstd (dy g - mean(dy g) - xhat mean(dy g xhat)) per row, and
// the gains' and biases' gradients (sums of dy xhat and dy over the rows in order) into tensors
// g_index and g_index + 1.
std::vector<float> layer_norm_backward(unsigned threads, const std::vector<float>& dy,
                                       const std::vector<float>& x, const Norm& norm, size_t n,
                                       size_t d, std::span<const float> g, size_t g_index,
                                       Gradient& grad) {
    std::vector<float> dx(n * d);
    const double dd = static_cast<double>(d);
    auto xhat = [&](size_t r, size_t i) {
        return (static_cast<double>(x[r * d + i]) - norm.mean[r]) * norm.rstd[r];
    };
    parallel_for(threads, n, [&](size_t, size_t first, size_t last) {
        for (size_t r = first; r < last; ++r) {
            double s1 = 0.0, s2 = 0.0;
            for (size_t i = 0; i < d; ++i) {
                const double dxh = static_cast<double>(dy[r * d + i]) * static_cast<double>(g[i]);
                s1 += dxh;
                s2 += dxh * xhat(r, i);
            }
            const double m1 = s1 / dd, m2 = s2 / dd;
            for (size_t i = 0; i < d; ++i) {
                const double dxh = static_cast<double>(dy[r * d + i]) * static_cast<double>(g[i]);
                dx[r * d + i] = static_cast<float>(norm.rstd[r] * ((dxh - m1) - xhat(r, i) * m2));
            }
        }
    });
    std::vector<double> dg(d, 0.0), db(d, 0.0);
    for (size_t r = 0; r < n; ++r)
        for (size_t i = 0; i < d; ++i) {
            const double v = static_cast<double>(dy[r * d + i]);
            dg[i] += v * xhat(r, i);
            db[i] += v;
        }
    grad.set(g_index, dg);
    grad.set(g_index + 1, db);
    return dx;
}

// a + b element by element, in float, as libtorch adds a residual.
std::vector<float> add(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> out(a.size());
    for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
    return out;
}

// Causal multi-head attention over B sequences of t tokens: per sequence and head,
// s_pq = (q_p . k_q) / sqrt(hd) for q <= p, P = softmax over q, y_p = sum_q P_pq v_q. q, k and v
// are the column blocks of qkv [n, 3D] of the head (PROTOCOL.md §T.2.1); P is kept as float
// [B, H, t, t] for the backward (entries q > p are 0 and never read).
struct Shape {
    size_t batch, t, n, d, heads, hd, f, vocab;
};

// One head of one sequence, gathered into contiguous double rows.
struct HeadBuffers {
    std::vector<double> q, k, v;  // [t, hd]
    std::vector<double> kt, vt;   // [hd, t]
    std::vector<double> row, s;   // [t], [t, t]
};

void gather_head(const Shape& s, const std::vector<float>& qkv, size_t b, size_t h,
                 HeadBuffers& buf) {
    const size_t stride = 3 * s.d;
    for (size_t p = 0; p < s.t; ++p) {
        const float* r = qkv.data() + (b * s.t + p) * stride + h * s.hd;
        for (size_t i = 0; i < s.hd; ++i) {
            buf.q[p * s.hd + i] = r[i];
            buf.k[p * s.hd + i] = r[s.d + i];
            buf.v[p * s.hd + i] = r[2 * s.d + i];
            buf.kt[i * s.t + p] = r[s.d + i];
            buf.vt[i * s.t + p] = r[2 * s.d + i];
        }
    }
}

HeadBuffers head_buffers(const Shape& s) {
    const size_t th = s.t * s.hd;
    return {std::vector<double>(th),       std::vector<double>(th), std::vector<double>(th),
            std::vector<double>(th),       std::vector<double>(th), std::vector<double>(s.t),
            std::vector<double>(s.t * s.t)};
}

// row[q] = sum over i in order of x[i] * mt[i][q], for q <= p (mt is [hd, t]).
void dot_rows(const Shape& s, const double* x, const std::vector<double>& mt, size_t p,
              std::vector<double>& row) {
    std::fill(row.begin(), row.begin() + p + 1, 0.0);
    for (size_t i = 0; i < s.hd; ++i) {
        const double xi = x[i];
        const double* m = mt.data() + i * s.t;
        for (size_t q = 0; q <= p; ++q) row[q] += xi * m[q];
    }
}

void attention_forward(unsigned threads, const Shape& s, const std::vector<float>& qkv,
                       std::vector<float>& probs, std::vector<float>& y) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.hd));
    std::vector<HeadBuffers> bufs(std::min<size_t>(threads, s.batch * s.heads), head_buffers(s));
    parallel_for(threads, s.batch * s.heads, [&](size_t part, size_t first, size_t last) {
        HeadBuffers& buf = bufs[part];
        std::vector<double> out(s.hd);
        for (size_t job = first; job < last; ++job) {
            const size_t b = job / s.heads, h = job % s.heads;
            gather_head(s, qkv, b, h, buf);
            float* pj = probs.data() + job * s.t * s.t;
            for (size_t p = 0; p < s.t; ++p) {
                dot_rows(s, buf.q.data() + p * s.hd, buf.kt, p, buf.row);
                double max = -infinity;
                for (size_t q = 0; q <= p; ++q) {
                    buf.row[q] = buf.row[q] * scale;
                    max = std::max(max, buf.row[q]);
                }
                double sum = 0.0;
                for (size_t q = 0; q <= p; ++q) {
                    buf.row[q] = exp_ref(buf.row[q] - max);
                    sum += buf.row[q];
                }
                float* prow = pj + p * s.t;
                for (size_t q = 0; q < s.t; ++q)
                    prow[q] = q <= p ? static_cast<float>(buf.row[q] / sum) : 0.0f;
                std::fill(out.begin(), out.end(), 0.0);
                for (size_t q = 0; q <= p; ++q) {
                    const double pq = prow[q];
                    const double* vq = buf.v.data() + q * s.hd;
                    for (size_t i = 0; i < s.hd; ++i) out[i] += pq * vq[i];
                }
                float* yr = y.data() + (b * s.t + p) * s.d + h * s.hd;
                for (size_t i = 0; i < s.hd; ++i) yr[i] = static_cast<float>(out[i]);
            }
        }
    });
}

// Backward of the attention given dy [n, D]: with dP_pq = dy_p . v_q and
// dS_pq = P_pq (dP_pq - sum_q' P_pq' dP_pq') / sqrt(hd): dq_p = sum_q dS_pq k_q,
// dk_q = sum_p dS_pq q_p, dv_q = sum_p P_pq dy_p, each over its index in increasing order.
std::vector<float> attention_backward(unsigned threads, const Shape& s,
                                      const std::vector<float>& qkv,
                                      const std::vector<float>& probs,
                                      const std::vector<float>& dy) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.hd));
    std::vector<float> dqkv(s.n * 3 * s.d);
    std::vector<HeadBuffers> bufs(std::min<size_t>(threads, s.batch * s.heads), head_buffers(s));
    parallel_for(threads, s.batch * s.heads, [&](size_t part, size_t first, size_t last) {
        HeadBuffers& buf = bufs[part];
        std::vector<double> dyh(s.t * s.hd), acc(s.hd);
        for (size_t job = first; job < last; ++job) {
            const size_t b = job / s.heads, h = job % s.heads;
            gather_head(s, qkv, b, h, buf);
            for (size_t p = 0; p < s.t; ++p)
                for (size_t i = 0; i < s.hd; ++i)
                    dyh[p * s.hd + i] = dy[(b * s.t + p) * s.d + h * s.hd + i];
            const float* pj = probs.data() + job * s.t * s.t;
            for (size_t p = 0; p < s.t; ++p) {
                dot_rows(s, dyh.data() + p * s.hd, buf.vt, p, buf.row);  // dP_p.
                const float* prow = pj + p * s.t;
                double dot = 0.0;
                for (size_t q = 0; q <= p; ++q) dot += static_cast<double>(prow[q]) * buf.row[q];
                for (size_t q = 0; q <= p; ++q)
                    buf.s[p * s.t + q] = static_cast<double>(prow[q]) * (buf.row[q] - dot) * scale;
            }
            auto store = [&](size_t p, size_t column) {
                float* r = dqkv.data() + (b * s.t + p) * 3 * s.d + column + h * s.hd;
                for (size_t i = 0; i < s.hd; ++i) r[i] = static_cast<float>(acc[i]);
            };
            for (size_t p = 0; p < s.t; ++p) {  // dq_p
                std::fill(acc.begin(), acc.end(), 0.0);
                for (size_t q = 0; q <= p; ++q) {
                    const double ds = buf.s[p * s.t + q];
                    const double* kq = buf.k.data() + q * s.hd;
                    for (size_t i = 0; i < s.hd; ++i) acc[i] += ds * kq[i];
                }
                store(p, 0);
            }
            for (size_t q = 0; q < s.t; ++q) {  // dk_q
                std::fill(acc.begin(), acc.end(), 0.0);
                for (size_t p = q; p < s.t; ++p) {
                    const double ds = buf.s[p * s.t + q];
                    const double* qp = buf.q.data() + p * s.hd;
                    for (size_t i = 0; i < s.hd; ++i) acc[i] += ds * qp[i];
                }
                store(q, s.d);
            }
            for (size_t q = 0; q < s.t; ++q) {  // dv_q
                std::fill(acc.begin(), acc.end(), 0.0);
                for (size_t p = q; p < s.t; ++p) {
                    const double pq = pj[p * s.t + q];
                    const double* dp = dyh.data() + p * s.hd;
                    for (size_t i = 0; i < s.hd; ++i) acc[i] += pq * dp[i];
                }
                store(q, 2 * s.d);
            }
        }
    });
    return dqkv;
}

// GELU(u) = u Phi(u) (exact, not the tanh form), and its derivative Phi(u) + u phi(u) as float,
// kept for the backward du = dg * GELU'(u) (the erf and exp are the cost of the MLP's
// elementwise part, so they are evaluated once).
struct Gelu {
    std::vector<float> g, slope;
};

Gelu gelu_forward(unsigned threads, const std::vector<float>& u) {
    Gelu out{std::vector<float>(u.size()), std::vector<float>(u.size())};
    parallel_for(threads, u.size(), [&](size_t, size_t first, size_t last) {
        for (size_t i = first; i < last; ++i) {
            const double x = u[i];
            const Gaussian n = gaussian(x);
            out.g[i] = static_cast<float>(x * n.cdf);
            out.slope[i] = static_cast<float>(n.cdf + x * n.pdf);
        }
    });
    return out;
}

std::vector<float> gelu_backward(const std::vector<float>& slope, const std::vector<float>& dg) {
    std::vector<float> du(slope.size());
    for (size_t i = 0; i < du.size(); ++i)
        du[i] = static_cast<float>(static_cast<double>(dg[i]) * static_cast<double>(slope[i]));
    return du;
}

// Mean cross-entropy of logits [n, V] against the targets, and its gradient
// (softmax - onehot) / n: per row, lse = max + ln sum_v e^(l_v - max), loss_r = lse - l_target;
// the mean sums the rows in order.
struct Loss {
    double mean = 0.0;
    std::vector<float> dlogits;
};

Loss cross_entropy(unsigned threads, const std::vector<float>& logits,
                   const std::vector<std::uint8_t>& targets, size_t n, size_t vocab) {
    Loss out{0.0, std::vector<float>(n * vocab)};
    std::vector<double> row_loss(n);
    const double count = static_cast<double>(n);
    parallel_for(threads, n, [&](size_t, size_t first, size_t last) {
        std::vector<double> e(vocab);
        for (size_t r = first; r < last; ++r) {
            const float* l = logits.data() + r * vocab;
            double max = -infinity;
            for (size_t v = 0; v < vocab; ++v) max = std::max(max, static_cast<double>(l[v]));
            double sum = 0.0;
            for (size_t v = 0; v < vocab; ++v) {
                e[v] = exp_ref(static_cast<double>(l[v]) - max);
                sum += e[v];
            }
            const size_t y = targets[r];
            row_loss[r] = (max + log_ref(sum)) - static_cast<double>(l[y]);
            for (size_t v = 0; v < vocab; ++v) {
                const double p = e[v] / sum;
                out.dlogits[r * vocab + v] = static_cast<float>((v == y ? p - 1.0 : p) / count);
            }
        }
    });
    double total = 0.0;
    for (double l : row_loss) total += l;
    out.mean = total / count;
    return out;
}

// ---------------------------------------------------------------------------------------------
// The traced micro-batch.

// Activations of one layer (PROTOCOL.md §T.9.2); its residual streams are in Forward::residual.
struct Layer {
    Norm ln1, ln2;           // a = LN(h; ln1), a = LN(h; ln2)
    std::vector<float> qkv;  // [n, 3D]
    std::vector<float> probs;
    std::vector<float> y;  // heads' output [n, D]
    std::vector<float> u;  // fc output, before GELU [n, F]
    Gelu gelu;             // GELU(u) and its slope
};

struct Forward {
    std::vector<float> ids;  // the input token ids as f32 [B, t]
    std::vector<std::uint8_t> targets;
    // residual[0] = the embedding's output; residual[2l + 1] after layer l's attention,
    // residual[2l + 2] after its MLP.
    std::vector<std::vector<float>> residual;
    std::vector<Layer> layers;
    Norm ln_f;
    std::vector<float> logits;
};

Forward forward(unsigned threads, const Shape& s, const ModelWeights& w, const Batch& batch) {
    const std::uint32_t layers = w.layout.config().layers;
    Forward f;
    f.ids.resize(s.n);
    f.targets.resize(s.n);
    f.residual.resize(2 * size_t{layers} + 1);
    std::vector<float>& x0 = f.residual[0];
    x0.resize(s.n * s.d);
    const auto tok = w.tensor(0), pos = w.tensor(1);
    for (size_t b = 0; b < s.batch; ++b)
        for (size_t p = 0; p < s.t; ++p) {
            const size_t r = b * s.t + p;
            const std::uint8_t id = batch.sequence(b)[p];
            f.ids[r] = static_cast<float>(id);
            f.targets[r] = batch.sequence(b)[p + 1];
            for (size_t i = 0; i < s.d; ++i) x0[r * s.d + i] = tok[id * s.d + i] + pos[p * s.d + i];
        }
    for (std::uint32_t l = 0; l < layers; ++l) {
        auto t = [&](size_t i) { return w.tensor(ModelLayout::layer_tensor(l, i)); };
        Layer& a = f.layers.emplace_back();
        const auto& h = f.residual[2 * l];
        a.ln1 = layer_norm_forward(threads, h, s.n, s.d, t(0), t(1));
        a.qkv = linear_forward(threads, a.ln1.y, s.n, s.d, t(2), t(3).data(), 3 * s.d);
        a.probs.resize(s.batch * s.heads * s.t * s.t);
        a.y.resize(s.n * s.d);
        attention_forward(threads, s, a.qkv, a.probs, a.y);
        f.residual[2 * l + 1] =
            add(h, linear_forward(threads, a.y, s.n, s.d, t(4), t(5).data(), s.d));
        const auto& h2 = f.residual[2 * l + 1];
        a.ln2 = layer_norm_forward(threads, h2, s.n, s.d, t(6), t(7));
        a.u = linear_forward(threads, a.ln2.y, s.n, s.d, t(8), t(9).data(), s.f);
        a.gelu = gelu_forward(threads, a.u);
        f.residual[2 * l + 2] =
            add(h2, linear_forward(threads, a.gelu.g, s.n, s.f, t(10), t(11).data(), s.d));
    }
    const size_t last = w.layout.tensors().size();
    f.ln_f = layer_norm_forward(threads, f.residual.back(), s.n, s.d, w.tensor(last - 3),
                                w.tensor(last - 2));
    f.logits = linear_forward(threads, f.ln_f.y, s.n, s.d, w.tensor(last - 1), nullptr, s.vocab);
    return f;
}

// The op that uses canonical tensor t, numbered as the trainer numbers them: 0 the embedding,
// then per layer ln1, qkv, attn.proj, ln2, fc, mlp.proj, then ln_f and lm_head.
size_t op_of_tensor(size_t t, std::uint32_t layers) {
    if (t < 2) return 0;
    const size_t per_layer = ModelLayout::tensors_per_layer();
    if (t < 2 + per_layer * layers) return 1 + (t - 2) / 2;
    return t == 4 + per_layer * layers ? 2 + 6 * size_t{layers} : 1 + 6 * size_t{layers};
}

// The input and output activation of op `op`.
std::pair<const std::vector<float>*, const std::vector<float>*> op_activations(const Forward& f,
                                                                               size_t op) {
    const size_t layers = f.layers.size();
    if (op == 0) return {&f.ids, &f.residual[0]};
    if (op == 1 + 6 * layers) return {&f.residual.back(), &f.ln_f.y};
    if (op == 2 + 6 * layers) return {&f.ln_f.y, &f.logits};
    const size_t l = (op - 1) / 6;
    const Layer& a = f.layers[l];
    switch ((op - 1) % 6) {
        case 0:
            return {&f.residual[2 * l], &a.ln1.y};
        case 1:
            return {&a.ln1.y, &a.qkv};
        case 2:
            return {&a.y, &f.residual[2 * l + 1]};
        case 3:
            return {&f.residual[2 * l + 1], &a.ln2.y};
        case 4:
            return {&a.ln2.y, &a.u};
        default:
            return {&a.gelu.g, &f.residual[2 * l + 2]};
    }
}

// A count-sketch (one block) of `count` values read as `rows` runs of `width` floats `stride`
// apart, laid end to end: column slices are sketched in place, in the order of a contiguous copy.
struct Part {
    const float* data;
    size_t rows, width, stride;
};

void sketch_parts(std::initializer_list<Part> parts, const Hash256& seed, std::uint32_t m,
                  std::vector<float>& out) {
    std::vector<double> acc(m, 0.0);
    std::uint64_t first = 0;
    for (const Part& part : parts)
        for (size_t r = 0; r < part.rows; ++r) {
            sketch_accumulate({part.data + r * part.stride, part.width}, seed, first, acc);
            first += part.width;
        }
    out.assign(acc.begin(), acc.end());
}

void sketch_whole(const std::vector<float>& v, const Hash256& seed, std::uint32_t m,
                  std::vector<float>& out) {
    sketch_parts({Part{v.data(), 1, v.size(), v.size()}}, seed, m, out);
}

// A NaN's payload and sign depend on the CPU (x86 makes negative ones, ARM positive ones), so
// the outputs carry one NaN: it only ever says "not finite", which every comparison rejects.
void canonical_nans(std::vector<float>& v) {
    for (float& x : v)
        if (x != x) x = std::numeric_limits<float>::quiet_NaN();
}

void canonical_nans(MicroBatchTrace& trace) {
    if (trace.loss != trace.loss) trace.loss = std::numeric_limits<double>::quiet_NaN();
    canonical_nans(trace.gradient);
    for (auto& pair : trace.forward) {
        canonical_nans(pair.in);
        canonical_nans(pair.out);
    }
    for (auto& pair : trace.attention) {
        canonical_nans(pair.in);
        canonical_nans(pair.out);
    }
    for (auto& in : trace.backward) canonical_nans(in);
}

bool same_shapes(const ModelLayout& a, const ModelLayout& b) {
    if (a.tensors().size() != b.tensors().size()) return false;
    for (size_t i = 0; i < a.tensors().size(); ++i)
        if (a.tensors()[i].shape != b.tensors()[i].shape) return false;
    return true;
}

}  // namespace

Result<ReferenceTracer> ReferenceTracer::create(const ModelConfig& config, unsigned threads) {
    auto layout = ModelLayout::from_config(config);
    if (!layout) return layout.error();
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    return ReferenceTracer(std::move(layout).value(), threads);
}

Result<MicroBatchTrace> ReferenceTracer::trace(const ModelWeights& weights, const Batch& batch,
                                               const TraceSpec& spec) {
    const auto& c = layout_.config();
    if (!same_shapes(weights.layout, layout_) || weights.values.size() != layout_.parameter_count())
        return make_error(ErrorKind::local, "arbiter-weights-mismatch",
                          "weights do not have the arbiter's layout");
    if (batch.size == 0 || batch.context == 0 || batch.context > c.context ||
        batch.tokens.size() != std::uint64_t{batch.size} * (batch.context + 1))
        return make_error(ErrorKind::local, "arbiter-batch-invalid",
                          "batch shape does not fit the model");
    for (auto token : batch.tokens)
        if (token >= c.vocab_size)
            return make_error(ErrorKind::local, "arbiter-batch-invalid",
                              "token outside the vocabulary");
    if (spec.plan == nullptr)
        return make_error(ErrorKind::local, "arbiter-trace-invalid", "no unit plan");
    const UnitPlan& plan = *spec.plan;
    if (plan.layers() != c.layers || plan.head_groups() == 0 || c.heads % plan.head_groups() != 0 ||
        plan.sketch_rows() == 0 || plan.sections().empty() ||
        plan.sections().back().end_tensor != layout_.tensors().size())
        return make_error(ErrorKind::local, "arbiter-trace-invalid",
                          "unit plan does not fit the model");

    const Shape s{batch.size,
                  batch.context,
                  size_t{batch.size} * batch.context,
                  c.width,
                  c.heads,
                  size_t{c.width} / c.heads,
                  size_t{c.mlp_ratio} * c.width,
                  c.vocab_size};
    const std::uint32_t m = plan.sketch_rows();
    const size_t k = plan.sections().size();
    const unsigned threads = threads_;
    try {
        const DefaultFloatingPoint fp;
        MicroBatchTrace trace;
        trace.tokens = batch.target_count();
        trace.forward.resize(k);
        trace.attention.resize(plan.attention_units());
        trace.backward.resize(k);
        auto seed = [&](UnitKind kind, size_t index, SketchSlot slot) {
            return activation_sketch_seed(spec.contribution_seed, kind,
                                          static_cast<std::uint32_t>(index), slot);
        };

        const Forward f = forward(threads, s, weights, batch);
        for (size_t j = 0; j < k; ++j) {
            const auto& section = plan.sections()[j];
            sketch_whole(*op_activations(f, op_of_tensor(section.first_tensor, c.layers)).first,
                         seed(UnitKind::forward, j, SketchSlot::input), m, trace.forward[j].in);
            sketch_whole(*op_activations(f, op_of_tensor(section.end_tensor - 1, c.layers)).second,
                         seed(UnitKind::forward, j, SketchSlot::output), m, trace.forward[j].out);
        }
        const size_t groups = plan.head_groups(), width = s.d / groups;
        for (std::uint32_t l = 0; l < c.layers; ++l)
            for (size_t g = 0; g < groups; ++g) {
                const size_t index = l * groups + g;
                const float* qkv = f.layers[l].qkv.data() + g * width;
                sketch_parts({{qkv, s.n, width, 3 * s.d},
                              {qkv + s.d, s.n, width, 3 * s.d},
                              {qkv + 2 * s.d, s.n, width, 3 * s.d}},
                             seed(UnitKind::attention, index, SketchSlot::input), m,
                             trace.attention[index].in);
                sketch_parts({{f.layers[l].y.data() + g * width, s.n, width, s.d}},
                             seed(UnitKind::attention, index, SketchSlot::output), m,
                             trace.attention[index].out);
            }

        // The backward pass, op by op from the loss. `emit` sketches the gradient of an op's
        // output (complete once every use of it has contributed) for the sections ending there.
        auto emit = [&](size_t op, const std::vector<float>& gradient) {
            for (size_t j = 0; j < k; ++j)
                if (op_of_tensor(plan.sections()[j].end_tensor - 1, c.layers) == op)
                    sketch_whole(gradient, seed(UnitKind::backward, j, SketchSlot::input), m,
                                 trace.backward[j]);
        };
        Gradient grad{&layout_, std::vector<float>(layout_.parameter_count(), 0.0f)};
        const size_t last = layout_.tensors().size(), layers = c.layers;

        Loss loss = cross_entropy(threads, f.logits, f.targets, s.n, s.vocab);
        trace.loss = loss.mean;
        emit(2 + 6 * layers, loss.dlogits);
        const auto dhf = linear_backward(threads, loss.dlogits, f.ln_f.y, s.n, s.d,
                                         weights.tensor(last - 1), s.vocab, last - 1, false, grad);
        loss = {};
        emit(1 + 6 * layers, dhf);
        std::vector<float> dres =
            layer_norm_backward(threads, dhf, f.residual.back(), f.ln_f, s.n, s.d,
                                weights.tensor(last - 3), last - 3, grad);
        for (size_t l = layers; l-- > 0;) {
            const Layer& a = f.layers[l];
            auto index = [&](size_t i) { return ModelLayout::layer_tensor(l, i); };
            auto t = [&](size_t i) { return weights.tensor(index(i)); };
            emit(6 + 6 * l, dres);  // residual after the MLP
            const auto dg = linear_backward(threads, dres, a.gelu.g, s.n, s.f, t(10), s.d,
                                            index(10), true, grad);
            const auto du = gelu_backward(a.gelu.slope, dg);
            emit(5 + 6 * l, du);
            const auto dh2 =
                linear_backward(threads, du, a.ln2.y, s.n, s.d, t(8), s.f, index(8), true, grad);
            emit(4 + 6 * l, dh2);
            // The residual after the attention feeds LN2 and the MLP's skip connection.
            dres = add(dres, layer_norm_backward(threads, dh2, f.residual[2 * l + 1], a.ln2, s.n,
                                                 s.d, t(6), index(6), grad));
            emit(3 + 6 * l, dres);
            const auto dy =
                linear_backward(threads, dres, a.y, s.n, s.d, t(4), s.d, index(4), true, grad);
            const auto dqkv = attention_backward(threads, s, a.qkv, a.probs, dy);
            emit(2 + 6 * l, dqkv);
            const auto dh1 = linear_backward(threads, dqkv, a.ln1.y, s.n, s.d, t(2), 3 * s.d,
                                             index(2), true, grad);
            emit(1 + 6 * l, dh1);
            dres = add(dres, layer_norm_backward(threads, dh1, f.residual[2 * l], a.ln1, s.n, s.d,
                                                 t(0), index(0), grad));
        }
        emit(0, dres);  // the embedding's output

        // Embedding: each token's row gathers the rows of its occurrences, each position's row
        // the sequences' rows at that position, in token order. Positions >= t stay 0.
        std::vector<double> dtok(size_t{s.vocab} * s.d, 0.0);
        std::vector<double> dpos(size_t{c.context} * s.d, 0.0);
        for (size_t r = 0; r < s.n; ++r) {
            const size_t id = static_cast<size_t>(f.ids[r]), p = r % s.t;
            for (size_t i = 0; i < s.d; ++i) {
                const double v = dres[r * s.d + i];
                dtok[id * s.d + i] += v;
                dpos[p * s.d + i] += v;
            }
        }
        grad.set(0, dtok);
        grad.set(1, dpos);
        trace.gradient = std::move(grad.values);
        canonical_nans(trace);
        return trace;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "arbiter-error", e.what());
    }
}

TracerFactory reference_tracer_factory(const ModelConfig& config, unsigned threads) {
    return [config, threads]() -> Result<std::unique_ptr<Tracer>> {
        auto tracer = ReferenceTracer::create(config, threads);
        if (!tracer) return tracer.error();
        return std::unique_ptr<Tracer>(
            std::make_unique<ReferenceTracer>(std::move(tracer).value()));
    };
}

}  // namespace learnchain::consensus
