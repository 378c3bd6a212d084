#include "archive/cu_registry.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/log.h"
#include "base/status.h"
#include "db/migrations.h"

namespace curator::archive {

const char* CuInputName(CuInput input) {
  switch (input) {
    case CuInput::kImages: return "images";
    case CuInput::kCatalogues: return "catalogues";
    case CuInput::kDatabase: return "database";
  }
  return "unknown";
}

const char* StageName(Stage stage) {
  return stage == Stage::kProcessed ? "processed" : "ingested";
}

const CuRegistry& CuRegistry::Default() {
  static const CuRegistry* registry = [] {
    // CU2's and CU4's ingests write rows that refer to CU3's
    // (multiframe_detector), so they wait for it; their processing does
    // not, so all three of a night run at once on different machines.
    absl::StatusOr<CuRegistry> r = Create({
        {v1::CU3, "CU3", "multiframe metadata", CuInput::kImages, {}, {}, 0},
        {v1::CU4, "CU4", "catalogue detections", CuInput::kCatalogues, {},
         {{v1::CU3, Stage::kIngested}}, 1},
        {v1::CU2, "CU2", "JPEG previews", CuInput::kImages, {}, {{v1::CU3, Stage::kIngested}}, 2},
    });
    CURATOR_CHECK(r.ok()) << "the CU table: " << r.status();
    return new CuRegistry(*std::move(r));
  }();
  return *registry;
}

const CuRegistry& CuRegistry::WithSources() {
  static const CuRegistry* registry = [] {
    CuSpec cu5{v1::CU5,
               "CU5",
               "sources cross-matched",
               CuInput::kDatabase,
               {{v1::CU4, Stage::kIngested}},
               {},
               3};
    cu5.after_previous_night = true;
    absl::StatusOr<CuRegistry> r = Default().With(std::move(cu5));
    CURATOR_CHECK(r.ok()) << "the CU table with CU5: " << r.status();
    return new CuRegistry(*std::move(r));
  }();
  return *registry;
}

absl::StatusOr<CuRegistry> CuRegistry::Create(std::vector<CuSpec> specs) {
  std::map<int, const CuSpec*> by_id;
  std::set<std::string> names;
  for (const CuSpec& s : specs) {
    if (s.cu <= 0) return absl::InvalidArgumentError(absl::StrCat("CU id ", s.cu, " is not positive"));
    if (s.name.empty()) return absl::InvalidArgumentError(absl::StrCat("CU ", s.cu, " has no name"));
    if (!by_id.emplace(s.cu, &s).second) {
      return absl::InvalidArgumentError(absl::StrCat("CU ", s.cu, " is declared twice"));
    }
    if (!names.insert(absl::AsciiStrToLower(s.name)).second) {
      return absl::InvalidArgumentError(absl::StrCat("CU name ", s.name, " is used twice"));
    }
  }
  for (const CuSpec& s : specs) {
    for (const auto* list : {&s.before_processing, &s.before_ingest}) {
      for (const Prerequisite& p : *list) {
        auto it = by_id.find(p.cu);
        if (it == by_id.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat(s.name, " waits for CU ", p.cu, ", which is not declared"));
        }
        if (it->second->rank >= s.rank) {
          return absl::InvalidArgumentError(absl::StrCat(
              s.name, " waits for ", it->second->name, ", which must have a lower rank (",
              it->second->rank, " is not below ", s.rank, ")"));
        }
      }
    }
  }
  std::stable_sort(specs.begin(), specs.end(), [](const CuSpec& a, const CuSpec& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.cu < b.cu;
  });
  return CuRegistry(std::move(specs));
}

absl::StatusOr<CuRegistry> CuRegistry::With(CuSpec spec) const {
  std::vector<CuSpec> specs = specs_;
  specs.push_back(std::move(spec));
  return Create(std::move(specs));
}

const CuSpec* CuRegistry::Find(int cu) const {
  for (const CuSpec& s : specs_) {
    if (s.cu == cu) return &s;
  }
  return nullptr;
}

absl::StatusOr<const CuSpec*> CuRegistry::Get(int cu) const {
  if (const CuSpec* s = Find(cu)) return s;
  return absl::InvalidArgumentError(absl::StrCat("unknown CU ", cu, " (known: ", KnownNames(), ")"));
}

absl::StatusOr<const CuSpec*> CuRegistry::Parse(absl::string_view name) const {
  absl::string_view digits = name;
  if (!absl::ConsumePrefix(&digits, "CU")) absl::ConsumePrefix(&digits, "cu");
  int id = 0;
  if (absl::SimpleAtoi(digits, &id)) {
    if (const CuSpec* s = Find(id)) return s;
  }
  for (const CuSpec& s : specs_) {
    if (absl::EqualsIgnoreCase(s.name, name)) return &s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("no CU '", name, "' (known: ", KnownNames(), ")"));
}

std::string CuRegistry::Name(int cu) const {
  const CuSpec* s = Find(cu);
  return s != nullptr ? s->name : absl::StrCat("CU", cu);
}

std::string CuRegistry::KnownNames() const {
  std::vector<std::string> names;
  for (const CuSpec& s : specs_) names.push_back(s.name);
  return absl::StrJoin(names, ", ");
}

std::string CuRegistry::Describe(const Prerequisite& p) const {
  return absl::StrCat(Name(p.cu), " ", StageName(p.stage));
}

absl::Status SyncCuTable(pg::Connection& conn, const CuRegistry& registry) {
  std::vector<std::string> ids, names, titles, inputs, ranks;
  for (const CuSpec& s : registry.specs()) {
    ids.push_back(std::to_string(s.cu));
    names.push_back(s.name);
    titles.push_back(s.title);
    inputs.push_back(CuInputName(s.input));
    ranks.push_back(std::to_string(s.rank));
  }
  return conn
      .Exec("INSERT INTO curation.cu (cu, name, title, input, rank) SELECT * FROM "
            "unnest($1::smallint[], $2::text[], $3::text[], $4::text[], $5::integer[]) ON "
            "CONFLICT (cu) DO UPDATE SET name = EXCLUDED.name, title = EXCLUDED.title, input = "
            "EXCLUDED.input, rank = EXCLUDED.rank",
            {pg::TextArray(ids), pg::TextArray(names), pg::TextArray(titles),
             pg::TextArray(inputs), pg::TextArray(ranks)})
      .status();
}

absl::Status MigrateArchive(pg::Connection& conn, const CuRegistry& registry) {
  CURATOR_RETURN_IF_ERROR(migrations::Migrate(conn).status());
  return SyncCuTable(conn, registry);
}

}  // namespace curator::archive
