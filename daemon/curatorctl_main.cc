// curatorctl: the operator's command line. Today: schema migrations and
// registration of nights; the daemon's commands (plan, approve, ...) come
// with the daemon.
//
//   curatorctl migrate  [--config F | --db CONNINFO]
//   curatorctl register NIGHT... | --all   [--config F | --archive DIR --db CONNINFO]
//
// Exit codes: 0 done; 1 bad usage; 2 done, with problems reported (changed
// files, orphan catalogues); 3 failed (database unreachable, ...).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "common/archive_layout.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "common/site.h"
#include "daemon/registry.h"

ABSL_FLAG(bool, all, false, "register: every night under incoming/ with a transfer marker");

namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "curatorctl: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "curatorctl migrate | register NIGHT... | register --all\n"
      "  [--config FILE] [--archive DIR] [--db CONNINFO]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Fail(1, "give a command: migrate or register");
  const std::string command = args[1];
  if (command != "migrate" && command != "register") {
    return Fail(1, "unknown command '" + command + "'; known: migrate, register");
  }
  absl::StatusOr<curator::Site> site = curator::SiteFromFlags(command == "register");
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  const std::string conninfo = site->config.database().conninfo();
  const std::string archive = site->config.archive_root();
  auto conn = curator::pg::Connection::Connect(conninfo);
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));

  if (command == "migrate") {
    auto applied = curator::migrations::Migrate(**conn);
    if (!applied.ok()) return Fail(3, applied.status().ToString());
    auto version = curator::migrations::CurrentVersion(**conn);
    if (applied->empty()) {
      std::printf("schema is up to date at version %d\n", version.ok() ? *version : 0);
    } else {
      std::vector<std::string> v;
      for (int a : *applied) v.push_back(std::to_string(a));
      std::printf("applied migrations %s; schema is at version %d\n",
                  absl::StrJoin(v, ", ").c_str(), version.ok() ? *version : 0);
    }
    return 0;
  }

  std::vector<std::string> nights(args.begin() + 2, args.end());
  if (absl::GetFlag(FLAGS_all)) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(
             absl::StrCat(archive, "/", curator::layout::kIncoming), ec)) {
      if (std::filesystem::exists(e.path() / curator::layout::kTransferMarker)) {
        nights.push_back(e.path().filename());
      }
    }
    std::sort(nights.begin(), nights.end());
  }
  if (nights.empty()) return Fail(1, "register: give NIGHT (YYYYMMDD) or --all");
  bool problems = false;
  for (const std::string& night : nights) {
    auto reg = curator::daemon::RegisterNight(**conn, archive, night);
    if (!reg.ok()) return Fail(3, reg.status().ToString());
    int images = 0, catalogues = 0;
    for (const auto& f : reg->files) (f.is_catalogue ? catalogues : images)++;
    std::printf("%s  %d images, %d catalogues, %d newly registered%s\n", night.c_str(), images,
                catalogues, reg->new_files,
                reg->transfer_complete ? "" : " (transfer not complete)");
    for (const std::string& p : reg->problems) std::printf("  problem: %s\n", p.c_str());
    problems |= !reg->problems.empty();
  }
  return problems ? 2 : 0;
}
