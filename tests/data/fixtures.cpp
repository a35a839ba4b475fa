#include "data/fixtures.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
}

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

#include "comm/communicator.hpp"
#include "data/manifest.hpp"
#include "data/shard.hpp"
#include "data/synth.hpp"

namespace dojo::data::testing {
namespace fs = std::filesystem;

IngestReport ingest_on(IngestOptions options, comm::Communicator& comm) {
  options.rank = comm.rank();
  options.size = comm.size();
  options.all_gather = [&comm](const std::string& mine) {
    const auto all = comm::all_gather_bytes(comm, std::as_bytes(std::span(mine)));
    std::vector<std::string> out;
    for (const auto& bytes : all)
      out.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return out;
  };
  return ingest(options);
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "dojo-data-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}
TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}
std::string TempDir::str(const std::string& child) const {
  return child.empty() ? path_.string() : (path_ / child).string();
}

std::vector<std::string> make_synth(const fs::path& dir, std::int64_t clips, double seconds,
                                    std::uint64_t seed) {
  SynthOptions o;
  o.out_dir = dir.string();
  o.clips = clips;
  o.seconds = seconds;
  o.width = 64;
  o.height = 48;
  o.fps = 10;
  o.seed = seed;
  return synthesize(o);
}

ClipShape small_shape() {
  return ClipShape{4, 48, 64, 3, 1};
}

void write_audio_only(const std::string& path, double seconds) {
  auto fail = [&](const char* what) { throw std::runtime_error(path + ": " + what); };
  AVFormatContext* fmt = nullptr;
  if (avformat_alloc_output_context2(&fmt, nullptr, nullptr, path.c_str()) < 0) fail("context");
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (codec == nullptr) fail("no aac encoder");
  AVStream* stream = avformat_new_stream(fmt, nullptr);
  AVCodecContext* c = avcodec_alloc_context3(codec);
  c->sample_fmt = AV_SAMPLE_FMT_FLTP;
  c->sample_rate = 44100;
  c->bit_rate = 64000;
  av_channel_layout_default(&c->ch_layout, 1);
  c->time_base = AVRational{1, c->sample_rate};
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(c, codec, nullptr) < 0) fail("open aac");
  avcodec_parameters_from_context(stream->codecpar, c);
  stream->time_base = c->time_base;
  if (avio_open(&fmt->pb, path.c_str(), AVIO_FLAG_WRITE) < 0) fail("open file");
  if (avformat_write_header(fmt, nullptr) < 0) fail("header");
  AVFrame* frame = av_frame_alloc();
  frame->nb_samples = c->frame_size;
  frame->format = c->sample_fmt;
  av_channel_layout_copy(&frame->ch_layout, &c->ch_layout);
  av_frame_get_buffer(frame, 0);
  AVPacket* packet = av_packet_alloc();
  auto drain = [&] {
    while (avcodec_receive_packet(c, packet) == 0) {
      av_packet_rescale_ts(packet, c->time_base, stream->time_base);
      packet->stream_index = stream->index;
      av_interleaved_write_frame(fmt, packet);
    }
  };
  const auto total = static_cast<std::int64_t>(seconds * c->sample_rate);
  for (std::int64_t t = 0; t < total; t += c->frame_size) {
    av_frame_make_writable(frame);
    auto* samples = reinterpret_cast<float*>(frame->data[0]);
    for (int i = 0; i < c->frame_size; ++i) {
      samples[i] = 0.3f * std::sin(2 * 3.14159265 * 440.0 * double(t + i) / c->sample_rate);
    }
    frame->pts = t;
    avcodec_send_frame(c, frame);
    drain();
  }
  avcodec_send_frame(c, nullptr);
  drain();
  av_write_trailer(fmt);
  av_packet_free(&packet);
  av_frame_free(&frame);
  avcodec_free_context(&c);
  avio_closep(&fmt->pb);
  avformat_free_context(fmt);
}

