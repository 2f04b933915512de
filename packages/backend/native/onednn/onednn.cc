// oneDNN kernels for tfjs' wasm backend, working in place on its heap.
//
// Every call receives the wasm heap (a Uint8Array over the WebAssembly.Memory's buffer, shared or
// not) and byte offsets of the tensors in it, so inputs are read and outputs written where tfjs
// keeps them: no copies in or out. Activations stay NHWC (oneDNN's "nxc" layouts have JIT kernels
// for convolutions and pooling), except around Winograd convolutions (setWinograd), which need
// oneDNN's blocked layout: there they are reordered into and out of scratch buffers of this addon.
// Weights are reordered into the layout the chosen implementation wants in a buffer of this addon,
// which is small next to the activations. Primitives are created
// once per shape and kept (creation costs far more than a small execution).
//
// Threads: oneDNN runs on OpenMP here (Debian's build). The count is set by `setThreads` (the wasm
// backend's own thread count); the wait policy comes from the environment at the moment libgomp is
// loaded, which the loader sets to passive before loading this addon.
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" void omp_set_num_threads(int);

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine &cpuEngine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

int gThreads = 1;
// Winograd convolutions (oneDNN's F(4,3) on AVX-512) where the geometry allows them: setWinograd.
bool gWinograd = false;

// ---------------------------------------------------------------------------------------------
// N-API helpers

struct Failure {
  std::string message;
};

napi_value throwError(napi_env env, const std::string &msg) {
  napi_throw_error(env, nullptr, ("oneDNN addon: " + msg).c_str());
  return nullptr;
}

void check(napi_env env, napi_status s, const char *what) {
  if (s != napi_ok) throw Failure{std::string("N-API call failed: ") + what};
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want) {
  std::vector<napi_value> argv(want);
  size_t argc = want;
  check(env, napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr), "get_cb_info");
  if (argc < want) throw Failure{"expected " + std::to_string(want) + " arguments, got " + std::to_string(argc)};
  return argv;
}

/** Base address and length of a typed array (the wasm heap). */
struct Heap {
  uint8_t *base;
  size_t bytes;
  float *f32(int64_t off, int64_t count, const char *name) const {
    if (off < 0 || off % 4 != 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(count) * 4 > bytes) {
      throw Failure{std::string("tensor '") + name + "' at byte offset " + std::to_string(off) + " (" +
                    std::to_string(count) + " floats) lies outside the heap of " + std::to_string(bytes) + " bytes"};
    }
    return reinterpret_cast<float *>(base + off);
  }
};

Heap heapOf(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    throw Failure{"the heap must be a Uint8Array over the wasm memory"};
  }
  return Heap{static_cast<uint8_t *>(data), length};
}

/** An Int32Array or Float64Array of integers as int64 values. */
std::vector<int64_t> intsOf(napi_env env, napi_value v, size_t want, const char *name) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_float64_array) {
    throw Failure{std::string(name) + " must be a Float64Array"};
  }
  if (length != want) throw Failure{std::string(name) + " must hold " + std::to_string(want) + " values, got " + std::to_string(length)};
  const double *d = static_cast<const double *>(data);
  std::vector<int64_t> out(length);
  for (size_t i = 0; i < length; i++) out[i] = static_cast<int64_t>(d[i]);
  return out;
}

std::string keyOf(const char *kind, const std::vector<int64_t> &p) {
  std::string k(kind);
  for (int64_t v : p) k += ',' + std::to_string(v);
  return k;
}

// ---------------------------------------------------------------------------------------------
// Cached primitives. The cache is per thread: primitives may run on several threads at once, and
// each entry owns scratch buffers (reordered weights) that two calls must not share.

/** A reorder from one layout of an array to another. */
dnnl::reorder reorderBetween(const memory::desc &from, const memory::desc &to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), from, cpuEngine(), to));
}

/**
 * A float buffer whose data starts on a 64-byte boundary: some of oneDNN's kernels (Winograd's)
 * write their own layouts with aligned, non-temporal stores, which fault on a misaligned address.
 */
struct AlignedFloats {
  std::unique_ptr<float[]> v;
  size_t capacity = 0;
  /** At least `floats` floats, 64-byte aligned; the contents are undefined after it grows (nothing is copied). */
  float *get(size_t floats) {
    if (capacity < floats) {
      v.reset();
      capacity = 0;  // stays 0 if the allocation below throws
      v.reset(new float[floats + 16]);
      capacity = floats;
    }
    auto p = reinterpret_cast<uintptr_t>(v.get());
    return reinterpret_cast<float *>((p + 63) & ~uintptr_t(63));
  }
};

