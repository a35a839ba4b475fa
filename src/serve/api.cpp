#include "serve/api.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace dojo::serve {

std::string ApiRequest::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> ApiRequest::query_value(const std::string& name) const {
  const auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::string ApiRequest::body_text() const {
  std::string text;
  bool too_big = false;
  if (read_body) {
    read_body([&](const char* data, std::size_t n) {
      if (text.size() + n > max_json_bytes) {
        too_big = true;
        return false;
      }
      text.append(data, n);
      return true;
    });
  }
  if (too_big) {
    throw ApiError(413, "body",
                   fmt::format("the request body is larger than {} bytes", max_json_bytes));
  }
  return text;
}

nlohmann::json ApiRequest::json_body() const {
  const auto text = body_text();
  if (text.empty()) return nlohmann::json::object();
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded())
    throw ApiError(400, "body", "the request body is not valid JSON");
  if (!value.is_object()) throw ApiError(400, "body", "the request body must be a JSON object");
  return value;
}

void ApiResponse::json(const nlohmann::json& value, int code) {
  status = code;
  content_type = "application/json";
  body = value.dump();
}

std::string error_json(int status, const std::string& field, const std::string& message) {
  nlohmann::json error{{"status", status}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  return nlohmann::json{{"error", error}}.dump();
}

JsonFields::JsonFields(const nlohmann::json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {
  if (!object_.is_object()) {
    throw ApiError(400, prefix_.empty() ? "body" : prefix_.substr(0, prefix_.size() - 1),
                   "expected a JSON object");
  }
}

const nlohmann::json* JsonFields::find(const std::string& name) {
  read_.push_back(name);
  const auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(const std::string& name) const {
  const auto it = object_.find(name);
  return it != object_.end() && !it->is_null();
}

std::optional<std::string> JsonFields::optional_string(const std::string& name,
                                                       std::size_t max_bytes) {
  const auto* v = find(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string())
    throw ApiError(400, full(name), fmt::format("'{}' must be a string, got {}", full(name),
                                                v->type_name()));
  auto s = v->get<std::string>();
  if (s.size() > max_bytes)
    throw ApiError(400, full(name),
                   fmt::format("'{}' is {} bytes long; at most {} allowed", full(name), s.size(),
                               max_bytes));
  if (s.find('\0') != std::string::npos)
    throw ApiError(400, full(name), fmt::format("'{}' contains a NUL byte", full(name)));
  return s;
}

std::string JsonFields::string(const std::string& name, std::size_t max_bytes) {
  auto s = optional_string(name, max_bytes);
  if (!s) throw ApiError(400, full(name), fmt::format("'{}' is required", full(name)));
  return *s;
}

std::optional<std::int64_t> JsonFields::optional_integer(const std::string& name,
                                                         std::int64_t min, std::int64_t max) {
  const auto* v = find(name);
  if (v == nullptr) return std::nullopt;
  std::int64_t value = 0;
  if (v->is_number_integer() && !(v->is_number_unsigned() &&
                                  v->get<std::uint64_t>() >
                                      static_cast<std::uint64_t>(
                                          std::numeric_limits<std::int64_t>::max()))) {
    value = v->get<std::int64_t>();
  } else if (v->is_number_unsigned()) {
    throw ApiError(400, full(name), fmt::format("'{}' = {} is too large; expected {}..{}",
                                                full(name), v->dump(), min, max));
  } else if (v->is_number_float()) {
    throw ApiError(400, full(name), fmt::format("'{}' must be an integer, got {}", full(name),
                                                v->dump()));
  } else {
    throw ApiError(400, full(name), fmt::format("'{}' must be an integer, got {}", full(name),
                                                v->type_name()));
  }
  if (value < min || value > max)
    throw ApiError(400, full(name),
                   fmt::format("'{}' = {} is out of range; expected {}..{}", full(name), value,
                               min, max));
  return value;
}

std::int64_t JsonFields::integer(const std::string& name, std::int64_t min, std::int64_t max) {
  auto v = optional_integer(name, min, max);
  if (!v) throw ApiError(400, full(name), fmt::format("'{}' is required", full(name)));
  return *v;
}

bool JsonFields::boolean(const std::string& name, bool fallback) {
  const auto* v = find(name);
  if (v == nullptr) return fallback;
  if (!v->is_boolean())
    throw ApiError(400, full(name), fmt::format("'{}' must be true or false, got {}", full(name),
                                                v->dump()));
  return v->get<bool>();
}

const nlohmann::json* JsonFields::object(const std::string& name) {
  const auto* v = find(name);
  if (v != nullptr && !v->is_object())
    throw ApiError(400, full(name), fmt::format("'{}' must be a JSON object, got {}", full(name),
                                                v->type_name()));
  return v;
}

void JsonFields::finish() const {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(read_.begin(), read_.end(), key) == read_.end())
      throw ApiError(400, full(key), fmt::format("unknown field '{}'", full(key)));
  }
}

}  // namespace dojo::serve
