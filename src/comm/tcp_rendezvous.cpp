#include "comm/tcp_rendezvous.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace dojo::comm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kMaxKeyBytes = 1 << 16;
constexpr std::uint64_t kMaxValueBytes = std::uint64_t{1} << 26;

std::string errno_text(int error) {
  return std::strerror(error);
}

// IPv4 address of `host` (a name or a dotted quad); CommError naming it otherwise.
sockaddr_in resolve(const RendezvousAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(address.host.c_str(), nullptr, &hints, &found);
  DOJO_CHECK(rc == 0 && found != nullptr, CommError,
             "rendezvous: cannot resolve MASTER_ADDR '{}': {}", address.host, gai_strerror(rc));
  sockaddr_in out{};
  std::memcpy(&out, found->ai_addr, sizeof(out));
  ::freeaddrinfo(found);
  DOJO_CHECK(address.port > 0 && address.port < 65536, InvalidArgument,
             "rendezvous: MASTER_PORT {} is not a TCP port (1..65535)", address.port);
  out.sin_port = htons(static_cast<std::uint16_t>(address.port));
  return out;
}

// Whole-buffer socket I/O; false on EOF or error (errno tells which, 0 for EOF).
bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::send(fd, data, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    data += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool read_all(int fd, char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::recv(fd, data, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k == 0) errno = 0;
    if (k <= 0) return false;
    data += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

template <typename T>
void append(std::vector<char>& out, T value) {
  const auto* p = reinterpret_cast<const char*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}
template <typename T>
bool read_value(int fd, T& value) {
  return read_all(fd, reinterpret_cast<char*>(&value), sizeof(T));
}

}  // namespace

std::string RendezvousAddress::describe() const {
  return fmt::format("{}:{}", host, port);
}

// Rank 0's side: one thread, one poll() loop over the listening socket, the stop pipe
// and every client connection. A request is small and its sender is waiting for the
// reply, so it is read whole once its first byte is there.
struct TcpRendezvous::Server {
  int listen_fd = -1;
  int stop_pipe[2] = {-1, -1};
  std::mutex mutex;
  std::map<std::string, std::vector<char>> values;
  std::thread thread;

  // False when the connection ended or sent something malformed (it is then dropped).
  bool serve_one(int fd) {
    char op = 0;
    std::uint32_t key_len = 0;
    if (!read_value(fd, op) || !read_value(fd, key_len) || key_len > kMaxKeyBytes) return false;
    std::string key(key_len, '\0');
    if (!read_all(fd, key.data(), key_len)) return false;
    std::vector<char> reply;
    if (op == 'S') {
      std::uint64_t value_len = 0;
      if (!read_value(fd, value_len) || value_len > kMaxValueBytes) return false;
      std::vector<char> value(value_len);
      if (!read_all(fd, value.data(), value_len)) return false;
      {
        std::lock_guard lock(mutex);
        values[key] = std::move(value);
      }
      reply.push_back('K');
    } else if (op == 'G') {
      std::lock_guard lock(mutex);
      const auto it = values.find(key);
      if (it == values.end()) {
        reply.push_back('N');
      } else {
        reply.push_back('V');
        append<std::uint64_t>(reply, it->second.size());
        reply.insert(reply.end(), it->second.begin(), it->second.end());
      }
    } else {
      return false;
    }
    return write_all(fd, reply.data(), reply.size());
  }

  void loop() noexcept {
    std::vector<pollfd> fds = {{stop_pipe[0], POLLIN, 0}, {listen_fd, POLLIN, 0}};
    while (true) {
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents != 0) break;
      if (fds[1].revents & POLLIN) {
        const int client = ::accept(listen_fd, nullptr, nullptr);
        if (client >= 0) fds.push_back({client, POLLIN, 0});
      }
      for (std::size_t i = 2; i < fds.size();) {
        if (fds[i].revents != 0 && !serve_one(fds[i].fd)) {
          ::close(fds[i].fd);
          fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          ++i;
        }
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) ::close(fds[i].fd);
  }

  ~Server() {
    if (thread.joinable()) {
      const char stop = 1;
      (void)!::write(stop_pipe[1], &stop, 1);
      thread.join();
    }
    for (int fd : {listen_fd, stop_pipe[0], stop_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

TcpRendezvous::TcpRendezvous(RendezvousAddress address, int rank, int size, Millis timeout)
    : address_(std::move(address)), rank_(rank), size_(size), timeout_(timeout) {
  DOJO_CHECK(size >= 1 && rank >= 0 && rank < size, InvalidArgument,
             "rendezvous: RANK {} is outside WORLD_SIZE {}", rank, size);
  if (rank_ == 0) {
    const sockaddr_in where = resolve(address_);
    server_ = std::make_unique<Server>();
    DOJO_CHECK(::pipe2(server_->stop_pipe, O_CLOEXEC) == 0, CommError,
               "rendezvous: pipe: {}", errno_text(errno));
    server_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    DOJO_CHECK(server_->listen_fd >= 0, CommError, "rendezvous: socket: {}", errno_text(errno));
    const int on = 1;
    ::setsockopt(server_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(server_->listen_fd, reinterpret_cast<const sockaddr*>(&where), sizeof(where)) != 0 ||
        ::listen(server_->listen_fd, 128) != 0) {
      throw CommError(fmt::format(
          "rank 0: cannot listen for the rendezvous on {} (MASTER_ADDR:MASTER_PORT): {}; is "
          "another job using the port? (DOJO_RENDEZVOUS_PORT picks another)",
          address_.describe(), errno_text(errno)));
    }
    server_->thread = std::thread([server = server_.get()] { server->loop(); });
  }
  connect_client();
}

TcpRendezvous::~TcpRendezvous() {
  close();
}

void TcpRendezvous::connect_client() {
  const sockaddr_in where = resolve(address_);
  const auto deadline = Clock::now() + timeout_;
  int last_error = 0;
  while (true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    DOJO_CHECK(fd_ >= 0, CommError, "rendezvous: socket: {}", errno_text(errno));
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&where), sizeof(where)) == 0) break;
    last_error = errno;
    ::close(fd_);
    fd_ = -1;
    if (Clock::now() >= deadline) {
      throw Timeout(fmt::format(
          "rank {} (host {}): rendezvous with rank 0 at {} (MASTER_ADDR:MASTER_PORT) did not "
          "connect within {} ms ({}); is rank 0 running, and is MASTER_ADDR its address?",
          rank_, this_host_name(), address_.describe(), timeout_.count(),
          errno_text(last_error)),
          0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  // A stopped rank 0 must not hang a request: every reply has the store's deadline.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void TcpRendezvous::request(const std::vector<char>& message, std::vector<char>& reply_value,
                            char& reply) {
  DOJO_CHECK(fd_ >= 0, CommError, "rank {}: rendezvous at {} used after close()", rank_,
             address_.describe());
  const auto fail = [&](const char* what) {
    const int error = errno;
    const bool timed_out = error == EAGAIN || error == EWOULDBLOCK;
    const std::string text = fmt::format(
        "rank {} (host {}): rendezvous server (rank 0) at {} (MASTER_ADDR:MASTER_PORT): {} "
        "failed: {}",
        rank_, this_host_name(), address_.describe(), what,
        error == 0 ? std::string("connection closed") : errno_text(error));
    if (timed_out) throw Timeout(text, 0);
    throw CommError(text, 0);
  };
  if (!write_all(fd_, message.data(), message.size())) fail("send");
  if (!read_value(fd_, reply)) fail("receive");
  reply_value.clear();
  if (reply == 'V') {
    std::uint64_t n = 0;
    if (!read_value(fd_, n)) fail("receive");
    DOJO_CHECK(n <= kMaxValueBytes, CommError, "rendezvous at {}: a value of {} bytes",
               address_.describe(), n);
    reply_value.resize(n);
    if (!read_all(fd_, reply_value.data(), n)) fail("receive");
  }
}

void TcpRendezvous::set(const std::string& key, const std::vector<char>& value) {
  DOJO_CHECK(key.size() <= kMaxKeyBytes && value.size() <= kMaxValueBytes, InvalidArgument,
             "rendezvous: key '{}' or its {}-byte value is too large", key, value.size());
  std::vector<char> message = {'S'};
  append<std::uint32_t>(message, static_cast<std::uint32_t>(key.size()));
  message.insert(message.end(), key.begin(), key.end());
  append<std::uint64_t>(message, value.size());
  message.insert(message.end(), value.begin(), value.end());
  std::vector<char> ignored;
  char reply = 0;
  request(message, ignored, reply);
  DOJO_CHECK(reply == 'K', CommError, "rendezvous at {}: unexpected reply to set('{}')",
             address_.describe(), key);
}

std::vector<char> TcpRendezvous::get(const std::string& key, Millis timeout,
                                     const std::string& waiting_for) {
  std::vector<char> message = {'G'};
  append<std::uint32_t>(message, static_cast<std::uint32_t>(key.size()));
  message.insert(message.end(), key.begin(), key.end());
  const auto deadline = Clock::now() + timeout;
  auto nap = std::chrono::milliseconds(1);
  while (true) {
    std::vector<char> value;
    char reply = 0;
    request(message, value, reply);
    if (reply == 'V') return value;
    DOJO_CHECK(reply == 'N', CommError, "rendezvous at {}: unexpected reply to get('{}')",
               address_.describe(), key);
    if (Clock::now() >= deadline) {
      throw Timeout(fmt::format("rank {} (host {}): rendezvous at {} (MASTER_ADDR:MASTER_PORT) "
                                "did not complete within {} ms: still waiting for {}",
                                rank_, this_host_name(), address_.describe(), timeout.count(),
                                waiting_for));
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::milliseconds(50));
  }
}

void TcpRendezvous::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  server_.reset();
}

}  // namespace dojo::comm
