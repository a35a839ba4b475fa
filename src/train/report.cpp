#include "train/report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/tubelet.hpp"

namespace dojo::train {

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const auto kind = j.find("kind"), step = j.find("step");
    if (kind != j.end() && *kind == "resume") {
      if (step == j.end() || !step->is_number()) continue;  // not a resume row dojo wrote
      const double from = step->get<double>();
      std::erase_if(rows, [from](const nlohmann::json& row) {
        const auto s = row.find("step");
        return s != row.end() && s->is_number() && s->get<double>() > from;
      });
      continue;
    }
    rows.push_back(std::move(j));
  }
  return rows;
}

nlohmann::json resume_row(std::int64_t step) { return {{"kind", "resume"}, {"step", step}}; }

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  DOJO_CHECK(out_.good(), IoError, "{}: cannot open for writing", path);
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << record.dump() << "\n";
  out_.flush();
  DOJO_CHECK(out_.good(), IoError, "{}: write failed (disk full?)", path_);
}

Progress::Progress(std::int64_t first_step, std::int64_t total_steps)
    : tty_(::isatty(STDERR_FILENO) != 0),
      first_step_(first_step),
      total_(total_steps),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(std::int64_t step, double loss, double clips_per_s, double data_wait_share) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>(step - first_step_);
  const double eta = done > 0 ? elapsed / done * static_cast<double>(total_ - step) : 0.0;
  const std::string line =
      fmt::format("step {}/{}  loss {:.4f}  {:.1f} clips/s  data-wait {:.1f}%  ETA {:.0f}s", step,
                  total_, loss, clips_per_s, 100.0 * data_wait_share, eta);
  if (tty_) {
    std::fprintf(stderr, "\r[rank 0/%d] %s\033[K", log::size(), line.c_str());
    std::fflush(stderr);
  } else {
    log::info("{}", line);
  }
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

namespace {

const cv::Scalar kInk(40, 40, 40);
const cv::Scalar kGrid(225, 225, 225);

void save_png(const std::string& path, const cv::Mat& image) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, image);
  } catch (const cv::Exception& e) {
    throw IoError(fmt::format("{}: cannot write PNG: {}", path, e.what()));
  }
  DOJO_CHECK(ok, IoError, "{}: cannot write PNG", path);
}

}  // namespace

