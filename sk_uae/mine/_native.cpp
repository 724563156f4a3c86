// MINE training steps of per-sample statistics networks, one network at a time.
//
// The same step as FusedStatisticsNetworks.train (two dense layers per branch,
// composed; sum of the branches; ReLU; output weights; the Donsker-Varadhan
// bound; torch's Adam update, ascending), one network at a time, so that its
// working set (pairs, weights, moments, intermediates) stays in a core's
// caches where it fits (at the default sizes, not at the reference's).
// Written for the compiler to vectorise: every matrix product is a sum of
// rows, accumulated in register tiles of a few rows by a few vectors (tile);
// the dot products left are the short ones of the biases and output layer.
// No torch headers: the library is built with the system's C++ compiler and
// called through ctypes on the tensors' memory.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <thread>
#include <vector>

namespace {

// Vectors of the GCC/Clang vector extension as wide as the instruction set
// the library is built for (its -march: the compiler's predefined macros):
// 64 bytes with AVX-512 (32 vector registers), 32 with AVX/AVX2 (16
// registers), 16 otherwise (the SSE baseline of x86-64, 16 registers; NEON).
// A vector wider than the hardware's is split by the compiler into several
// registers, so a tile sized for AVX-512 would spill on AVX2 and SSE.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kRegisters = 32;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kRegisters = 16;
#elif defined(__aarch64__)
constexpr int kVecBytes = 16;
constexpr int kRegisters = 32;
#else
constexpr int kVecBytes = 16;
constexpr int kRegisters = 16;
#endif
// the tiles of comb_rows: rows x vectors of accumulators, about 20 where
// there are 32 registers, 12 where there are 16, leaving room for the loads
// of a row of the source and the broadcast coefficient
constexpr int kTile4 = kRegisters >= 32 ? 5 : 3;    // rows of a 4-vector tile
constexpr int kTile2 = kRegisters >= 32 ? 10 : 6;   // rows of a 2-vector tile
constexpr int kTile1 = kRegisters >= 32 ? 20 : 12;  // rows of a 1-vector tile

typedef float VecF __attribute__((vector_size(kVecBytes)));
typedef double VecD __attribute__((vector_size(kVecBytes)));
template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  using type = VecF;
};
template <>
struct VecOf<double> {
  using type = VecD;
};
template <typename T>
using Vec = typename VecOf<T>::type;

template <typename T>
inline Vec<T> load(const T* p) {
  static_assert(sizeof(Vec<T>) == kVecBytes, "vectors of the instruction set");
  Vec<T> v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
inline void store(T* p, Vec<T> v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

// out[0:n] = init + sum_r coef[r * cs] * src[r * ss + 0:n]
template <typename T>
inline void comb(T* __restrict out, int n, const T* __restrict coef, int cs,
                 const T* __restrict src, int ss, int count, T init) {
  constexpr int V = kVecBytes / sizeof(T);
  int q0 = 0;
  for (; q0 + 4 * V <= n; q0 += 4 * V) {
    Vec<T> a0 = init - Vec<T>{}, a1 = a0, a2 = a0, a3 = a0;
    for (int r = 0; r < count; r++) {
      const T w = coef[r * cs];
      const T* s = src + r * ss + q0;
      a0 += w * load(s);
      a1 += w * load(s + V);
      a2 += w * load(s + 2 * V);
      a3 += w * load(s + 3 * V);
    }
    store(out + q0, a0);
    store(out + q0 + V, a1);
    store(out + q0 + 2 * V, a2);
    store(out + q0 + 3 * V, a3);
  }
  for (; q0 + V <= n; q0 += V) {
    Vec<T> a0 = init - Vec<T>{};
    for (int r = 0; r < count; r++) a0 += coef[r * cs] * load(src + r * ss + q0);
    store(out + q0, a0);
  }
  if (q0 < n && n >= V) {
    // the last V columns, overlapping the ones done: the same sums, recomputed
    q0 = n - V;
    Vec<T> a0 = init - Vec<T>{};
    for (int r = 0; r < count; r++) a0 += coef[r * cs] * load(src + r * ss + q0);
    store(out + q0, a0);
    return;
  }
  for (; q0 < n; q0++) {
    T acc = init;
    for (int r = 0; r < count; r++) acc += coef[r * cs] * src[r * ss + q0];
    out[q0] = acc;
  }
}

// A register tile: out[i][0:NV * V] for i < R, sharing every load of src
// between the R rows; R * NV accumulators (kTile*: about 20 of AVX-512's 32
// vector registers, 12 of AVX2's or SSE's 16) fill most of the registers
// without spilling, which is what keeps the FMA units busy
template <typename T, int R, int NV>
inline void tile(T* __restrict out, int os, const T* __restrict coef, int rs, int cs,
                 const T* __restrict src, int ss, int count, const T* init) {
  constexpr int V = kVecBytes / sizeof(T);
  Vec<T> acc[R][NV];
#pragma GCC unroll 32
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = (init ? init[i] : T(0)) - Vec<T>{};
  for (int r = 0; r < count; r++) {
    const T* s = src + r * ss;
    Vec<T> sv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) sv[v] = load(s + v * V);
#pragma GCC unroll 32
    for (int i = 0; i < R; i++) {
      const T w = coef[i * rs + r * cs];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] += w * sv[v];
    }
  }
#pragma GCC unroll 32
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) store(out + i * os + v * V, acc[i][v]);
}

