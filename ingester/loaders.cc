// The ingest loaders of Curator's own CUs.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "archive/live.h"
#include "base/status.h"
#include "ingester/batch_loader.h"
#include "ingester/comp_file_loader.h"
#include "ingester/detection_loader.h"
#include "ingester/source_loader.h"
#include "ingester/table_loader.h"
#include "ingester/table_rules.h"

namespace curator::ingester {
namespace {

// CU3: the metadata tables, then the night's frames of a re-delivery held
// until their detections are in (archive/live.h).
class MetadataLoader : public TableLoader {
 public:
  MetadataLoader() : TableLoader(MetadataRules()) {}
  absl::StatusOr<LoadResult> Load(const LoadInput& in,
                                  std::vector<std::string>* problems) override {
    CURATOR_ASSIGN_OR_RETURN(LoadResult load, TableLoader::Load(in, problems));
    if (problems->empty()) {
      CURATOR_RETURN_IF_ERROR(
          archive::live::HoldNewVersions(in.conn, in.manifest.night()));
    }
    return load;
  }
};

}  // namespace

LoaderTable DefaultLoaders() {
  LoaderTable t;
  t[v1::CU2] = std::make_unique<CompFileLoader>();
  t[v1::CU3] = std::make_unique<MetadataLoader>();
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
