#include "archive/shards.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "base/status.h"
#include "db/lock_keys.h"
#include "db/migrations.h"

namespace curator::archive::shards {
namespace {

// Connection-string keywords that go into the head's user mapping rather
// than its foreign server, and those postgres_fdw takes in neither.
const std::set<std::string>& UserMappingKeys() {
  static const auto* keys = new std::set<std::string>{
      "user", "password", "sslcert", "sslkey", "sslpassword"};
  return *keys;
}
const std::set<std::string>& IgnoredKeys() {
  static const auto* keys =
      new std::set<std::string>{"client_encoding", "fallback_application_name",
                                "replication", "application_name"};
  return *keys;
}

// Options as PostgreSQL lists them ("key=value").
std::map<std::string, std::string> ParseOptions(const pg::Result& r, int row,
                                                int col) {
  std::map<std::string, std::string> out;
  if (r.IsNull(row, col)) return out;
  // A text[] in its text form: {host=/tmp/x,"dbname=a b"}.
  std::string text = r.Get(row, col);
  if (text.size() >= 2) text = text.substr(1, text.size() - 2);
  std::string item;
  bool quoted = false;
  auto flush = [&] {
    const size_t eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
    item.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (c == '\\' && quoted && i + 1 < text.size()) {
      item += text[++i];
    } else if (c == ',' && !quoted) {
      flush();
    } else {
      item += c;
    }
  }
  if (!item.empty()) flush();
  return out;
}

absl::StatusOr<std::string> Literal(pg::Connection& conn,
                                    const std::string& value) {
  CURATOR_ASSIGN_OR_RETURN(pg::Result r,
                           conn.Exec("SELECT quote_literal($1)", {value}));
  return r.Get(0, 0);
}

// "OPTIONS (ADD k 'v', SET k 'v', DROP k)" turning `have` into `want`;
// "" when they are equal. With `create`, "OPTIONS (k 'v', ...)" for a
// CREATE.
absl::StatusOr<std::string> AlterOptions(
    pg::Connection& conn, const std::map<std::string, std::string>& have,
    const std::map<std::string, std::string>& want, bool create = false) {
  std::vector<std::string> items;
  for (const auto& [k, v] : want) {
    auto h = have.find(k);
    if (h != have.end() && h->second == v) continue;
    CURATOR_ASSIGN_OR_RETURN(std::string literal, Literal(conn, v));
    items.push_back(absl::StrCat(create            ? ""
                                 : h == have.end() ? "ADD "
                                                   : "SET ",
                                 conn.QuoteIdentifier(k), " ", literal));
  }
  for (const auto& [k, v] : have) {
    if (!want.count(k))
      items.push_back(absl::StrCat("DROP ", conn.QuoteIdentifier(k)));
  }
  if (items.empty()) return std::string();
  return absl::StrCat("OPTIONS (", absl::StrJoin(items, ", "), ")");
}

// Makes the object `options_sql` ($1: `name`) finds with `create`, or
// changes its options to `want` with `alter`.
absl::Status Reconcile(pg::Connection& head, const char* options_sql,
                       const std::string& name, const std::string& create,
                       const std::string& alter, const std::string& drop,
                       const std::map<std::string, std::string>& want) {
  // The statements may hold a password: errors say what failed without
  // them (pg::Connection's errors quote the statement after " in: ").
  const auto run = [&](const std::string& sql) -> absl::Status {
    absl::Status s = head.Exec(sql).status();
    if (s.ok()) return s;
    std::string message(s.message());
    message = message.substr(0, message.find(" in: "));
    return absl::Status(s.code(), absl::StrCat(alter.substr(6), ": ", message));
  };
  CURATOR_ASSIGN_OR_RETURN(pg::Result existing, head.Exec(options_sql, {name}));
  if (existing.rows() == 1 && existing.IsNull(0, 0) && !drop.empty()) {
    // Options this role may not read (a mapping it does not own): made
    // again rather than guessed at.
    CURATOR_RETURN_IF_ERROR(run(drop));
    existing = pg::Result();
  }
  if (existing.rows() == 0) {
    CURATOR_ASSIGN_OR_RETURN(std::string options,
                             AlterOptions(head, {}, want, true));
    return run(absl::StrCat(create, " ", options));
  }
  CURATOR_ASSIGN_OR_RETURN(
      std::string options,
      AlterOptions(head, ParseOptions(existing, 0, 0), want));
  if (options.empty()) return absl::OkStatus();
  return run(absl::StrCat(alter, " ", options));
}

absl::Status ConfigureShard(pg::Connection& head, const Shard& shard) {
  CURATOR_ASSIGN_OR_RETURN(auto keys, pg::ParseConnInfo(shard.conninfo));
  std::map<std::string, std::string> server, mapping;
  for (const auto& [k, v] : keys) {
    if (IgnoredKeys().count(k)) continue;
    (UserMappingKeys().count(k) ? mapping : server)[k] = v;
  }
  // Q3C's functions may run on the shard (cone searches pushed down);
  // the shards are scanned at once (async Append); rows come in large
  // fetches.
  server["extensions"] = "q3c";
  server["async_capable"] = "true";
  server["fetch_size"] = "10000";
  const std::string name = ServerName(shard.name);
  const std::string quoted = head.QuoteIdentifier(name);
  CURATOR_RETURN_IF_ERROR(Reconcile(
      head, "SELECT srvoptions FROM pg_foreign_server WHERE srvname = $1", name,
      absl::StrCat("CREATE SERVER ", quoted,
                   " FOREIGN DATA WRAPPER postgres_fdw"),
      absl::StrCat("ALTER SERVER ", quoted), "", server));
  // One mapping for every role of the head: readers reach the shards with
  // the ingester's login. A reader that is not a superuser needs a
  // password in it (postgres_fdw's rule).
  CURATOR_RETURN_IF_ERROR(Reconcile(
      head,
      "SELECT umoptions FROM pg_user_mappings WHERE srvname = $1 AND umuser = "
      "0",
      name, absl::StrCat("CREATE USER MAPPING FOR PUBLIC SERVER ", quoted),
      absl::StrCat("ALTER USER MAPPING FOR PUBLIC SERVER ", quoted),
      absl::StrCat("DROP USER MAPPING FOR PUBLIC SERVER ", quoted), mapping));
  return head
      .Exec(
          "INSERT INTO curation.shard (name, server) VALUES ($1, $2) ON "
          "CONFLICT DO NOTHING",
          {shard.name, name})
      .status();
}

bool LinkLost(const absl::Status& s, pg::Connection* conn) {
  return s.code() == absl::StatusCode::kUnavailable ||
         (conn != nullptr && conn->IsBroken());
}

// A gid as an SQL literal (batch ids are [A-Za-z0-9_.-], but be sure).
std::string GidLiteral(const std::string& gid) {
  return absl::StrCat("'", absl::StrReplaceAll(gid, {{"'", "''"}}), "'");
}

}  // namespace

std::vector<Shard> FromConfig(const v1::DatabaseConfig& database) {
  std::vector<Shard> out;
  for (const v1::ShardConfig& s : database.shards())
    out.push_back({s.name(), s.conninfo()});
  return out;
}

std::string ServerName(const std::string& shard) {
  return absl::StrCat("shard_", shard);
}

absl::Status MigrateShards(pg::Connection& head,
                           const std::vector<Shard>& shards) {
  if (shards.empty()) return absl::OkStatus();
  for (const Shard& shard : shards) {
    absl::StatusOr<std::unique_ptr<pg::Connection>> conn =
        pg::Connection::Connect(shard.conninfo);
    if (!conn.ok())
      return Annotate(conn.status(), absl::StrCat("shard ", shard.name));
    CURATOR_ASSIGN_OR_RETURN(pg::Result prepared,
                             (*conn)->Exec("SHOW max_prepared_transactions"));
    if (prepared.GetInt(0, 0) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shard ", shard.name,
          " has max_prepared_transactions = 0: loads there commit in two "
          "phases; set it above the number of ingesters (e.g. 20) and "
          "restart that server"));
    }
    absl::StatusOr<std::vector<int>> applied = migrations::Migrate(**conn);
    if (!applied.ok()) {
      return Annotate(applied.status(),
                      absl::StrCat("migrating shard ", shard.name));
    }
    if (!applied->empty()) {
      CURATOR_LOG(INFO) << "shard " << shard.name << ": applied "
                        << applied->size() << " migrations";
    }
  }
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(head));
  CURATOR_RETURN_IF_ERROR(
      head.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(",
                             pg::lock_keys::kMigrations, ")"))
          .status());
  CURATOR_ASSIGN_OR_RETURN(pg::Result known,
                           head.Exec("SELECT name FROM curation.shard"));
  std::set<std::string> configured;
  for (const Shard& s : shards) configured.insert(s.name);
  for (int i = 0; i < known.rows(); ++i) {
    if (!configured.count(known.Get(i, 0))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shard ", known.Get(i, 0),
          " holds detections of this archive but is not in database.shards; "
          "put it back in the config"));
    }
  }
  if (known.rows() == 0) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result local,
        head.Exec(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = "
            "i.inhrelid "
            "WHERE i.inhparent = 'detection'::regclass AND c.relkind <> 'f'"));
    if (local.GetInt(0, 0) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("the head database holds ", local.GetInt(0, 0),
                       " detection partitions of its own: an archive's "
                       "detections are not moved to shards "
                       "by migrate; start the shards with a new archive, or "
                       "leave database.shards out"));
    }
  }
  CURATOR_RETURN_IF_ERROR(
      head.Exec("CREATE EXTENSION IF NOT EXISTS postgres_fdw").status());
  // Foreign partitions cannot sit under a unique index: each shard keeps
  // the key of its own partitions, and blocks of ids never overlap.
  CURATOR_RETURN_IF_ERROR(
      head.Exec(
              "ALTER TABLE detection DROP CONSTRAINT IF EXISTS detection_pkey")
          .status());
  for (const Shard& shard : shards) {
    absl::Status s = ConfigureShard(head, shard);
    if (!s.ok())
      return Annotate(
          s, absl::StrCat("configuring shard ", shard.name, " on the head"));
  }
  return tx.Commit();
}

