#include "daemon/control_server.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "protocol/jsonrpc.h"
#include "protocol/messages.h"
#include "server_harness.h"

namespace kairos::daemon {
namespace {

namespace fs = std::filesystem;
namespace proto = kairos::protocol;
using kairos::testing::LineClient;
using kairos::testing::ServerHarness;
using kairos::testing::wait_for;
using nlohmann::json;

/// Answers at once, except `run` with wait:true, whose replies are held until
/// release_all(); `logs` answers with a big output to fill client buffers.
class FakeHandler : public ControlHandler {
 public:
  void handle(const std::string& method, const json& params, const Peer& peer,
              Reply reply) override {
    ++calls;
    last_peer = peer;
    if (method == "run" && params.value("wait", false)) {
      held.push_back(std::move(reply));
      return;
    }
    if (method == "logs") {
      reply(json{{"output", std::string(big_output, 'x')}});
      return;
    }
    if (method == "show" && params.value("job", "") == "missing") {
      reply(RpcError{proto::errc::not_found, "no job named 'missing'", nullptr});
      return;
    }
    if (method == "pause" && params.value("job", "") == "twice") {
      reply(json{{"n", 1}});
      reply(json{{"n", 2}});  // a buggy handler: the server must drop this one
      return;
    }
    if (method == "resume" && params.value("job", "") == "throw") throw std::runtime_error("boom");
    reply(json{{"method", method}, {"params", params}});
  }
  /// Loop thread only.
  void release_all(const json& result) {
    auto replies = std::move(held);
    held.clear();
    for (auto& r : replies) r(result);
  }

  std::atomic<int> calls{0};
  Peer last_peer;
  std::vector<Reply> held;
  std::size_t big_output = 100 * 1024;
};

std::string req(int id, const std::string& method, const json& params = nullptr) {
  return proto::encode_request(id, method, params);
}

json parse(const std::optional<std::string>& line) {
  if (!line) return json();
  return json::parse(*line, nullptr, false);
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kairos-ctl-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    opts_.path = (dir_ / "k.sock").string();
    opts_.mode = 0660;
  }
  void TearDown() override {
    EXPECT_EQ(harness_.stop(), 0) << "handles left open on the loop";
    fs::remove_all(dir_);
  }
  void start() { ASSERT_EQ(harness_.start(opts_, handler_), ""); }
  LineClient connect() {
    LineClient c;
    EXPECT_EQ(c.connect(opts_.path), 0);
    return c;
  }
  /// Asserts the server still answers a fresh client.
  void expect_alive() {
    LineClient c = connect();
    ASSERT_TRUE(c.send(req(99, "status")));
    json r = parse(c.read_line());
    EXPECT_EQ(r["id"], 99) << r.dump();
    EXPECT_EQ(r["result"]["method"], "status") << r.dump();
  }

  fs::path dir_;
  ControlServer::Options opts_;
  FakeHandler handler_;
  ServerHarness harness_;
};

TEST_F(ControlServerTest, AnswersARequestWithItsId) {
  start();
  LineClient c = connect();
  ASSERT_TRUE(c.send(req(1, "show", {{"job", "a"}})));
  json r = parse(c.read_line());
  EXPECT_EQ(r["jsonrpc"], "2.0");
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(r["result"]["params"]["job"], "a");
  EXPECT_EQ(handler_.last_peer.uid, ::geteuid());
  EXPECT_EQ(handler_.last_peer.pid, ::getpid());
}

TEST_F(ControlServerTest, HandlerErrorsAreJsonRpcErrors) {
  start();
  LineClient c = connect();
  ASSERT_TRUE(c.send(req(5, "show", {{"job", "missing"}})));
  json r = parse(c.read_line());
  EXPECT_EQ(r["id"], 5);
  EXPECT_EQ(r["error"]["code"], proto::errc::not_found);
  EXPECT_FALSE(r.contains("result"));
}

TEST_F(ControlServerTest, PipelinedRequestsOnOneConnection) {
  start();
  LineClient c = connect();
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += req(i, "status");
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 200; ++i) {
    json r = parse(c.read_line());
    ASSERT_EQ(r["id"], i);
  }
}

