// The one translation unit of the server that includes cpp-httplib: it puts the Service's
// routes on the wire (authentication, rate limits, JSON errors, files with Range, event
// streams) and runs the listener.
#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace {

constexpr std::size_t kFileChunk = 64 * 1024;
constexpr std::size_t kDrainBytes = 16 << 20;

void send_error(httplib::Response& res, int status, const std::string& field,
                const std::string& message) {
  res.status = status;
  res.set_content(error_json(status, field, message), "application/json");
}

ApiRequest to_api_request(const httplib::Request& req, const httplib::ContentReader* reader,
                          const std::shared_ptr<bool>& body_read,
                          const std::shared_ptr<bool>& body_incomplete) {
  ApiRequest api;
  api.method = req.method;
  api.path = req.path;
  for (std::size_t i = 1; i < req.matches.size(); ++i) api.params.push_back(req.matches[i]);
  for (const auto& [k, v] : req.params) api.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) {
    std::string lower = k;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    api.headers[lower] = v;
  }
  if (reader != nullptr) {
    api.read_body = [reader, body_read, body_incomplete](const std::function<bool(const char*, std::size_t)>& receive) {
      if (*body_read || *body_incomplete) return false;  // a body is read once
      *body_read = true;
      bool stopped = false;
      std::size_t drained = 0;
      const bool ok = (*reader)([&](const char* data, std::size_t n) {
        // After the handler stops reading, the rest of a modest body is read and dropped,
        // so that its answer reaches the client and the connection stays usable.
        if (stopped) return (drained += n) <= kDrainBytes;
        if (!receive(data, n)) stopped = true;
        return true;
      });
      if (!ok) *body_read = false, *body_incomplete = true;
      return ok && !stopped;
    };
  } else {
    const std::string* body = &req.body;
    api.read_body = [body](const std::function<bool(const char*, std::size_t)>& receive) {
      return body->empty() || receive(body->data(), body->size());
    };
  }
  return api;
}

void to_http_response(ApiResponse&& api, httplib::Response& res) {
  for (const auto& [k, v] : api.headers) res.set_header(k, v);
  if (api.stream) {
    res.status = api.status;
    auto stream = std::move(api.stream);
    auto done = std::move(api.stream_done);
    res.set_chunked_content_provider(
        api.content_type,
        [stream](std::size_t, httplib::DataSink& sink) {
          const StreamWrite write = [&sink](const std::string& bytes) {
            return sink.is_writable() && sink.write(bytes.data(), bytes.size());
          };
          bool ok = true;
          const bool more = [&] {
            try {
              return stream(write);
            } catch (const std::exception& e) {
              log::warn("event stream: {}", e.what());
              ok = false;
              return false;
            }
          }();
          if (!more && ok) sink.done();
          return more || ok;
        },
        [done](bool) {
          if (done) done();
        });
    return;
  }
  if (!api.file_path.empty()) {
    auto file = std::make_shared<std::ifstream>(api.file_path, std::ios::binary);
    if (!*file) {
      send_error(res, 404, "path", "the file could not be opened");
      return;
    }
    file->seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(file->tellg());
    // Left unset, httplib answers 200, or 206 for a Range request.
    res.set_header("Accept-Ranges", "bytes");
    if (size == 0) {
      res.set_content("", api.content_type);
      return;
    }
    res.set_content_provider(size, api.content_type,
                             [file](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               std::string chunk(std::min(length, kFileChunk), '\0');
                               file->seekg(static_cast<std::streamoff>(offset));
                               file->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                               const auto got = static_cast<std::size_t>(file->gcount());
                               if (got == 0) return false;
                               return sink.write(chunk.data(), got);
                             });
    return;
  }
  res.status = api.status;
  res.set_content(api.body, api.content_type);
}

// Authenticates, checks the rate, runs the handler; every failure becomes a JSON error.
void dispatch(Service& service, const Route& route, const httplib::Request& req,
              httplib::Response& res, const httplib::ContentReader* reader) {
  const auto body_read = std::make_shared<bool>(false);
  const auto body_incomplete = std::make_shared<bool>(false);
  try {
    auto api = to_api_request(req, reader, body_read, body_incomplete);
    if (route.authenticated) {
      api.caller = authenticate(service.store(), api);
      if (!service.rate_limiter().allow(api.caller.token_hash))
        throw ApiError(429, "rate",
                       fmt::format("more than {} requests per second with this token",
                                   service.options().rate_per_s));
    }
    ApiResponse out;
    route.handler(api, out);
    to_http_response(std::move(out), res);
  } catch (const ApiError& e) {
    send_error(res, e.status(), e.field(), e.what());
    if (e.status() == 401) res.set_header("WWW-Authenticate", "Bearer");
    if (e.status() == 429) res.set_header("Retry-After", "1");
  } catch (const std::exception& e) {
    const auto id = new_secret("").substr(0, 12);
    log::error("internal error {} in {} {}: {}", id, req.method, req.path, e.what());
    res.status = 500;
    res.set_content(nlohmann::json{{"error",
                                    {{"status", 500},
                                     {"id", id},
                                     {"message", fmt::format("internal error {} (the server log "
                                                             "has the details)",
                                                             id)}}}}
                        .dump(),
                    "application/json");
  }
  if (*body_incomplete) {
    res.set_header("Connection", "close");
  } else if (reader != nullptr && !*body_read) {
    // The handler answered without the body (an error, or an endpoint that takes none).
    std::size_t seen = 0;
    const bool all = (*reader)([&](const char*, std::size_t n) { return (seen += n) <= kDrainBytes; });
    if (!all) res.set_header("Connection", "close");
  }
}

}  // namespace

