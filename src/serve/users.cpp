// Users and browser sessions: GET /v1/me, GET /v1/users (admins), POST/GET/DELETE
// /v1/session.
#include <fmt/format.h>

#include "serve/service.hpp"

namespace dojo::serve {
namespace {

nlohmann::json session_json(const Caller& caller) {
  return {{"user", caller.user}, {"admin", caller.admin}, {"csrf", caller.csrf}};
}

nlohmann::json user_json(Service& service, const UserRecord& u) {
  auto& store = service.store();
  return {{"name", u.name},
          {"admin", u.admin},
          {"revoked", u.revoked},
          {"quotas",
           {{"max_running", u.max_running},
            {"max_ranks", u.max_ranks},
            {"max_storage_bytes", u.max_storage_bytes}}},
          {"usage",
           {{"storage_bytes", store.user_storage_bytes(u.id)},
            {"running", store.count_jobs(u.id, "running")},
            {"queued", store.count_jobs(u.id, "queued")}}}};
}

}  // namespace

void add_user_routes(Service& service, std::vector<Route>& routes) {
  routes.push_back({"GET", "/v1/me", [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto user = service.store().user_by_id(req.caller.user_id);
                      res.json(user_json(service, *user));
                    }});
  routes.push_back({"GET", "/v1/users",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      Service::require_admin(req.caller);
                      auto list = nlohmann::json::array();
                      for (const auto& u : service.store().users())
                        list.push_back(user_json(service, u));
                      res.json({{"users", list}});
                    }});
  routes.push_back(
      {"POST", "/v1/session",
       [&service](const ApiRequest& req, ApiResponse& res) {
         const auto body = req.json_body();
         JsonFields fields(body);
         const auto token = fields.string("token", 128);
         fields.finish();
         const auto found =
             service.store().user_for_token(hash_secret(token), TokenKind::kApi, now_s());
         if (!found) throw ApiError(401, "token", "the token is not valid (wrong or revoked)");
         const auto secret = new_secret("");
         const auto csrf = new_secret("");
         service.store().add_token({hash_secret(secret), found->first.id, TokenKind::kSession,
                                    csrf, now_s() + kSessionLifetime_s});
         Caller caller;
         caller.user = found->first.name;
         caller.admin = found->first.admin;
         caller.csrf = csrf;
         res.json(session_json(caller));
         res.headers["Set-Cookie"] =
             fmt::format("{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", kSessionCookie,
                         secret, static_cast<long>(kSessionLifetime_s));
         res.headers["Cache-Control"] = "no-store";
       },
       /*authenticated=*/false});
  routes.push_back({"GET", "/v1/session",
                    [](const ApiRequest& req, ApiResponse& res) {
                      res.json(session_json(req.caller));
                      res.headers["Cache-Control"] = "no-store";
                    }});
  routes.push_back({"DELETE", "/v1/session",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      if (req.caller.by_cookie) service.store().delete_token(req.caller.token_hash);
                      res.json({{"signed_out", true}});
                      res.headers["Set-Cookie"] = fmt::format(
                          "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", kSessionCookie);
                    }});
}

}  // namespace dojo::serve