absl::StatusOr<bool> Sharded(pg::Connection& head) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, head.Exec("SELECT EXISTS (SELECT 1 FROM curation.shard)"));
  return r.Get(0, 0) == "t";
}

absl::StatusOr<pg::Connection*> ShardSet::Get(const std::string& name) {
  auto it = connections_.find(name);
  if (it != connections_.end() && !it->second->IsBroken())
    return it->second.get();
  auto shard = std::find_if(shards_.begin(), shards_.end(),
                            [&](const Shard& s) { return s.name == name; });
  if (shard == shards_.end()) {
    return absl::NotFoundError(
        absl::StrCat("shard ", name, " is not in database.shards"));
  }
  absl::StatusOr<std::unique_ptr<pg::Connection>> conn =
      pg::Connection::Connect(shard->conninfo);
  if (!conn.ok()) {
    return absl::UnavailableError(
        absl::StrCat("shard ", name, ": ", conn.status().message()));
  }
  pg::Connection* raw = conn->get();
  connections_[name] = *std::move(conn);
  resolved_.erase(name);
  return raw;
}

absl::StatusOr<std::string> ShardOfNight(pg::Connection& head,
                                         const ShardSet& set,
                                         const std::string& night) {
  std::vector<std::string> names;
  for (const Shard& s : set.shards()) names.push_back(s.name);
  for (int pass = 0; pass < 2; ++pass) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result placed,
        head.Exec(
            "SELECT shard FROM curation.night_shard WHERE night = $1::date",
            {night}));
    if (placed.rows() == 1) {
      const std::string shard = placed.Get(0, 0);
      if (std::find(names.begin(), names.end(), shard) == names.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("night ", night, "'s detections are on shard ", shard,
                         ", which database.shards does not name"));
      }
      return shard;
    }
    if (pass == 1) break;
    // The fewest nights; among those, the night's day number picks (so
    // ingesters placing consecutive nights at once, neither seeing the
    // other's choice yet, still spread them).
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result least,
        head.Exec("SELECT s.name FROM (SELECT name, row_number() OVER (ORDER "
                  "BY name) - 1 AS i, "
                  "count(*) OVER () AS n FROM curation.shard WHERE name = "
                  "ANY($1::text[])) s "
                  "LEFT JOIN curation.night_shard p ON p.shard = s.name "
                  "GROUP BY s.name, s.i, s.n ORDER BY count(p.night), "
                  "((s.i - ($2::date - date '2000-01-01')) % s.n + s.n) % s.n "
                  "LIMIT 1",
                  {pg::TextArray(names), night}));
    if (least.rows() == 0) {
      return absl::FailedPreconditionError(
          "no shard of database.shards is known to the head: run curatorctl "
          "migrate");
    }
    CURATOR_RETURN_IF_ERROR(head.Exec("INSERT INTO curation.night_shard "
                                      "(night, shard) VALUES ($1::date, $2) "
                                      "ON CONFLICT (night) DO NOTHING",
                                      {night, least.Get(0, 0)})
                                .status());
  }
  return absl::InternalError(
      absl::StrCat("night ", night, " was not placed on a shard"));
}