/**
 * An activation that tfjs keeps NHWC and a primitive wants in its own (blocked) layout: the reorder
 * into it (an input) or out of it (an output), run on every thread; nothing where the two agree.
 */
struct Staged {
  memory::desc user, prim;
  bool need = false;
  dnnl::reorder r;
  void init(const memory::desc &u, const memory::desc &p, bool output) {
    user = u;
    prim = p;
    need = prim != user;
    if (!need) return;
    r = output ? reorderBetween(prim, user) : reorderBetween(user, prim);
  }
};

struct Entry {
  // A backward primitive's forward hint: oneDNN keeps a pointer to it, so it is declared before the
  // primitives (members are destroyed in reverse order) and outlives them.
  dnnl::primitive_desc hint;
  dnnl::primitive prim;
  Staged act[3];             // activations in the primitive's layout (Winograd), by argument order
  dnnl::reorder reorder;     // weights into or out of the primitive's layout (if it differs)
  memory::desc userW, primW; // tfjs' weights layout and the primitive's
  bool needReorder = false;
  AlignedFloats wbuf;        // the weights in the primitive's layout
  float *wdata() { return wbuf.get(primW.get_size() / sizeof(float)); }
  memory::desc a, b, c, bias;
  dnnl::primitive extra;     // max-pool gradient: the forward pass that fills the workspace
  memory::desc ws;
  std::vector<uint8_t> wsbuf;
  std::vector<float> ybuf;

  // The primitive takes (or, with `fromPrim`, gives) its weights in `prim`; tfjs keeps them as
  // HWIO. Where the two differ, a scratch buffer and the reorder between them.
  void weightLayout(const memory::desc &user, const memory::desc &prim, bool fromPrim) {
    userW = user;
    primW = prim;
    needReorder = primW != userW;
    if (!needReorder) return;
    wdata();
    reorder = fromPrim ? reorderBetween(primW, userW) : reorderBetween(userW, primW);
  }
};

thread_local std::unordered_map<std::string, std::unique_ptr<Entry>> tCache;

// Scratch buffers for activations in a primitive's own layout, shared by every entry of a thread
// (a call uses them only while it runs): three slots, each grown to the largest use.
thread_local AlignedFloats tScratch[3];

float *scratch(int slot, size_t bytes) { return tScratch[slot].get((bytes + sizeof(float) - 1) / sizeof(float)); }

dnnl::stream &cpuStream() {
  thread_local dnnl::stream s(cpuEngine());
  return s;
}

void prepareThreads() { omp_set_num_threads(gThreads); }

/**
 * Runs a weights reorder on the calling thread only: the weights are a few thousand values, and
 * waking the other OpenMP threads (asleep under the passive wait policy) cost up to 50 ms per
 * reorder on a loaded machine, more than the convolution itself.
 */
void reorderOnOneThread(dnnl::reorder &r, memory &from, memory &to) {
  omp_set_num_threads(1);
  r.execute(cpuStream(), from, to);
  omp_set_num_threads(gThreads);
}

// Convolution geometry, in this order (tfjs' Conv2DInfo with its explicit padding):
// N, H, W, C, OH, OW, OC, fH, fW, sH, sW, dH, dW, padT, padL, padB, padR
constexpr size_t kConvParams = 17;
struct Conv {
  int64_t N, H, W, C, OH, OW, OC, fH, fW, sH, sW, dH, dW, pT, pL, pB, pR;
  explicit Conv(const std::vector<int64_t> &p)
      : N(p[0]), H(p[1]), W(p[2]), C(p[3]), OH(p[4]), OW(p[5]), OC(p[6]), fH(p[7]), fW(p[8]), sH(p[9]), sW(p[10]),
        dH(p[11]), dW(p[12]), pT(p[13]), pL(p[14]), pB(p[15]), pR(p[16]) {}
  // The cache key of a primitive of this geometry: its kind, then `extra`, then every dimension.
  std::string key(const char *kind, std::vector<int64_t> extra = {}) const {
    extra.insert(extra.end(), {N, H, W, C, OH, OW, OC, fH, fW, sH, sW, dH, dW, pT, pL, pB, pR});
    return keyOf(kind, extra);
  }
  memory::desc src(tag t = tag::nhwc) const { return {{N, C, H, W}, dt::f32, t}; }
  memory::desc dst(tag t = tag::nhwc) const { return {{N, OC, OH, OW}, dt::f32, t}; }
  memory::desc weights(tag t) const { return {{OC, C, fH, fW}, dt::f32, t}; }
  memory::dims strides() const { return {sH, sW}; }
  memory::dims dilates() const { return {dH - 1, dW - 1}; }
  memory::dims padL() const { return {pT, pL}; }
  memory::dims padR() const { return {pB, pR}; }
  int64_t inSize() const { return N * H * W * C; }
  int64_t outSize() const { return N * OH * OW * OC; }
  int64_t wSize() const { return fH * fW * C * OC; }
};