// the last rows < R of a column block, as one smaller tile
template <typename T, int R, int NV>
inline void tile_tail(int left, T* __restrict out, int os, const T* __restrict coef, int rs,
                      int cs, const T* __restrict src, int ss, int count, const T* init) {
  if constexpr (R > 0) {
    if (left == R)
      tile<T, R, NV>(out, os, coef, rs, cs, src, ss, count, init);
    else
      tile_tail<T, R - 1, NV>(left, out, os, coef, rs, cs, src, ss, count, init);
  }
}

template <typename T, int R, int NV>
inline void tile_rows(T* __restrict out, int os, const T* __restrict coef, int rs, int cs,
                      const T* __restrict src, int ss, int count, const T* init, int n_rows) {
  int i = 0;
  for (; i + R <= n_rows; i += R)
    tile<T, R, NV>(out + i * os, os, coef + i * rs, rs, cs, src, ss, count,
                   init ? init + i : nullptr);
  if (i < n_rows)
    tile_tail<T, R - 1, NV>(n_rows - i, out + i * os, os, coef + i * rs, rs, cs, src, ss, count,
                            init ? init + i : nullptr);
}

// rows i < n_rows: out[i * os + 0:n] = init[i] + sum_r coef[i * rs + r * cs] * src[r * ss + 0:n]
// (init null: 0), in column blocks of 4, 2 and 1 vectors
template <typename T>
inline void comb_rows(T* __restrict out, int os, int n, const T* __restrict coef, int rs,
                      int cs, const T* __restrict src, int ss, int count, const T* init,
                      int n_rows) {
  constexpr int V = kVecBytes / sizeof(T);
  if (n < V) {
    for (int i = 0; i < n_rows; i++)
      comb<T>(out + i * os, n, coef + i * rs, cs, src, ss, count, init ? init[i] : T(0));
    return;
  }
  int q0 = 0;
  for (; kTile4 > 0 && q0 + 4 * V <= n; q0 += 4 * V)
    tile_rows<T, (kTile4 > 0 ? kTile4 : 1), 4>(out + q0, os, coef, rs, cs, src + q0, ss, count, init, n_rows);
  for (; q0 + 2 * V <= n; q0 += 2 * V)
    tile_rows<T, kTile2, 2>(out + q0, os, coef, rs, cs, src + q0, ss, count, init, n_rows);
  if (q0 + V <= n) {
    tile_rows<T, kTile1, 1>(out + q0, os, coef, rs, cs, src + q0, ss, count, init, n_rows);
    q0 += V;
  }
  if (q0 < n)  // the last V columns, overlapping the ones done: the same sums, recomputed
    tile_rows<T, kTile1, 1>(out + n - V, os, coef, rs, cs, src + n - V, ss, count, init, n_rows);
}