absl::Status ShardTransactions::Failed(const std::string& shard,
                                       absl::Status status) {
  if (status.ok()) return status;
  auto it = std::find_if(open_.begin(), open_.end(),
                         [&](const Open& o) { return o.shard == shard; });
  pg::Connection* conn = it != open_.end() ? it->conn : nullptr;
  if (!LinkLost(status, conn)) return status;
  if (unavailable_.empty()) {
    unavailable_ = shard;
    unavailable_reason_ = std::string(status.message());
  }
  if (it != open_.end()) {
    // A transaction that may be prepared stays listed, without its lost
    // connection, for CommitPrepared to finish or ResolvePrepared to.
    if (it->prepared) {
      it->conn = nullptr;
    } else {
      open_.erase(it);
    }
  }
  if (set_ != nullptr) set_->Drop(shard);
  return absl::UnavailableError(
      absl::StrCat("shard ", shard, ": ", status.message()));
}

absl::StatusOr<pg::Connection*> ShardTransactions::Begin(
    const std::string& shard) {
  for (const Open& o : open_) {
    if (o.shard == shard) return o.conn;
  }
  if (set_ == nullptr)
    return absl::InternalError("this ingester has no shards");
  absl::StatusOr<pg::Connection*> conn = set_->Get(shard);
  if (!conn.ok()) {
    if (conn.status().code() == absl::StatusCode::kUnavailable &&
        unavailable_.empty()) {
      unavailable_ = shard;
      unavailable_reason_ = std::string(conn.status().message());
    }
    return conn.status();
  }
  // A shard just (re)connected may hold what a crash left prepared, which
  // would block this load (the same partition's name, the parent's lock):
  // finished first, from the head's record.
  if (head_ != nullptr && !set_->Resolved(shard)) {
    absl::StatusOr<int> finished = ResolveShard(*head_, *set_, shard, **conn);
    if (!finished.ok()) return Failed(shard, finished.status());
    set_->MarkResolved(shard);
  }
  open_.push_back({shard, *conn});
  if (absl::Status s = (*conn)->Begin(); !s.ok()) return Failed(shard, s);
  // Whatever else holds the shard's tables (a prepared transaction of
  // another ingester's crash, a long reader) fails the load after a while
  // rather than blocking it forever; the batch is tried again.
  if (absl::Status s = (*conn)->Exec("SET LOCAL lock_timeout = '30s'").status();
      !s.ok()) {
    return Failed(shard, s);
  }
  return *conn;
}

