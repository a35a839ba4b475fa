#pragma once
// Tokens and who a request comes from.
//
// An API token is "dojo_" + 64 hex digits (32 random bytes from libsodium); the database
// keeps only its BLAKE2b hash, so a copy of the database lets no one sign in. A browser
// session is the same kind of secret in an HttpOnly cookie, with a CSRF token that every
// cookie-authenticated request that changes state must echo in X-CSRF-Token.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "serve/api.hpp"
#include "serve/store.hpp"

namespace dojo::serve {

inline constexpr const char* kSessionCookie = "dojo_session";
inline constexpr double kSessionLifetime_s = 7 * 24 * 3600.0;

// 32 random bytes as "dojo_<hex>" (tokens) or plain hex (session and CSRF secrets).
std::string new_secret(const char* prefix);
// BLAKE2b-256 of the secret, hex.
std::string hash_secret(const std::string& secret);
// Constant-time comparison.
bool secrets_equal(const std::string& a, const std::string& b);

// Creates the user and its first token; returns the token (shown once, never stored).
std::string add_user_with_token(Store& store, const UserRecord& user);
// A new token for an existing user (the old ones stay valid).
std::string add_token_for(Store& store, std::int64_t user_id);

// Finds the caller from `Authorization: Bearer` or the session cookie; throws 401
// otherwise. Cookie requests with a state-changing method need the CSRF header (403).
Caller authenticate(Store& store, const ApiRequest& request);

// The value of cookie `name` in a Cookie header ("" if absent).
std::string cookie_value(const std::string& header, const std::string& name);

// Requests per second per token: a token bucket (rate per second, burst = rate).
class RateLimiter {
 public:
  explicit RateLimiter(double per_s) : per_s_(per_s) {}
  // False when the token has no request left this instant.
  bool allow(const std::string& token_hash);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  double per_s_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace dojo::serve
