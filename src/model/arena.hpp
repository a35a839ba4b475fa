#pragma once
// Arenas: one 64-byte-aligned allocation per kind of state (parameters, gradients, AdamW
// moments, activations). Tensors are views at offsets; every offset is rounded up to 16
// floats (64 bytes) so each view starts on a cache line.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace dojo::model {

inline constexpr std::size_t kArenaAlignBytes = 64;

// Rounds an element count up so the next view starts 64-byte aligned.
template <typename T>
constexpr std::size_t align_elems(std::size_t n) {
  constexpr std::size_t per_line = kArenaAlignBytes / sizeof(T);
  return (n + per_line - 1) / per_line * per_line;
}

// A zero-initialised, 64-byte-aligned array of T.
template <typename T>
class Arena {
 public:
  Arena() = default;
  explicit Arena(std::size_t elems) : size_(elems) {
    if (elems == 0) return;
    const std::size_t bytes = align_elems<T>(elems) * sizeof(T);
    void* p = std::aligned_alloc(kArenaAlignBytes, bytes);
    DOJO_CHECK(p != nullptr, Error, "arena: cannot allocate {} bytes", bytes);
    std::memset(p, 0, bytes);
    data_.reset(static_cast<T*>(p));
  }
  T* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::span<T> span() const { return {data_.get(), size_}; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

// Hands out consecutive aligned views of an arena. With a null base it only counts, so
// the same carve function sizes an arena and then fills in its views.
template <typename T>
class Carver {
 public:
  explicit Carver(T* base = nullptr) : base_(base) {}
  T* operator()(std::int64_t elems) {
    T* p = base_ != nullptr ? base_ + used_ : nullptr;
    used_ += align_elems<T>(std::size_t(elems));
    return p;
  }
  std::size_t used() const { return used_; }

 private:
  T* base_;
  std::size_t used_ = 0;
};

}  // namespace dojo::model