absl::Status ShardTransactions::Prepare(pg::Connection& head,
                                        const std::string& batch_id) {
  if (open_.empty()) return absl::OkStatus();
  // The head's commit decides the shards' outcome, so it must be on disk
  // before a shard commits (whatever the site's synchronous_commit).
  CURATOR_RETURN_IF_ERROR(
      head.Exec("SET LOCAL synchronous_commit = on").status());
  CURATOR_ASSIGN_OR_RETURN(std::string prefix, GidPrefix(head));
  CURATOR_ASSIGN_OR_RETURN(pg::Result xid,
                           head.Exec("SELECT pg_current_xact_id()::text"));
  gid_ = absl::StrCat(prefix, xid.Get(0, 0), ":", batch_id);
  for (size_t i = 0; i < open_.size(); ++i) {
    Open& o = open_[i];
    if (o.prepared) continue;
    // Once sent, a PREPARE whose answer is lost may have happened: the
    // caller must then end the head's transaction by rolling it back, so
    // that ResolvePrepared rolls this one back too.
    o.prepared = true;
    absl::Status s =
        o.conn->Exec(absl::StrCat("PREPARE TRANSACTION ", GidLiteral(gid_)))
            .status();
    if (!s.ok()) return Failed(o.shard, s);
  }
  return absl::OkStatus();
}

