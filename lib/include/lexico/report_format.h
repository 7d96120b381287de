// How reports are printed: aligned tables for people, JSON for scripts.
#pragma once
#include <string>

#include "lexico/dump_encoding.h"

namespace lexico {

// One row per layer: RRE mean and std of keys and values, non-zeros per
// vector and bytes per vector; a last row pools all layers.
std::string recon_report_table(const EncodingReport& report);
std::string recon_report_json(const EncodingReport& report);

}  // namespace lexico