template <typename T>
inline T dot(const T* __restrict a, const T* __restrict b, int n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int j = 0; j < n; j++) acc += a[j] * b[j];
  return acc;
}

template <typename T>
inline T sum(const T* __restrict a, int n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int j = 0; j < n; j++) acc += a[j];
  return acc;
}

// r[0:n] = r > 0 ? w * t : 0, a select of whole vectors: written as a
// scalar loop, the compilers keep a branch per element where there are no
// AVX-512 masks (mispredicted half the time: most of the step with AVX2)
template <typename T>
inline void relu_back(T* __restrict r, const T* __restrict t, T w, int n) {
  constexpr int V = kVecBytes / sizeof(T);
  int k = 0;
  for (; k + V <= n; k += V) {
    const Vec<T> rv = load(r + k);
    const Vec<T> g = w * load(t + k);
    store(r + k, rv > Vec<T>{} ? g : Vec<T>{});
  }
  for (; k < n; k++) r[k] = r[k] > 0 ? w * t[k] : T(0);
}

struct Layout {
  int K, p, h1, h2;
};

// Pointers of one network: per parameter tensor, both branches side by side.
template <typename T>
struct Net {
  T *w1t, *b1, *w2t, *b2, *wout;  // (2, h1, p), (2, h1), (2, h2, h1), (2, h2), (h2,)
};

template <typename T>
inline Net<T> net_at(T* const* base, const Layout& d, int64_t i) {
  return {base[0] + i * 2 * d.h1 * d.p, base[1] + i * 2 * d.h1, base[2] + i * 2 * d.h2 * d.h1,
          base[3] + i * 2 * d.h2, base[4] + i * d.h2};
}

template <typename T>
struct Work {
  static constexpr int V = kVecBytes / sizeof(T);
  int h2v;  // h2 rounded up to whole vectors
  std::vector<T> xt, gpt, gw2, pt, c, h, r, t, gh, gp, grad;
  explicit Work(const Layout& d, int n_params)
      : h2v((d.h2 + V - 1) / V * V),
        xt(2 * d.p * d.K),
        gpt(d.p * h2v),  // the padding columns stay zero
        gw2(d.h1 * h2v),
        pt(2 * d.h2 * d.p),
        c(2 * d.h2),
        h(2 * d.h2 * d.K),
        r(d.h2 * 2 * d.K),
        t(2 * d.K),
        gh(2 * d.h2 * d.K),
        gp(2 * d.h2 * d.p),
        grad(n_params) {}
};

