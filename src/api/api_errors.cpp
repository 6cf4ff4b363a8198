// ApiError: an HTTP error status with a body in OpenAI's error shape.
#include "api/api_errors.h"

#include <nlohmann/json.hpp>

namespace soroka::api {

std::string ApiError::body() const {
  nlohmann::json e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  e["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return nlohmann::json{{"error", e}}.dump();
}

ApiError bad_request(std::string message, std::string param, std::string code) {
  return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code), 0};
}
ApiError too_large(std::string message) {
  return {413, std::move(message), "invalid_request_error", "file", "file_too_large", 0};
}
ApiError unsupported_media(std::string message) {
  return {415, std::move(message), "invalid_request_error", "file", "unsupported_media", 0};
}
ApiError not_found(std::string message) {
  return {404, std::move(message), "invalid_request_error", "", "not_found", 0};
}
ApiError unavailable(std::string message, std::string code, int retry_after_s) {
  return {503, std::move(message), "server_error", "", std::move(code), retry_after_s};
}
ApiError internal(std::string message) {
  return {500, std::move(message), "server_error", "", "", 0};
}

}  // namespace soroka::api