TEST_F(ControlServerTest, ManyConcurrentClients) {
  start();
  constexpr int kClients = 50, kRequests = 100;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      LineClient c;
      if (c.connect(opts_.path) != 0) return;
      for (int i = 0; i < kRequests; ++i) {
        int id = t * 1000 + i;
        if (!c.send(req(id, "status"))) return;
        json r = parse(c.read_line());
        if (r["id"] == id && r.contains("result")) ++answered;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered.load(), kClients * kRequests);
}

TEST_F(ControlServerTest, MalformedCorpusGetsErrorsAndServerSurvives) {
  start();
  fs::path corpus = KAIROS_REQUEST_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(corpus)) << corpus;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string body = ss.str();
    // Each corpus file is one request line (its newline is optional).
    if (!body.empty() && body.back() == '\n') body.pop_back();
    ASSERT_EQ(body.find('\n'), std::string::npos) << entry.path() << " holds several lines";
    LineClient c = connect();
    ASSERT_TRUE(c.send(body + "\n"));
    json r = parse(c.read_line());
    ASSERT_TRUE(r.is_object()) << entry.path();
    EXPECT_TRUE(r.contains("error")) << entry.path() << ": " << r.dump();
    EXPECT_TRUE(r["error"]["code"].is_number_integer()) << entry.path();
    EXPECT_EQ(r["jsonrpc"], "2.0");
    // The connection stays usable after a bad line.
    ASSERT_TRUE(c.send(req(7, "status")));
    json ok = parse(c.read_line());
    EXPECT_EQ(ok["id"], 7) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 20);
  EXPECT_EQ(handler_.calls.load(), files);  // only the valid follow-ups reached the handler
  expect_alive();
}

TEST_F(ControlServerTest, OversizeLineGetsErrorThenDisconnect) {
  start();
  LineClient c = connect();
  std::string huge(proto::kMaxLineBytes + 10, 'x');
  c.send(huge);  // the server may close before we finish: ignore send errors
  json r = parse(c.read_line());
  EXPECT_EQ(r["error"]["code"], proto::errc::request_too_large) << r.dump();
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(wait_for([&] { return harness_.client_count() == 0; }));
  expect_alive();
}

TEST_F(ControlServerTest, LineOfExactlyTheLimitIsAccepted) {
  start();
  LineClient c = connect();
  std::string line = req(3, "show", {{"job", "a"}});
  line.pop_back();  // '\n'
  line.insert(line.size() - 1,
              ",\"pad\":\"" + std::string(proto::kMaxLineBytes - line.size() - 9, 'p') + "\"");
  ASSERT_EQ(line.size(), proto::kMaxLineBytes);
  ASSERT_TRUE(c.send(line + "\n"));
  json r = parse(c.read_line());
  EXPECT_EQ(r["id"], 3) << r.dump().substr(0, 200);
}

TEST_F(ControlServerTest, ClientThatNeverReadsDoesNotStallOthers) {
  opts_.output_pause_bytes = 64 * 1024;
  start();
  LineClient hog = connect();
  // 2000 requests for ~100 KiB replies each, never read: ~200 MB if buffered.
  std::string batch;
  for (int i = 0; i < 2000; ++i) batch += req(i, "logs", {{"run_id", i}});
  std::thread writer([&] { hog.send(batch); });  // blocks once the server stops reading
  for (int i = 0; i < 20; ++i) expect_alive();
  // The server stopped reading the hog's requests long before answering them all.
  EXPECT_LT(handler_.calls.load(), 2000 + 20);
  ::shutdown(hog.fd(), SHUT_RDWR);  // unblocks the writer (close() would not)
  writer.join();
  hog.close();
  EXPECT_TRUE(wait_for([&] { return harness_.client_count() == 0; }));
}

