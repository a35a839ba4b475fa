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
#include <cstdint>
#include <functional>
#include <memory>
#include <atomic>
#include <mutex>
#include <optional>
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

  std::recursive_mutex mutex_;  // the writer's
  std::unique_ptr<Connection> writer_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::atomic<unsigned> next_reader_{0};
};

double now_s();  // wall clock, seconds since the epoch

}  // namespace dojo::serve