/**
 * Whether a convolution runs as Winograd F(4,3): 3×3 filters, stride 1, no dilation, channels in
 * and out multiples of 16 (oneDNN's blocks on AVX-512), where setWinograd asked for it. Its
 * activations are then reordered between tfjs' NHWC and oneDNN's blocked layout around each call;
 * measured on PartsNet's layers at 128 px batch 16 (2 threads, AVX-512), forward and both gradients
 * together take 0.6-0.7× the direct convolution's time with those reorders included.
 */
bool winograd(const Conv &g) {
  return gWinograd && g.fH == 3 && g.fW == 3 && g.sH == 1 && g.sW == 1 && g.dH == 1 && g.dW == 1 && g.C % 16 == 0 && g.OC % 16 == 0;
}

/** The algorithm, and the activations' layout: Winograd picks its own (blocked), direct works on tfjs' NHWC. */
algorithm convAlgorithm(bool wino) { return wino ? algorithm::convolution_winograd : algorithm::convolution_direct; }
tag activationTag(bool wino) { return wino ? tag::any : tag::nhwc; }

dnnl::convolution_forward::primitive_desc convFwdPd(const Conv &g, bool bias, bool relu, bool wino = false) {
  memory::desc biasMd = bias ? memory::desc({g.OC}, dt::f32, tag::x) : memory::desc();
  const tag act = activationTag(wino);
  dnnl::convolution_forward::desc d(prop_kind::forward_training, convAlgorithm(wino), g.src(act), g.weights(tag::any), biasMd,
                                    g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR());
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(d, attr, cpuEngine());
}

/** Weights on the heap (tfjs' [fH, fW, C, OC]) as the primitive wants them: in place or reordered. */
memory weightsFor(Entry &e, float *w) {
  auto &eng = cpuEngine();
  memory user(e.userW, eng, w);
  if (!e.needReorder) return user;
  memory prim(e.primW, eng, e.wdata());
  reorderOnOneThread(e.reorder, user, prim);
  return prim;
}

/** The primitive descriptor of `make(wino)`: Winograd where the geometry allows it and oneDNN has it here, else direct. */
template <typename Make>
auto withWinograd(const Conv &g, Make make) -> decltype(make(false)) {
  if (winograd(g)) {
    try {
      return make(true);
    } catch (const dnnl::error &) {
      // Not implemented for this ISA or geometry: the direct convolution.
    }
  }
  return make(false);
}

Entry &convFwdEntry(const Conv &g, bool bias, bool relu, const std::string &key) {
  auto &slot = tCache[key];
  if (!slot) {
    auto e = std::make_unique<Entry>();
    auto pd = withWinograd(g, [&](bool wino) { return convFwdPd(g, bias, relu, wino); });
    e->prim = dnnl::convolution_forward(pd);
    e->weightLayout(g.weights(tag::hwio), pd.weights_desc(), false);
    e->act[0].init(g.src(), pd.src_desc(), false);
    e->act[1].init(g.dst(), pd.dst_desc(), true);
    slot = std::move(e);
  }
  return *slot;
}

/**
 * A backward convolution's primitive descriptor (`Bwd` = convolution_backward_data or _weights), Winograd
 * where it applies; its forward hint is kept in `e` (oneDNN keeps a pointer to it).
 */
