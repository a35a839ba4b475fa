// The service's parts without HTTP: tokens and their hashes, the store, names and paths
// from requests, checked JSON fields, the rate limiter, and the scheduler's fair share
// (with an executor that only records what it was asked to start).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "serve/api.hpp"
#include "serve/auth.hpp"
#include "serve/safe_path.hpp"
#include "serve/scheduler.hpp"
#include "serve/store.hpp"
#include "accel/presets.hpp"
#include "comm/local_communicator.hpp"
#include "model/config.hpp"
#include "train/quote.hpp"

namespace dojo::serve {
namespace {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("dojo-serve-unit-" + new_secret("").substr(0, 8));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

TEST(ServeAuth, TokenIsStoredOnlyAsItsHashAndRevokingEndsIt) {
  TempDir dir;
  Store store((dir.path / "db").string());
  UserRecord u;
  u.name = "alice";
  const auto token = add_user_with_token(store, u);
  EXPECT_EQ(token.rfind("dojo_", 0), 0u);
  EXPECT_EQ(token.size(), 5u + 64u);  // 32 random bytes in hex
  EXPECT_NE(hash_secret(token), token);
  // The database file holds the hash, never the token.
  std::ifstream in(dir.path / "db", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.find(token.substr(5)), std::string::npos);
  ASSERT_TRUE(store.user_for_token(hash_secret(token), TokenKind::kApi, now_s()));
  EXPECT_FALSE(store.user_for_token(hash_secret(token + "x"), TokenKind::kApi, now_s()));
  EXPECT_FALSE(store.user_for_token(hash_secret(token), TokenKind::kSession, now_s()));
  store.revoke_user(store.user_by_name("alice")->id);
  EXPECT_FALSE(store.user_for_token(hash_secret(token), TokenKind::kApi, now_s()));
  EXPECT_NE(new_secret(""), new_secret(""));
}

TEST(ServeAuth, ExpiredSessionIsRefused) {
  TempDir dir;
  Store store((dir.path / "db").string());
  UserRecord u;
  u.name = "bob";
  add_user_with_token(store, u);
  const auto id = store.user_by_name("bob")->id;
  store.add_token({"h1", id, TokenKind::kSession, "c", now_s() - 1});
  store.add_token({"h2", id, TokenKind::kSession, "c", now_s() + 100});
  EXPECT_FALSE(store.user_for_token("h1", TokenKind::kSession, now_s()));
  EXPECT_TRUE(store.user_for_token("h2", TokenKind::kSession, now_s()));
}

TEST(ServeAuth, UserNamesAreCheckedAndUnique) {
  TempDir dir;
  Store store((dir.path / "db").string());
  UserRecord u;
  u.name = "a b";
  EXPECT_THROW(add_user_with_token(store, u), InvalidArgument);
  u.name = "ok";
  add_user_with_token(store, u);
  EXPECT_THROW(add_user_with_token(store, u), InvalidArgument);
}

TEST(ServeStore, JobRowRoundTripsEveryField) {
  TempDir dir;
  Store store((dir.path / "db").string());
  JobRecord j;
  j.user_id = 3;
  j.kind = "train";
  j.state = "running";
  j.ranks = 2;
  j.step = 7;
  j.steps = 9;
  j.loss = 0.25;
  j.has_metrics = true;
  j.failure_reason = "why; DROP TABLE jobs; --'";
  j.executor_id = "1234";
  j.start_ticks = 99;
  j.log_offset = 17;
  j.argv = R"(["a","b"])";
  j.id = store.add_job(j);
  j.metrics_offset = 5;
  store.save_job(j);
  const auto back = store.job(j.id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->failure_reason, j.failure_reason);
  EXPECT_EQ(back->ranks, 2);
  EXPECT_EQ(back->step, 7);
  EXPECT_DOUBLE_EQ(back->loss, 0.25);
  EXPECT_TRUE(back->has_metrics);
  EXPECT_EQ(back->start_ticks, 99);
  EXPECT_EQ(back->log_offset, 17);
  EXPECT_EQ(back->metrics_offset, 5);
  EXPECT_EQ(back->argv, j.argv);
  EXPECT_EQ(store.jobs_in_state("running").size(), 1u);
  const auto e1 = store.add_event(j.id, "log", "{}");
  const auto e2 = store.add_event(j.id, "log", "{}");
  EXPECT_EQ(store.events_after(j.id, e1, 10).size(), 1u);
  EXPECT_EQ(store.events_after(j.id, e1, 10)[0].id, e2);
}

// The caches of `job`, `user_by_id` and `user_for_token` (see store.hpp).
TEST(ServeStore, CachedJobSeesEveryCommittedSaveAndNoRolledBackOne) {
  TempDir dir;
  Store store((dir.path / "db").string());
  JobRecord j;
  j.user_id = 1;
  j.kind = "train";
  j.state = "running";
  j.id = store.add_job(j);
  ASSERT_EQ(store.job(j.id)->step, 0);  // read once: cached from here on
  j.step = 5;
  store.save_job(j);
  EXPECT_EQ(store.job(j.id)->step, 5);
  EXPECT_THROW(store.transaction([&] {
                 auto inside = j;
                 inside.step = 9;
                 store.save_job(inside);
                 EXPECT_EQ(store.job(j.id)->step, 9);  // reads inside see the writer's rows
                 throw IoError("abandoned");
               }),
               IoError);
  EXPECT_EQ(store.job(j.id)->step, 5);
  store.transaction([&] {
    j.step = 7;
    store.save_job(j);
  });
  EXPECT_EQ(store.job(j.id)->step, 7);
  Store other((dir.path / "db").string());  // what another connection reads agrees
  EXPECT_EQ(other.job(j.id)->step, 7);
}

TEST(ServeStore, CachedTokensFollowChangesMadeByAnotherStore) {
  TempDir dir;
  const auto db = (dir.path / "db").string();
  Store server(db);
  UserRecord u;
  u.name = "alice";
  const auto hash = hash_secret(add_user_with_token(server, u));
  const fs::path marker = db + "-users";
  ASSERT_TRUE(fs::exists(marker)) << "a change of users writes the marker";
  // A marker younger than two seconds means "read the database"; age it.
  fs::last_write_time(marker, fs::file_time_type::clock::now() - std::chrono::minutes(1));
  ASSERT_TRUE(server.user_for_token(hash, TokenKind::kApi, now_s()));  // now cached
  ASSERT_EQ(server.user_by_id(server.user_by_name("alice")->id)->name, "alice");
  // Proof that the answer comes from the cache: the token's row is deleted behind the
  // store's back (not through a Store, so no marker is written), and it still answers.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "DELETE FROM tokens", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_TRUE(server.user_for_token(hash, TokenKind::kApi, now_s()));
  // `dojo serve user revoke` in another process: its Store replaces the marker, and the
  // serving store's next lookup reads the database again.
  {
    Store cli(db);
    cli.revoke_user(cli.user_by_name("alice")->id);
  }
  // Aged too, so that what tells the change is the marker being another file, not its age.
  fs::last_write_time(marker, fs::file_time_type::clock::now() - std::chrono::minutes(1));
  EXPECT_FALSE(server.user_for_token(hash, TokenKind::kApi, now_s()));
  EXPECT_TRUE(server.user_by_id(server.user_by_name("alice")->id)->revoked);
}

TEST(ServeStore, TransactionRollsBackWhenItsBodyThrows) {
  TempDir dir;
  Store store((dir.path / "db").string());
  EXPECT_THROW(store.transaction([&] {
    store.add_event(1, "log", "{}");
    throw std::runtime_error("stop");
  }),
               std::runtime_error);
  EXPECT_TRUE(store.events_after(1, 0, 10).empty());
}

TEST(ServeSafePath, TraversalAbsoluteNulAndOutsideSymlinksAreRefused) {
  TempDir dir;
  const auto root = dir.path / "run";
  fs::create_directories(root / "sub");
  std::ofstream(root / "sub" / "a.txt") << "a";
  std::ofstream(dir.path / "secret") << "s";
  fs::create_symlink(dir.path / "secret", root / "link");
  fs::create_symlink(root / "sub" / "a.txt", root / "inner");
  EXPECT_EQ(resolve_inside(root, "sub/a.txt", "path"), fs::canonical(root / "sub" / "a.txt"));
  EXPECT_EQ(resolve_inside(root, "inner", "path"), fs::canonical(root / "sub" / "a.txt"));
  const auto status = [&](const std::string& rel) {
    try {
      resolve_inside(root, rel, "path");
      return 200;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.field(), "path");
      return e.status();
    }
  };
  EXPECT_EQ(status("../secret"), 400);
  EXPECT_EQ(status("sub/../../secret"), 400);
  EXPECT_EQ(status("/etc/passwd"), 400);
  EXPECT_EQ(status(std::string("sub/a.txt\0x", 11)), 400);
  EXPECT_EQ(status("sub//a.txt"), 400);
  EXPECT_EQ(status("link"), 404);  // a symlink that leads outside
  EXPECT_EQ(status("missing"), 404);
}

TEST(ServeSafePath, UploadNamesAreSingleComponents) {
  for (const std::string& bad : std::vector<std::string>{"", "../x", "a/b", ".hidden", "..", "a\\b", std::string("a\0b", 3),
                                "line\nbreak"}) {
    EXPECT_THROW(check_file_name(bad, "name"), ApiError) << bad;
  }
  EXPECT_NO_THROW(check_file_name("clip_01.mp4", "name"));
}

TEST(ServeJsonFields, WrongTypesHugeNumbersAndUnknownFieldsNameTheField) {
  const auto field_of = [](const nlohmann::json& body, auto read) {
    try {
      JsonFields f(body);
      read(f);
      f.finish();
      return std::string("ok");
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      return e.field();
    }
  };
  const auto ranks = [](JsonFields& f) { f.optional_integer("ranks", 1, 64); };
  EXPECT_EQ(field_of({{"ranks", 2}}, ranks), "ok");
  EXPECT_EQ(field_of({{"ranks", "2"}}, ranks), "ranks");
  EXPECT_EQ(field_of({{"ranks", 2.5}}, ranks), "ranks");
  EXPECT_EQ(field_of({{"ranks", 1e30}}, ranks), "ranks");
  EXPECT_EQ(field_of(nlohmann::json::parse("{\"ranks\": 18446744073709551615}"), ranks), "ranks");
  EXPECT_EQ(field_of({{"ranks", 65}}, ranks), "ranks");
  EXPECT_EQ(field_of({{"ranks", 1}, {"rank", 1}}, ranks), "rank");
  EXPECT_EQ(field_of({{"name", std::string(300, 'x')}},
                     [](JsonFields& f) { f.string("name", 256); }),
            "name");
}

TEST(ServeRateLimiter, RefusesPastTheRateAndKeepsTokensApart) {
  RateLimiter limiter(5);
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += limiter.allow("a") ? 1 : 0;
  EXPECT_EQ(allowed, 5);
  EXPECT_TRUE(limiter.allow("b"));
}

// Starts nothing: records the order of launches, reports every job running.
class RecordingExecutor final : public Executor {
 public:
  std::vector<std::int64_t> launched;
  std::string name() const override { return "recording"; }
  std::int64_t slots_for(std::int64_t ranks) const override { return ranks; }
  Launched launch(const LaunchRequest& r) override {
    launched.push_back(r.job_id);
    return {std::to_string(1000 + r.job_id), 0, r.argv};
  }
  Probe probe(const JobRecord&) override { return {}; }
  void request_stop(const JobRecord&) override {}
  void kill(const JobRecord&) override {}
  std::optional<Launched> find_started(const JobRecord&) override { return std::nullopt; }
};

TEST(ServeScheduler, FairShareIsRoundRobinOverUsersWithQueuedWork) {
  TempDir dir;
  Store store((dir.path / "db").string());
  UserRecord a, b;
  a.name = "a";
  a.max_running = 10;
  b.name = "b";
  b.max_running = 10;
  const auto ua = store.add_user(a), ub = store.add_user(b);
  RecordingExecutor executor;
  EventBus bus;
  Scheduler scheduler(store, executor, bus, {(dir.path / "jobs").string(), 0, 0.05, 1});
  JobRecord job;
  job.kind = "train";
  job.argv = "[]";
  std::vector<std::int64_t> ids;
  for (const auto user : {ua, ua, ua, ub, ub}) {
    job.user_id = user;
    ids.push_back(scheduler.submit(job));
  }
  // a1 a2 a3 b1 b2 -> a1 b1 a2 b2 a3 (nobody has run yet: the round starts with a).
  EXPECT_EQ(scheduler.queue_order(),
            (std::vector<std::int64_t>{ids[0], ids[3], ids[1], ids[4], ids[2]}));
  EXPECT_EQ(scheduler.queue_position(ids[4]), 4);
}

TEST(ServeScheduler, QuotasAtStartHoldJobsBackWithoutBlockingOthers) {
  TempDir dir;
  Store store((dir.path / "db").string());
  UserRecord a, b;
  a.name = "a";
  a.max_running = 1;
  b.name = "b";
  b.max_running = 5;
  b.max_ranks = 2;
  const auto ua = store.add_user(a), ub = store.add_user(b);
  RecordingExecutor executor;
  EventBus bus;
  Scheduler scheduler(store, executor, bus, {(dir.path / "jobs").string(), 3, 0.05, 1});
  JobRecord job;
  job.kind = "train";
  job.argv = "[]";
  job.user_id = ua;
  const auto a1 = scheduler.submit(job);
  const auto a2 = scheduler.submit(job);  // over a's max_running
  job.user_id = ub;
  job.ranks = 2;
  const auto b1 = scheduler.submit(job);
  const auto b2 = scheduler.submit(job);  // over b's max_ranks (2 running) and the 3 slots
  scheduler.start();
  ASSERT_TRUE([&] {
    for (int i = 0; i < 100 && executor.launched.size() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return executor.launched.size() == 2;
  }());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  scheduler.stop();
  EXPECT_EQ(executor.launched, (std::vector<std::int64_t>{a1, b1}));
  EXPECT_EQ(store.job(a2)->state, "queued");
  EXPECT_EQ(store.job(b2)->state, "queued");
}

// The job quote (train/quote.hpp), which POST /v1/jobs answers.
TEST(TrainQuote, ListsHostTileAndExapodWithTotalTimeStepsTimesStep) {
  train::TrainConfig cfg;
  cfg.model = "tiny";
  cfg.train.steps = 100;
  cfg.train.global_batch = 8;
  const auto q = train::quote_job(cfg, model::load_model_config("tiny"), 2);
  ASSERT_EQ(q.targets.size(), 3u);
  EXPECT_EQ(q.targets[0].preset, "host");
  EXPECT_EQ(q.targets[1].preset, "tile");
  EXPECT_EQ(q.targets[2].preset, "exapod");
  EXPECT_TRUE(q.targets[1].available);
  EXPECT_TRUE(q.targets[2].available);
  for (const auto& t : q.targets) {
    if (!t.available) {
      EXPECT_NE(t.reason.find("host"), std::string::npos) << t.reason;
      continue;
    }
    EXPECT_GT(t.step_s, 0);
    EXPECT_DOUBLE_EQ(t.total_s, 100 * t.step_s);
    EXPECT_GE(t.global_batch, 8);
  }
  EXPECT_EQ(q.targets[0].blocks, 2);  // the job's ranks on the host mesh
  const auto j = q.to_json();
  EXPECT_EQ(j["targets"].size(), 3u);
}

TEST(TrainQuote, OneProcessProjectionEqualsTheCollectiveOneOnASingleRank) {
  const auto spec = accel::resolve_preset("tile");
  const auto mc = model::load_model_config("tiny");
  train::StepProjectionOptions options;
  options.global_batch = 64;
  auto world = comm::make_local_world(1);
  const auto collective = train::project_step(spec, mc, options, *world[0]);
  ASSERT_TRUE(collective.has_value());
  const auto local = train::project_step(spec, mc, options, 1);
  EXPECT_DOUBLE_EQ(collective->step_s, local.step_s);
  EXPECT_EQ(collective->replicas, local.replicas);
  EXPECT_EQ(collective->global_batch, local.global_batch);
  EXPECT_EQ(collective->to_json()["step_s"], local.to_json()["step_s"]);
}

}  // namespace
}  // namespace dojo::serve
