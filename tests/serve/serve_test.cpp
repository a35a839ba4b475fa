// `dojo serve` end to end: two users upload clips (real ones when $DOJO_SHARED_DATA/driving
// is present, synthetic otherwise) and a broken file, ingest them, run tiny training jobs
// followed through their events, download the checkpoint, cancel and resume; and every
// security and bad-input case of the service.
#include <sstream>

#include "serve/fixture.hpp"

namespace dojo::serve_test {
namespace {

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-serve-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "web" / "vendor");
    std::ofstream(root_ / "web" / "index.html") << "<!doctype html><title>dojo</title>";
    std::ofstream(root_ / "web" / "app.js") << "export const x = 1;\n";
    std::ofstream(root_ / "web" / "vendor" / "chart.css") << "body{}\n";
    const auto state = root_ / "state";
    alice_ = add_user(state, "alice", "--max-ranks 2 --max-running 2");
    bob_ = add_user(state, "bob");
    admin_ = add_user(state, "root", "--admin");
    carol_ = add_user(state, "carol");
    tiny_quota_ = add_user(state, "dave", "--max-storage-gb 0.0001");
    server_ = std::make_unique<ServerProcess>(
        state, std::vector<std::string>{"--slots", "2", "--poll-interval", "0.1", "--heartbeat",
                                        "1", "--read-timeout", "2", "--max-streams", "3",
                                        "--cancel-grace", "30", "--web-dir",
                                        (root_ / "web").string()});
    server_->start();
    // The training data: synthetic clips, one real clip when present, and a broken file.
    const auto synth = synth_clips(root_ / "synth", 3);
    auto files = videos_in(synth);
    const auto real = fs::path(dojo::testing::env_or_empty("DOJO_SHARED_DATA")) / "driving" /
                      "autobahn_highway_960x540.mp4";
    if (fs::exists(real)) files.push_back(real);
    std::ofstream(root_ / "broken.mp4") << "this is not a video, only its name says so";
    files.push_back(root_ / "broken.mp4");
    ApiClient alice(server_->url(), alice_);
    dataset_ = ingested_dataset(alice, "driving", files);
    used_real_clip_ = fs::exists(real);
  }
  static void TearDownTestSuite() {
    if (server_) {
      EXPECT_EQ(server_->terminate(20), 0) << server_->log();
    }
    server_.reset();
    fs::remove_all(root_);
  }

  static ApiClient client(const std::string& token) { return ApiClient(server_->url(), token); }

  static inline fs::path root_;
  static inline std::unique_ptr<ServerProcess> server_;
  static inline std::string alice_, bob_, admin_, carol_, tiny_quota_;
  static inline std::int64_t dataset_ = 0;
  static inline bool used_real_clip_ = false;
};

