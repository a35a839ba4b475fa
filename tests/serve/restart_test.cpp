// The service's queue and its restarts, with real jobs: fair share between two users on
// one slot, the queue quota and the request rate; kill -9 of the server while jobs run and
// wait (live jobs re-adopted, a dead one failed with the reason, nothing duplicated or left
// running), and SIGTERM (the server stops, its jobs do not).
#include "serve/fixture.hpp"

namespace dojo::serve_test {
namespace {

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            fmt::format("dojo-serve-restart-{}-{}", ::getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    // Jobs a failed test may have left: their process groups are in the database's rows,
    // which the test knows; here only the folder goes.
    fs::remove_all(root_);
  }
  fs::path root_;
};

bool group_alive(const json& job) {
  const auto id = job.value("executor_id", json()).is_string()
                      ? std::stoi(job["executor_id"].get<std::string>())
                      : 0;
  return id > 0 && ::kill(-id, 0) == 0;
}

TEST_F(RestartTest, KillNineReadoptsLiveJobsFailsDeadOnesAndDuplicatesNothing) {
  const auto state = root_ / "state";
  const auto token = add_user(state, "u", "--max-running 2 --max-ranks 2");
  ServerProcess server(state, {"--slots", "2", "--poll-interval", "0.1", "--cancel-grace", "20"});
  server.start();
  ApiClient c(server.url(), token);
  const auto dataset = ingested_dataset(c, "d", videos_in(synth_clips(root_ / "synth", 2)));
  const auto j1 = submit_tiny(c, dataset, 5000, {{"train.checkpoint_every", 100000}}).json()["id"].get<std::int64_t>();
  const auto j2 = submit_tiny(c, dataset, 5000).json()["id"].get<std::int64_t>();
  const auto j3 = submit_tiny(c, dataset, 3).json()["id"].get<std::int64_t>();
  ASSERT_TRUE(wait_until([&] { return job_of(c, j1).value("step", 0) >= 2 && job_of(c, j2).value("step", 0) >= 2; },
                         120, 200))
      << c.get(fmt::format("/v1/jobs/{}/logs", j1)).body;
  auto q = job_of(c, j3);
  EXPECT_EQ(q["state"], "queued");  // max_running 2
  EXPECT_EQ(q["queue_position"], 1);
  const auto before1 = job_of(c, j1);
  const auto before2 = job_of(c, j2);

  server.kill9();
  // While the server is down, j2's processes die too.
  const auto pgid2 = std::stoi(before2["executor_id"].get<std::string>());
  ASSERT_EQ(::kill(-pgid2, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return ::kill(-pgid2, 0) != 0; }, 10));
  EXPECT_TRUE(group_alive(before1));

  server.start();
  ApiClient c2(server.url(), token);
  // j1 was re-adopted: the same process, still making progress.
  const auto adopted = job_of(c2, j1);
  EXPECT_EQ(adopted["state"], "running");
  EXPECT_EQ(adopted["executor_id"], before1["executor_id"]);
  const auto step_then = adopted["step"].get<std::int64_t>();
  EXPECT_TRUE(wait_until([&] { return job_of(c2, j1).value("step", 0) > step_then + 2; }, 60, 200));
  // j2 failed with the reason; j3 took its place and finished.
  const auto failed = job_of(c2, j2);
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_NE(failed.value("failure_reason", "").find("gone"), std::string::npos) << failed.dump();
  EXPECT_FALSE(wait_state(c2, j3, "succeeded", 120).is_null()) << job_of(c2, j3).dump();
  // Nothing was duplicated: the ingest and the three training jobs, once each.
  std::vector<std::int64_t> listed;
  const auto all_jobs = c2.get("/v1/jobs").json();
  for (const auto& j : all_jobs["jobs"]) listed.push_back(j["id"].get<std::int64_t>());
  EXPECT_EQ(listed.size(), 4u);
  EXPECT_EQ(std::set<std::int64_t>(listed.begin(), listed.end()).size(), listed.size());