void run_http_server(Service& service, const std::function<bool()>& stop_requested,
                     const std::function<void(int port)>& on_listening) {
  const auto& o = service.options();
  const auto colon = o.listen.rfind(':');
  DOJO_CHECK(colon != std::string::npos, InvalidArgument,
             "--listen '{}': expected HOST:PORT, e.g. 127.0.0.1:8080", o.listen);
  const auto host = o.listen.substr(0, colon);
  const auto port_text = o.listen.substr(colon + 1);
  DOJO_CHECK(!port_text.empty() && port_text.size() <= 5 &&
                 port_text.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoi(port_text) <= 65535,
             InvalidArgument, "--listen '{}': the port must be 0..65535", o.listen);
  const int wanted_port = std::stoi(port_text);

  httplib::Server server;
  const auto threads = static_cast<std::size_t>(std::max<std::int64_t>(4, o.http_threads));
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const auto timeout_s = static_cast<time_t>(o.read_timeout_s);
  const auto timeout_us = static_cast<time_t>((o.read_timeout_s - static_cast<double>(timeout_s)) * 1e6);
  server.set_read_timeout(timeout_s, timeout_us);
  server.set_write_timeout(30, 0);
  server.set_keep_alive_max_count(100000);
  server.set_keep_alive_timeout(5);
  server.set_tcp_nodelay(true);
  server.set_payload_max_length(static_cast<std::size_t>(o.max_upload_bytes));
  server.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_error(res, 404, "path", fmt::format("no endpoint {} {}", req.method, req.path));
    } else if (res.status == 413) {
      send_error(res, 413, "body", "the request body is too large");
    } else if (res.status == 400) {
      send_error(res, 400, "", "malformed HTTP request");
    } else if (res.status >= 400) {
      send_error(res, res.status, "", "the request could not be served");
    }
  });

  // Handlers, by method; state-changing methods read their bodies through a ContentReader
  // so that no body is ever taken whole into memory before a handler decides.
  const auto plain = [&service](const Route* r) {
    return [&service, r](const httplib::Request& req, httplib::Response& res) {
      dispatch(service, *r, req, res, nullptr);
    };
  };
  const auto reading = [&service](const Route* r) {
    return [&service, r](const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
      dispatch(service, *r, req, res, &reader);
    };
  };
  for (const auto& route : service.routes()) {
    const Route* r = &route;
    if (r->method == "GET") server.Get(r->pattern, plain(r));
    else if (r->method == "POST") server.Post(r->pattern, reading(r));
    else if (r->method == "PUT") server.Put(r->pattern, reading(r));
    else if (r->method == "DELETE") server.Delete(r->pattern, reading(r));
  }

  // Debian's cpp-httplib is built to listen with a backlog of 5: with 264 clients
  // connecting at once the accept queue overflowed, and a client whose handshake the
  // kernel had dropped waited for its read timeout. Linux lets listen() be called again on
  // the bound socket, with a deeper queue. SO_REUSEADDR, not httplib's SO_REUSEPORT: a
  // second server on a port in use is refused instead of sharing its connections.
  socket_t listening = INVALID_SOCKET;
  server.set_socket_options([&listening](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listening = sock;
  });
  const int port = wanted_port == 0 ? server.bind_to_any_port(host)
                                    : (server.bind_to_port(host, wanted_port) ? wanted_port : -1);
  DOJO_CHECK(port > 0, IoError, "cannot listen on {} (address in use, or not this host's)",
             o.listen);
  DOJO_CHECK(listening != INVALID_SOCKET && ::listen(listening, SOMAXCONN) == 0, IoError,
             "cannot deepen the listen queue on {}: {}", o.listen, std::strerror(errno));
  log::info("dojo serve: listening on http://{}:{} (state {}, executor {}, {} slots)", host, port,
            o.state_dir, o.executor, o.slots);
  if (on_listening) on_listening(port);
  std::atomic<bool> listener_done{false};
  std::thread listener([&] {
    server.listen_after_bind();
    listener_done = true;
  });
  // is_running() turns true only once the listener thread is inside its accept loop.
  while (!server.is_running() && !listener_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (!stop_requested() && !listener_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Stop accepting; event streams end; running jobs are not touched.
  service.bus().close();
  server.stop();
  listener.join();
}

}  // namespace dojo::serve
