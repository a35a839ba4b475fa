#pragma once
// The queue and the jobs' lives.
//
// Fair share: the queue order is a round robin over the users that have queued work,
// starting with the user after the one whose job started last; each user's own jobs go
// in submission order. A job starts when the executor has the slots for it and its user
// is within max_running and max_ranks (quotas at start); a job that does not fit yet
// lets the ones behind it start (backfill).
//
// Following: every tick (poll interval) each running job's log and run/metrics.jsonl are
// read from the offsets stored in its row, and the new lines become events ("log",
// "metrics", "eval", "resume") in the same transaction that advances the offsets, so a
// server that dies in between repeats nothing and loses nothing. State changes are events
// too.
//
// States: queued -> running -> succeeded | failed | cancelled; cancelled or failed
// training jobs can be queued again (resume: the trainer continues with --resume auto).
//
// Threading: one scheduler thread runs tick(); the handlers' mutations of jobs (submit,
// cancel, resume) take the same mutex, so a job row is never written by two threads.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "serve/events_bus.hpp"
#include "serve/executor.hpp"
#include "serve/store.hpp"

namespace dojo::serve {

struct SchedulerOptions {
  std::string jobs_root;         // job N's folder: jobs_root/N
  std::int64_t slots = 2;        // CPU slots of the local executor
  double poll_interval_s = 0.2;  // how often running jobs are followed
  double cancel_grace_s = 30;    // SIGUSR1 -> SIGKILL
};

class Scheduler {
 public:
  Scheduler(Store& store, Executor& executor, EventBus& bus, SchedulerOptions options);
  ~Scheduler();

  // Settles the jobs a previous server left running: live ones are adopted, finished ones
  // finished, lost ones failed with the reason. Call before start().
  void recover();
  void start();
  // Stops the thread; running jobs keep running (a restart adopts them).
  void stop();
  void wake();

  // Queues a new job (state queued) and returns its id. `prepare` runs once the id is
  // known and before the job can start (it makes the job folder, fills in the argv); if it
  // throws, nothing is queued.
  std::int64_t submit(JobRecord job, const std::function<void(JobRecord&)>& prepare = {});
  // Cancels a queued job at once; asks a running one to checkpoint and stop. False if the
  // job is already finished.
  bool cancel(std::int64_t job_id);
  // Queues a cancelled or failed job again. False if it is not in one of those states.
  bool resume(std::int64_t job_id);

  // Ids of the queued jobs in the order they would start.
  std::vector<std::int64_t> queue_order();
  // 1-based place in queue_order(), 0 if not queued.
  std::int64_t queue_position(std::int64_t job_id);

  // The state change as the scheduler records it (exposed for the tests of restarts).
  static std::string log_path(const std::string& jobs_root, std::int64_t job_id);

 private:
  void run();
  void tick();
  void follow(JobRecord& job);  // new log lines and metrics rows -> events
  void settle(JobRecord& job);  // a running job: probe, cancel deadline, finish
  void start_queued();
  void transition(JobRecord& job, const std::string& state, const std::string& reason);
  std::vector<std::int64_t> order_of(const std::vector<JobRecord>& queued) const;
  std::string job_dir(std::int64_t id) const;
  std::string last_log_line(const JobRecord& job) const;

  Store& store_;
  Executor& executor_;
  EventBus& bus_;
  SchedulerOptions options_;
  std::mutex mutex_;  // job mutations
  std::int64_t last_user_ = 0;  // the user whose job started last
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace dojo::serve