template <typename Bwd>
typename Bwd::primitive_desc convBwdPd(const Conv &g, Entry &e) {
  return withWinograd(g, [&](bool wino) {
    auto hint = convFwdPd(g, false, false, wino);
    e.hint = hint;
    const tag act = activationTag(wino);
    typename Bwd::desc d(convAlgorithm(wino), g.src(act), g.weights(tag::any), g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR());
    return typename Bwd::primitive_desc(d, cpuEngine(), hint);
  });
}

/** An activation argument in the primitive's layout: `user` itself, or a scratch copy (an input is reordered into it now). */
memory staged(Staged &s, int slot, memory &user, bool input) {
  if (!s.need) return user;
  memory prim(s.prim, cpuEngine(), scratch(slot, s.prim.get_size()));
  if (input) s.r.execute(cpuStream(), user, prim);
  return prim;
}

/** Writes an output computed in the primitive's layout back to tfjs' NHWC tensor. */
void unstage(Staged &s, memory &prim, memory &user) {
  if (s.need) s.r.execute(cpuStream(), prim, user);
}

// convForward(heap, geometry, offsets [x, filter, bias (-1: none), y], relu)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 4);
    Heap h = heapOf(env, a[0]);
    Conv g(intsOf(env, a[1], kConvParams, "geometry"));
    auto offs = intsOf(env, a[2], 4, "offsets");
    bool relu = false;
    check(env, napi_get_value_bool(env, a[3], &relu), "relu flag");
    bool bias = offs[2] >= 0;
    prepareThreads();
    Entry &e = convFwdEntry(g, bias, relu, g.key(relu ? "convF+relu" : "convF", {bias, winograd(g)}));
    auto &eng = cpuEngine();
    memory xu(g.src(), eng, h.f32(offs[0], g.inSize(), "x"));
    memory w = weightsFor(e, h.f32(offs[1], g.wSize(), "filter"));
    memory yu(g.dst(), eng, h.f32(offs[3], g.outSize(), "y"));
    memory x = staged(e.act[0], 0, xu, true);
    memory y = staged(e.act[1], 1, yu, false);
    std::unordered_map<int, memory> m{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}};
    if (bias) m.emplace(DNNL_ARG_BIAS, memory({{g.OC}, dt::f32, tag::x}, eng, h.f32(offs[2], g.OC, "bias")));
    e.prim.execute(cpuStream(), m);
    unstage(e.act[1], y, yu);
    cpuStream().wait();
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  } catch (const std::exception &err) {
    return throwError(env, std::string("convolution forward: ") + err.what());
  }
}

// convBackwardData(heap, geometry, offsets [dyOff, wOff, dxOff])
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 3);
    Heap h = heapOf(env, a[0]);
    Conv g(intsOf(env, a[1], kConvParams, "geometry"));
    auto offs = intsOf(env, a[2], 3, "offsets");
    prepareThreads();
    std::string key = g.key("convBD", {winograd(g)});
    auto &slot = tCache[key];
    if (!slot) {
      auto e = std::make_unique<Entry>();
      auto pd = convBwdPd<dnnl::convolution_backward_data>(g, *e);
      e->prim = dnnl::convolution_backward_data(pd);
      e->weightLayout(g.weights(tag::hwio), pd.weights_desc(), false);
      e->act[0].init(g.dst(), pd.diff_dst_desc(), false);
      e->act[1].init(g.src(), pd.diff_src_desc(), true);
      slot = std::move(e);
    }
    Entry &e = *slot;
    auto &eng = cpuEngine();
    memory dyu(g.dst(), eng, h.f32(offs[0], g.outSize(), "dy"));
    memory w = weightsFor(e, h.f32(offs[1], g.wSize(), "filter"));
    memory dxu(g.src(), eng, h.f32(offs[2], g.inSize(), "dx"));
    memory dy = staged(e.act[0], 0, dyu, true);
    memory dx = staged(e.act[1], 1, dxu, false);
    e.prim.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx}});
    unstage(e.act[1], dx, dxu);
    cpuStream().wait();
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  } catch (const std::exception &err) {
    return throwError(env, std::string("convolution backward data: ") + err.what());
  }
}

