// GET /v1/jobs/{id}/events: Server-Sent Events. Each event carries its id (the database's
// event id), so a client that reconnects with Last-Event-ID (or ?after=ID) gets exactly
// the events after it; ": heartbeat" comments keep an idle stream alive. The stream ends
// once the job is finished and every event has been sent.
#include <chrono>

#include <fmt/format.h>

#include "serve/service.hpp"

namespace dojo::serve {
namespace {

bool terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

std::int64_t parse_event_id(const std::string& text, const std::string& field) {
  if (text.empty()) return 0;
  if (text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw ApiError(400, field, fmt::format("'{}' = '{}': expected an event id", field, text));
  return std::stoll(text);
}

struct StreamState {
  std::int64_t job_id = 0;
  std::int64_t last_id = 0;
  std::chrono::steady_clock::time_point last_write;
  bool greeted = false;
};

}  // namespace

void add_event_routes(Service& service, std::vector<Route>& routes) {
  routes.push_back(
      {"GET", "/v1/jobs/([^/]+)/events",
       [&service](const ApiRequest& req, ApiResponse& res) {
         const auto job = service.owned_job(req.caller, req.params.at(0));
         auto state = std::make_shared<StreamState>();
         state->job_id = job.id;
         state->last_id = parse_event_id(req.header("last-event-id"), "Last-Event-ID");
         if (const auto after = req.query_value("after"))
           state->last_id = std::max(state->last_id, parse_event_id(*after, "after"));
         if (!service.open_stream(req.caller.user_id))
           throw ApiError(429, "max_streams",
                          fmt::format("at most {} event streams may be open per user",
                                      service.options().max_streams_per_user));
         const auto user_id = req.caller.user_id;
         res.status = 200;
         res.content_type = "text/event-stream";
         res.headers["Cache-Control"] = "no-store";
         res.headers["X-Accel-Buffering"] = "no";
         res.stream_done = [&service, user_id] { service.close_stream(user_id); };
         res.stream = [&service, state](const StreamWrite& write) {
           auto& bus = service.bus();
           if (!state->greeted) {
             state->greeted = true;
             state->last_write = std::chrono::steady_clock::now();
             if (!write("retry: 1000\n\n")) return false;
           }
           const auto seen = bus.version();
           // The job's state is read before its events: a job that ends in between still
           // has its last events sent before the stream ends.
           const auto job = service.store().job(state->job_id);
           const bool finished = !job || terminal(job->state);
           const auto events = service.store().events_after(state->job_id, state->last_id, 500);
           if (!events.empty()) {
             std::string out;
             for (const auto& e : events) {
               out += fmt::format("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.type, e.data);
               state->last_id = e.id;
             }
             state->last_write = std::chrono::steady_clock::now();
             return write(out);
           }
           if (finished) return false;  // everything has been sent
           if (bus.closed()) return false;  // the server is stopping
           const auto heartbeat = std::chrono::duration<double>(service.options().heartbeat_s);
           const auto since = std::chrono::steady_clock::now() - state->last_write;
           if (since >= heartbeat) {
             state->last_write = std::chrono::steady_clock::now();
             return write(": heartbeat\n\n");
           }
           bus.wait(seen, std::min<std::chrono::duration<double>>(heartbeat - since,
                                                                  std::chrono::milliseconds(500)));
           return true;
         };
       }});
}

}  // namespace dojo::serve
