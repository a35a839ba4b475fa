#pragma once
// The service's view of HTTP, free of the HTTP library: a handler gets an ApiRequest and
// fills an ApiResponse (a JSON document, a file, or an event stream). Only http_server.cpp
// includes cpp-httplib; every resource file (users, datasets, jobs, artifacts, events,
// static files) is written against these types.
//
// Errors a client can cause are ApiError(status, field, message): the answer is
//   {"error": {"status": 400, "field": "train.steps", "message": "..."}}
// Anything else becomes a 500 whose JSON carries an id that the server log also carries.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dojo::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string field, const std::string& message)
      : std::runtime_error(message), status_(status), field_(std::move(field)) {}
  int status() const noexcept { return status_; }
  const std::string& field() const noexcept { return field_; }

 private:
  int status_;
  std::string field_;
};

// Who made a request (set by authentication, before a handler runs).
struct Caller {
  std::int64_t user_id = 0;
  std::string user;
  bool admin = false;
  std::string token_hash;  // the bearer token's or the session's hash
  bool by_cookie = false;
  std::string csrf;  // the session's CSRF token (cookie sessions only)
};

// Streams bytes to the client; returns false once the client is gone.
using StreamWrite = std::function<bool(const std::string& bytes)>;
// Reads the request body in pieces; the callback returns false to stop. Returns false if
// the client went away or a callback stopped the read.
using BodyReader = std::function<bool(const std::function<bool(const char*, std::size_t)>&)>;

struct ApiRequest {
  std::string method;
  std::string path;                           // decoded path
  std::vector<std::string> params;            // the route's captured groups
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names in lower case
  Caller caller;
  BodyReader read_body;  // the raw body, streamed
  std::size_t max_json_bytes = 1 << 20;

  std::string header(const std::string& lower_name) const;
  std::optional<std::string> query_value(const std::string& name) const;
  // The whole body (up to max_json_bytes, else a 413 naming "body").
  std::string body_text() const;
  // The body parsed as a JSON object (400 naming "body" otherwise).
  nlohmann::json json_body() const;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
  // Instead of `body`: a file served from disk (Range requests honoured).
  std::string file_path;
  // Instead of `body`: an event stream. Called repeatedly until it returns false; each
  // call may block a little and writes through the StreamWrite.
  std::function<bool(const StreamWrite&)> stream;
  std::function<void()> stream_done;  // called once the stream ends, however it ends

  void json(const nlohmann::json& value, int code = 200);
};

// Checked access to a JSON object from a request: every read names its field, and
// `finish` refuses fields nobody read (unknown fields are an error, not ignored).
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string prefix = "");
  bool has(const std::string& name) const;
  std::string string(const std::string& name, std::size_t max_bytes = 256);
  std::optional<std::string> optional_string(const std::string& name, std::size_t max_bytes = 256);
  std::int64_t integer(const std::string& name, std::int64_t min, std::int64_t max);
  std::optional<std::int64_t> optional_integer(const std::string& name, std::int64_t min,
                                               std::int64_t max);
  bool boolean(const std::string& name, bool fallback);
  const nlohmann::json* object(const std::string& name);  // nullptr if absent
  void finish() const;

 private:
  const nlohmann::json& object_;
  std::string prefix_;
  std::vector<std::string> read_;
  const nlohmann::json* find(const std::string& name);
  std::string full(const std::string& name) const { return prefix_ + name; }
};

std::string error_json(int status, const std::string& field, const std::string& message);

}  // namespace dojo::serve