void plot_loss(const std::string& path, const std::vector<CurvePoint>& train,
               const std::vector<CurvePoint>& eval) {
  const int width = 900, height = 540, left = 80, right = 30, top = 40, bottom = 60;
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  std::vector<CurvePoint> all(train);
  all.insert(all.end(), eval.begin(), eval.end());
  double max_step = 1, lo = INFINITY, hi = -INFINITY;
  for (const auto& p : all) {
    if (!(p.value > 0) || !std::isfinite(p.value)) continue;
    max_step = std::max(max_step, p.step);
    lo = std::min(lo, std::log10(p.value));
    hi = std::max(hi, std::log10(p.value));
  }
  if (!(lo <= hi)) lo = -1, hi = 0;
  lo = std::floor(lo * 4) / 4;
  hi = std::ceil(hi * 4) / 4;
  if (hi - lo < 0.25) hi = lo + 0.25;
  auto to_px = [&](double step, double value) {
    const double x = left + (width - left - right) * step / max_step;
    const double y = top + (height - top - bottom) * (hi - std::log10(value)) / (hi - lo);
    return cv::Point(static_cast<int>(x), static_cast<int>(y));
  };
  // Axes, grid and labels.
  for (double e = lo; e <= hi + 1e-9; e += 0.25) {
    const int y = to_px(0, std::pow(10, e)).y;
    cv::line(image, {left, y}, {width - right, y}, kGrid, 1);
    cv::putText(image, fmt::format("{:.3g}", std::pow(10, e)), {8, y + 5}, cv::FONT_HERSHEY_SIMPLEX,
                0.45, kInk, 1, cv::LINE_AA);
  }
  for (int i = 0; i <= 5; ++i) {
    const double step = max_step * i / 5;
    const int x = to_px(step, std::pow(10, hi)).x;
    cv::line(image, {x, top}, {x, height - bottom}, kGrid, 1);
    cv::putText(image, fmt::format("{:.0f}", step), {x - 12, height - bottom + 20},
                cv::FONT_HERSHEY_SIMPLEX, 0.45, kInk, 1, cv::LINE_AA);
  }
  cv::rectangle(image, {left, top}, {width - right, height - bottom}, kInk, 1);
  cv::putText(image, "step", {width / 2 - 15, height - 15}, cv::FONT_HERSHEY_SIMPLEX, 0.55, kInk, 1,
              cv::LINE_AA);
  cv::putText(image, "masked-tubelet loss (log scale)", {left, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.6,
              kInk, 1, cv::LINE_AA);
  const cv::Scalar train_color(200, 110, 30), eval_color(40, 40, 220);  // BGR
  for (std::size_t i = 1; i < train.size(); ++i) {
    if (train[i - 1].value > 0 && train[i].value > 0) {
      cv::line(image, to_px(train[i - 1].step, train[i - 1].value),
               to_px(train[i].step, train[i].value), train_color, 2, cv::LINE_AA);
    }
  }
  for (const auto& p : eval) {
    if (p.value > 0)
      cv::circle(image, to_px(p.step, p.value), 5, eval_color, cv::FILLED, cv::LINE_AA);
  }
  cv::line(image, {width - 200, 55}, {width - 170, 55}, train_color, 2);
  cv::putText(image, "train", {width - 160, 60}, cv::FONT_HERSHEY_SIMPLEX, 0.5, kInk, 1,
              cv::LINE_AA);
  cv::circle(image, {width - 185, 78}, 5, eval_color, cv::FILLED);
  cv::putText(image, "eval (held-out)", {width - 160, 83}, cv::FONT_HERSHEY_SIMPLEX, 0.5, kInk, 1,
              cv::LINE_AA);
  save_png(path, image);
}

void write_sample_grid(const std::string& path, const std::vector<SampleClip>& clips,
                       const model::ModelConfig& config, int frames,
                       const std::string& reconstruction_title) {
  const std::int64_t T = config.frames, H = config.height, W = config.width, C = config.channels;
  DOJO_CHECK(C == 1 || C == 3, InvalidArgument, "sample grid: {} channels (1 or 3 supported)", C);
  const int scale = std::max<int>(1, static_cast<int>(std::ceil(96.0 / static_cast<double>(H))));
  const int fh = static_cast<int>(H) * scale, fw = static_cast<int>(W) * scale, gap = 4;
  frames = std::max(1, std::min<int>(frames, static_cast<int>(T)));
  const int band_w = frames * (fw + gap);
  const int grid_w = 3 * band_w + 2 * 12;
  const int grid_h = static_cast<int>(clips.size()) * (fh + gap) + 28;
  cv::Mat grid(grid_h, grid_w, CV_8UC3, cv::Scalar(255, 255, 255));
  const std::string titles[] = {"input", "masked input", reconstruction_title};
  for (int b = 0; b < 3; ++b) {
    cv::putText(grid, titles[b], {b * (band_w + 12) + 4, 18}, cv::FONT_HERSHEY_SIMPLEX, 0.5, kInk,
                1, cv::LINE_AA);
  }
  for (std::size_t c = 0; c < clips.size(); ++c) {
    for (int f = 0; f < frames; ++f) {
      const std::int64_t t = frames == 1 ? 0 : f * (T - 1) / (frames - 1);
      for (int band = 0; band < 3; ++band) {
        cv::Mat frame(static_cast<int>(H), static_cast<int>(W), CV_8UC3);
        const auto& source = band == 2 ? clips[c].reconstruction : clips[c].input;
        for (std::int64_t y = 0; y < H; ++y) {
          for (std::int64_t x = 0; x < W; ++x) {
            const std::int64_t token = config.layout().token_of_pixel(t, y, x);
            const bool grey = band == 1 && clips[c].is_masked[static_cast<std::size_t>(token)];
            auto& px = frame.at<cv::Vec3b>(static_cast<int>(y), static_cast<int>(x));
            for (int ch = 0; ch < 3; ++ch) {
              const std::int64_t k = C == 1 ? 0 : ch;
              const float v =
                  grey ? 0.5f : source[static_cast<std::size_t>(((t * H + y) * W + x) * C + k)];
              px[2 - ch] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
            }
          }
        }
        cv::Mat big;
        cv::resize(frame, big, {fw, fh}, 0, 0, cv::INTER_NEAREST);
        const int x0 = band * (band_w + 12) + f * (fw + gap);
        const int y0 = 28 + static_cast<int>(c) * (fh + gap);
        big.copyTo(grid(cv::Rect(x0, y0, fw, fh)));
      }
    }
  }
  save_png(path, grid);
}

}  // namespace dojo::train
