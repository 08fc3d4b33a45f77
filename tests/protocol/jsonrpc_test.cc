#include "protocol/jsonrpc.h"

#include <gtest/gtest.h>

#include "protocol/messages.h"

namespace kairos::protocol {
namespace {

using nlohmann::json;

TEST(LineSplitter, SplitsAcrossChunksAndStripsCR) {
  LineSplitter s(100);
  std::vector<std::string> out;
  EXPECT_TRUE(s.feed("ab", out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(s.feed("c\r\nde\n\nf", out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "abc");
  EXPECT_EQ(out[1], "de");
  EXPECT_EQ(out[2], "");
  EXPECT_EQ(s.pending(), 1u);
}

TEST(LineSplitter, LineAtLimitIsAcceptedOneMoreIsNot) {
  LineSplitter s(10);
  std::vector<std::string> out;
  EXPECT_TRUE(s.feed(std::string(10, 'x') + "\n", out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(s.feed(std::string(11, 'y'), out));
  EXPECT_TRUE(s.overflowed());
  // Poisoned: later input is rejected too.
  EXPECT_FALSE(s.feed("ok\n", out));
  EXPECT_EQ(out.size(), 1u);
}

TEST(LineSplitter, OverflowDetectedWithoutNewlineInPieces) {
  LineSplitter s(1024 * 1024);
  std::vector<std::string> out;
  std::string chunk(64 * 1024, 'a');
  bool ok = true;
  for (int i = 0; i < 20 && ok; ++i) ok = s.feed(chunk, out);
  EXPECT_FALSE(ok);
  EXPECT_LE(s.pending(), 1024u * 1024u);
}

int error_code(const std::variant<Request, BadRequest>& r) {
  if (auto* b = std::get_if<BadRequest>(&r)) return b->error.code;
  return 0;
}

TEST(DecodeRequest, ValidRequest) {
  auto r = decode_request(R"({"jsonrpc":"2.0","id":7,"method":"show","params":{"job":"a"}})");
  ASSERT_EQ(r.index(), 0u);
  auto& req = std::get<Request>(r);
  EXPECT_EQ(req.id, json(7));
  EXPECT_EQ(req.method, "show");
  EXPECT_EQ(req.params["job"], "a");
}

TEST(DecodeRequest, StringIdAndAbsentParams) {
  auto r = decode_request(R"({"jsonrpc":"2.0","id":"x-1","method":"status"})");
  ASSERT_EQ(r.index(), 0u);
  EXPECT_EQ(std::get<Request>(r).id, json("x-1"));
  EXPECT_TRUE(std::get<Request>(r).params.is_null());
}

struct BadCase {
  const char* line;
  int code;
  bool id_echoed;
};

class DecodeRequestBad : public testing::TestWithParam<BadCase> {};

TEST_P(DecodeRequestBad, GivesTheRightError) {
  auto r = decode_and_check_request(GetParam().line);
  ASSERT_EQ(r.index(), 1u) << GetParam().line;
  auto& b = std::get<BadRequest>(r);
  EXPECT_EQ(b.error.code, GetParam().code) << GetParam().line << ": " << b.error.message;
  EXPECT_EQ(!b.id.is_null(), GetParam().id_echoed) << GetParam().line;
  EXPECT_FALSE(b.error.message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, DecodeRequestBad,
    testing::Values(
        BadCase{"", errc::parse_error, false}, BadCase{"{", errc::parse_error, false},
        BadCase{"{\"jsonrpc\":\"2.0\",}", errc::parse_error, false},
        BadCase{"\xff\xfe", errc::parse_error, false}, BadCase{"[]", errc::invalid_request, false},
        BadCase{R"([{"jsonrpc":"2.0","id":1,"method":"status"}])", errc::invalid_request, false},
        BadCase{"42", errc::invalid_request, false}, BadCase{"null", errc::invalid_request, false},
        BadCase{"\"status\"", errc::invalid_request, false},
        BadCase{R"({"id":1,"method":"status"})", errc::invalid_request, true},
        BadCase{R"({"jsonrpc":"1.0","id":1,"method":"status"})", errc::invalid_request, true},
        BadCase{R"({"jsonrpc":2.0,"id":1,"method":"status"})", errc::invalid_request, true},
        BadCase{R"({"jsonrpc":"2.0","method":"status"})", errc::invalid_request, false},
        BadCase{R"({"jsonrpc":"2.0","id":null,"method":"status"})", errc::invalid_request, false},
        BadCase{R"({"jsonrpc":"2.0","id":{},"method":"status"})", errc::invalid_request, false},
        BadCase{R"({"jsonrpc":"2.0","id":true,"method":"status"})", errc::invalid_request, false},
        BadCase{R"({"jsonrpc":"2.0","id":1})", errc::invalid_request, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":5})", errc::invalid_request, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"nope"})", errc::method_not_found, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"STATUS"})", errc::method_not_found, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"status","params":[]})", errc::invalid_params,
                true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"status","params":"x"})", errc::invalid_request,
                true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"status","params":null})",
                errc::invalid_request, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"show"})", errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"show","params":{"job":3}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"show","params":{"job":""}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"run","params":{"job":"a","force":"yes"}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"cancel","params":{}})", errc::invalid_params,
                true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"cancel","params":{"run_id":1,"job":"a"}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"cancel","params":{"run_id":1.5}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"history","params":{"limit":0}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"history","params":{"limit":"10"}})",
                errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"history","params":{"since":-1e400}})",
                errc::parse_error, false},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"logs","params":{"run_id":"1"}})",
                errc::invalid_params, true},
        BadCase{
            R"({"jsonrpc":"2.0","id":1,"method":"logs","params":{"run_id":18446744073709551615}})",
            errc::invalid_params, true},
        BadCase{R"({"jsonrpc":"2.0","id":1,"method":"next","params":{"job":"a","count":100000}})",
                errc::invalid_params, true}));

