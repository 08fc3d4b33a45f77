// JSON-RPC 2.0 error codes used on the kairos control socket, and the error value
// that travels in a response. Standard codes come from the JSON-RPC 2.0 spec;
// application codes live in the reserved server range -32000..-32099.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kairos::protocol {

namespace errc {
// Standard JSON-RPC 2.0 codes.
inline constexpr int parse_error = -32700;       ///< the line is not JSON
inline constexpr int invalid_request = -32600;   ///< not a valid request object (incl. missing id)
inline constexpr int method_not_found = -32601;  ///< unknown method
inline constexpr int invalid_params = -32602;    ///< params missing, of the wrong type or shape
inline constexpr int internal_error = -32603;    ///< a bug or an unexpected failure in kairosd

// Application codes.
inline constexpr int not_found = -32001;          ///< no such job / run
inline constexpr int conflict = -32002;           ///< refused by the overlap policy (data: run_id)
inline constexpr int config_invalid = -32003;     ///< reload refused: data.errors lists diagnostics
inline constexpr int access_denied = -32004;      ///< peer not root / daemon uid / socket_group
inline constexpr int request_too_large = -32005;  ///< a line over the 1 MiB limit; then disconnect
inline constexpr int shutting_down = -32006;      ///< kairosd is stopping; request not served
inline constexpr int invalid_state = -32007;      ///< e.g. cancel of a run that already finished
}  // namespace errc

/// Short name of a code ("not_found", "conflict", ...), "error" when unknown.
const char* error_name(int code);

/// A JSON-RPC error object: {"code": int, "message": string, "data": any (optional)}.
struct Error {
  int code = errc::internal_error;
  std::string message;
  nlohmann::json data;  // null = absent on the wire
  bool operator==(const Error&) const = default;
};

void to_json(nlohmann::json& j, const Error& e);
/// Throws DecodeError (messages.h) when `j` is not an error object.
void from_json(const nlohmann::json& j, Error& e);

}  // namespace kairos::protocol