// convBackwardWeights(heap, geometry, offsets [xOff, dyOff, dwOff])
napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 3);
    Heap h = heapOf(env, a[0]);
    Conv g(intsOf(env, a[1], kConvParams, "geometry"));
    auto offs = intsOf(env, a[2], 3, "offsets");
    prepareThreads();
    std::string key = g.key("convBW", {winograd(g)});
    auto &slot = tCache[key];
    if (!slot) {
      auto e = std::make_unique<Entry>();
      auto pd = convBwdPd<dnnl::convolution_backward_weights>(g, *e);
      e->prim = dnnl::convolution_backward_weights(pd);
      e->weightLayout(g.weights(tag::hwio), pd.diff_weights_desc(), true);
      e->act[0].init(g.src(), pd.src_desc(), false);
      e->act[1].init(g.dst(), pd.diff_dst_desc(), false);
      slot = std::move(e);
    }
    Entry &e = *slot;
    auto &eng = cpuEngine();
    memory xu(g.src(), eng, h.f32(offs[0], g.inSize(), "x"));
    memory dyu(g.dst(), eng, h.f32(offs[1], g.outSize(), "dy"));
    memory x = staged(e.act[0], 0, xu, true);
    memory dy = staged(e.act[1], 1, dyu, true);
    memory user(e.userW, eng, h.f32(offs[2], g.wSize(), "dw"));
    memory dw = e.needReorder ? memory(e.primW, eng, e.wdata()) : user;
    e.prim.execute(cpuStream(), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
    if (e.needReorder) {
      cpuStream().wait();
      reorderOnOneThread(e.reorder, dw, user);
    }
    cpuStream().wait();
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  } catch (const std::exception &err) {
    return throwError(env, std::string("convolution backward weights: ") + err.what());
  }
}

// matMul(heap, dims [batchA, batchB, M, K, N, transposeA, transposeB], offsets [a, b, bias (-1: none), c], relu)
// C[b] = op(A[b or 0]) · op(B[b or 0]) (+ bias over the last axis, then ReLU); batch 1 broadcasts.
napi_value MatMul(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 4);
    Heap h = heapOf(env, a[0]);
    auto p = intsOf(env, a[1], 7, "dims");
    auto offs = intsOf(env, a[2], 4, "offsets");
    bool relu = false;
    check(env, napi_get_value_bool(env, a[3], &relu), "relu flag");
    int64_t bA = p[0], bB = p[1], M = p[2], K = p[3], N = p[4];
    bool tA = p[5] != 0, tB = p[6] != 0, bias = offs[2] >= 0;
    int64_t bC = bA > bB ? bA : bB;
    if ((bA != bC && bA != 1) || (bB != bC && bB != 1)) throw Failure{"batch sizes " + std::to_string(bA) + " and " + std::to_string(bB) + " do not broadcast"};
    prepareThreads();
    std::string key = keyOf(relu ? "mm+relu" : "mm", {bA, bB, M, K, N, tA, tB, bias});
    auto &slot = tCache[key];
    if (!slot) {
      auto e = std::make_unique<Entry>();
      e->a = memory::desc({bA, M, K}, dt::f32, tA ? memory::dims{M * K, 1, M} : memory::dims{M * K, K, 1});
      e->b = memory::desc({bB, K, N}, dt::f32, tB ? memory::dims{K * N, 1, K} : memory::dims{K * N, N, 1});
      e->c = memory::desc({bC, M, N}, dt::f32, tag::abc);
      e->bias = bias ? memory::desc({1, 1, N}, dt::f32, tag::abc) : memory::desc();
      dnnl::matmul::desc d(e->a, e->b, e->bias, e->c);
      dnnl::primitive_attr attr;
      if (relu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
        attr.set_post_ops(ops);
      }
      e->prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, cpuEngine()));
      slot = std::move(e);
    }
    Entry &e = *slot;
    auto &eng = cpuEngine();
    memory ma(e.a, eng, h.f32(offs[0], bA * M * K, "a"));
    memory mb(e.b, eng, h.f32(offs[1], bB * K * N, "b"));
    memory mc(e.c, eng, h.f32(offs[3], bC * M * N, "c"));
    std::unordered_map<int, memory> m{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    if (bias) m.emplace(DNNL_ARG_BIAS, memory(e.bias, eng, h.f32(offs[2], N, "bias")));
    e.prim.execute(cpuStream(), m);
    cpuStream().wait();
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  } catch (const std::exception &err) {
    return throwError(env, std::string("matmul: ") + err.what());
  }
}

// Pooling geometry: N, H, W, C, OH, OW, fH, fW, sH, sW, padT, padL, padB, padR
constexpr size_t kPoolParams = 14;

