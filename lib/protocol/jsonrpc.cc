#include "protocol/jsonrpc.h"

#include "protocol/messages.h"

namespace kairos::protocol {

using nlohmann::json;

bool LineSplitter::feed(std::string_view data, std::vector<std::string>& out) {
  if (overflowed_) return false;
  while (!data.empty()) {
    auto nl = data.find('\n');
    std::string_view chunk = nl == std::string_view::npos ? data : data.substr(0, nl);
    // Check before copying so a client can never make us buffer more than the limit.
    if (buf_.size() + chunk.size() > max_ + (nl == std::string_view::npos ? 0 : 1)) {
      overflowed_ = true;
      buf_.clear();
      buf_.shrink_to_fit();
      return false;
    }
    buf_.append(chunk);
    if (nl == std::string_view::npos) break;
    if (!buf_.empty() && buf_.back() == '\r') buf_.pop_back();
    if (buf_.size() > max_) {
      overflowed_ = true;
      buf_.clear();
      return false;
    }
    out.push_back(std::move(buf_));
    buf_.clear();
    data.remove_prefix(nl + 1);
  }
  return true;
}

namespace {

BadRequest bad(json id, int code, std::string message) {
  return BadRequest{std::move(id), Error{code, std::move(message), nullptr}};
}

}  // namespace

std::variant<Request, BadRequest> decode_request(std::string_view line) {
  // Blank lines are answered too (with a parse error): every line in gets a line out,
  // which keeps a confused client and the server in step.
  // Deeply nested values are discarded while parsing (the parser itself is iterative)
  // and the request refused: copying, comparing or printing such a value would recurse
  // once per level and could overflow the daemon's stack.
  bool too_deep = false;
  json::parser_callback_t limit_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth <= kMaxDepth) return true;
    too_deep = true;
    return false;
  };
  json j = json::parse(line.begin(), line.end(), limit_depth, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(nullptr, errc::parse_error, "parse error: not valid JSON");
  if (too_deep)
    return bad(nullptr, errc::invalid_request,
               "request nests deeper than " + std::to_string(kMaxDepth) + " levels");
  if (j.is_array()) return bad(nullptr, errc::invalid_request, "batch requests are not supported");
  if (!j.is_object()) return bad(nullptr, errc::invalid_request, "request must be a JSON object");

  // Pick up the id first, so that later errors can echo it.
  json id;
  auto idit = j.find("id");
  bool id_ok = idit != j.end() && (idit->is_string() || idit->is_number());
  if (id_ok) id = *idit;

  auto ver = j.find("jsonrpc");
  if (ver == j.end() || !ver->is_string() || ver->get_ref<const std::string&>() != "2.0")
    return bad(id, errc::invalid_request, "\"jsonrpc\" must be \"2.0\"");
  if (idit == j.end())
    return bad(
        nullptr, errc::invalid_request,
        "\"id\" is required (kairos answers every request; notifications are not supported)");
  if (!id_ok) return bad(nullptr, errc::invalid_request, "\"id\" must be a string or a number");

  auto m = j.find("method");
  if (m == j.end() || !m->is_string())
    return bad(id, errc::invalid_request, "\"method\" must be a string");

  Request req;
  req.id = std::move(id);
  req.method = m->get<std::string>();
  auto p = j.find("params");
  if (p != j.end()) {
    if (p->is_array())
      return bad(req.id, errc::invalid_params, "params must be an object (by-name), not an array");
    if (!p->is_object())
      return bad(req.id, errc::invalid_request, "\"params\" must be an object when present");
    req.params = std::move(*p);
  }
  return req;
}

std::variant<Request, BadRequest> decode_and_check_request(std::string_view line) {
  auto r = decode_request(line);
  auto* req = std::get_if<Request>(&r);
  if (!req) return r;
  if (!is_known_method(req->method)) {
    std::string name = req->method.size() > 64 ? req->method.substr(0, 64) + "..." : req->method;
    return bad(req->id, errc::method_not_found, "method not found: " + name);
  }
  std::string err = validate_params(req->method, req->params);
  if (!err.empty()) return bad(req->id, errc::invalid_params, "invalid params: " + err);
  return r;
}

std::string encode_result(const json& id, const json& result) {
  json j = {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}};
  return dump_line(j) + '\n';
}

std::string encode_error(const json& id, const Error& error) {
  json j = {{"jsonrpc", "2.0"}, {"id", id}, {"error", error}};
  return dump_line(j) + '\n';
}

std::string encode_request(const json& id, std::string_view method, const json& params) {
  json j = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) j["params"] = params;
  return dump_line(j) + '\n';
}

bool decode_response(std::string_view line, Response* out, std::string* error) {
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return false;
  };
  if (j.is_discarded()) return fail("response is not valid JSON");
  if (!j.is_object()) return fail("response is not a JSON object");
  auto id = j.find("id");
  out->id = id == j.end() ? json() : *id;
  if (auto r = j.find("result"); r != j.end()) {
    out->outcome = *r;
    return true;
  }
  if (auto e = j.find("error"); e != j.end()) {
    try {
      out->outcome = e->get<Error>();
    } catch (const std::exception&) {
      return fail("response has a malformed error object");
    }
    return true;
  }
  return fail("response has neither result nor error");
}

}  // namespace kairos::protocol
