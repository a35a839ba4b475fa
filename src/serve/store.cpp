#include "serve/store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::serve {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, admin INTEGER NOT NULL,
  max_running INTEGER NOT NULL, max_ranks INTEGER NOT NULL, max_storage_bytes INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0, created_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(
  hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL, kind INTEGER NOT NULL, csrf TEXT NOT NULL,
  expires_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS datasets(
  id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL, created_s REAL NOT NULL,
  ingest_job INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS dataset_files(
  dataset_id INTEGER NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY(dataset_id, name));
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
  dataset_id INTEGER, eval_dataset_id INTEGER, ranks INTEGER, threads INTEGER, step INTEGER,
  steps INTEGER, loss REAL, clips_per_s REAL, eta_s REAL, has_metrics INTEGER,
  failure_reason TEXT, created_s REAL, queued_s REAL, started_s REAL, finished_s REAL,
  executor TEXT, executor_id TEXT, start_ticks INTEGER, exit_code INTEGER,
  cancel_requested INTEGER, cancel_deadline_s REAL, log_offset INTEGER, metrics_offset INTEGER,
  quote TEXT, argv TEXT, attempts INTEGER);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs(user_id);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, type TEXT NOT NULL,
  data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_job ON events(job_id, id);
)sql";

// The job columns, in the order job_from_row reads and bind_job binds them (after id).
constexpr const char* kJobColumns =
    "user_id, kind, state, dataset_id, eval_dataset_id, ranks, threads, step, steps, loss, "
    "clips_per_s, eta_s, has_metrics, failure_reason, created_s, queued_s, started_s, "
    "finished_s, executor, executor_id, start_ticks, exit_code, cancel_requested, "
    "cancel_deadline_s, log_offset, metrics_offset, quote, argv, attempts";
constexpr int kJobColumnCount = 29;

using Value = std::variant<std::int64_t, double, std::string>;

}  // namespace

// One SQLite connection and its prepared statements (compiled once per SQL text, reset
// after each use).
struct Store::Connection {
  sqlite3* db = nullptr;
  std::map<std::string, sqlite3_stmt*> cache;
  std::mutex mutex;  // readers' (the writer's is Store::mutex_, recursive for transactions)

  Connection(const std::string& path, int flags) {
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
      const std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      throw IoError(fmt::format("sqlite: cannot open database '{}': {}", path, why));
    }
    sqlite3_busy_timeout(db, 5000);
  }
  ~Connection() {
    for (auto& [sql, stmt] : cache) sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  sqlite3_stmt* get(const std::string& sql) {
    auto& stmt = cache[sql];
    if (stmt == nullptr) {
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
        throw IoError(fmt::format("sqlite: preparing '{}': {}", sql, sqlite3_errmsg(db)));
      }
    }
    return stmt;
  }
};

namespace {
// The store whose transaction this thread is inside (its reads go to the writer).
thread_local const Store* tl_in_transaction = nullptr;
constexpr int kReaders = 4;
constexpr std::size_t kMaxCached = 4096;  // rows per cache; a full cache starts over
constexpr double kMarkerSettle_s = 2;
}  // namespace

// A connection held for one call: the writer under the store's mutex, or a reader under
// its own.
class Store::Use {
 public:
  Use(Connection& c, std::unique_lock<std::recursive_mutex> lock)
      : connection_(c), writer_lock_(std::move(lock)) {}
  Use(Connection& c, std::unique_lock<std::mutex> lock)
      : connection_(c), reader_lock_(std::move(lock)) {}
  Connection* operator->() const { return &connection_; }

 private:
  Connection& connection_;
  std::unique_lock<std::recursive_mutex> writer_lock_;
  std::unique_lock<std::mutex> reader_lock_;
};

Store::Use Store::writer() {
  return Use(*writer_, std::unique_lock(mutex_));
}

