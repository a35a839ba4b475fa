#include "model/videomae.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"
#include "model/tubelet.hpp"

namespace dojo::model {

using accel::LayerScope;
using accel::RowIndex;

// Rows of the head per block when training: a block's predictions and their gradients
// (256 x 1536 floats, 1.5 MB each at bench size) stay in cache.
constexpr std::int64_t kHeadBlockRows = 256;

struct VideoMAE::Weights {
  LinearParams<float> embed;
  std::vector<BlockParams<float>> encoder;
  NormParams<float> encoder_norm;
  LinearParams<float> decoder_embed;
  const float* mask_token = nullptr;
  float* dmask_token = nullptr;
  std::vector<BlockParams<float>> decoder;
  NormParams<float> decoder_norm;
  LinearParams<float> head;
};

struct VideoMAE::Acts {
  AttentionShape enc_shape, dec_shape;
  float* visible = nullptr;  // (B*Nv, P) visible tubelets
  float* enc_x0 = nullptr;   // (B*Nv, De)
  std::vector<BlockActs<float>> encoder;
  NormActs<float> encoder_norm;  // (B*Nv, De)
  float* dec_embed = nullptr;    // (B*Nv, Dd)
  float* dec_x0 = nullptr;       // (B*N, Dd)
  std::vector<BlockActs<float>> decoder;
  float* dec_masked = nullptr;   // (B*Nm, Dd)
  NormActs<float> decoder_norm;  // (B*Nm, Dd)
  float* pred = nullptr;         // (B*Nm, P)
  // Backward scratch.
  BlockScratch<float> enc_scratch, dec_scratch;
  std::array<float*, 2> denc{}, ddec{};  // (B*Nv, De), (B*N, Dd) ping-pong
  float* dpred = nullptr;                // (B*Nm, P)
  float* ddec_norm = nullptr;            // (B*Nm, Dd)
  float* ddec_masked = nullptr;          // (B*Nm, Dd)
  float* ddec_embed = nullptr;           // (B*Nv, Dd)
  float* denc_norm = nullptr;            // (B*Nv, De)
};

std::vector<std::pair<std::string, double>> VideoMAE::activation_norms() const {
  std::vector<std::pair<std::string, double>> out;
  if (device_.dry_run()) return out;
  const ModelConfig& c = config_;
  const std::int64_t b = batch_;
  const Acts& a = *a_;
  auto norm = [](const float* x, std::int64_t n) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
    return std::sqrt(s);
  };
  const std::int64_t enc = b * c.visible_tokens() * c.encoder_dim;
  const std::int64_t dec = b * c.tokens() * c.decoder_dim;
  out.emplace_back("embed", norm(a.enc_x0, enc));
  for (std::size_t i = 0; i < a.encoder.size(); ++i) {
    out.emplace_back("encoder." + std::to_string(i), norm(a.encoder[i].out, enc));
  }
  out.emplace_back("encoder.norm", norm(a.encoder_norm.y, enc));
  out.emplace_back("decoder.embed", norm(a.dec_x0, dec));
  for (std::size_t i = 0; i < a.decoder.size(); ++i) {
    out.emplace_back("decoder." + std::to_string(i), norm(a.decoder[i].out, dec));
  }
  out.emplace_back("decoder.norm",
                   norm(a.decoder_norm.y, b * c.masked_tokens() * c.decoder_dim));
  return out;
}