void write_timed_video(const std::string& path, const std::vector<double>& times_s) {
  auto fail = [&](const char* what) { throw std::runtime_error(path + ": " + what); };
  AVFormatContext* fmt = nullptr;
  if (avformat_alloc_output_context2(&fmt, nullptr, nullptr, path.c_str()) < 0) fail("context");
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (codec == nullptr) fail("no mjpeg encoder");
  AVStream* stream = avformat_new_stream(fmt, nullptr);
  AVCodecContext* c = avcodec_alloc_context3(codec);
  c->width = 64;
  c->height = 48;
  c->pix_fmt = AV_PIX_FMT_YUVJ420P;
  c->time_base = AVRational{1, 1000};
  c->framerate = AVRational{10, 1};
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(c, codec, nullptr) < 0) fail("open mjpeg");
  avcodec_parameters_from_context(stream->codecpar, c);
  stream->time_base = c->time_base;
  stream->avg_frame_rate = c->framerate;
  if (avio_open(&fmt->pb, path.c_str(), AVIO_FLAG_WRITE) < 0) fail("open file");
  if (avformat_write_header(fmt, nullptr) < 0) fail("header");
  AVFrame* frame = av_frame_alloc();
  frame->format = c->pix_fmt;
  frame->width = c->width;
  frame->height = c->height;
  av_frame_get_buffer(frame, 0);
  AVPacket* packet = av_packet_alloc();
  for (std::size_t i = 0; i < times_s.size(); ++i) {
    av_frame_make_writable(frame);
    for (int p = 0; p < 3; ++p) {
      const int h = p == 0 ? c->height : c->height / 2;
      for (int y = 0; y < h; ++y)
        std::memset(frame->data[p] + y * frame->linesize[p], static_cast<int>(40 + 20 * i + 3 * y),
                    static_cast<std::size_t>(frame->linesize[p]));
    }
    frame->pts = static_cast<std::int64_t>(std::llround(times_s[i] * 1000));
    avcodec_send_frame(c, frame);
    while (avcodec_receive_packet(c, packet) == 0) {
      av_packet_rescale_ts(packet, c->time_base, stream->time_base);
      packet->stream_index = stream->index;
      av_interleaved_write_frame(fmt, packet);
    }
  }
  avcodec_send_frame(c, nullptr);
  while (avcodec_receive_packet(c, packet) == 0) {
    av_packet_rescale_ts(packet, c->time_base, stream->time_base);
    packet->stream_index = stream->index;
    av_interleaved_write_frame(fmt, packet);
  }
  av_write_trailer(fmt);
  av_packet_free(&packet);
  av_frame_free(&frame);
  avcodec_free_context(&c);
  avio_closep(&fmt->pb);
  avformat_free_context(fmt);
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void truncate_copy(const std::string& from, const std::string& to, std::uintmax_t bytes) {
  auto data = read_file(from);
  data.resize(std::min<std::size_t>(data.size(), bytes));
  std::ofstream(to, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void flip_byte(const std::string& path, std::int64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(~c));
}

void write_bytes(const std::string& path, std::size_t bytes, const std::string& text) {
  std::string data;
  if (text.empty()) {
    std::mt19937 rng(1234);
    for (std::size_t i = 0; i < bytes; ++i) data.push_back(static_cast<char>(rng() & 0xFF));
  } else {
    while (data.size() < bytes) data += text;
    data.resize(bytes);
  }
  std::ofstream(path, std::ios::binary)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string driving_dir() {
  const char* shared = std::getenv("DOJO_SHARED_DATA");
  if (shared == nullptr) return "";
  const fs::path dir = fs::path(shared) / "driving";
  return fs::is_directory(dir) ? dir.string() : "";
}

ClipSet clip_set(const std::string& dir) {
  ClipSet out;
  for (const auto& s : read_manifest(dir).shards) {
    ShardReader r((std::filesystem::path(dir) / s.path).string());
    for (std::int64_t i = 0; i < r.size(); ++i)
      out.emplace(r.source(i), r.start_frame(i), r.checksum(i));
  }
  return out;
}

}  // namespace dojo::data::testing
