// The ingest loaders of Curator's own CUs.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ingester/batch_loader.h"
#include "ingester/comp_file_loader.h"
#include "ingester/detection_loader.h"
#include "ingester/source_loader.h"
#include "ingester/table_loader.h"
#include "ingester/table_rules.h"

namespace curator::ingester {

LoaderTable DefaultLoaders() {
  LoaderTable t;
  t[v1::CU2] = std::make_unique<CompFileLoader>();
  t[v1::CU3] = std::make_unique<TableLoader>(MetadataRules());
  t[v1::CU4] = std::make_unique<DetectionLoader>();
  t[v1::CU5] = std::make_unique<SourceLoader>();
  return t;
}

const LoaderTable& DefaultLoaderTable() {
  static const LoaderTable* table = new LoaderTable(DefaultLoaders());
  return *table;
}

absl::Status CheckLoaders(const LoaderTable& loaders, const archive::CuRegistry& registry) {
  std::vector<std::string> missing;
  for (const archive::CuSpec& s : registry.specs()) {
    if (!loaders.count(s.cu)) missing.push_back(s.name);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("this ingester has no loader for ", absl::StrJoin(missing, ", ")));
}

}  // namespace curator::ingester
