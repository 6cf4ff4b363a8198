// ApiError: an HTTP error status with a body in OpenAI's error shape.
#pragma once

#include <string>

namespace soroka::api {

// {"error": {"message", "type", "param", "code"}}, as OpenAI returns it, so client libraries
// raise their usual exceptions with our message.
struct ApiError {
  int status = 500;
  std::string message;
  std::string type = "server_error";  // invalid_request_error, server_error, ...
  std::string param;                  // "" -> null
  std::string code;                   // "" -> null; machine-readable: "file_too_large", ...
  int retry_after_s = 0;              // > 0: a Retry-After header (503)

  std::string body() const;
};

ApiError bad_request(std::string message, std::string param = {}, std::string code = {});
ApiError too_large(std::string message);
ApiError unsupported_media(std::string message);
ApiError not_found(std::string message);
ApiError unavailable(std::string message, std::string code, int retry_after_s);
ApiError internal(std::string message);

}  // namespace soroka::api