// One step of one network: returns the bound before the update; the gradient
// is written into w.grad in the parameters' order (w1t, b1, w2t, b2, wout),
// or, with grad_b, the gradient in the x' side of the pairs (K, p) into
// grad_b instead.
template <typename T>
T bound_and_grad(const Layout& d, const Net<T>& net, const T* x, Work<T>& w,
                 const int32_t* perm, const int32_t* inverse, T* grad_b = nullptr) {
  const int K = d.K, p = d.p, h1 = d.h1, h2 = d.h2;
  for (int s = 0; s < 2; s++) {
    const T* w1t = net.w1t + s * h1 * p;
    const T* b1 = net.b1 + s * h1;
    const T* w2t = net.w2t + s * h2 * h1;
    const T* b2 = net.b2 + s * h2;
    T* pt = w.pt.data() + s * h2 * p;
    T* cs = w.c.data() + s * h2;
    T* hs = w.h.data() + s * h2 * K;
    const T* xt = w.xt.data() + s * p * K;
    comb_rows<T>(pt, p, p, w2t, h1, 1, w1t, p, h1, nullptr, h2);
    for (int i = 0; i < h2; i++) cs[i] = b2[i] + dot<T>(w2t + i * h1, b1, h1);
    comb_rows<T>(hs, K, K, pt, p, 1, xt, K, p, cs, h2);
  }
  const T* ha = w.h.data();
  const T* hb = ha + h2 * K;
  T* t = w.t.data();
  for (int k = 0; k < 2 * K; k++) t[k] = 0;
  for (int i = 0; i < h2; i++) {
    T* r = w.r.data() + i * 2 * K;
    const T* a = ha + i * K;
    const T* b = hb + i * K;
    for (int k = 0; k < K; k++) {
      const T u = a[k] + b[k];
      r[k] = u > 0 ? u : T(0);
    }
    for (int k = 0; k < K; k++) {
      const T u = a[k] + b[perm[k]];
      r[K + k] = u > 0 ? u : T(0);
    }
    const T wi = net.wout[i];
    for (int k = 0; k < 2 * K; k++) t[k] += wi * r[k];
  }
  T top = t[K];
  for (int k = K + 1; k < 2 * K; k++) top = t[k] > top ? t[k] : top;
  const T joint = sum<T>(t, K) / K;
  T total = 0;
  for (int k = K; k < 2 * K; k++) {
    t[k] = std::exp(t[k] - top);
    total += t[k];
  }
  const T mi = joint - (std::log(total) + top - std::log(T(K)));
  // t becomes d mi / d t over the joint and the shuffled statistics
  for (int k = 0; k < K; k++) t[k] = T(1) / K;
  for (int k = K; k < 2 * K; k++) t[k] = -t[k] / total;

  const int nb = 2 * h1 * p;  // offsets of the gradient's parts
  T* g_w1t = w.grad.data();
  T* g_b1 = g_w1t + nb;
  T* g_w2t = g_b1 + 2 * h1;
  T* g_b2 = g_w2t + 2 * h2 * h1;
  T* g_wout = g_b2 + 2 * h2;
  T* gha = w.gh.data();
  T* ghb = gha + h2 * K;
  for (int i = 0; i < h2; i++) {
    T* r = w.r.data() + i * 2 * K;
    g_wout[i] = dot<T>(r, t, 2 * K);
    relu_back<T>(r, t, net.wout[i], 2 * K);
    T* ga = gha + i * K;
    T* gb = ghb + i * K;
    for (int k = 0; k < K; k++) ga[k] = r[k] + r[K + k];
    for (int k = 0; k < K; k++) gb[k] = r[k] + r[K + inverse[k]];
  }
  if (grad_b != nullptr) {  // d mi / d b[k, :] = sum_i ghb[i, k] * P_b^T[i, :]
    const T* pb = w.pt.data() + h2 * p;
    comb_rows<T>(grad_b, p, p, ghb, 1, K, pb, p, h2, nullptr, K);
    return mi;
  }
  for (int s = 0; s < 2; s++) {
    const T* w1t = net.w1t + s * h1 * p;
    const T* b1 = net.b1 + s * h1;
    const T* w2t = net.w2t + s * h2 * h1;
    const T* xs = x + s * K * p;
    const T* gh = w.gh.data() + s * h2 * K;
    T* gp = w.gp.data() + s * h2 * p;
    T* gb2 = g_b2 + s * h2;
    T* gw2t = g_w2t + s * h2 * h1;
    comb_rows<T>(gp, p, p, gh, K, 1, xs, p, K, nullptr, h2);
    for (int i = 0; i < h2; i++) gb2[i] = sum<T>(gh + i * K, K);
    // gw2t^T = w1t gp^T as sums of the rows of gp^T, padded to whole vectors:
    // h1 rows of one or two vectors and no horizontal reductions, where
    // gw2t = gp w1t^T would be h2 * h1 short dot products
    T* gpt = w.gpt.data();
    T* gw2 = w.gw2.data();
    for (int j = 0; j < p; j++)
      for (int i = 0; i < h2; i++) gpt[j * w.h2v + i] = gp[i * p + j];
    comb_rows<T>(gw2, w.h2v, w.h2v, w1t, p, 1, gpt, w.h2v, p, nullptr, h1);
    for (int i = 0; i < h2; i++)
      for (int l = 0; l < h1; l++) gw2t[i * h1 + l] = gw2[l * w.h2v + i] + gb2[i] * b1[l];
    comb_rows<T>(g_w1t + s * h1 * p, p, p, w2t, 1, h1, gp, p, h2, nullptr, h1);
    comb<T>(g_b1 + s * h1, h1, gb2, 1, w2t, h1, h2, T(0));
  }
  return mi;
}

