#include "data/clip_shape.hpp"

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

}  // namespace dojo::data
