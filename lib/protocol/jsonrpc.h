// JSON-RPC 2.0 over newline-delimited JSON: framing, request validation and
// response encoding for the kairos control socket. Pure functions, no I/O.
//
// Deviations from plain JSON-RPC 2.0, on purpose:
//  - a request without "id" (a notification) is answered with an Invalid Request
//    error whose id is null: every control call wants an answer, and a silently
//    ignored typo is worse than an error;
//  - batches (arrays) are refused with Invalid Request;
//  - params must be an object (by-name) or absent; an array is Invalid Params.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/errors.h"

namespace kairos::protocol {

/// Largest accepted line (request or response), excluding the newline.
inline constexpr std::size_t kMaxLineBytes = 1024 * 1024;

/// Deepest nesting accepted in a request (objects and arrays); deeper is Invalid Request.
inline constexpr int kMaxDepth = 64;

/// Splits a byte stream into lines at '\n' (a trailing '\r' is stripped). Lines longer
/// than the limit are an error: the caller reports it and disconnects, since the rest
/// of the stream can no longer be trusted to be in sync.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = kMaxLineBytes) : max_(max_line) {}

  /// Appends complete lines found in `data` to `out`. Returns false once a line
  /// exceeded the limit (then and forever after: the splitter is poisoned).
  bool feed(std::string_view data, std::vector<std::string>& out);
  /// Bytes of an incomplete line held back.
  std::size_t pending() const { return buf_.size(); }
  bool overflowed() const { return overflowed_; }

 private:
  std::size_t max_;
  std::string buf_;
  bool overflowed_ = false;
};

/// A valid request.
struct Request {
  nlohmann::json id;  // string or number
  std::string method;
  nlohmann::json params;  // object, or null when absent
};

/// A line that is not a valid request: what to answer (id is null when unknown).
struct BadRequest {
  nlohmann::json id;
  Error error;
};

/// Parses and validates one line: JSON, object, "jsonrpc":"2.0", id string|number,
/// method string, params object|absent. Does not check that the method exists or its
/// params (see is_known_method / validate_params in messages.h). Never throws.
std::variant<Request, BadRequest> decode_request(std::string_view line);

/// Like decode_request, and then also rejects unknown methods (method_not_found) and
/// params that do not fit the method (invalid_params). This is what the server uses.
std::variant<Request, BadRequest> decode_and_check_request(std::string_view line);

/// A response line (with the trailing '\n').
std::string encode_result(const nlohmann::json& id, const nlohmann::json& result);
std::string encode_error(const nlohmann::json& id, const Error& error);

/// A request line (with the trailing '\n'); client side.
std::string encode_request(const nlohmann::json& id, std::string_view method,
                           const nlohmann::json& params);

/// A decoded response; client side.
struct Response {
  nlohmann::json id;
  std::variant<nlohmann::json, Error> outcome;  // result or error
  bool ok() const { return outcome.index() == 0; }
};
/// Parses a response line; on malformed input returns false and sets *error.
bool decode_response(std::string_view line, Response* out, std::string* error);

}  // namespace kairos::protocol