// torch.optim.Adam(maximize=True)'s update of one contiguous part
template <typename T>
inline void adam(T* __restrict param, const T* __restrict grad, T* __restrict m, T* __restrict v,
                 int n, T lr, T beta1, T beta2, T eps, int64_t step) {
  const double bc1 = 1.0 - std::pow(double(beta1), double(step));
  const T bc2_sqrt = T(std::sqrt(1.0 - std::pow(double(beta2), double(step))));
  const T step_size = T(double(lr) / bc1);
#pragma omp simd
  for (int j = 0; j < n; j++) {
    const T g = -grad[j];
    m[j] += (g - m[j]) * (T(1) - beta1);
    v[j] = beta2 * v[j] + (T(1) - beta2) * g * g;
    param[j] -= step_size * m[j] / (std::sqrt(v[j]) / bc2_sqrt + eps);
  }
}

template <typename T>
inline void transpose_pairs(const Layout& d, const T* x, Work<T>& w) {
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < d.K; k++)
      for (int j = 0; j < d.p; j++) w.xt[(s * d.p + j) * d.K + k] = x[(s * d.K + k) * d.p + j];
}

template <typename T>
int n_params_of(const Layout& d) {
  return 2 * d.h1 * d.p + 2 * d.h1 + 2 * d.h2 * d.h1 + 2 * d.h2 + d.h2;
}

// the bound of every network and its gradient: with pairs_grad, in the x'
// side of the pairs, (K, p) per network; else in the parameters (flat, in
// their order)
template <typename T>
void bounds_and_grads(int64_t n_networks, const int* dims, const T* pairs, T* const* params,
                      const int32_t* perm, const int32_t* inverse, T* mi_out, T* grad_out,
                      bool pairs_grad) {
  const Layout d{dims[0], dims[1], dims[2], dims[3]};
  const int n_params = n_params_of<T>(d);
  Work<T> w(d, n_params);
  for (int64_t i = 0; i < n_networks; i++) {
    const T* x = pairs + i * 2 * d.K * d.p;
    transpose_pairs<T>(d, x, w);
    const Net<T> net = net_at<T>(params, d, i);
    if (pairs_grad) {
      mi_out[i] = bound_and_grad<T>(d, net, x, w, perm, inverse, grad_out + i * d.K * d.p);
      continue;
    }
    mi_out[i] = bound_and_grad<T>(d, net, x, w, perm, inverse);
    for (int q = 0; q < n_params; q++) grad_out[i * n_params + q] = w.grad[q];
  }
}

