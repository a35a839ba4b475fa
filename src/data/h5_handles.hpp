#pragma once
// Transitional: the HDF5 handles moved to src/h5 (h5/handles.hpp, namespace dojo::h5).
// This alias keeps `data::h5::` spellings in src/train compiling until they include
// h5/handles.hpp themselves; src/data does not use it.
#include "h5/handles.hpp"

namespace dojo::data {
namespace h5 = ::dojo::h5;
}  // namespace dojo::data
