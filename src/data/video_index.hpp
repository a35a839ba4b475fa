#pragma once
// Indexing a video without decoding it (the streaming loader's index).
//
// index_video() reads only the container: the video stream's packets are demuxed (their
// headers and timestamps; nothing is decoded) and their presentation times are put, in
// presentation order, through the same FrameSampler a VideoReader uses. So it predicts
// the frames VideoReader(path, fps) returns: with fps = 0 the video packets (one decoded
// frame each), with fps > 0 the sampled ticks. A packet the decoder later rejects (a
// damaged file) makes the count one too high; reading that far then fails with an error
// naming the file. Throws FormatError like VideoReader's constructor for an unusable file.
#include <cstdint>
#include <string>
#include <vector>

namespace dojo::data {

struct VideoIndex {
  std::int64_t sampled_frames = 0;  // what VideoReader(path, fps).next() would return
  std::int64_t packets = 0;         // video packets (= decoded frames of an intact file)
  // fps = 0 only: presentation timestamp (stream time base) of each frame, in order; what
  // VideoReader::seek_frame() takes.
  std::vector<std::int64_t> frame_pts;
  std::vector<std::int64_t> key_frames;  // fps = 0 only: ordinals of the key frames, rising
  bool seekable = false;                 // fps = 0 and every frame has a distinct timestamp
};

VideoIndex index_video(const std::string& path, double fps);

}  // namespace dojo::data