void ShardTransactions::CommitPrepared() {
  for (const Open& o : open_) {
    if (!o.prepared) continue;
    const std::string sql = absl::StrCat("COMMIT PREPARED ", GidLiteral(gid_));
    absl::Status s = o.conn != nullptr
                         ? o.conn->Exec(sql).status()
                         : absl::UnavailableError("its link was lost");
    if (!s.ok() && set_ != nullptr && LinkLost(s, o.conn)) {
      // Once more on a new connection: until it commits, the head's new
      // partition names a table its shard does not show yet.
      set_->Drop(o.shard);
      absl::StatusOr<pg::Connection*> again = set_->Get(o.shard);
      s = again.ok() ? (*again)->Exec(sql).status() : again.status();
    }
    if (!s.ok()) {
      CURATOR_LOG(WARNING)
          << "shard " << o.shard << ": COMMIT PREPARED of " << gid_
          << " failed (" << s
          << "); it is committed once the shard is back, from the head's "
             "record";
      if (set_ != nullptr) set_->Drop(o.shard);
    }
  }
  open_.clear();
}

void ShardTransactions::Abort() {
  for (const Open& o : open_) {
    if (o.conn == nullptr) continue;  // link lost: ResolvePrepared's
    if (o.prepared) {
      absl::Status s =
          o.conn->Exec(absl::StrCat("ROLLBACK PREPARED ", GidLiteral(gid_)))
              .status();
      if (!s.ok()) {
        CURATOR_LOG(WARNING)
            << "shard " << o.shard << ": ROLLBACK PREPARED of " << gid_ << ": "
            << s << " (rolled back later, from the head's record)";
      }
    } else if (!o.conn->IsBroken() && o.conn->InTransaction()) {
      (void)o.conn->Rollback();
    }
  }
  open_.clear();
}

void ShardTransactions::Leave() {
  std::vector<Open> keep;
  for (const Open& o : open_) {
    if (o.prepared) {
      CURATOR_LOG(WARNING) << "shard " << o.shard << ": " << gid_
                           << " left prepared until the head's outcome is "
                              "known";
    } else {
      keep.push_back(o);
    }
  }
  open_ = std::move(keep);
  Abort();
}