Store::Use Store::reader() {
  if (tl_in_transaction == this) return writer();
  const unsigned first = next_reader_.fetch_add(1, std::memory_order_relaxed);
  for (unsigned i = 0; i < readers_.size(); ++i) {
    Connection& c = *readers_[(first + i) % readers_.size()];
    std::unique_lock lock(c.mutex, std::try_to_lock);
    if (lock.owns_lock()) return Use(c, std::move(lock));
  }
  Connection& c = *readers_[first % readers_.size()];
  return Use(c, std::unique_lock(c.mutex));
}

namespace {

// One execution of a prepared statement: binds, steps, reads columns, resets.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, const std::vector<Value>& args) : db_(db), stmt_(stmt) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<std::int64_t>(&args[i])) {
        rc = sqlite3_bind_int64(stmt_, index, *v);
      } else if (const auto* d = std::get_if<double>(&args[i])) {
        rc = sqlite3_bind_double(stmt_, index, *d);
      } else {
        const auto& s = std::get<std::string>(args[i]);
        rc = sqlite3_bind_text(stmt_, index, s.data(), static_cast<int>(s.size()),
                               SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) fail("binding parameter");
    }
  }
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("executing");
    return false;
  }
  std::int64_t i(int col) const { return sqlite3_column_int64(stmt_, col); }
  double d(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string s(int col) const {
    const auto* text = sqlite3_column_text(stmt_, col);
    return text == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(text),
                                         static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw IoError(fmt::format("sqlite: {} '{}': {}", what, sqlite3_sql(stmt_), sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

UserRecord user_from(const Query& q) {
  UserRecord u;
  u.id = q.i(0);
  u.name = q.s(1);
  u.admin = q.i(2) != 0;
  u.max_running = q.i(3);
  u.max_ranks = q.i(4);
  u.max_storage_bytes = q.i(5);
  u.revoked = q.i(6) != 0;
  u.created_s = q.d(7);
  return u;
}
constexpr const char* kUserColumns =
    "id, name, admin, max_running, max_ranks, max_storage_bytes, revoked, created_s";

DatasetRecord dataset_from(const Query& q) {
  return {q.i(0), q.i(1), q.s(2), q.d(3), q.i(4)};
}

JobRecord job_from(const Query& q) {
  JobRecord j;
  int c = 0;
  j.id = q.i(c++);
  j.user_id = q.i(c++);
  j.kind = q.s(c++);
  j.state = q.s(c++);
  j.dataset_id = q.i(c++);
  j.eval_dataset_id = q.i(c++);
  j.ranks = q.i(c++);
  j.threads = q.i(c++);
  j.step = q.i(c++);
  j.steps = q.i(c++);
  j.loss = q.d(c++);
  j.clips_per_s = q.d(c++);
  j.eta_s = q.d(c++);
  j.has_metrics = q.i(c++) != 0;
  j.failure_reason = q.s(c++);
  j.created_s = q.d(c++);
  j.queued_s = q.d(c++);
  j.started_s = q.d(c++);
  j.finished_s = q.d(c++);
  j.executor = q.s(c++);
  j.executor_id = q.s(c++);
  j.start_ticks = q.i(c++);
  j.exit_code = q.i(c++);
  j.cancel_requested = q.i(c++) != 0;
  j.cancel_deadline_s = q.d(c++);
  j.log_offset = q.i(c++);
  j.metrics_offset = q.i(c++);
  j.quote = q.s(c++);
  j.argv = q.s(c++);
  j.attempts = q.i(c++);
  return j;
}

std::vector<Value> job_values(const JobRecord& j) {
  return {j.user_id,
          j.kind,
          j.state,
          j.dataset_id,
          j.eval_dataset_id,
          j.ranks,
          j.threads,
          j.step,
          j.steps,
          j.loss,
          j.clips_per_s,
          j.eta_s,
          std::int64_t{j.has_metrics ? 1 : 0},
          j.failure_reason,
          j.created_s,
          j.queued_s,
          j.started_s,
          j.finished_s,
          j.executor,
          j.executor_id,
          j.start_ticks,
          j.exit_code,
          std::int64_t{j.cancel_requested ? 1 : 0},
          j.cancel_deadline_s,
          j.log_offset,
          j.metrics_offset,
          j.quote,
          j.argv,
          j.attempts};
}

}  // namespace

double now_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

Store::Store(const std::string& path)
    : users_marker_(path + "-users"),
      writer_(std::make_unique<Connection>(
          path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)) {
  char* message = nullptr;
  const std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                        "PRAGMA foreign_keys=ON;") +
                            kSchema;
  if (sqlite3_exec(writer_->db, setup.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string why = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    throw IoError(fmt::format("sqlite: setting up database '{}': {}", path, why));
  }
  for (int i = 0; i < kReaders; ++i) {
    readers_.push_back(
        std::make_unique<Connection>(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX));
  }
}

Store::~Store() = default;

// A query on the connection `use` holds.
#define DOJO_QUERY(name, sql, ...) \
  Query name(use->db, use->get(sql), std::vector<Value>{__VA_ARGS__})

void Store::transaction(const std::function<void()>& body) {
  const auto use = writer();
  { DOJO_QUERY(q, "BEGIN IMMEDIATE"); q.step(); }
  const Store* outer = tl_in_transaction;
  tl_in_transaction = this;
  try {
    body();
  } catch (...) {
    tl_in_transaction = outer;
    pending_changes_ = 0;  // nothing changed, and reads inside it filled no cache
    pending_jobs_.clear();
    DOJO_QUERY(q, "ROLLBACK");
    q.step();
    throw;
  }
  tl_in_transaction = outer;
  DOJO_QUERY(q, "COMMIT");
  q.step();
  apply_pending();
}

void Store::changed(unsigned what, const JobRecord* job) {
  pending_changes_ |= what;
  if (job != nullptr) pending_jobs_.push_back(*job);
  if (tl_in_transaction != this) apply_pending();
}

// Under the writer's mutex, after the change committed (or rolled back: dropping cached
// rows is harmless).
void Store::apply_pending() {
  const unsigned what = std::exchange(pending_changes_, 0);
  auto jobs = std::exchange(pending_jobs_, {});
  if ((what & kUsersChanged) != 0) {
    // Replaced, not rewritten: a new inode, so a reader in any process sees the change.
    const auto& marker = users_marker_;
    const auto temporary = fmt::format("{}.{}.tmp", marker, ::getpid());
    {
      std::ofstream out(temporary, std::ios::trunc);
      out << fmt::format("users or tokens changed by pid {} at {:.6f}\n", ::getpid(), now_s());
      DOJO_CHECK(out.good(), IoError, "cannot write {}", temporary);
    }
    std::error_code ec;
    std::filesystem::rename(temporary, marker, ec);
    DOJO_CHECK(!ec, IoError, "cannot replace {}: {}", marker, ec.message());
  }
  const auto lock = lock_cache();
  if ((what & kJobsChanged) != 0) {
    ++jobs_generation_;
    // Written through: the polls of a running job (saved on every scheduler tick) keep
    // hitting the cache instead of all missing at once after each save.
    if (jobs_cache_.size() + jobs.size() > kMaxCached) jobs_cache_.clear();
    for (auto& job : jobs) jobs_cache_.insert_or_assign(job.id, std::move(job));
  }
  if ((what & kUsersChanged) != 0) drop_users();
}

void Store::drop_users() {
  ++users_generation_;
  users_cache_.clear();
  tokens_cache_.clear();
}

// Spins instead of sleeping on the lock: a writer that waits asleep is handed the lock when
// the readers leave and holds it until the kernel runs it again (up to 400 ms with 64
// clients on 2 cores), and every lookup meanwhile would go to the database.
std::unique_lock<std::shared_mutex> Store::lock_cache() {
  std::unique_lock lock(cache_mutex_, std::try_to_lock);
  while (!lock.owns_lock()) {
    std::this_thread::yield();
    lock.try_lock();
  }
  return lock;
}

bool Store::users_cache_usable() {
  struct ::stat st {};
  std::array<std::int64_t, 4> seen{};  // inode, size, mtime: all zero without a marker
  bool settled = true;
  if (::stat(users_marker_.c_str(), &st) == 0) {
    seen = {static_cast<std::int64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
            static_cast<std::int64_t>(st.st_mtim.tv_sec), static_cast<std::int64_t>(st.st_mtim.tv_nsec)};
    const double mtime = static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
    settled = now_s() - mtime >= kMarkerSettle_s;
  }
  {
    std::shared_lock lock(cache_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return false;  // busy: read the database (see `cached`)
    if (seen == users_marker_seen_) return settled;
  }
  const auto lock = lock_cache();
  if (seen != users_marker_seen_) {
    users_marker_seen_ = seen;
    drop_users();
  }
  return settled;
}

// Neither a lookup nor a fill ever waits for the cache's lock: a thread holding it may have
// been preempted, and 64 polls would wait with it, so a busy lock means "read the database".
template <typename Key, typename Row, typename Read>
std::optional<Row> Store::cached(std::map<Key, Row>& cache, const std::uint64_t& generation,
                                 const Key& key, Read read) {
  std::uint64_t before = 0;
  {
    std::shared_lock lock(cache_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return read();
    if (const auto it = cache.find(key); it != cache.end()) return it->second;
    before = generation;
  }
  auto row = read();
  if (row) {
    std::unique_lock lock(cache_mutex_, std::try_to_lock);
    if (lock.owns_lock() && generation == before) {
      if (cache.size() >= kMaxCached) cache.clear();
      cache.emplace(key, *row);
    }
  }
  return row;
}

std::int64_t Store::add_user(const UserRecord& u) {
  const auto use = writer();
  DOJO_QUERY(q,
             "INSERT INTO users(name, admin, max_running, max_ranks, max_storage_bytes, revoked, "
             "created_s) VALUES(?, ?, ?, ?, ?, 0, ?)",
             u.name, std::int64_t{u.admin ? 1 : 0}, u.max_running, u.max_ranks,
             u.max_storage_bytes, now_s());
  q.step();
  const auto id = sqlite3_last_insert_rowid(use->db);
  changed(kUsersChanged);
  return id;
}

std::optional<UserRecord> Store::user_by_name(const std::string& name) {
  const auto use = reader();
  DOJO_QUERY(q, fmt::format("SELECT {} FROM users WHERE name = ?", kUserColumns), name);
  if (!q.step()) return std::nullopt;
  return user_from(q);
}

std::optional<UserRecord> Store::user_by_id(std::int64_t id) {
  const auto read = [&]() -> std::optional<UserRecord> {
    const auto use = reader();
    DOJO_QUERY(q, fmt::format("SELECT {} FROM users WHERE id = ?", kUserColumns), id);
    if (!q.step()) return std::nullopt;
    return user_from(q);
  };
  if (tl_in_transaction == this || !users_cache_usable()) return read();
  return cached(users_cache_, users_generation_, id, read);
}

std::vector<UserRecord> Store::users() {
  const auto use = reader();
  DOJO_QUERY(q, fmt::format("SELECT {} FROM users ORDER BY id", kUserColumns));
  std::vector<UserRecord> out;
  while (q.step()) out.push_back(user_from(q));
  return out;
}

void Store::revoke_user(std::int64_t id) {
  transaction([&] {
    const auto use = writer();
    { DOJO_QUERY(q, "UPDATE users SET revoked = 1 WHERE id = ?", id); q.step(); }
    DOJO_QUERY(q, "DELETE FROM tokens WHERE user_id = ?", id);
    q.step();
    changed(kUsersChanged);
  });
}

void Store::add_token(const TokenRecord& t) {
  const auto use = writer();
  DOJO_QUERY(q, "INSERT INTO tokens(hash, user_id, kind, csrf, expires_s) VALUES(?, ?, ?, ?, ?)",
             t.hash, t.user_id, std::int64_t{t.kind == TokenKind::kApi ? 0 : 1}, t.csrf,
             t.expires_s);
  q.step();
  changed(kUsersChanged);
}

std::optional<std::pair<UserRecord, TokenRecord>> Store::user_for_token(const std::string& hash,
                                                                        TokenKind kind,
                                                                        double now) {
  const auto read = [&]() -> std::optional<std::pair<UserRecord, TokenRecord>> {
    const auto use = reader();
    DOJO_QUERY(q,
               "SELECT u.id, u.name, u.admin, u.max_running, u.max_ranks, u.max_storage_bytes, "
               "u.revoked, u.created_s, t.csrf, t.expires_s FROM tokens t JOIN users u ON "
               "u.id = t.user_id WHERE t.hash = ? AND t.kind = ?",
               hash, std::int64_t{kind == TokenKind::kApi ? 0 : 1});
    if (!q.step()) return std::nullopt;
    auto user = user_from(q);
    TokenRecord token{hash, user.id, kind, q.s(8), q.d(9)};
    return std::make_pair(std::move(user), std::move(token));
  };
  const auto found = tl_in_transaction == this || !users_cache_usable()
                         ? read()
                         : cached(tokens_cache_, users_generation_, hash, read);
  if (!found || found->second.kind != kind || found->first.revoked ||
      (found->second.expires_s > 0 && found->second.expires_s < now)) {
    return std::nullopt;
  }
  return found;
}

void Store::delete_token(const std::string& hash) {
  const auto use = writer();
  DOJO_QUERY(q, "DELETE FROM tokens WHERE hash = ?", hash);
  q.step();
  changed(kUsersChanged);
}

std::int64_t Store::add_dataset(const DatasetRecord& d) {
  const auto use = writer();
  DOJO_QUERY(q, "INSERT INTO datasets(user_id, name, created_s, ingest_job) VALUES(?, ?, ?, 0)",
             d.user_id, d.name, now_s());
  q.step();
  return sqlite3_last_insert_rowid(use->db);
}

std::optional<DatasetRecord> Store::dataset(std::int64_t id) {
  const auto use = reader();
  DOJO_QUERY(q, "SELECT id, user_id, name, created_s, ingest_job FROM datasets WHERE id = ?", id);
  if (!q.step()) return std::nullopt;
  return dataset_from(q);
}

std::vector<DatasetRecord> Store::datasets(std::optional<std::int64_t> user_id) {
  const auto use = reader();
  std::vector<DatasetRecord> out;
  if (user_id) {
    DOJO_QUERY(q,
               "SELECT id, user_id, name, created_s, ingest_job FROM datasets WHERE user_id = ? "
               "ORDER BY id",
               *user_id);
    while (q.step()) out.push_back(dataset_from(q));
  } else {
    DOJO_QUERY(q, "SELECT id, user_id, name, created_s, ingest_job FROM datasets ORDER BY id");
    while (q.step()) out.push_back(dataset_from(q));
  }
  return out;
}

void Store::set_dataset_ingest_job(std::int64_t dataset_id, std::int64_t job_id) {
  const auto use = writer();
  DOJO_QUERY(q, "UPDATE datasets SET ingest_job = ? WHERE id = ?", job_id, dataset_id);
  q.step();
}

void Store::put_dataset_file(std::int64_t dataset_id, const DatasetFile& f) {
  const auto use = writer();
  DOJO_QUERY(q,
             "INSERT INTO dataset_files(dataset_id, name, bytes) VALUES(?, ?, ?) "
             "ON CONFLICT(dataset_id, name) DO UPDATE SET bytes = excluded.bytes",
             dataset_id, f.name, f.bytes);
  q.step();
}

std::vector<DatasetFile> Store::dataset_files(std::int64_t dataset_id) {
  const auto use = reader();
  DOJO_QUERY(q, "SELECT name, bytes FROM dataset_files WHERE dataset_id = ? ORDER BY name",
             dataset_id);
  std::vector<DatasetFile> out;
  while (q.step()) out.push_back({q.s(0), q.i(1)});
  return out;
}

std::int64_t Store::user_storage_bytes(std::int64_t user_id) {
  const auto use = reader();
  DOJO_QUERY(q,
             "SELECT COALESCE(SUM(f.bytes), 0) FROM dataset_files f JOIN datasets d ON "
             "d.id = f.dataset_id WHERE d.user_id = ?",
             user_id);
  q.step();
  return q.i(0);
}

std::int64_t Store::add_job(const JobRecord& job) {
  const auto use = writer();
  std::string marks = "?";
  for (int c = 1; c < kJobColumnCount; ++c) marks += ", ?";
  Query q(use->db, use->get(fmt::format("INSERT INTO jobs({}) VALUES({})", kJobColumns, marks)),
          job_values(job));
  q.step();
  return sqlite3_last_insert_rowid(use->db);
}

std::optional<JobRecord> Store::job(std::int64_t id) {
  const auto read = [&]() -> std::optional<JobRecord> {
    const auto use = reader();
    DOJO_QUERY(q, fmt::format("SELECT id, {} FROM jobs WHERE id = ?", kJobColumns), id);
    if (!q.step()) return std::nullopt;
    return job_from(q);
  };
  if (tl_in_transaction == this) return read();
  return cached(jobs_cache_, jobs_generation_, id, read);
}

std::vector<JobRecord> Store::jobs(std::optional<std::int64_t> user_id) {
  const auto use = reader();
  std::vector<JobRecord> out;
  if (user_id) {
    DOJO_QUERY(q, fmt::format("SELECT id, {} FROM jobs WHERE user_id = ? ORDER BY id", kJobColumns),
               *user_id);
    while (q.step()) out.push_back(job_from(q));
  } else {
    DOJO_QUERY(q, fmt::format("SELECT id, {} FROM jobs ORDER BY id", kJobColumns));
    while (q.step()) out.push_back(job_from(q));
  }
  return out;
}

std::vector<JobRecord> Store::jobs_in_state(const std::string& state) {
  const auto use = reader();
  DOJO_QUERY(q, fmt::format("SELECT id, {} FROM jobs WHERE state = ? ORDER BY id", kJobColumns),
             state);
  std::vector<JobRecord> out;
  while (q.step()) out.push_back(job_from(q));
  return out;
}

std::int64_t Store::count_jobs(std::int64_t user_id, const std::string& state) {
  const auto use = reader();
  DOJO_QUERY(q, "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state = ?", user_id, state);
  q.step();
  return q.i(0);
}

void Store::save_job(const JobRecord& job) {
  const auto use = writer();
  std::string sets;
  std::string columns = kJobColumns;
  std::size_t start = 0;
  while (start < columns.size()) {
    auto end = columns.find(',', start);
    if (end == std::string::npos) end = columns.size();
    auto name = columns.substr(start, end - start);
    name.erase(0, name.find_first_not_of(' '));
    sets += (sets.empty() ? "" : ", ") + name + " = ?";
    start = end + 1;
  }
  auto values = job_values(job);
  values.emplace_back(job.id);
  Query q(use->db, use->get(fmt::format("UPDATE jobs SET {} WHERE id = ?", sets)), values);
  q.step();
  changed(kJobsChanged, &job);
}

std::int64_t Store::add_event(std::int64_t job_id, const std::string& type,
                              const std::string& data) {
  const auto use = writer();
  DOJO_QUERY(q, "INSERT INTO events(job_id, type, data) VALUES(?, ?, ?)", job_id, type, data);
  q.step();
  return sqlite3_last_insert_rowid(use->db);
}

std::vector<EventRecord> Store::events_after(std::int64_t job_id, std::int64_t after_id,
                                             std::int64_t limit) {
  const auto use = reader();
  DOJO_QUERY(q,
             "SELECT id, job_id, type, data FROM events WHERE job_id = ? AND id > ? ORDER BY id "
             "LIMIT ?",
             job_id, after_id, limit);
  std::vector<EventRecord> out;
  while (q.step()) out.push_back({q.i(0), q.i(1), q.s(2), q.s(3)});
  return out;
}

}  // namespace dojo::serve