  // j1's metrics events: one per step, in order, across the restart.
  std::vector<std::int64_t> steps;
  const auto target = job_of(c2, j1)["step"].get<std::int64_t>();
  c2.follow_events(fmt::format("/v1/jobs/{}/events", j1), 0, [&](const serve::SseEvent& e) {
    if (e.type == "metrics") steps.push_back(json::parse(e.data)["step"].get<std::int64_t>());
    return steps.empty() || steps.back() < target;
  });
  ASSERT_FALSE(steps.empty());
  for (std::size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i], static_cast<std::int64_t>(i + 1));

  // SIGTERM: the server stops, the job does not; the next server adopts it again.
  EXPECT_EQ(server.terminate(20), 0) << server.log();
  EXPECT_TRUE(group_alive(before1));
  server.start();
  ApiClient c3(server.url(), token);
  EXPECT_EQ(job_of(c3, j1)["state"], "running");
  ASSERT_EQ(c3.post(fmt::format("/v1/jobs/{}/cancel", j1), json::object()).status, 200);
  EXPECT_FALSE(wait_state(c3, j1, "cancelled", 60).is_null());
  EXPECT_FALSE(group_alive(before1));
  const auto final_jobs = c3.get("/v1/jobs").json();
  for (const auto& j : final_jobs["jobs"]) EXPECT_NE(j["state"], "running");
  EXPECT_EQ(server.terminate(20), 0);
}

TEST_F(RestartTest, FairShareAlternatesUsersOnOneSlotAndQueueAndRateQuotasRefuse) {
  const auto state = root_ / "state";
  const auto ta = add_user(state, "a", "--max-running 1");
  const auto tb = add_user(state, "b", "--max-running 1");
  const auto tc = add_user(state, "c");
  ServerProcess server(state, {"--slots", "1", "--poll-interval", "0.1", "--max-queued", "2",
                               "--rate-limit", "20"});
  server.start();
  ApiClient a(server.url(), ta), b(server.url(), tb);
  const auto clips = videos_in(synth_clips(root_ / "synth", 2));
  const auto da = ingested_dataset(a, "da", clips);
  const auto db = ingested_dataset(b, "db", clips);
  const auto a1 = submit_tiny(a, da, 5000).json()["id"].get<std::int64_t>();
  ASSERT_FALSE(wait_state(a, a1, "running", 60).is_null());
  const auto a2 = submit_tiny(a, da, 2).json()["id"].get<std::int64_t>();
  const auto a3 = submit_tiny(a, da, 2).json()["id"].get<std::int64_t>();
  const auto a4 = submit_tiny(a, da, 2);
  EXPECT_EQ(a4.status, 429);
  EXPECT_EQ(a4.json()["error"]["field"], "max_queued");
  const auto b1 = submit_tiny(b, db, 2).json()["id"].get<std::int64_t>();
  const auto b2 = submit_tiny(b, db, 2).json()["id"].get<std::int64_t>();
  // a ran last, so b goes first; then the users alternate.
  EXPECT_EQ(job_of(b, b1)["queue_position"], 1);
  EXPECT_EQ(job_of(a, a2)["queue_position"], 2);
  EXPECT_EQ(job_of(b, b2)["queue_position"], 3);
  EXPECT_EQ(job_of(a, a3)["queue_position"], 4);

  // The request rate per token: a burst beyond 20/s is refused for c only.
  ApiClient cc(server.url(), tc);
  int refused = 0;
  for (int i = 0; i < 60; ++i) {
    const auto r = cc.get("/v1/me");
    if (r.status == 429) {
      ++refused;
      EXPECT_EQ(r.json()["error"]["field"], "rate");
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_EQ(b.get("/v1/me").status, 200);

  ASSERT_EQ(a.post(fmt::format("/v1/jobs/{}/cancel", a1), json::object()).status, 200);
  json jb2, ja3;
  ASSERT_FALSE((jb2 = wait_state(b, b2, "succeeded", 180)).is_null());
  ASSERT_FALSE((ja3 = wait_state(a, a3, "succeeded", 180)).is_null());
  const auto jb1 = job_of(b, b1), ja2 = job_of(a, a2);
  EXPECT_EQ(jb1["state"], "succeeded");
  EXPECT_EQ(ja2["state"], "succeeded");
  const auto started = [](const json& j) { return j["started_s"].get<double>(); };
  EXPECT_LT(started(jb1), started(ja2));
  EXPECT_LT(started(ja2), started(jb2));
  EXPECT_LT(started(jb2), started(ja3));
  EXPECT_EQ(server.terminate(20), 0);
}

}  // namespace
}  // namespace dojo::serve_test