absl::StatusOr<std::string> GidPrefix(pg::Connection& head) {
  CURATOR_ASSIGN_OR_RETURN(pg::Result id,
                           head.Exec("SELECT id FROM curation.archive"));
  if (id.rows() != 1) {
    return absl::FailedPreconditionError(
        "curation.archive does not hold one id: run curatorctl migrate");
  }
  return absl::StrCat("curator:", id.Get(0, 0), ":");
}

absl::StatusOr<int> ResolveShard(pg::Connection& head, ShardSet& set,
                                 const std::string& name,
                                 pg::Connection& shard) {
  CURATOR_ASSIGN_OR_RETURN(std::string prefix, GidPrefix(head));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result prepared,
      shard.Exec("SELECT gid FROM pg_prepared_xacts WHERE database = "
                 "current_database() AND starts_with(gid, $1)",
                 {prefix}));
  int finished = 0;
  for (int i = 0; i < prepared.rows(); ++i) {
    const std::string gid = prepared.Get(i, 0);
    // curator:<archive>:<head xid>:<batch id>
    std::vector<std::string> parts =
        absl::StrSplit(gid.substr(prefix.size()), absl::MaxSplits(':', 1));
    if (parts.size() != 2 || parts[0].empty() ||
        !std::all_of(parts[0].begin(), parts[0].end(), ::isdigit)) {
      CURATOR_LOG(WARNING) << "shard " << name << ": " << gid
                           << " is not a name Curator gives; left alone";
      continue;
    }
    absl::StatusOr<pg::Result> status =
        head.Exec("SELECT pg_xact_status($1::xid8)", {parts[0]});
    if (!status.ok()) {
      // E.g. an id "in the future": a head restored from an older backup.
      CURATOR_LOG(WARNING) << "shard " << name << ": the head cannot say what "
                           << "became of " << gid << " (" << status.status()
                           << "); left for an operator";
      if (head.InTransaction()) return status.status();  // aborted now
      continue;
    }
    std::string verdict;
    if (status->IsNull(0, 0)) {
      // Too old for the head to say: its batch's record decides.
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result batch,
          head.Exec("SELECT state FROM curation.batch WHERE batch_id = $1",
                    {parts[1]}));
      verdict = batch.rows() == 1 && batch.Get(0, 0) == "ingested" ? "committed"
                                                                   : "aborted";
    } else {
      verdict = status->Get(0, 0);
    }
    if (verdict == "in progress") continue;
    const bool commit = verdict == "committed";
    absl::Status s = shard
                         .Exec(absl::StrCat(commit ? "COMMIT" : "ROLLBACK",
                                            " PREPARED ", GidLiteral(gid)))
                         .status();
    if (!s.ok()) {
      CURATOR_LOG(WARNING) << "shard " << name << ": finishing " << gid << ": "
                           << s;
      if (LinkLost(s, &shard)) return s;
      continue;
    }
    CURATOR_LOG(INFO) << "shard " << name << ": "
                      << (commit ? "committed" : "rolled back") << " " << gid
                      << ", left prepared by an ingester that stopped (the "
                         "head's transaction "
                      << verdict << ")";
    ++finished;
  }
  (void)set;
  return finished;
}

absl::StatusOr<int> ResolvePrepared(pg::Connection& head, ShardSet& set) {
  int finished = 0;
  for (const Shard& shard : set.shards()) {
    absl::StatusOr<pg::Connection*> conn = set.Get(shard.name);
    if (!conn.ok()) continue;  // down: its prepared transactions wait with it
    absl::StatusOr<int> n = ResolveShard(head, set, shard.name, **conn);
    if (!n.ok()) {
      if (LinkLost(n.status(), *conn)) {
        set.Drop(shard.name);
        continue;
      }
      return n.status();
    }
    set.MarkResolved(shard.name);
    finished += *n;
  }
  return finished;
}

}  // namespace curator::archive::shards