TEST_F(ControlServerTest, ClientOverOutputLimitIsDisconnected) {
  opts_.output_pause_bytes = 64 * 1024;
  opts_.output_limit_bytes = 1024 * 1024;
  start();
  LineClient hog = connect();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(hog.send(req(i, "run", {{"job", "a"}, {"wait", true}})));
  ASSERT_TRUE(wait_for([&] { return handler_.calls.load() == 40; }));
  // 40 replies of 100 KiB released at once to a client that does not read.
  harness_.call([&] {
    handler_.release_all(json{{"output", std::string(100 * 1024, 'y')}});
    return 0;
  });
  EXPECT_TRUE(wait_for([&] { return harness_.client_count() == 0; }));
  expect_alive();
}

TEST_F(ControlServerTest, OutstandingRequestsAreCappedPerClient) {
  start();
  LineClient c = connect();
  std::string batch;
  for (int i = 0; i < 1100; ++i) batch += req(i, "run", {{"job", "a"}, {"wait", true}});
  ASSERT_TRUE(c.send(batch));
  ASSERT_TRUE(wait_for([&] { return handler_.calls.load() == 1024; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(handler_.calls.load(), 1024) << "input must pause at the in-flight cap";
  harness_.call([&] {
    handler_.release_all(json{{"status", "succeeded"}});
    return 0;
  });
  // Answering resumes input: the remaining requests reach the handler.
  ASSERT_TRUE(wait_for([&] { return handler_.calls.load() == 1100; }));
  harness_.call([&] {
    handler_.release_all(json{{"status", "succeeded"}});
    return 0;
  });
  for (int i = 0; i < 1100; ++i) ASSERT_TRUE(c.read_line()) << i;
}

TEST_F(ControlServerTest, ReplyAfterClientDisconnectedIsDropped) {
  start();
  {
    LineClient c = connect();
    ASSERT_TRUE(c.send(req(1, "run", {{"job", "a"}, {"wait", true}})));
    ASSERT_TRUE(wait_for([&] { return handler_.calls.load() == 1; }));
  }  // closed before the reply
  // The fully closed peer is noticed when the reply is written, or at EOF.
  harness_.call([&] {
    handler_.release_all(json{{"status", "succeeded"}});
    return 0;
  });
  EXPECT_TRUE(wait_for([&] { return harness_.client_count() == 0; }));
  expect_alive();
}

TEST_F(ControlServerTest, ReplyAfterServerClosedIsDropped) {
  start();
  LineClient c = connect();
  ASSERT_TRUE(c.send(req(1, "run", {{"job", "a"}, {"wait", true}})));
  ASSERT_TRUE(wait_for([&] { return handler_.calls.load() == 1; }));
  harness_.on_after_close([&] { handler_.release_all(json{{"late", true}}); });
  EXPECT_EQ(harness_.stop(), 0);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(ControlServerTest, HalfClosedClientStillGetsDelayedReply) {
  start();
  LineClient c = connect();
  ASSERT_TRUE(c.send(req(1, "run", {{"job", "a"}, {"wait", true}}) + req(2, "status")));
  c.shutdown_write();
  json first = parse(c.read_line());
  EXPECT_EQ(first["id"], 2);
  harness_.call([&] {
    handler_.release_all(json{{"status", "succeeded"}});
    return 0;
  });
  json second = parse(c.read_line());
  EXPECT_EQ(second["id"], 1);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(ControlServerTest, DoubleReplyAndThrowingHandlerAreContained) {
  start();
  LineClient c = connect();
  ASSERT_TRUE(c.send(req(1, "pause", {{"job", "twice"}})));
  ASSERT_TRUE(c.send(req(2, "resume", {{"job", "throw"}})));
  json a = parse(c.read_line());
  EXPECT_EQ(a["result"]["n"], 1);
  json b = parse(c.read_line());
  EXPECT_EQ(b["id"], 2);
  EXPECT_EQ(b["error"]["code"], proto::errc::internal_error);
  ASSERT_TRUE(c.send(req(3, "status")));
  EXPECT_EQ(parse(c.read_line())["id"], 3);
}

TEST_F(ControlServerTest, SocketModeAndGroup) {
  group* g = ::getgrgid(::getegid());
  ASSERT_NE(g, nullptr);
  opts_.group = g->gr_name;
  opts_.mode = 0660;
  start();
  struct stat st {};
  ASSERT_EQ(::stat(opts_.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, ::getegid());
}

TEST_F(ControlServerTest, MissingGroupMakesOwnerOnlySocket) {
  opts_.group = "kairos-no-such-group-xyz";
  opts_.mode = 0666;
  start();
  struct stat st {};
  ASSERT_EQ(::stat(opts_.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ControlServerTest, StaleSocketIsReplaced) {
  // A socket file nobody listens on, as a killed daemon leaves it.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, opts_.path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  ASSERT_TRUE(fs::exists(opts_.path));
  start();
  expect_alive();
}

TEST_F(ControlServerTest, LiveSocketIsRefused) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, opts_.path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  std::string err = harness_.start(opts_, handler_);
  EXPECT_EQ(err, "another kairosd is listening on " + opts_.path);
  EXPECT_TRUE(fs::exists(opts_.path));  // the other daemon's socket is left alone
  ::close(fd);
}

TEST_F(ControlServerTest, NonSocketPathIsRefused) {
  std::ofstream(opts_.path) << "not a socket";
  std::string err = harness_.start(opts_, handler_);
  EXPECT_NE(err.find("exists and is not a socket"), std::string::npos) << err;
}

TEST_F(ControlServerTest, TooLongPathIsRefused) {
  opts_.path = "/tmp/" + std::string(200, 'x');
  std::string err = harness_.start(opts_, handler_);
  EXPECT_NE(err.find("too long"), std::string::npos) << err;
}

TEST_F(ControlServerTest, CloseUnlinksSocketAndDisconnectsClients) {
  start();
  LineClient c = connect();
  ASSERT_TRUE(c.send(req(1, "status")));
  ASSERT_TRUE(c.read_line());
  EXPECT_EQ(harness_.stop(), 0);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_FALSE(fs::exists(opts_.path));
}

TEST_F(ControlServerTest, PeerOutsideTheGroupIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as nobody";
  constexpr uid_t kNobody = 65534;
  group* g = ::getgrgid(::getegid());
  ASSERT_NE(g, nullptr);
  opts_.group = g->gr_name;
  opts_.mode = 0666;  // let the file mode pass so SO_PEERCRED is what refuses
  start();
  fs::permissions(dir_, fs::perms::all);  // nobody must be able to reach the socket
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: only raw syscalls from here on.
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
      ::_exit(10);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, opts_.path.c_str(), sizeof(a.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) ::_exit(11);
    char buf[4096];
    std::size_t got = 0;
    for (;;) {
      ssize_t n = ::read(fd, buf + got, sizeof(buf) - 1 - got);
      if (n <= 0) break;
      got += std::size_t(n);
    }
    buf[got] = 0;
    ::_exit(std::strstr(buf, "-32004") ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid failed, 11 connect failed, 12 no access_denied";
  EXPECT_EQ(handler_.calls.load(), 0);
  expect_alive();
}

TEST(PeerAllowed, Rules) {
  EXPECT_TRUE(peer_allowed(Peer{1, 0, 0}, 1000, gid_t(-1)));        // root
  EXPECT_TRUE(peer_allowed(Peer{1, 1000, 1000}, 1000, gid_t(-1)));  // own uid
  EXPECT_FALSE(peer_allowed(Peer{1, 1001, 1001}, 1000, gid_t(-1)));
  EXPECT_TRUE(peer_allowed(Peer{1, 1001, 555}, 1000, 555));  // primary group
  // Supplementary groups come from the live process: our own.
  std::vector<gid_t> groups(::getgroups(0, nullptr));
  ::getgroups(int(groups.size()), groups.data());
  for (gid_t g : groups) {
    if (g != ::getegid()) {
      EXPECT_TRUE(peer_allowed(Peer{::getpid(), ::getuid(), ::getegid()}, ::getuid() + 1, g));
    }
  }
  // A dead or foreign pid falls back to the group database; nobody is not in root's.
  EXPECT_FALSE(peer_allowed(Peer{0, 65534, 65534}, 1000, 0));
}

}  // namespace
}  // namespace kairos::daemon
