// Fuzzes what the control server does with untrusted bytes: line splitting, request
// decoding and validation, error encoding, and the typed param decoders. Invariants:
// nothing throws, every line yields either a request of a known method with params
// that decode, or an error whose encoding is one line of valid JSON.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/jsonrpc.h"
#include "protocol/messages.h"

namespace {

using namespace kairos::protocol;

void check_line(std::string_view line) {
  auto r = decode_and_check_request(line);
  if (auto* bad = std::get_if<BadRequest>(&r)) {
    std::string out = encode_error(bad->id, bad->error);
    if (out.empty() || out.back() != '\n' || out.find('\n') != out.size() - 1) std::abort();
    Response resp;
    if (!decode_response(std::string_view(out).substr(0, out.size() - 1), &resp, nullptr))
      std::abort();
    if (resp.ok() || !(bad->id.is_null() || bad->id.is_string() || bad->id.is_number()))
      std::abort();
    return;
  }
  const Request& req = std::get<Request>(r);
  if (!is_known_method(req.method)) std::abort();
  if (!validate_params(req.method, req.params).empty()) std::abort();
  // The handler's side: the typed decoders must agree with validate_params.
  if (req.method == "run" && !decode<RunParams>(req.params, nullptr)) std::abort();
  if (req.method == "cancel" && !decode<CancelParams>(req.params, nullptr)) std::abort();
  if (req.method == "history" && !decode<HistoryParams>(req.params, nullptr)) std::abort();
  if (req.method == "logs" && !decode<LogsParams>(req.params, nullptr)) std::abort();
  if (req.method == "next" && !decode<NextParams>(req.params, nullptr)) std::abort();
  // Echoing the params back (as fake handlers do) must encode, even with odd strings.
  std::string out = encode_result(req.id, req.params);
  if (out.empty() || out.back() != '\n') std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The whole input as one line, as a file of the corpus is used by protocol_test.
  check_line(input);
  // And as a stream in two chunks through a small splitter, as a socket delivers it.
  LineSplitter splitter(4096);
  std::vector<std::string> lines;
  std::size_t half = size / 2;
  if (splitter.feed(input.substr(0, half), lines)) splitter.feed(input.substr(half), lines);
  for (const auto& l : lines) {
    if (l.size() > 4096) std::abort();
    check_line(l);
  }
  // Untrusted results on the client side must not throw either.
  json j = json::parse(input, nullptr, false);
  if (!j.is_discarded()) {
    (void)decode<StatusInfo>(j, nullptr);
    (void)decode<ListResult>(j, nullptr);
    (void)decode<JobDetail>(j, nullptr);
    (void)decode<LogsResult>(j, nullptr);
    (void)decode<HistoryResult>(j, nullptr);
    (void)decode<ReloadResult>(j, nullptr);
  }
  return 0;
}
