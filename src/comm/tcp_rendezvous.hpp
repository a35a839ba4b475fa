#pragma once
// TcpRendezvous: the key-value store through which ranks that have no MPI find each
// other (torchrun-style launches: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
//
// Rank 0 serves the store: it listens on MASTER_ADDR:MASTER_PORT and a server thread
// answers requests, one poll() loop over every connection. Every rank, rank 0 included,
// is a client over one TCP connection; a rank that finds nobody listening yet retries
// until its deadline. The gloo backend publishes its transport addresses here
// (gloo_communicator.hpp), then talks to its peers directly.
//
// Wire format (integers little-endian, as on every machine dojo runs on):
//   request  'S' key_len:u32 key value_len:u64 value   -> reply 'K'
//            'G' key_len:u32 key                       -> reply 'N' (not set yet)
//                                                         or 'V' value_len:u64 value
//
// Threading: the client calls (set, get) are made by one thread at a time; the server
// thread shares only the key map (under a mutex) and a stop pipe with them.
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace dojo::comm {

struct RendezvousAddress {
  std::string host;  // MASTER_ADDR
  int port = 0;      // MASTER_PORT
  std::string describe() const;  // "127.0.0.1:29500"
};

class TcpRendezvous {
 public:
  // Rank 0 starts listening (CommError naming the address if it cannot); every rank then
  // connects, retrying until `timeout` (Timeout naming the address if nobody answers).
  TcpRendezvous(RendezvousAddress address, int rank, int size, Millis timeout);
  ~TcpRendezvous();
  TcpRendezvous(const TcpRendezvous&) = delete;
  TcpRendezvous& operator=(const TcpRendezvous&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  Millis timeout() const { return timeout_; }
  const RendezvousAddress& address() const { return address_; }

  void set(const std::string& key, const std::vector<char>& value);
  // The value once some rank has set `key` (polls the server); after `timeout`, throws
  // Timeout naming the address and `waiting_for` (e.g. "rank 3 to publish its address").
  std::vector<char> get(const std::string& key, Millis timeout, const std::string& waiting_for);

  // Rank 0: stops serving (call once every rank is known to be done with the store).
  // Other ranks: closes the connection. Idempotent; the destructor calls it.
  void close() noexcept;

 private:
  struct Server;
  void connect_client();
  void request(const std::vector<char>& message, std::vector<char>& reply_value, char& reply);

  RendezvousAddress address_;
  int rank_, size_;
  Millis timeout_;
  std::unique_ptr<Server> server_;
  int fd_ = -1;  // this rank's client connection
};

}  // namespace dojo::comm
