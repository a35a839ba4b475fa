#pragma once
// The service's database: users, tokens (hashes only), datasets and their files, jobs and
// their events, in one SQLite file (WAL journal). All SQL of the service is in store.cpp,
// always as prepared statements with bound parameters.
//
// Threading: one writer connection and a few read-only ones (WAL lets readers run while
// the writer commits or checkpoints). Every write takes the writer's mutex, so writes from
// the HTTP threads and the scheduler thread are serialised; `transaction` runs a function
// under that mutex inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK if it throws), and the
// reads inside it go to the writer (they see its uncommitted rows). Other reads take a free
// reader connection and see the last committed state, so a status poll never waits for the
// scheduler's inserts of metrics rows.
//
// Caches: a status poll reads a token, a user and a job, and 64 clients polling on 2 cores
// queue for the few reader connections (a connection's holder, preempted by the kernel,
// kept everyone behind it waiting for up to 200 ms). So `job`, `user_by_id` and
// `user_for_token` answer from memory once they have read a row. After a write commits, a
// saved job replaces its cached row and a change of users or tokens drops theirs; a read
// that overlapped a write does not fill the cache (a generation count tells). Jobs are
// written only by the serving process. Users and tokens are also written by `dojo serve
// user add|revoke` in another process: every change of them, in any process, replaces the
// marker file next to the database (`DB-users`), and a reader whose marker has changed
// drops its users and tokens; while the marker is less than two seconds old (two changes
// within the file system's time granularity would look alike), users and tokens are read
// from the database.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

struct sqlite3;

namespace dojo::serve {

struct UserRecord {
  std::int64_t id = 0;
  std::string name;
  bool admin = false;
  std::int64_t max_running = 2;  // jobs running at once
  std::int64_t max_ranks = 4;    // ranks of one job, and of all running jobs together
  std::int64_t max_storage_bytes = 10LL << 30;
  bool revoked = false;
  double created_s = 0;
};

enum class TokenKind { kApi, kSession };

struct TokenRecord {
  std::string hash;
  std::int64_t user_id = 0;
  TokenKind kind = TokenKind::kApi;
  std::string csrf;       // sessions only
  double expires_s = 0;   // 0 = never
};

struct DatasetRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string name;
  double created_s = 0;
  std::int64_t ingest_job = 0;  // the newest ingest job, 0 if none
};

struct DatasetFile {
  std::string name;
  std::int64_t bytes = 0;
};

struct JobRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string kind;   // train | ingest
  std::string state;  // queued | running | succeeded | failed | cancelled
  std::int64_t dataset_id = 0, eval_dataset_id = 0;
  std::int64_t ranks = 1, threads = 1;
  std::int64_t step = 0, steps = 0;
  double loss = 0, clips_per_s = 0, eta_s = 0;
  bool has_metrics = false;
  std::string failure_reason;
  double created_s = 0, queued_s = 0, started_s = 0, finished_s = 0;
  std::string executor;     // local | slurm
  std::string executor_id;  // process group id, or Slurm job id
  std::int64_t start_ticks = 0;  // the process's start time (/proc/PID/stat field 22)
  std::int64_t exit_code = -1;
  bool cancel_requested = false;
  double cancel_deadline_s = 0;
  std::int64_t log_offset = 0, metrics_offset = 0;  // bytes already turned into events
  std::string quote;  // JSON
  std::string argv;   // JSON array: the command the executor runs
  std::int64_t attempts = 0;
};

struct EventRecord {
  std::int64_t id = 0;
  std::int64_t job_id = 0;
  std::string type;  // state | log | metrics | eval
  std::string data;  // JSON
};

class Store {
 public:
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void transaction(const std::function<void()>& body);

  // Users and tokens.
  std::int64_t add_user(const UserRecord& user);
  std::optional<UserRecord> user_by_name(const std::string& name);
  std::optional<UserRecord> user_by_id(std::int64_t id);
  std::vector<UserRecord> users();
  void revoke_user(std::int64_t id);  // marks it revoked and deletes its tokens
  void add_token(const TokenRecord& token);
  // The token's user if the token exists, is of `kind`, has not expired and its user is
  // not revoked.
  std::optional<std::pair<UserRecord, TokenRecord>> user_for_token(const std::string& hash,
                                                                   TokenKind kind, double now_s);
  void delete_token(const std::string& hash);

  // Datasets.
  std::int64_t add_dataset(const DatasetRecord& dataset);
  std::optional<DatasetRecord> dataset(std::int64_t id);
  std::vector<DatasetRecord> datasets(std::optional<std::int64_t> user_id);
  void set_dataset_ingest_job(std::int64_t dataset_id, std::int64_t job_id);
  void put_dataset_file(std::int64_t dataset_id, const DatasetFile& file);
  std::vector<DatasetFile> dataset_files(std::int64_t dataset_id);
  std::int64_t user_storage_bytes(std::int64_t user_id);

  // Jobs.
  std::int64_t add_job(const JobRecord& job);
  std::optional<JobRecord> job(std::int64_t id);
  std::vector<JobRecord> jobs(std::optional<std::int64_t> user_id);
  std::vector<JobRecord> jobs_in_state(const std::string& state);
  std::int64_t count_jobs(std::int64_t user_id, const std::string& state);
  void save_job(const JobRecord& job);

  // Events (ids grow over all jobs; a job's events are those with its job_id).
  std::int64_t add_event(std::int64_t job_id, const std::string& type, const std::string& data);
  std::vector<EventRecord> events_after(std::int64_t job_id, std::int64_t after_id,
                                        std::int64_t limit);

 private:
  struct Connection;
  class Use;  // a connection locked for one call
  Use writer();
  Use reader();

  enum Change : unsigned { kJobsChanged = 1, kUsersChanged = 2 };
  void changed(unsigned what, const JobRecord* job = nullptr);  // after a write, by the writer
  void apply_pending();  // at once, or when the open transaction ends
  std::unique_lock<std::shared_mutex> lock_cache();  // exclusively, never asleep
  void drop_users();  // the cached users and tokens, under lock_cache()
  bool users_cache_usable();  // checks the marker; false while it is unsettled
  // `cache[key]`, else `read()` (kept unless a write overlapped it).
  template <typename Key, typename Row, typename Read>
  std::optional<Row> cached(std::map<Key, Row>& cache, const std::uint64_t& generation,
                            const Key& key, Read read);

  std::string users_marker_;  // DB-users
  std::recursive_mutex mutex_;  // the writer's
  std::unique_ptr<Connection> writer_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::atomic<unsigned> next_reader_{0};

  // Changes made inside the open transaction (under the writer's mutex), applied at commit.
  unsigned pending_changes_ = 0;
  std::vector<JobRecord> pending_jobs_;

  std::shared_mutex cache_mutex_;
  std::uint64_t jobs_generation_ = 0, users_generation_ = 0;
  std::map<std::int64_t, JobRecord> jobs_cache_;
  std::map<std::int64_t, UserRecord> users_cache_;
  std::map<std::string, std::pair<UserRecord, TokenRecord>> tokens_cache_;
  std::array<std::int64_t, 4> users_marker_seen_{};  // its inode, size, mtime when last seen
};

double now_s();  // wall clock, seconds since the epoch

}  // namespace dojo::serve