TEST(DecodeRequest, ParamErrorNamesTheField) {
  auto r = decode_and_check_request(
      R"({"jsonrpc":"2.0","id":1,"method":"history","params":{"limit":"10"}})");
  ASSERT_EQ(r.index(), 1u);
  EXPECT_NE(std::get<BadRequest>(r).error.message.find("limit"), std::string::npos);
}

TEST(DecodeRequest, EveryMethodAcceptsItsMinimalParams) {
  const std::pair<std::string_view, json> cases[] = {
      {method::status, nullptr},         {method::list, json::object()},
      {method::show, {{"job", "a"}}},    {method::run, {{"job", "a"}}},
      {method::cancel, {{"run_id", 3}}}, {method::cancel, {{"job", "a"}}},
      {method::pause, {{"job", "a"}}},   {method::resume, {{"job", "a"}}},
      {method::history, nullptr},        {method::logs, {{"run_id", 3}}},
      {method::reload, nullptr},         {method::next, {{"job", "a"}}},
  };
  for (const auto& [m, params] : cases) {
    std::string line = encode_request(1, m, params);
    line.pop_back();
    auto r = decode_and_check_request(line);
    EXPECT_EQ(error_code(r), 0) << line << " -> " << std::get<BadRequest>(r).error.message;
  }
}

TEST(DecodeRequest, DeepNestingIsRefusedWithoutRecursion) {
  auto nested = [](int levels) {
    return R"({"jsonrpc":"2.0","id":1,"method":"status","params":{"x":)" +
           std::string(std::size_t(levels), '[') + std::string(std::size_t(levels), ']') + "}}";
  };
  EXPECT_EQ(error_code(decode_request(nested(kMaxDepth - 3))), 0);
  EXPECT_EQ(error_code(decode_request(nested(kMaxDepth))), errc::invalid_request);
  // Half a million levels: must neither crash nor build the structure.
  EXPECT_EQ(error_code(decode_request(nested(500000))), errc::invalid_request);
}

TEST(Encode, ResponsesAreOneLineAndSurviveInvalidUtf8) {
  std::string out = encode_result(1, json{{"output", std::string("a\xff\nb")}});
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  Response resp;
  std::string err;
  ASSERT_TRUE(decode_response(std::string_view(out).substr(0, out.size() - 1), &resp, &err)) << err;
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(std::get<json>(resp.outcome)["output"], "a\xef\xbf\xbd\nb");
}

TEST(Encode, ErrorRoundTrip) {
  Error e{errc::conflict, "job 'a' is already running (run 42)", {{"run_id", 42}, {"job", "a"}}};
  std::string out = encode_error("abc", e);
  Response resp;
  ASSERT_TRUE(decode_response(out.substr(0, out.size() - 1), &resp, nullptr));
  EXPECT_EQ(resp.id, json("abc"));
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(std::get<Error>(resp.outcome), e);
  EXPECT_STREQ(error_name(e.code), "conflict");
}

TEST(Encode, ErrorWithoutDataOmitsIt) {
  std::string out = encode_error(nullptr, {errc::parse_error, "parse error", nullptr});
  EXPECT_EQ(out.find("data"), std::string::npos);
  EXPECT_NE(out.find("\"id\":null"), std::string::npos);
}

TEST(DecodeResponse, RejectsGarbage) {
  Response r;
  std::string err;
  EXPECT_FALSE(decode_response("nope", &r, &err));
  EXPECT_FALSE(decode_response("[]", &r, &err));
  EXPECT_FALSE(decode_response(R"({"jsonrpc":"2.0","id":1})", &r, &err));
  EXPECT_FALSE(decode_response(R"({"jsonrpc":"2.0","id":1,"error":{"code":"x"}})", &r, &err));
}

}  // namespace
}  // namespace kairos::protocol
