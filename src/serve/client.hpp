#pragma once
// A client of the service's API, for `dojo remote`, `dojo bench serve` and the tests. One
// client is one keep-alive connection; not thread-safe (one client per thread).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace dojo::serve {

struct HttpResult {
  int status = 0;  // 0: no answer (connection failed; see error)
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string error;
  nlohmann::json json() const;  // body parsed (null if not JSON)
};

struct SseEvent {
  std::int64_t id = 0;
  std::string type;
  std::string data;
};

class ApiClient {
 public:
  // `server`: "http://127.0.0.1:8080" (or host:port). `token` may be empty.
  ApiClient(const std::string& server, std::string token, double timeout_s = 30);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  HttpResult get(const std::string& path, const std::map<std::string, std::string>& headers = {});
  HttpResult post(const std::string& path, const nlohmann::json& body,
                  const std::map<std::string, std::string>& headers = {});
  HttpResult post_raw(const std::string& path, const std::string& body,
                      const std::string& content_type,
                      const std::map<std::string, std::string>& headers = {});
  HttpResult del(const std::string& path, const std::map<std::string, std::string>& headers = {});
  // Streams the file from disk (never whole in memory).
  HttpResult put_file(const std::string& path, const std::string& file);
  // Streams the answer into `file` (a 2xx answer only; else the body is in the result).
  HttpResult download(const std::string& path, const std::string& file,
                      const std::map<std::string, std::string>& headers = {});
  // Follows an event stream from after `last_id`, reconnecting (with Last-Event-ID) when
  // the connection drops, until `on_event` returns false or the server ends the stream.
  // Returns the last status (200 when the stream ended normally).
  int follow_events(const std::string& path, std::int64_t last_id,
                    const std::function<bool(const SseEvent&)>& on_event,
                    int max_reconnects = 10);

  const std::string& token() const { return token_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string token_;
};

// DOJO_SERVER / DOJO_TOKEN when the flags are empty.
std::string server_from_env(const std::string& flag);
std::string token_from_env(const std::string& flag);

}  // namespace dojo::serve
