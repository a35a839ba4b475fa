#include "data/clip_shape.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::data {

void check_clip_shape(const ClipShape& shape, const std::string& what) {
  DOJO_CHECK(shape.frames >= 1 && shape.frames <= 4096, InvalidArgument,
             "{}: clip frames T = {}, expected 1..4096", what, shape.frames);
  DOJO_CHECK(shape.height >= 2 && shape.height <= 8192 && shape.width >= 2 && shape.width <= 8192,
             InvalidArgument, "{}: clip size {}x{} (WxH), expected each side in 2..8192", what,
             shape.width, shape.height);
  DOJO_CHECK(shape.height % 2 == 0 && shape.width % 2 == 0, InvalidArgument,
             "{}: clip size {}x{} (WxH) must be even on both sides", what, shape.width,
             shape.height);
  DOJO_CHECK(shape.channels == 1 || shape.channels == 3, InvalidArgument,
             "{}: clip channels C = {}, expected 1 or 3", what, shape.channels);
  DOJO_CHECK(shape.frame_step >= 1 && shape.frame_step <= 1024, InvalidArgument,
             "{}: frame step = {}, expected 1..1024", what, shape.frame_step);
}

std::string to_string(const ClipShape& s) {
  return fmt::format("{}x{}x{}x{} step {}", s.frames, s.height, s.width, s.channels, s.frame_step);
}

void check_clip_memory(const ClipShape& shape, std::int64_t frames_held, const std::string& what) {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_bytes = ::sysconf(_SC_PAGE_SIZE);
  const double memory_bytes = pages > 0 && page_bytes > 0
                                  ? static_cast<double>(pages) * static_cast<double>(page_bytes)
                                  : 16.0 * (1LL << 30);
  // In double: frames * H * W * C can pass 2^63 for shapes that check_clip_shape allows.
  const double need = static_cast<double>(std::max<std::int64_t>(1, frames_held)) *
                      static_cast<double>(shape.height) * static_cast<double>(shape.width) *
                      static_cast<double>(shape.channels);
  DOJO_CHECK(need <= 0.5 * memory_bytes, InvalidArgument,
             "{}: --frames {} --size {}x{} --channels {} --frame-step {} needs {:.1f} GiB for "
             "the {} frames held in memory, more than half of this machine's {:.1f} GiB: use "
             "fewer frames or a smaller size",
             what, shape.frames, shape.width, shape.height, shape.channels, shape.frame_step,
             need / (1LL << 30), frames_held, memory_bytes / (1LL << 30));
}

}  // namespace dojo::data