// maxPoolGrad(heap, geometry, offsets [x, dy, dx]): the forward pass is run again with a workspace
// (tfjs' MaxPoolGrad gets x, y and dy, not the positions of the maxima), then the backward pass.
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 3);
    Heap h = heapOf(env, a[0]);
    auto p = intsOf(env, a[1], kPoolParams, "geometry");
    auto offs = intsOf(env, a[2], 3, "offsets");
    int64_t N = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5];
    prepareThreads();
    auto &slot = tCache[keyOf("maxpoolB", p)];
    memory::desc src({N, C, H, W}, dt::f32, tag::nhwc), dst({N, C, OH, OW}, dt::f32, tag::nhwc);
    if (!slot) {
      auto e = std::make_unique<Entry>();
      memory::dims k{p[6], p[7]}, s{p[8], p[9]}, pl{p[10], p[11]}, pr{p[12], p[13]};
      dnnl::pooling_forward::desc fd(prop_kind::forward_training, algorithm::pooling_max, src, dst, s, k, pl, pr);
      dnnl::pooling_forward::primitive_desc fpd(fd, cpuEngine());
      dnnl::pooling_backward::desc bd(algorithm::pooling_max, src, dst, s, k, pl, pr);
      dnnl::pooling_backward::primitive_desc bpd(bd, cpuEngine(), fpd);
      e->hint = fpd;
      e->extra = dnnl::pooling_forward(fpd);
      e->prim = dnnl::pooling_backward(bpd);
      e->ws = fpd.workspace_desc();
      e->wsbuf.resize(e->ws.get_size());
      e->ybuf.resize(N * OH * OW * C);
      slot = std::move(e);
    }
    Entry &e = *slot;
    auto &eng = cpuEngine();
    memory x(src, eng, h.f32(offs[0], N * H * W * C, "x"));
    memory y(dst, eng, e.ybuf.data());
    memory ws(e.ws, eng, e.wsbuf.data());
    memory dy(dst, eng, h.f32(offs[1], N * OH * OW * C, "dy"));
    memory dx(src, eng, h.f32(offs[2], N * H * W * C, "dx"));
    e.extra.execute(cpuStream(), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}, {DNNL_ARG_WORKSPACE, ws}});
    e.prim.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_DIFF_SRC, dx}});
    cpuStream().wait();
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  } catch (const std::exception &err) {
    return throwError(env, std::string("max-pool gradient: ") + err.what());
  }
}

// setThreads(n): the OpenMP thread count of every later call.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 1);
    int32_t n = 1;
    check(env, napi_get_value_int32(env, a[0], &n), "thread count");
    if (n < 1) throw Failure{"thread count must be >= 1, got " + std::to_string(n)};
    gThreads = n;
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  }
}

// setWinograd(on): later convolutions whose geometry allows it run as Winograd F(4,3) (see winograd()).
napi_value SetWinograd(napi_env env, napi_callback_info info) {
  try {
    auto a = args(env, info, 1);
    bool on = false;
    check(env, napi_get_value_bool(env, a[0], &on), "winograd flag");
    gWinograd = on;
    return nullptr;
  } catch (const Failure &f) {
    return throwError(env, f.message);
  }
}

const char *isaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "SSE4.1";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx512_mic: return "AVX-512 (MIC)";
    case dnnl_cpu_isa_avx512_mic_4ops: return "AVX-512 (MIC 4ops)";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AVX-512 AMX";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2 VNNI";
    default: return "unknown ISA";
  }
}

// info(): { version, isa }
napi_value Info(napi_env env, napi_callback_info) {
  const dnnl_version_t *v = dnnl_version();
  std::string version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  napi_value obj, ver, isa;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, version.c_str(), NAPI_AUTO_LENGTH, &ver);
  napi_create_string_utf8(env, isaName(dnnl_get_effective_cpu_isa()), NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, obj, "version", ver);
  napi_set_named_property(env, obj, "isa", isa);
  return obj;
}

}  // namespace

NAPI_MODULE_INIT() {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"convForward", ConvForward}, {"convBackwardData", ConvBackwardData}, {"convBackwardWeights", ConvBackwardWeights},
      {"matMul", MatMul},           {"maxPoolGrad", MaxPoolGrad},           {"setThreads", SetThreads},
      {"setWinograd", SetWinograd}, {"info", Info},
  };
  for (auto &f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}