template <typename T>
void train_range(int64_t begin, int64_t end, const Layout& d, const T* pairs, T* const* params,
                 T* const* ms, T* const* vs, int64_t n_steps, const int32_t* perms,
                 const int32_t* inverses, int64_t first_step, const double* hyper, T* mi_out) {
  const int sizes[5] = {2 * d.h1 * d.p, 2 * d.h1, 2 * d.h2 * d.h1, 2 * d.h2, d.h2};
  const int n_params = n_params_of<T>(d);
  const T lr = T(hyper[0]), beta1 = T(hyper[1]), beta2 = T(hyper[2]), eps = T(hyper[3]);
  Work<T> w(d, n_params);
  for (int64_t i = begin; i < end; i++) {
    const T* x = pairs + i * 2 * d.K * d.p;  // (2, K, p)
    transpose_pairs<T>(d, x, w);
    const Net<T> net = net_at<T>(params, d, i);
    const Net<T> m = net_at<T>(ms, d, i);
    const Net<T> v = net_at<T>(vs, d, i);
    T* const p_parts[5] = {net.w1t, net.b1, net.w2t, net.b2, net.wout};
    T* const m_parts[5] = {m.w1t, m.b1, m.w2t, m.b2, m.wout};
    T* const v_parts[5] = {v.w1t, v.b1, v.w2t, v.b2, v.wout};
    T mi = 0;
    for (int64_t j = 0; j < n_steps; j++) {
      mi = bound_and_grad<T>(d, net, x, w, perms + j * d.K, inverses + j * d.K);
      const T* g = w.grad.data();
      for (int q = 0; q < 5; q++) {
        adam<T>(p_parts[q], g, m_parts[q], v_parts[q], sizes[q], lr, beta1, beta2, eps,
                first_step + j);
        g += sizes[q];
      }
    }
    mi_out[i] = mi;
  }
}

// the networks are independent: threads take contiguous ranges of them, and
// every network's result is the same for any number of threads
template <typename T>
void train(int64_t n_networks, const int* dims, const T* pairs, T* const* params, T* const* ms,
           T* const* vs, int64_t n_steps, const int32_t* perms, const int32_t* inverses,
           int64_t first_step, const double* hyper, T* mi_out, int n_threads) {
  const Layout d{dims[0], dims[1], dims[2], dims[3]};
  const int64_t n_workers = std::max<int64_t>(1, std::min<int64_t>(n_threads, n_networks));
  std::vector<std::thread> workers;
  for (int64_t t = 1; t < n_workers; t++)
    workers.emplace_back(train_range<T>, n_networks * t / n_workers,
                         n_networks * (t + 1) / n_workers, std::cref(d), pairs, params, ms, vs,
                         n_steps, perms, inverses, first_step, hyper, mi_out);
  train_range<T>(0, n_networks / n_workers, d, pairs, params, ms, vs, n_steps, perms, inverses,
                 first_step, hyper, mi_out);
  for (auto& worker : workers) worker.join();
}

}  // namespace

extern "C" {
// the vector width the library was built with (bytes: 64, 32 or 16)
int sk_uae_vector_bytes() { return kVecBytes; }

void sk_uae_train_f32(int64_t n, const int* dims, const float* pairs, float* const* params,
                      float* const* ms, float* const* vs, int64_t n_steps, const int32_t* perms,
                      const int32_t* inverses, int64_t first_step, const double* hyper,
                      float* mi_out, int n_threads) {
  train<float>(n, dims, pairs, params, ms, vs, n_steps, perms, inverses, first_step, hyper,
               mi_out, n_threads);
}

void sk_uae_train_f64(int64_t n, const int* dims, const double* pairs, double* const* params,
                      double* const* ms, double* const* vs, int64_t n_steps,
                      const int32_t* perms, const int32_t* inverses, int64_t first_step,
                      const double* hyper, double* mi_out, int n_threads) {
  train<double>(n, dims, pairs, params, ms, vs, n_steps, perms, inverses, first_step, hyper,
                mi_out, n_threads);
}

void sk_uae_grad_f32(int64_t n, const int* dims, const float* pairs, float* const* params,
                     const int32_t* perm, const int32_t* inverse, float* mi_out,
                     float* grad_out, int pairs_grad) {
  bounds_and_grads<float>(n, dims, pairs, params, perm, inverse, mi_out, grad_out,
                          pairs_grad != 0);
}

void sk_uae_grad_f64(int64_t n, const int* dims, const double* pairs, double* const* params,
                     const int32_t* perm, const int32_t* inverse, double* mi_out,
                     double* grad_out, int pairs_grad) {
  bounds_and_grads<double>(n, dims, pairs, params, perm, inverse, mi_out, grad_out,
                           pairs_grad != 0);
}
}
