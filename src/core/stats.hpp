#pragma once
// Small statistics used by benchmarks and calibration: one median, one percentile.
#include <vector>

namespace dojo {

// The median of `values` (the mean of the two middle ones for an even count); 0 for none.
double median(std::vector<double> values);
// The p-th percentile (p in [0, 100]) by linear interpolation between closest ranks; 0 for none.
double percentile(std::vector<double> values, double p);

}  // namespace dojo
