// The client side of cpp-httplib (the one client translation unit).
#include "serve/client.hpp"

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::serve {

nlohmann::json HttpResult::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

struct ApiClient::Impl {
  httplib::Client http;
  explicit Impl(const std::string& server) : http(server) {}
};

namespace {

httplib::Headers headers_of(const std::string& token,
                            const std::map<std::string, std::string>& extra) {
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  for (const auto& [k, v] : extra) h.emplace(k, v);
  return h;
}

HttpResult result_of(const httplib::Result& r) {
  HttpResult out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) {
    std::string lower = k;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[lower] = v;
  }
  return out;
}

}  // namespace

ApiClient::ApiClient(const std::string& server, std::string token, double timeout_s)
    : token_(std::move(token)) {
  std::string url = server;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) url = "http://" + url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  impl_ = std::make_unique<Impl>(url);
  const auto s = static_cast<time_t>(timeout_s);
  impl_->http.set_connection_timeout(5, 0);
  impl_->http.set_read_timeout(s, 0);
  impl_->http.set_write_timeout(s, 0);
  impl_->http.set_keep_alive(true);
  impl_->http.set_tcp_nodelay(true);
}

ApiClient::~ApiClient() = default;

HttpResult ApiClient::get(const std::string& path, const std::map<std::string, std::string>& h) {
  return result_of(impl_->http.Get(path, headers_of(token_, h)));
}

HttpResult ApiClient::post(const std::string& path, const nlohmann::json& body,
                           const std::map<std::string, std::string>& h) {
  return post_raw(path, body.dump(), "application/json", h);
}

HttpResult ApiClient::post_raw(const std::string& path, const std::string& body,
                               const std::string& content_type,
                               const std::map<std::string, std::string>& h) {
  return result_of(impl_->http.Post(path, headers_of(token_, h), body, content_type));
}

HttpResult ApiClient::del(const std::string& path, const std::map<std::string, std::string>& h) {
  return result_of(impl_->http.Delete(path, headers_of(token_, h)));
}

HttpResult ApiClient::put_file(const std::string& path, const std::string& file) {
  auto in = std::make_shared<std::ifstream>(file, std::ios::binary);
  DOJO_CHECK(*in, IoError, "cannot read '{}'", file);
  in->seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in->tellg());
  in->seekg(0);
  return result_of(impl_->http.Put(
      path, headers_of(token_, {}), size,
      [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        std::string chunk(std::min<std::size_t>(length, 1 << 16), '\0');
        in->seekg(static_cast<std::streamoff>(offset));
        in->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        const auto got = static_cast<std::size_t>(in->gcount());
        return got > 0 && sink.write(chunk.data(), got);
      },
      "application/octet-stream"));
}

HttpResult ApiClient::download(const std::string& path, const std::string& file,
                               const std::map<std::string, std::string>& h) {
  std::ofstream out;
  HttpResult result;
  auto r = impl_->http.Get(
      path, headers_of(token_, h),
      [&](const httplib::Response& res) {
        result.status = res.status;
        if (res.status / 100 == 2) out.open(file, std::ios::binary | std::ios::trunc);
        return true;
      },
      [&](const char* data, std::size_t n) {
        if (out.is_open()) {
          out.write(data, static_cast<std::streamsize>(n));
          return static_cast<bool>(out);
        }
        result.body.append(data, n);
        return true;
      });
  if (!r) result.error = httplib::to_string(r.error());
  return result;
}

int ApiClient::follow_events(const std::string& path, std::int64_t last_id,
                             const std::function<bool(const SseEvent&)>& on_event,
                             int max_reconnects) {
  int status = 0;
  bool stopped = false;
  for (int attempt = 0; attempt <= max_reconnects && !stopped; ++attempt) {
    std::map<std::string, std::string> h{{"Accept", "text/event-stream"}};
    if (last_id > 0) h["Last-Event-ID"] = std::to_string(last_id);
    std::string buffer;
    SseEvent current;
    auto r = impl_->http.Get(
        path, headers_of(token_, h),
        [&](const httplib::Response& res) {
          status = res.status;
          return res.status == 200;
        },
        [&](const char* data, std::size_t n) {
          buffer.append(data, n);
          std::size_t end;
          while ((end = buffer.find('\n')) != std::string::npos) {
            const auto line = buffer.substr(0, end);
            buffer.erase(0, end + 1);
            if (line.empty()) {
              if (!current.type.empty() || !current.data.empty()) {
                if (current.id > 0) last_id = current.id;
                if (!on_event(current)) {
                  stopped = true;
                  return false;
                }
              }
              current = {};
            } else if (line.rfind("id: ", 0) == 0) {
              current.id = std::stoll(line.substr(4));
            } else if (line.rfind("event: ", 0) == 0) {
              current.type = line.substr(7);
            } else if (line.rfind("data: ", 0) == 0) {
              current.data += line.substr(6);
            }
          }
          return true;
        });
    if (stopped) break;
    if (r && status == 200) return 200;  // the server ended the stream: the job is done
    if (status != 0 && status != 200) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return stopped ? 200 : status;
}

std::string server_from_env(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("DOJO_SERVER");
  return env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8080";
}

std::string token_from_env(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("DOJO_TOKEN");
  return env != nullptr ? env : "";
}

}  // namespace dojo::serve
