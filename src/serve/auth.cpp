#include "serve/auth.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::serve {
namespace {

void ensure_sodium() {
  static const int ready = sodium_init();
  DOJO_CHECK(ready >= 0, InternalError, "libsodium failed to initialise");
}

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  std::string hex(2 * n + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, n);
  hex.pop_back();
  return hex;
}

bool state_changing(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace

std::string new_secret(const char* prefix) {
  ensure_sodium();
  std::array<unsigned char, 32> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return std::string(prefix) + to_hex(bytes.data(), bytes.size());
}

std::string hash_secret(const std::string& secret) {
  ensure_sodium();
  std::array<unsigned char, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), nullptr,
                     0);
  return to_hex(digest.data(), digest.size());
}

bool secrets_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string add_token_for(Store& store, std::int64_t user_id) {
  const auto token = new_secret("dojo_");
  store.add_token({hash_secret(token), user_id, TokenKind::kApi, "", 0});
  return token;
}

std::string add_user_with_token(Store& store, const UserRecord& user) {
  DOJO_CHECK(!user.name.empty() && user.name.size() <= 64 &&
                 std::all_of(user.name.begin(), user.name.end(),
                             [](char c) {
                               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                                      c == '_' || c == '.';
                             }),
             InvalidArgument,
             "user name '{}': expected 1..64 letters, digits, '-', '_' or '.'", user.name);
  DOJO_CHECK(!store.user_by_name(user.name), InvalidArgument, "user '{}' already exists",
             user.name);
  std::string token;
  store.transaction([&] {
    const auto id = store.add_user(user);
    token = add_token_for(store, id);
  });
  return token;
}

std::string cookie_value(const std::string& header, const std::string& name) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    auto part = header.substr(pos, end - pos);
    part.erase(0, part.find_first_not_of(' '));
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

Caller authenticate(Store& store, const ApiRequest& request) {
  const auto auth = request.header("authorization");
  Caller caller;
  if (!auth.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.rfind(kBearer, 0) != 0)
      throw ApiError(401, "Authorization", "expected 'Authorization: Bearer TOKEN'");
    const auto hash = hash_secret(auth.substr(kBearer.size()));
    const auto found = store.user_for_token(hash, TokenKind::kApi, now_s());
    if (!found) throw ApiError(401, "Authorization", "the token is not valid (wrong or revoked)");
    caller.user_id = found->first.id;
    caller.user = found->first.name;
    caller.admin = found->first.admin;
    caller.token_hash = hash;
    return caller;
  }
  const auto session = cookie_value(request.header("cookie"), kSessionCookie);
  if (session.empty())
    throw ApiError(401, "Authorization",
                   "sign in: send 'Authorization: Bearer TOKEN' or a session cookie");
  const auto hash = hash_secret(session);
  const auto found = store.user_for_token(hash, TokenKind::kSession, now_s());
  if (!found) throw ApiError(401, "Cookie", "the session has ended; sign in again");
  caller.user_id = found->first.id;
  caller.user = found->first.name;
  caller.admin = found->first.admin;
  caller.token_hash = hash;
  caller.by_cookie = true;
  caller.csrf = found->second.csrf;
  if (state_changing(request.method) &&
      !secrets_equal(request.header("x-csrf-token"), caller.csrf)) {
    throw ApiError(403, "X-CSRF-Token",
                   "a request signed in by cookie that changes state must carry the session's "
                   "X-CSRF-Token header");
  }
  return caller;
}

bool RateLimiter::allow(const std::string& token_hash) {
  if (per_s_ <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto [it, fresh] = buckets_.try_emplace(token_hash, Bucket{per_s_, now});
  auto& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(per_s_, b.tokens + elapsed * per_s_);
    b.last = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace dojo::serve