TEST_F(ServeTest, MissingWrongAndRevokedTokensAre401) {
  EXPECT_EQ(client("").get("/v1/jobs").status, 401);
  EXPECT_EQ(client("dojo_" + std::string(64, '0')).get("/v1/jobs").status, 401);
  auto carol = client(carol_);
  EXPECT_EQ(carol.get("/v1/me").status, 200);
  const auto r = dojo::testing::run_command(fmt::format(
      "{} serve user revoke carol --state {}", dojo::testing::dojo_bin(), server_->state().string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto after = carol.get("/v1/me");
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.json()["error"].value("field", ""), "Authorization");
  const auto raw = raw_http(server_->port(),
                            "GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Basic abc\r\n"
                            "Connection: close\r\n\r\n");
  EXPECT_EQ(raw.status, 401);
}

TEST_F(ServeTest, AdminEndpointIs403ForOthers) {
  const auto denied = client(alice_).get("/v1/users");
  EXPECT_EQ(denied.status, 403);
  const auto users = client(admin_).get("/v1/users");
  ASSERT_EQ(users.status, 200);
  EXPECT_GE(users.json()["users"].size(), 4u);
}

TEST_F(ServeTest, IngestedDatasetListsClipsAndEverySkippedFileWithItsReason) {
  const auto d = client(alice_).get(fmt::format("/v1/datasets/{}", dataset_)).json();
  EXPECT_EQ(d["ingest"]["state"], "succeeded");
  EXPECT_GT(d["clips"].get<int>(), 0);
  ASSERT_EQ(d["skipped"].size(), 1u) << d.dump();
  EXPECT_EQ(d["skipped"][0]["file"], "broken.mp4");
  EXPECT_FALSE(d["skipped"][0]["reason"].get<std::string>().empty());
  EXPECT_EQ(d["ingest"]["ok"].size(), used_real_clip_ ? 4u : 3u) << d.dump();
  EXPECT_EQ(d["files"].size(), used_real_clip_ ? 5u : 4u);
  const auto list = client(alice_).get("/v1/datasets").json();
  ASSERT_EQ(list["datasets"].size(), 1u);
  EXPECT_TRUE(client(bob_).get("/v1/datasets").json()["datasets"].empty());
}

TEST_F(ServeTest, TinyJobRunsToSucceededThroughItsEventsAndItsCheckpointInspects) {
  auto alice = client(alice_);
  const auto submitted = submit_tiny(alice, dataset_, 6, {{"train.checkpoint_every", 3}});
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const auto job_id = submitted.json()["id"].get<std::int64_t>();
  const auto quote = submitted.json()["quote"];
  ASSERT_EQ(quote["targets"].size(), 3u);
  for (const auto& t : quote["targets"]) {
    if (t["preset"] == "host" && !t["available"].get<bool>()) {
      EXPECT_FALSE(t["reason"].get<std::string>().empty());
      continue;
    }
    EXPECT_TRUE(t["available"].get<bool>()) << t.dump();
    EXPECT_GT(t["step_s"].get<double>(), 0);
    EXPECT_NEAR(t["total_s"].get<double>(), 6 * t["step_s"].get<double>(), 1e-9);
  }
  std::vector<std::string> states;
  std::vector<std::int64_t> steps, ids;
  const int status = alice.follow_events(fmt::format("/v1/jobs/{}/events", job_id), 0,
                                         [&](const serve::SseEvent& e) {
                                           ids.push_back(e.id);
                                           const auto data = json::parse(e.data);
                                           if (e.type == "state") states.push_back(data["state"]);
                                           if (e.type == "metrics") steps.push_back(data["step"]);
                                           return true;
                                         });
  EXPECT_EQ(status, 200);
  EXPECT_EQ(states, (std::vector<std::string>{"queued", "running", "succeeded"}))
      << alice.get(fmt::format("/v1/jobs/{}/logs", job_id)).body << server_->log();
  EXPECT_EQ(steps, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  const auto job = job_of(alice, job_id);
  EXPECT_EQ(job["step"], 6);
  EXPECT_TRUE(job["loss"].is_number());
  EXPECT_EQ(job["exit_code"], 0);

  // Reconnecting after the third event replays exactly the rest.
  std::vector<std::int64_t> replay;
  alice.follow_events(fmt::format("/v1/jobs/{}/events", job_id), ids.at(2),
                      [&](const serve::SseEvent& e) {
                        replay.push_back(e.id);
                        return true;
                      });
  EXPECT_EQ(replay, std::vector<std::int64_t>(ids.begin() + 3, ids.end()));

  // Artifacts: the newest checkpoint downloads and inspects as one.
  const auto artifacts = alice.get(fmt::format("/v1/jobs/{}/artifacts", job_id)).json();
  std::string checkpoint;
  for (const auto& a : artifacts["artifacts"]) {
    const auto name = a["name"].get<std::string>();
    if (name.find("checkpoints/") == 0 && name.find(".h5") != std::string::npos) checkpoint = name;
  }
  ASSERT_FALSE(checkpoint.empty()) << artifacts.dump();
  const auto local = root_ / "downloaded.h5";
  const auto got =
      alice.download(fmt::format("/v1/jobs/{}/artifacts/{}", job_id, checkpoint), local.string());
  ASSERT_EQ(got.status, 200) << got.body;
  const auto inspect = dojo::testing::run_command(
      fmt::format("{} inspect {}", dojo::testing::dojo_bin(), local.string()));
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  // A Range request gets just those bytes.
  const auto part = alice.get(fmt::format("/v1/jobs/{}/artifacts/{}", job_id, checkpoint),
                              {{"Range", "bytes=0-9"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body.size(), 10u);
  std::ifstream in(local, std::ios::binary);
  std::string head(10, '\0');
  in.read(head.data(), 10);
  EXPECT_EQ(part.body, head);
  // Logs from an offset.
  const auto logs = alice.get(fmt::format("/v1/jobs/{}/logs?offset=0", job_id));
  ASSERT_EQ(logs.status, 200);
  EXPECT_NE(logs.body.find("step"), std::string::npos);
  EXPECT_EQ(std::stoll(logs.headers.at("x-next-offset")), static_cast<long long>(logs.body.size()));
}

TEST_F(ServeTest, CancelCheckpointsAndResumeContinuesFromIt) {
  auto alice = client(alice_);
  const auto submitted = submit_tiny(alice, dataset_, 5000, {{"train.checkpoint_every", 100000}});
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const auto id = submitted.json()["id"].get<std::int64_t>();
  ASSERT_TRUE(wait_until([&] { return job_of(alice, id).value("step", 0) >= 3; }, 90, 200))
      << alice.get(fmt::format("/v1/jobs/{}/logs", id)).body;
  const auto cancel = alice.post(fmt::format("/v1/jobs/{}/cancel", id), json::object());
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  auto job = wait_state(alice, id, "cancelled", 60);
  ASSERT_FALSE(job.is_null()) << job_of(alice, id).dump();
  const auto stopped_at = job["step"].get<std::int64_t>();
  EXPECT_LT(stopped_at, 5000);
  // The stop wrote a checkpoint (checkpoint_every alone would not have).
  const auto artifacts = alice.get(fmt::format("/v1/jobs/{}/artifacts", id)).body;
  EXPECT_NE(artifacts.find(fmt::format("step-{:06d}.h5", stopped_at)), std::string::npos)
      << artifacts;
  EXPECT_EQ(alice.post(fmt::format("/v1/jobs/{}/cancel", id), json::object()).status, 409);

  ASSERT_EQ(alice.post(fmt::format("/v1/jobs/{}/resume", id), json::object()).status, 200);
  // A resume event says where the run continued from; the first metrics row after it
  // continues the step count.
  std::int64_t first_after_resume = -1, resumed_from = -1;
  std::int64_t last_id = 0;
  alice.follow_events(fmt::format("/v1/jobs/{}/events", id), 0, [&](const serve::SseEvent& e) {
    last_id = e.id;
    const auto data = json::parse(e.data);
    if (e.type == "state" && data["state"] == "queued" && data.contains("reason"))
      first_after_resume = 0;  // the resume's own event; metrics after it count
    if (e.type == "resume" && first_after_resume == 0) {
      resumed_from = data["step"].get<std::int64_t>();
    }
    if (e.type == "metrics" && first_after_resume == 0) {
      first_after_resume = data["step"].get<std::int64_t>();
      return false;
    }
    return true;
  });
  EXPECT_EQ(resumed_from, stopped_at);
  EXPECT_EQ(first_after_resume, stopped_at + 1);
  ASSERT_EQ(alice.post(fmt::format("/v1/jobs/{}/cancel", id), json::object()).status, 200);
  EXPECT_FALSE(wait_state(alice, id, "cancelled", 60).is_null());
}

TEST_F(ServeTest, ConfigErrorsAre400sNamingTheField) {
  auto alice = client(alice_);
  const auto field = [&](const json& body) {
    const auto r = alice.post("/v1/jobs", body);
    EXPECT_EQ(r.status / 100, 4) << r.body;
    return std::make_pair(r.status, r.json()["error"].value("field", ""));
  };
  const json base = {{"preset", "tiny"}, {"dataset", dataset_}};
  auto with = [&](const json& extra) {
    auto b = base;
    for (const auto& [k, v] : extra.items()) b[k] = v;
    return b;
  };
  EXPECT_EQ(field(with({{"set", {{"train.steps", "many"}}}})), std::make_pair(400, std::string("train.steps")));
  EXPECT_EQ(field(with({{"set", {{"train.bogus", 1}}}})), std::make_pair(400, std::string("train.bogus")));
  EXPECT_EQ(field(with({{"set", {{"data.shards", "/etc"}}}})),
            std::make_pair(400, std::string("set.data.shards")));
  EXPECT_EQ(field(with({{"colour", "red"}})), std::make_pair(400, std::string("colour")));
  EXPECT_EQ(field(with({{"ranks", "two"}})), std::make_pair(400, std::string("ranks")));
  EXPECT_EQ(field(with({{"ranks", 1e20}})), std::make_pair(400, std::string("ranks")));
  EXPECT_EQ(field(with({{"ranks", 3}})), std::make_pair(400, std::string("ranks")));  // 8 % 3
  EXPECT_EQ(field(with({{"preset", "huge"}})), std::make_pair(400, std::string("preset")));
  EXPECT_EQ(field({{"dataset", dataset_}}), std::make_pair(400, std::string("preset")));
  EXPECT_EQ(field({{"preset", "tiny"}}), std::make_pair(400, std::string("dataset")));
  EXPECT_EQ(field({{"config", "model: tiny\ntrain: [unclosed"}, {"dataset", dataset_}}).second,
            "config");
  EXPECT_EQ(field({{"config", "model: /etc/passwd\n"}, {"dataset", dataset_}}),
            std::make_pair(400, std::string("model")));
  EXPECT_EQ(field({{"config", "model: tiny\nmesh:\n  preset: /etc/passwd\n"}, {"dataset", dataset_}}),
            std::make_pair(400, std::string("mesh.preset")));
  // Bodies that are not JSON objects, or too large.
  EXPECT_EQ(alice.post_raw("/v1/jobs", "{not json", "application/json").status, 400);
  EXPECT_EQ(alice.post_raw("/v1/jobs", "[1,2]", "application/json").json()["error"]["field"], "body");
  EXPECT_EQ(alice.post_raw("/v1/jobs", std::string(3 << 20, ' '), "application/json").status, 413);
  // A dry run answers the quote and queues nothing.
  const auto before = alice.get("/v1/jobs").json()["jobs"].size();
  const auto dry = alice.post("/v1/jobs", with({{"dry_run", true}}));
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(dry.json()["quote"]["targets"].size(), 3u);
  EXPECT_NE(dry.json()["config"].get<std::string>().find("shards:"), std::string::npos);
  EXPECT_EQ(alice.get("/v1/jobs").json()["jobs"].size(), before);
  // The server still serves everyone.
  EXPECT_EQ(client(bob_).get("/v1/me").status, 200);
}

TEST_F(ServeTest, QuotasRefuseWithTheQuotaNamed) {
  auto alice = client(alice_);
  const auto ranks = alice.post("/v1/jobs", {{"preset", "tiny"}, {"dataset", dataset_}, {"ranks", 4}});
  EXPECT_EQ(ranks.status, 403);
  EXPECT_EQ(ranks.json()["error"]["field"], "max_ranks");
  // 100 kB of storage: a 200 kB upload is refused and leaves nothing behind.
  auto dave = client(tiny_quota_);
  const auto d = dave.post("/v1/datasets", {{"name", "big"}}).json()["id"].get<std::int64_t>();
  std::ofstream(root_ / "big.bin") << std::string(200000, 'x');
  const auto up = dave.put_file(fmt::format("/v1/datasets/{}/files/big.mp4", d),
                                (root_ / "big.bin").string());
  EXPECT_EQ(up.status, 403) << up.body;
  EXPECT_EQ(up.json()["error"]["field"], "max_storage_gb");
  EXPECT_TRUE(dave.get(fmt::format("/v1/datasets/{}", d)).json()["files"].empty());
  EXPECT_FALSE(fs::exists(server_->state() / "datasets" / std::to_string(d) / "files" / "big.mp4"));
  std::ofstream(root_ / "small.bin") << std::string(1000, 'x');
  EXPECT_EQ(dave.put_file(fmt::format("/v1/datasets/{}/files/small.mp4", d),
                          (root_ / "small.bin").string())
                .status,
            201);
}

TEST_F(ServeTest, AnotherUsersObjectsAre404) {
  auto alice = client(alice_);
  auto bob = client(bob_);
  const auto submitted = alice.post("/v1/jobs", {{"preset", "tiny"}, {"dataset", dataset_},
                                                 {"set", {{"train.steps", 1}}}});
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const auto job = submitted.json()["id"].get<std::int64_t>();
  for (const auto& path :
       {fmt::format("/v1/jobs/{}", job), fmt::format("/v1/jobs/{}/logs", job),
        fmt::format("/v1/jobs/{}/artifacts", job), fmt::format("/v1/jobs/{}/artifacts/config.yaml", job),
        fmt::format("/v1/jobs/{}/events", job), fmt::format("/v1/datasets/{}", dataset_),
        fmt::format("/v1/jobs/{}", job + 1000)}) {
    EXPECT_EQ(bob.get(path).status, 404) << path;
  }
  EXPECT_EQ(bob.post(fmt::format("/v1/jobs/{}/cancel", job), json::object()).status, 404);
  EXPECT_EQ(bob.post(fmt::format("/v1/datasets/{}/ingest", dataset_), json::object()).status, 404);
  std::ofstream(root_ / "x.mp4") << "x";
  EXPECT_EQ(bob.put_file(fmt::format("/v1/datasets/{}/files/x.mp4", dataset_), (root_ / "x.mp4").string())
                .status,
            404);
  // Bob may not train on Alice's dataset either.
  EXPECT_EQ(bob.post("/v1/jobs", {{"preset", "tiny"}, {"dataset", dataset_}}).status, 404);
  // Bob does not see the job in his list; the admin does.
  EXPECT_TRUE(bob.get("/v1/jobs").json()["jobs"].empty());
  EXPECT_FALSE(client(admin_).get("/v1/jobs").json()["jobs"].empty());
  EXPECT_FALSE(wait_state(alice, job, "succeeded", 90).is_null());
}

TEST_F(ServeTest, TraversalInFileAndArtifactNamesIsRefused) {
  auto alice = client(alice_);
  const auto submitted = alice.post("/v1/jobs", {{"preset", "tiny"}, {"dataset", dataset_},
                                                 {"set", {{"train.steps", 1}}}});
  ASSERT_EQ(submitted.status, 201);
  const auto job = submitted.json()["id"].get<std::int64_t>();
  ASSERT_FALSE(wait_state(alice, job, "succeeded", 90).is_null());
  // A symlink in the run folder that leads outside it.
  const auto run = server_->state() / "jobs" / std::to_string(job) / "run";
  fs::create_symlink("/etc/passwd", run / "escape");
  fs::create_symlink(server_->state() / "dojo.db", run / "db");
  const auto base = fmt::format("/v1/jobs/{}/artifacts/", job);
  for (const std::string& target : std::vector<std::string>{base + "../config.yaml", base + "%2e%2e/config.yaml", base + "%2E%2E%2Fconfig.yaml",
        base + "/etc/passwd", base + "%2fetc%2fpasswd", base + "loss.png%00.txt", base + "escape",
        base + "db", base + "./loss.png", "/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/%2fetc%2fpasswd"}) {
    const auto r = raw_get(server_->port(), target, alice_);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << " -> " << r.status;
    EXPECT_EQ(r.text.find("root:"), std::string::npos) << target;
    EXPECT_EQ(r.text.find("SQLite"), std::string::npos) << target;
  }
  const auto listed = alice.get(fmt::format("/v1/jobs/{}/artifacts", job)).body;
  EXPECT_EQ(listed.find("escape"), std::string::npos);
  EXPECT_EQ(listed.find("\"db\""), std::string::npos);
  EXPECT_EQ(raw_get(server_->port(), base + "loss.png", alice_).status, 200);
  // Upload names: one plain component only.
  const auto d = dataset_;
  for (const std::string& name : std::vector<std::string>{"..%2fescape.mp4", "%2e%2e", ".hidden.mp4", "a%00b.mp4", "a%2Fb.mp4"}) {
    const auto r = raw_http(server_->port(),
                            fmt::format("PUT /v1/datasets/{}/files/{} HTTP/1.1\r\nHost: x\r\n"
                                        "Authorization: Bearer {}\r\nContent-Length: 1\r\n"
                                        "Connection: close\r\n\r\nx",
                                        d, name, alice_));
    EXPECT_TRUE(r.status == 400 || r.status == 404) << name << " -> " << r.text;
  }
  EXPECT_FALSE(fs::exists(server_->state() / "datasets" / std::to_string(d) / "escape.mp4"));
  EXPECT_FALSE(fs::exists(server_->state() / "datasets" / "escape.mp4"));
}

TEST_F(ServeTest, SlowClientIsCutOffAndOthersAreServed) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string partial = "GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor";
  ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
  EXPECT_EQ(client(bob_).get("/v1/me").status, 200);
  // The server gives up on the stalled request (read timeout 2 s): it may answer with a
  // 4xx, and it closes the connection.
  timeval tv{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string answer;
  char buf[256];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(n, 0) << "the connection was not closed";
  if (!answer.empty()) {
    EXPECT_EQ(answer[9], '4') << answer;
  }
  ::close(fd);
  EXPECT_EQ(client(bob_).get("/v1/me").status, 200);
}

TEST_F(ServeTest, TheReadmesRemoteCommandsUploadSubmitAndFollowAJob) {
  // docs/serve.md's three commands: `upload ... && submit` right after it must find the
  // dataset ingested (upload waits for its ingest).
  const auto remote = fmt::format("env DOJO_SERVER={} DOJO_TOKEN={} {} remote", server_->url(), bob_,
                                  dojo::testing::dojo_bin());
  const auto clips = videos_in(root_ / "synth");
  ASSERT_FALSE(clips.empty());
  std::string files;
  for (const auto& c : clips) files += c.string() + " ";
  const auto up = dojo::testing::run_command(fmt::format(
      "{} upload readme {}{} --frames 4 --size 16x16", remote, files, (root_ / "broken.mp4").string()));
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_NE(up.output.find("ingest succeeded"), std::string::npos) << up.output;
  EXPECT_NE(up.output.find("skipped broken.mp4"), std::string::npos) << up.output;
  const auto at = up.output.find("dataset ");
  ASSERT_NE(at, std::string::npos) << up.output;
  const auto dataset = std::stoll(up.output.substr(at + 8));
  const auto sub = dojo::testing::run_command(fmt::format(
      "{} submit --preset tiny --dataset {} --set train.steps=3 --set eval.clips=2", remote, dataset));
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  const auto job_at = sub.output.find("job ");
  ASSERT_NE(job_at, std::string::npos) << sub.output;
  const auto job = std::stoll(sub.output.substr(job_at + 4));
  const auto logs =
      dojo::testing::run_command(fmt::format("timeout 120 {} logs {} --follow", remote, job));
  EXPECT_EQ(logs.exit_code, 0) << logs.output;
  const auto status =
      dojo::testing::run_command(fmt::format("{} --json status {}", remote, job), false);
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_EQ(json::parse(status.output).value("state", ""), "succeeded") << status.output;
}

TEST_F(ServeTest, ListensWithADeepQueueAndAloneOnItsPort) {
  // cpp-httplib's own backlog is 5 (264 clients connecting at once lost handshakes); `ss`
  // shows a listening socket's backlog as its Send-Q.
  const auto ss = dojo::testing::run_command(
      fmt::format("ss -Hltn 'sport = :{}'", server_->port()), false);
  ASSERT_EQ(ss.exit_code, 0) << ss.output;
  std::istringstream fields(ss.output);
  std::string state, recv_q, send_q;
  fields >> state >> recv_q >> send_q;
  ASSERT_EQ(state, "LISTEN") << ss.output;
  EXPECT_GE(std::stoi(send_q), 128) << ss.output;
  // A second server on the port in use is refused (no SO_REUSEPORT sharing).
  const auto other = root_ / "second-state";
  const auto second = dojo::testing::run_command(
      fmt::format("timeout 20 {} serve --state {} --listen 127.0.0.1:{}", dojo::testing::dojo_bin(),
                  other.string(), server_->port()));
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.output.find("address in use"), std::string::npos) << second.output;
  EXPECT_EQ(client(alice_).get("/v1/me").status, 200);
}

TEST_F(ServeTest, OpenEventStreamsPerUserAreCapped) {
  auto alice = client(alice_);
  const auto submitted = submit_tiny(alice, dataset_, 5000);
  ASSERT_EQ(submitted.status, 201);
  const auto id = submitted.json()["id"].get<std::int64_t>();
  // Three streams stay open (--max-streams 3); the fourth is refused.
  std::vector<std::thread> streams;
  std::atomic<int> opened{0};
  std::atomic<bool> stop{false};
  for (int i = 0; i < 3; ++i) {
    streams.emplace_back([&] {
      ApiClient c(server_->url(), alice_);
      bool counted = false;
      c.follow_events(fmt::format("/v1/jobs/{}/events", id), 0, [&](const serve::SseEvent&) {
        if (!counted) counted = true, ++opened;
        return !stop.load();
      }, 0);
    });
  }
  ASSERT_TRUE(wait_until([&] { return opened.load() == 3; }, 30));
  const auto fourth = alice.get(fmt::format("/v1/jobs/{}/events", id));
  EXPECT_EQ(fourth.status, 429);
  EXPECT_EQ(fourth.json()["error"]["field"], "max_streams");
  stop = true;
  ASSERT_EQ(alice.post(fmt::format("/v1/jobs/{}/cancel", id), json::object()).status, 200);
  for (auto& t : streams) t.join();
  EXPECT_FALSE(wait_state(alice, id, "cancelled", 60).is_null());
}

TEST_F(ServeTest, BrowserSessionUsesAnHttpOnlyCookieAndCsrf) {
  ApiClient anon(server_->url(), "");
  EXPECT_EQ(anon.post("/v1/session", {{"token", "dojo_wrong"}}).status, 401);
  const auto signin = anon.post("/v1/session", {{"token", bob_}});
  ASSERT_EQ(signin.status, 200) << signin.body;
  EXPECT_EQ(signin.json()["user"], "bob");
  const auto csrf = signin.json()["csrf"].get<std::string>();
  const auto cookie_header = signin.headers.at("set-cookie");
  EXPECT_NE(cookie_header.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie_header.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(cookie_header.find("Path=/"), std::string::npos);
  const auto cookie = cookie_header.substr(0, cookie_header.find(';'));
  const auto session = anon.get("/v1/session", {{"Cookie", cookie}});
  ASSERT_EQ(session.status, 200);
  EXPECT_EQ(session.json()["csrf"], csrf);
  EXPECT_EQ(anon.get("/v1/session").status, 401);
  // State changes by cookie need the CSRF header; Bearer requests do not.
  const auto no_csrf = anon.post("/v1/datasets", {{"name", "x"}}, {{"Cookie", cookie}});
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(no_csrf.json()["error"]["field"], "X-CSRF-Token");
  EXPECT_EQ(anon.post("/v1/datasets", {{"name", "x"}}, {{"Cookie", cookie}, {"X-CSRF-Token", "nope"}})
                .status,
            403);
  EXPECT_EQ(anon.post("/v1/datasets", {{"name", "x"}}, {{"Cookie", cookie}, {"X-CSRF-Token", csrf}})
                .status,
            201);
  EXPECT_EQ(client(bob_).post("/v1/datasets", {{"name", "y"}}).status, 201);
  EXPECT_EQ(anon.del("/v1/session", {{"Cookie", cookie}}).status, 403);
  EXPECT_EQ(anon.del("/v1/session", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).status, 200);
  EXPECT_EQ(anon.get("/v1/session", {{"Cookie", cookie}}).status, 401);
}

TEST_F(ServeTest, DashboardFilesAndTheApiDescriptionAreServed) {
  ApiClient anon(server_->url(), "");
  const auto index = anon.get("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<title>dojo</title>"), std::string::npos);
  EXPECT_EQ(index.headers.at("cache-control"), "no-cache");
  const auto js = anon.get("/static/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.headers.at("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(anon.get("/static/vendor/chart.css").headers.at("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(anon.get("/static/missing.js").status, 404);
  const auto api = anon.get("/v1/openapi.yaml");
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.body.rfind("openapi: 3", 0), 0u);
  EXPECT_NE(api.body.find("/v1/jobs/{id}/events"), std::string::npos);
  EXPECT_EQ(client(bob_).get("/v1/nothing").status, 404);
}

}  // namespace
}  // namespace dojo::serve_test