std::vector<float> sincos_table(std::int64_t tokens, std::int64_t dim) {
  std::vector<float> table(std::size_t(tokens * dim));
  for (std::int64_t pos = 0; pos < tokens; ++pos) {
    for (std::int64_t j = 0; j < dim; ++j) {
      const double angle = double(pos) / std::pow(10000.0, 2.0 * double(j / 2) / double(dim));
      table[std::size_t(pos * dim + j)] = float(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  return table;
}

VideoMAE::VideoMAE(const ModelConfig& config, accel::Device& device, std::int64_t batch)
    : config_(config), device_(device), batch_(batch), table_(build_param_table(config)) {
  config_.validate();
  DOJO_CHECK(batch >= 1, InvalidArgument, "VideoMAE: batch must be positive, got {}", batch);
  device_.set_precision(config_.precision);
  const bool real = !device_.dry_run();
  if (real) {
    params_ = Arena<float>(table_.total);
    grads_ = Arena<float>(table_.total);
    adam_m_ = Arena<float>(table_.total);
    adam_v_ = Arena<float>(table_.total);
    if (config_.precision == accel::Precision::kBf16) params_bf16_ = Arena<std::uint16_t>(table_.total);
    encoder_pos_ = sincos_table(config_.tokens(), config_.encoder_dim);
    decoder_pos_ = sincos_table(config_.tokens(), config_.decoder_dim);
  }
  w_ = std::make_unique<Weights>();
  a_ = std::make_unique<Acts>();
  bind_weights();
  Carver<float> count;
  carve_acts(count);
  if (real) acts_arena_ = Arena<float>(count.used());
  Carver<float> take(acts_arena_.data());
  carve_acts(take);
}

VideoMAE::~VideoMAE() = default;

accel::TubeletDims VideoMAE::tubelets() const {
  return config_.layout(batch_);
}

std::span<float> VideoMAE::param(std::string_view name) {
  const auto& t = table_.find(name);
  return params_.data() ? params_.span().subspan(t.offset, t.size) : std::span<float>{};
}

std::span<float> VideoMAE::grad(std::string_view name) {
  const auto& t = table_.find(name);
  return grads_.data() ? grads_.span().subspan(t.offset, t.size) : std::span<float>{};
}

void VideoMAE::bind_weights() {
  float* p = params_.data();
  float* g = grads_.data();
  const std::uint16_t* p16 = params_bf16_.data();
  auto at = [&](float* base, const std::string& name) {
    return base != nullptr ? base + table_.find(name).offset : nullptr;
  };
  auto linear = [&](const std::string& prefix) {
    const auto& info = table_.find(prefix + ".weight");
    LinearParams<float> l;
    l.weight = at(p, prefix + ".weight");
    l.bias = at(p, prefix + ".bias");
    l.dweight = at(g, prefix + ".weight");
    l.dbias = at(g, prefix + ".bias");
    l.weight_bf16 = p16 != nullptr ? p16 + info.offset : nullptr;
    l.out = info.shape[0];
    l.in = info.shape[1];
    return l;
  };
  auto norm = [&](const std::string& prefix) {
    NormParams<float> n;
    n.gamma = at(p, prefix + ".weight");
    n.beta = at(p, prefix + ".bias");
    n.dgamma = at(g, prefix + ".weight");
    n.dbeta = at(g, prefix + ".bias");
    n.dim = table_.find(prefix + ".weight").shape[0];
    n.eps = config_.ln_eps;
    return n;
  };
  auto block = [&](const std::string& prefix) {
    BlockParams<float> b;
    b.norm1 = norm(prefix + ".norm1");
    b.attn.qkv = linear(prefix + ".attn.qkv");
    b.attn.proj = linear(prefix + ".attn.proj");
    b.norm2 = norm(prefix + ".norm2");
    b.fc1 = linear(prefix + ".mlp.fc1");
    b.fc2 = linear(prefix + ".mlp.fc2");
    return b;
  };
  Weights& w = *w_;
  w.embed = linear("patch_embed");
  for (std::int64_t i = 0; i < config_.encoder_depth; ++i) {
    w.encoder.push_back(block("encoder." + std::to_string(i)));
  }
  w.encoder_norm = norm("encoder.norm");
  w.decoder_embed = linear("decoder_embed");
  w.mask_token = at(p, "mask_token");
  w.dmask_token = at(g, "mask_token");
  for (std::int64_t i = 0; i < config_.decoder_depth; ++i) {
    w.decoder.push_back(block("decoder." + std::to_string(i)));
  }
  w.decoder_norm = norm("decoder.norm");
  w.head = linear("head");
}

// The activation arena's one table: every buffer, in this order.
void VideoMAE::carve_acts(Carver<float>& take) {
  const ModelConfig& c = config_;
  const std::int64_t b = batch_, n = c.tokens(), nv = c.visible_tokens(), nm = c.masked_tokens();
  const std::int64_t p = c.patch_dim(), de = c.encoder_dim, dd = c.decoder_dim;
  Acts& a = *a_;
  a.enc_shape = {b, nv, de, c.encoder_heads};
  a.dec_shape = {b, n, dd, c.decoder_heads};
  a.visible = take(b * nv * p);
  a.enc_x0 = take(b * nv * de);
  a.encoder.clear();
  for (std::int64_t i = 0; i < c.encoder_depth; ++i) {
    a.encoder.push_back(carve_block_acts<float>(a.enc_shape, c.encoder_hidden(), take));
  }
  a.encoder_norm = {take(b * nv * de), take(b * nv), take(b * nv)};
  a.dec_embed = take(b * nv * dd);
  a.dec_x0 = take(b * n * dd);
  a.decoder.clear();
  for (std::int64_t i = 0; i < c.decoder_depth; ++i) {
    a.decoder.push_back(carve_block_acts<float>(a.dec_shape, c.decoder_hidden(), take));
  }
  a.dec_masked = take(b * nm * dd);
  a.decoder_norm = {take(b * nm * dd), take(b * nm), take(b * nm)};
  a.pred = take(b * nm * p);
  a.enc_scratch = carve_block_scratch<float>(a.enc_shape, c.encoder_hidden(), take);
  a.dec_scratch = carve_block_scratch<float>(a.dec_shape, c.decoder_hidden(), take);
  a.denc = {take(b * nv * de), take(b * nv * de)};
  a.ddec = {take(b * n * dd), take(b * n * dd)};
  a.dpred = take(b * nm * p);
  a.ddec_norm = take(b * nm * dd);
  a.ddec_masked = take(b * nm * dd);
  a.ddec_embed = take(b * nv * dd);
  a.denc_norm = take(b * nv * de);
}

void VideoMAE::init(std::uint64_t seed) {
  if (params_.data() == nullptr) return;  // dry run: nothing to initialise
  CounterRng rng(seed);
  float* p = params_.data();
  for (const TensorInfo& t : table_.tensors) {
    float* x = p + t.offset;
    const bool bias = t.name.ends_with(".bias");
    if (t.name == "mask_token") {
      for (std::size_t i = 0; i < t.size; ++i) {
        double z;
        do {
          z = rng.normal();
        } while (std::abs(z) > 2.0);
        x[i] = float(0.02 * z);
      }
    } else if (t.shape.size() == 2) {
      const double fan_out = double(t.shape[0]), fan_in = double(t.shape[1]);
      const double bound = std::sqrt(6.0 / (fan_in + fan_out));
      for (std::size_t i = 0; i < t.size; ++i) x[i] = float((2.0 * rng.uniform() - 1.0) * bound);
    } else {
      std::fill(x, x + t.size, bias ? 0.0f : 1.0f);  // LayerNorm gain 1, biases 0
    }
  }
  zero_grads();
  std::fill(adam_m_.data(), adam_m_.data() + adam_m_.size(), 0.0f);
  std::fill(adam_v_.data(), adam_v_.data() + adam_v_.size(), 0.0f);
}

void VideoMAE::zero_grads() {
  device_.fill<float>(std::int64_t(table_.total), 0.0f, grads_.data());
}

void VideoMAE::set_mask(const TubeMask& mask) {
  DOJO_CHECK(mask.batch == batch_ && mask.tokens == config_.tokens() &&
                 mask.visible == config_.visible_tokens() && mask.masked == config_.masked_tokens(),
             InvalidArgument,
             "VideoMAE: mask is for batch {} with {} tokens ({} visible), the model expects "
             "batch {} with {} tokens ({} visible)",
             mask.batch, mask.tokens, mask.visible, batch_, config_.tokens(),
             config_.visible_tokens());
  const std::int64_t n = config_.tokens();
  DOJO_CHECK(mask.visible_index.size() == std::size_t(batch_ * mask.visible) &&
                 mask.masked_index.size() == std::size_t(batch_ * mask.masked),
             InvalidArgument,
             "VideoMAE: mask index lists hold {} and {} entries, expected {} and {}",
             mask.visible_index.size(), mask.masked_index.size(), batch_ * mask.visible,
             batch_ * mask.masked);
  for (const auto* list : {&mask.visible_index, &mask.masked_index}) {
    for (const std::int64_t t : *list) {
      DOJO_CHECK(t >= 0 && t < n, InvalidArgument,
                 "VideoMAE: mask token index {} is outside [0, {})", t, n);
    }
  }
  visible_rows_.resize(mask.visible_index.size());
  visible_tokens_ = mask.visible_index;
  masked_rows_.resize(mask.masked_index.size());
  for (std::size_t i = 0; i < visible_rows_.size(); ++i) {
    visible_rows_[i] = std::int64_t(i) / mask.visible * n + mask.visible_index[i];
  }
  for (std::size_t i = 0; i < masked_rows_.size(); ++i) {
    masked_rows_[i] = std::int64_t(i) / mask.masked * n + mask.masked_index[i];
  }
  zeros_.assign(masked_rows_.size(), 0);
}

double VideoMAE::forward(std::span<const float> clips, const TubeMask& mask, bool training) {
  const ModelConfig& c = config_;
  DOJO_CHECK(device_.dry_run() || clips.size() == std::size_t(batch_ * c.clip_elems()),
             InvalidArgument,
             "VideoMAE: expected {} clips of {}x{}x{}x{} ({} floats), got {} floats", batch_,
             c.frames, c.height, c.width, c.channels, batch_ * c.clip_elems(), clips.size());
  set_mask(mask);
  const std::int64_t b = batch_, n = c.tokens(), nv = c.visible_tokens(), nm = c.masked_tokens();
  const std::int64_t p = c.patch_dim(), de = c.encoder_dim, dd = c.decoder_dim;
  Weights& w = *w_;
  Acts& a = *a_;
  accel::BackwardScope forward_pass(device_, false);
  {
    LayerScope scope(device_, "embed");
    // bf16: every weight rounded once per step; the GEMMs read these copies.
    if (c.precision == accel::Precision::kBf16) {
      device_.to_bf16(std::int64_t(table_.total), params_.data(), params_bf16_.data());
    }
    // Only the visible tubelets are gathered; the loss reads the masked ones from the clips.
    device_.gather_tubelets<float>(tubelets(), clips.data(), visible_rows_, a.visible);
    linear_forward(device_, w.embed, b * nv, a.visible, a.enc_x0);
    device_.copy_rows<float>(b * nv, de, encoder_pos_.data(), visible_tokens_, a.enc_x0, {}, true);
  }
  const float* x = a.enc_x0;
  for (std::size_t i = 0; i < w.encoder.size(); ++i) {
    LayerScope scope(device_, "encoder." + std::to_string(i));
    block_forward(device_, w.encoder[i], a.enc_shape, x, a.encoder[i]);
    x = a.encoder[i].out;
  }
  {
    LayerScope scope(device_, "encoder.norm");
    layernorm_forward(device_, w.encoder_norm, b * nv, x, a.encoder_norm);
  }
  {
    LayerScope scope(device_, "decoder.embed");
    linear_forward(device_, w.decoder_embed, b * nv, a.encoder_norm.y, a.dec_embed);
    device_.copy_rows<float>(b * nv, dd, a.dec_embed, {}, a.dec_x0, visible_rows_, false);
    device_.copy_rows<float>(b * nm, dd, w.mask_token, zeros_, a.dec_x0, masked_rows_, false);
    device_.add_rows(b * n, n, dd, decoder_pos_.data(), a.dec_x0);
  }
  x = a.dec_x0;
  for (std::size_t i = 0; i < w.decoder.size(); ++i) {
    LayerScope scope(device_, "decoder." + std::to_string(i));
    block_forward(device_, w.decoder[i], a.dec_shape, x, a.decoder[i]);
    x = a.decoder[i].out;
  }
  {
    LayerScope scope(device_, "decoder.norm");
    device_.copy_rows<float>(b * nm, dd, x, masked_rows_, a.dec_masked, {}, false);
    layernorm_forward(device_, w.decoder_norm, b * nm, a.dec_masked, a.decoder_norm);
  }
  LayerScope scope(device_, "head");
  if (!training) {
    linear_forward(device_, w.head, b * nm, a.decoder_norm.y, a.pred);
    return device_.tubelet_mse_loss<float>(tubelets(), c.target_eps, a.pred, clips.data(),
                                           masked_rows_);
  }
  // Training: the head, the loss and the head's backward run together on blocks of rows,
  // so each block's prediction and its gradient stay in cache instead of streaming the
  // (masked rows x pixels) matrices -- the largest in the model -- through memory three
  // times. The head's gradients are final when forward returns.
  const std::int64_t rows = b * nm;
  const double total = double(rows * p);
  double loss = 0;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kHeadBlockRows) {
    const std::int64_t count = std::min(kHeadBlockRows, rows - r0);
    const float* x = a.decoder_norm.y + r0 * dd;
    linear_forward(device_, w.head, count, x, a.pred);  // block scratch: a.pred's first rows
    accel::BackwardScope backward_pass(device_);
    const double n = double(count * p);
    const RowIndex rows_of_block = RowIndex(masked_rows_).subspan(std::size_t(r0), std::size_t(count));
    loss += n / total * device_.tubelet_mse_loss_and_grad<float>(tubelets(), c.target_eps, a.pred,
                                                                 clips.data(), rows_of_block,
                                                                 a.dpred, float(n / total));
    linear_backward(device_, w.head, count, x, a.dpred, a.ddec_norm + r0 * dd, false);
  }
  return loss;
}

void VideoMAE::backward(const std::function<void(std::size_t)>& on_layer_grads_done) {
  const ModelConfig& c = config_;
  const std::int64_t b = batch_, n = c.tokens(), nv = c.visible_tokens(), nm = c.masked_tokens();
  const std::int64_t de = c.encoder_dim, dd = c.decoder_dim;
  Weights& w = *w_;
  Acts& a = *a_;
  accel::BackwardScope backward_pass(device_);
  std::size_t layer = table_.layers.size();
  auto done = [&] {
    --layer;
    if (on_layer_grads_done) on_layer_grads_done(layer);
  };
  done();  // the head ran its backward inside forward (see there)
  int cur = 0;
  {
    LayerScope scope(device_, "decoder.norm");
    device_.fill<float>(b * nm * dd, 0.0f, a.ddec_masked);
    layernorm_backward(device_, w.decoder_norm, b * nm, a.dec_masked, a.decoder_norm, a.ddec_norm,
                       a.ddec_masked);
    device_.fill<float>(b * n * dd, 0.0f, a.ddec[cur]);
    device_.copy_rows<float>(b * nm, dd, a.ddec_masked, {}, a.ddec[cur], masked_rows_, false);
  }
  done();
  for (std::size_t i = w.decoder.size(); i-- > 0;) {
    LayerScope scope(device_, "decoder." + std::to_string(i));
    const float* x = i == 0 ? a.dec_x0 : a.decoder[i - 1].out;
    block_backward(device_, w.decoder[i], a.dec_shape, x, a.decoder[i], a.ddec[cur], a.dec_scratch,
                   a.ddec[1 - cur]);
    cur = 1 - cur;
    done();
  }
  {
    LayerScope scope(device_, "decoder.embed");
    device_.copy_rows<float>(b * nm, dd, a.ddec[cur], masked_rows_, w.dmask_token, zeros_, true);
    device_.copy_rows<float>(b * nv, dd, a.ddec[cur], visible_rows_, a.ddec_embed, {}, false);
    linear_backward(device_, w.decoder_embed, b * nv, a.encoder_norm.y, a.ddec_embed, a.denc_norm,
                    false);
  }
  done();
  cur = 0;
  {
    LayerScope scope(device_, "encoder.norm");
    const float* x = w.encoder.empty() ? a.enc_x0 : a.encoder.back().out;
    device_.fill<float>(b * nv * de, 0.0f, a.denc[cur]);
    layernorm_backward(device_, w.encoder_norm, b * nv, x, a.encoder_norm, a.denc_norm,
                       a.denc[cur]);
  }
  done();
  for (std::size_t i = w.encoder.size(); i-- > 0;) {
    LayerScope scope(device_, "encoder." + std::to_string(i));
    const float* x = i == 0 ? a.enc_x0 : a.encoder[i - 1].out;
    block_backward(device_, w.encoder[i], a.enc_shape, x, a.encoder[i], a.denc[cur], a.enc_scratch,
                   a.denc[1 - cur]);
    cur = 1 - cur;
    done();
  }
  {
    LayerScope scope(device_, "embed");
    linear_backward<float>(device_, w.embed, b * nv, a.visible, a.denc[cur], nullptr, false,
                           /*input_grad=*/false);
  }
  done();
  DOJO_ASSERT(layer == 0, "backward visited {} layers too few", layer);
}

float VideoMAE::forward_backward(std::span<const float> clips, const TubeMask& mask,
                                 const std::function<void(std::size_t)>& on_layer_grads_done) {
  const double loss = forward(clips, mask, true);
  backward(on_layer_grads_done);
  return float(loss);
}

float VideoMAE::forward_loss(std::span<const float> clips, const TubeMask& mask) {
  return float(forward(clips, mask, false));
}

std::span<const float> VideoMAE::predictions() const {
  if (device_.dry_run()) return {};
  return {a_->pred, std::size_t(batch_ * config_.masked_tokens() * config_.patch_dim())};
}

std::vector<float> VideoMAE::embed(std::span<const float> clips, std::int64_t layer,
                                   std::int64_t pool_grid) {
  const ModelConfig& c = config_;
  DOJO_CHECK(!device_.dry_run(), InvalidArgument, "VideoMAE::embed needs a real device");
  DOJO_CHECK(layer == kFinalLayer || (layer >= 0 && layer <= c.encoder_depth), InvalidArgument,
             "embedding layer (--layer) {} is not in [0, {}] (encoder_depth) nor the final "
             "LayerNorm ({})",
             layer, c.encoder_depth, kFinalLayer);
  DOJO_CHECK(pool_grid >= 1 && c.grid_h() % pool_grid == 0 && c.grid_w() % pool_grid == 0,
             InvalidArgument,
             "embedding pool grid (--pool-grid) {}: it must divide the {}x{} grid of token "
             "positions",
             pool_grid, c.grid_h(), c.grid_w());
  DOJO_CHECK(clips.size() == std::size_t(batch_ * c.clip_elems()), InvalidArgument,
             "VideoMAE::embed: expected {} clips of {}x{}x{}x{} ({} floats), got {} floats",
             batch_, c.frames, c.height, c.width, c.channels, batch_ * c.clip_elems(),
             clips.size());
  const std::int64_t b = batch_, n = c.tokens(), p = c.patch_dim(), de = c.encoder_dim;
  const AttentionShape shape{b, n, de, c.encoder_heads};
  // Its own small arena: the training activations are sized for the visible tokens only.
  struct EmbedActs {
    float *patches, *x0;
    std::array<BlockActs<float>, 2> blocks;  // ping-pong: block i reads block i-1's output
    NormActs<float> norm;
  } a{};
  auto carve = [&](Carver<float>& take) {
    a.patches = take(b * n * p);
    a.x0 = take(b * n * de);
    for (auto& blk : a.blocks) blk = carve_block_acts<float>(shape, c.encoder_hidden(), take);
    a.norm = {take(b * n * de), take(b * n), take(b * n)};
  };
  Carver<float> count;
  carve(count);
  Arena<float> arena(count.used());
  Carver<float> take(arena.data());
  carve(take);

  accel::BackwardScope forward_pass(device_, false);
  const Weights& w = *w_;
  device_.permute<float>(c.layout(b).clip_dims(), accel::kClipToTubelets, clips.data(),
                         a.patches);
  linear_forward(device_, w.embed, b * n, a.patches, a.x0);
  device_.add_rows(b * n, n, de, encoder_pos_.data(), a.x0);
  const float* x = a.x0;
  const auto blocks = layer == kFinalLayer ? w.encoder.size() : std::size_t(layer);
  for (std::size_t i = 0; i < blocks; ++i) {
    block_forward(device_, w.encoder[i], shape, x, a.blocks[i % 2]);
    x = a.blocks[i % 2].out;
  }
  if (layer == kFinalLayer) {
    layernorm_forward(device_, w.encoder_norm, b * n, x, a.norm);
    x = a.norm.y;
  }
  // (B, G*G, De): the mean of the tokens in each cell of a G x G partition of the token
  // positions, over every time slot; G = 1 is the mean over all tokens.
  const std::int64_t g = pool_grid, cells = g * g, per_cell = n / cells;
  std::vector<float> out(std::size_t(b * cells * de), 0.0f);
  for (std::int64_t j = 0; j < b; ++j) {
    float* sample = out.data() + j * cells * de;
    for (std::int64_t t = 0; t < c.grid_t(); ++t) {
      for (std::int64_t y = 0; y < c.grid_h(); ++y) {
        for (std::int64_t xp = 0; xp < c.grid_w(); ++xp) {
          const std::int64_t token = (t * c.grid_h() + y) * c.grid_w() + xp;
          const std::int64_t cell = (y * g / c.grid_h()) * g + xp * g / c.grid_w();
          const float* row = x + (j * n + token) * de;
          float* acc = sample + cell * de;
          for (std::int64_t d = 0; d < de; ++d) acc[d] += row[d];
        }
      }
    }
    for (std::int64_t k = 0; k < cells * de; ++k) sample[k] /= float(per_cell);
  }
  return out;
}

}  // namespace dojo::model
