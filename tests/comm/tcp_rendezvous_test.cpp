// The torchrun-style world: ranks as threads meet at a TcpRendezvous on 127.0.0.1 and
// build a gloo communicator through it; every collective works on it; a rendezvous that
// never completes, and a peer that stops answering, end in a Timeout naming the address
// or the rank.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "comm/allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/tcp_rendezvous.hpp"

namespace dojo::comm {
namespace {

// A TCP port nobody listens on right now (the kernel's pick for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs `body` on `n` ranks (threads) of a gloo world made through one rendezvous.
std::vector<std::exception_ptr> run_gloo_world(int n, Millis timeout,
                                               const std::function<void(Communicator&)>& body) {
  const RendezvousAddress address{"127.0.0.1", free_port()};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        TcpRendezvous rendezvous(address, r, n, timeout);
        GlooCommunicator comm(rendezvous);
        body(comm);
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

void rethrow_first(const std::vector<std::exception_ptr>& errors) {
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

std::string message_of(const std::exception_ptr& error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(TcpRendezvousTest, StoreGivesEveryRankTheValuesOthersSet) {
  const RendezvousAddress address{"127.0.0.1", free_port()};
  std::vector<std::exception_ptr> errors(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      try {
        TcpRendezvous store(address, r, 3, Millis(10'000));
        const std::string mine = fmt::format("value of rank {}", r);
        store.set(fmt::format("k{}", r), std::vector<char>(mine.begin(), mine.end()));
        for (int peer = 0; peer < 3; ++peer) {
          const auto v = store.get(fmt::format("k{}", peer), Millis(10'000), "a peer");
          EXPECT_EQ(std::string(v.begin(), v.end()), fmt::format("value of rank {}", peer));
        }
        // Rank 0 serves: it stays until the others have read everything.
        store.set(fmt::format("done{}", r), {});
        if (r == 0) {
          for (int peer = 1; peer < 3; ++peer) {
            (void)store.get(fmt::format("done{}", peer), Millis(10'000), "a peer");
          }
        }
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  rethrow_first(errors);
}

TEST(TcpRendezvousTest, GlooWorldThroughTheRendezvousRunsEveryCollective) {
  for (int n : {1, 2, 3}) {
    rethrow_first(run_gloo_world(n, Millis(20'000), [n](Communicator& comm) {
      ASSERT_EQ(comm.size(), n);
      ASSERT_EQ(comm.backend(), "gloo");
      comm.barrier();
      std::vector<float> data(1001, comm.rank() == 0 ? 5.0f : -1.0f);
      broadcast_span(comm, std::span(data), 0);
      EXPECT_EQ(data.front(), 5.0f);
      EXPECT_EQ(data.back(), 5.0f);
      const auto ranks = all_gather_value<int>(comm, comm.rank() * 10);
      for (int r = 0; r < n; ++r) EXPECT_EQ(ranks[static_cast<std::size_t>(r)], r * 10);
      for (Algorithm a : {Algorithm::kAuto, Algorithm::kRing, Algorithm::kRecursiveDoubling,
                          Algorithm::kGloo}) {
        std::vector<float> x(70'001, static_cast<float>(comm.rank() + 1));
        Allreducer(comm, a).run(x, ReduceOp::kSum);
        const float expected = static_cast<float>(n * (n + 1) / 2);
        EXPECT_EQ(x.front(), expected) << to_string(a);
        EXPECT_EQ(x.back(), expected) << to_string(a);
      }
      EXPECT_FALSE(comm.host_of(comm.rank()).empty());
    }));
  }
}

TEST(TcpRendezvousTest, RendezvousThatNeverCompletesTimesOutNamingTheAddressAndTheMissingRank) {
  const RendezvousAddress address{"127.0.0.1", free_port()};
  // Rank 0 of 2 alone: rank 1 never comes.
  std::string message;
  try {
    TcpRendezvous rendezvous(address, 0, 2, Millis(1500));
    GlooCommunicator comm(rendezvous);
  } catch (const Timeout& e) {
    message = e.what();
  }
  EXPECT_NE(message.find(address.describe()), std::string::npos) << message;
  EXPECT_NE(message.find("MASTER_ADDR:MASTER_PORT"), std::string::npos) << message;
  EXPECT_NE(message.find("rank 1"), std::string::npos) << message;
}

TEST(TcpRendezvousTest, RankWhoseMasterNeverListensTimesOutNamingTheAddress) {
  const RendezvousAddress address{"127.0.0.1", free_port()};
  std::string message;
  try {
    TcpRendezvous rendezvous(address, 1, 2, Millis(1500));
  } catch (const Timeout& e) {
    message = e.what();
  }
  EXPECT_NE(message.find(address.describe()), std::string::npos) << message;
  EXPECT_NE(message.find("did not connect"), std::string::npos) << message;
}

TEST(TcpRendezvousTest, PeerThatStopsAnsweringIsATimeoutNamingItsRankAndHost) {
  for (Algorithm a : {Algorithm::kAuto, Algorithm::kRing, Algorithm::kGloo}) {
    const auto errors = run_gloo_world(2, Millis(1000), [a](Communicator& comm) {
      std::vector<float> x(a == Algorithm::kRing ? 1 << 20 : 2, 1.0f);
      Allreducer reducer(comm, a);
      reducer.run(x, ReduceOp::kSum);
      if (comm.rank() == 1) {
        // Rank 1 stops taking part (as if stopped) until rank 0 has given up.
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        return;
      }
      reducer.run(x, ReduceOp::kSum);
    });
    const std::string message = message_of(errors[0]);
    EXPECT_NE(message.find("rank 1 (host "), std::string::npos) << to_string(a) << ": " << message;
    EXPECT_NE(message.find("1000 ms"), std::string::npos) << to_string(a) << ": " << message;
  }
}

}  // namespace
}  // namespace dojo::comm
