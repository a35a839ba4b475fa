#include "accel/flows.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"

namespace dojo::accel {

double FlowProfile::time_s(double bytes) const {
  double worst = 0;
  for (const auto& term : terms) worst = std::max(worst, term.latency_s + bytes * term.s_per_byte);
  return worst;
}

namespace {

// An XY route is a horizontal then a vertical segment. A segment runs along `axis` on
// `line` (y for horizontal, x for vertical) over the links p in [lo, hi) (link p joins
// positions p and p+1), forward when the flow moves to larger positions.
struct Segment {
  Axis axis;
  std::int64_t line, lo, hi;
  bool forward;
};

int segments_of(const Flow& f, Segment out[2]) {
  int n = 0;
  if (f.src.x != f.dst.x)
    out[n++] = {Axis::kX, f.src.y, std::min(f.src.x, f.dst.x), std::max(f.src.x, f.dst.x),
                f.dst.x > f.src.x};
  if (f.src.y != f.dst.y)
    out[n++] = {Axis::kY, f.dst.x, std::min(f.src.y, f.dst.y), std::max(f.src.y, f.dst.y),
                f.dst.y > f.src.y};
  return n;
}

// Level-0 link loads, one array per direction, laid out so that a segment's links are
// contiguous: horizontal links at y * grid_x + p, vertical ones at x * grid_y + p.
// Filled with difference arrays (O(1) per segment), then prefix-summed.
class Loads {
 public:
  explicit Loads(const Topology& topo)
      : topo_(topo),
        positions_(static_cast<std::size_t>(topo.grid_x() * topo.grid_y())),
        level0_(4, std::vector<std::uint32_t>(positions_ + 1, 0)),
        boundary_(topo.resource_count() - 4 * positions_, 0) {}

  std::uint32_t* row(const Segment& s) {
    const std::int64_t len = s.axis == Axis::kX ? topo_.grid_x() : topo_.grid_y();
    return level0_[index(s)].data() + s.line * len;
  }
  template <typename Fn>
  void for_boundaries(const Segment& s, Fn&& fn) {
    const auto& b = topo_.boundaries(s.axis);
    for (auto it = std::lower_bound(b.begin(), b.end(), s.lo); it != b.end() && *it < s.hi; ++it) {
      const std::int64_t p = *it;
      const int level = topo_.link_level(s.axis, p);
      const int direction = (s.axis == Axis::kX ? 0 : 2) + (s.forward ? 0 : 1);
      const std::size_t r =
          topo_.boundary_resource(s.axis, level, s.line, s.forward ? p : p + 1, direction) -
          4 * positions_;
      fn(level, boundary_[r]);
    }
  }
  void add(const Segment& s) {
    std::uint32_t* r = row(s);
    ++r[s.lo];
    --r[s.hi];
    for_boundaries(s, [](int, std::uint32_t& load) { ++load; });
  }
  void finish() {
    for (int d = 0; d < 4; ++d) {
      auto& a = level0_[static_cast<std::size_t>(d)];
      for (std::size_t i = 1; i < a.size(); ++i) a[i] += a[i - 1];
      // Boundary positions hold no level-0 link: never the level-0 bottleneck.
      const Axis axis = d < 2 ? Axis::kX : Axis::kY;
      const std::int64_t len = axis == Axis::kX ? topo_.grid_x() : topo_.grid_y();
      const std::int64_t lines = axis == Axis::kX ? topo_.grid_y() : topo_.grid_x();
      for (std::int64_t line = 0; line < lines; ++line)
        for (const auto p : topo_.boundaries(axis)) a[static_cast<std::size_t>(line * len + p)] = 0;
    }
  }

 private:
  static std::size_t index(const Segment& s) {
    return static_cast<std::size_t>((s.axis == Axis::kX ? 0 : 2) + (s.forward ? 0 : 1));
  }
  const Topology& topo_;
  std::size_t positions_;
  std::vector<std::vector<std::uint32_t>> level0_;
  std::vector<std::uint32_t> boundary_;
};

}  // namespace

FlowProfile profile_flows(const Topology& topo, std::span<const Flow> flows) {
  FlowProfile profile;
  profile.flows = flows.size();
  const auto levels = static_cast<std::size_t>(topo.level_count());
  profile.hops_per_level.assign(levels, 0.0);
  std::vector<double> latency(levels), s_per_byte(levels);
  for (std::size_t l = 0; l < levels; ++l) {
    latency[l] = topo.hop_latency_s(static_cast<int>(l));
    s_per_byte[l] = 1.0 / topo.link_bytes_per_s(static_cast<int>(l));
  }
  Loads loads(topo);
  Segment seg[2];
  for (const auto& flow : flows) {
    DOJO_ASSERT(topo.contains(flow.src) && topo.contains(flow.dst), "flow ({},{})->({},{})",
                flow.src.x, flow.src.y, flow.dst.x, flow.dst.y);
    const int n = segments_of(flow, seg);
    for (int i = 0; i < n; ++i) loads.add(seg[i]);
  }
  loads.finish();
  // A term matters only if no other has both a larger or equal latency and a larger or
  // equal s_per_byte (the Pareto set); in practice it holds a few terms.
  auto& terms = profile.terms;
  for (const auto& flow : flows) {
    const int n = segments_of(flow, seg);
    if (n == 0) continue;
    FlowProfile::Term term;
    std::uint32_t max_load0 = 0;
    for (int i = 0; i < n; ++i) {
      const Segment& s = seg[i];
      std::int64_t level0_hops = s.hi - s.lo;
      loads.for_boundaries(s, [&](int level, std::uint32_t& load) {
        --level0_hops;
        const auto l = static_cast<std::size_t>(level);
        term.latency_s += latency[l];
        term.s_per_byte = std::max(term.s_per_byte, static_cast<double>(load) * s_per_byte[l]);
        profile.hops_per_level[l] += 1;
        profile.max_link_level = std::max(profile.max_link_level, level);
      });
      const std::uint32_t* r = loads.row(s);
      for (std::int64_t p = s.lo; p < s.hi; ++p) max_load0 = std::max(max_load0, r[p]);
      term.latency_s += static_cast<double>(level0_hops) * latency[0];
      profile.hops_per_level[0] += static_cast<double>(level0_hops);
      if (level0_hops > 0) profile.max_link_level = std::max(profile.max_link_level, 0);
    }
    term.s_per_byte = std::max(term.s_per_byte, static_cast<double>(max_load0) * s_per_byte[0]);
    bool dominated = false;
    for (const auto& t : terms) {
      if (t.latency_s >= term.latency_s && t.s_per_byte >= term.s_per_byte) {
        dominated = true;
        break;
      }
    }
    if (dominated) continue;
    std::erase_if(terms, [&](const FlowProfile::Term& t) {
      return term.latency_s >= t.latency_s && term.s_per_byte >= t.s_per_byte;
    });
    terms.push_back(term);
  }
  return profile;
}

double transfer_time_s(const Topology& topo, Coord src, Coord dst, double bytes) {
  const Flow flow{src, dst};
  return profile_flows(topo, std::span(&flow, 1)).time_s(bytes);
}

}  // namespace dojo::accel
