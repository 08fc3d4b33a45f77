#include "schedule/admission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kairos::schedule {
namespace {

using config::Overlap;

struct AdmitCase {
  const char* name;
  Overlap policy;
  int max_instances;
  std::vector<ActiveRun> active;  // oldest first
  bool force;
  Admission expected;
};

Admission start() {
  return {};
}
Admission skip(std::int64_t blocking, std::string reason) {
  return {Admit::skip, blocking, std::move(reason), {}};
}
Admission queue(std::int64_t behind) {
  return {Admit::queue, behind, "", {}};
}
Admission replace(std::vector<std::int64_t> ids) {
  return {Admit::replace, 0, "", std::move(ids)};
}

/// "skip 9 'reason'", "replace [7, 9]": a failure shows both decisions readably.
std::string render(const Admission& a) {
  static constexpr const char* kWords[] = {"start", "skip", "queue", "replace"};
  std::string s = kWords[static_cast<int>(a.action)];
  s += " " + std::to_string(a.blocking_run) + " '" + a.reason + "' [";
  for (std::size_t i = 0; i < a.to_cancel.size(); ++i)
    s += (i ? ", " : "") + std::to_string(a.to_cancel[i]);
  return s + "]";
}

void PrintTo(const AdmitCase& c, std::ostream* os) {
  *os << c.name;
}

class AdmitTable : public ::testing::TestWithParam<AdmitCase> {};

TEST_P(AdmitTable, Decides) {
  const AdmitCase& c = GetParam();
  EXPECT_EQ(render(admit(c.policy, c.max_instances, c.active, c.force)), render(c.expected));
}

const std::vector<ActiveRun> kNoRun;
const std::vector<ActiveRun> kOneRun = {{7}};
const std::vector<ActiveRun> kTwoRuns = {{7}, {9}};
const std::vector<ActiveRun> kOneWaiting = {{7}, {9, true}};

INSTANTIATE_TEST_SUITE_P(
    Policies, AdmitTable,
    ::testing::Values(
        // Nothing active: every policy starts.
        AdmitCase{"allow_idle", Overlap::allow, 1, kNoRun, false, start()},
        AdmitCase{"forbid_idle", Overlap::forbid, 1, kNoRun, false, start()},
        AdmitCase{"replace_idle", Overlap::replace, 1, kNoRun, false, start()},
        AdmitCase{"queue_idle", Overlap::queue, 1, kNoRun, false, start()},
        // Force: every policy starts, whatever is active.
        AdmitCase{"allow_forced", Overlap::allow, 1, kTwoRuns, true, start()},
        AdmitCase{"forbid_forced", Overlap::forbid, 1, kOneRun, true, start()},
        AdmitCase{"replace_forced", Overlap::replace, 1, kTwoRuns, true, start()},
        AdmitCase{"queue_forced", Overlap::queue, 1, kOneWaiting, true, start()},
        // allow: up to max_instances active runs.
        AdmitCase{"allow_below_max", Overlap::allow, 3, kTwoRuns, false, start()},
        AdmitCase{"allow_at_max", Overlap::allow, 2, kTwoRuns, false,
                  skip(9, "max_instances (2) runs already active, newest is run 9")},
        AdmitCase{"allow_default_max", Overlap::allow, 1, kOneRun, false,
                  skip(7, "max_instances (1) runs already active, newest is run 7")},
        AdmitCase{"allow_zero_max_counts_as_one", Overlap::allow, 0, kOneRun, false,
                  skip(7, "max_instances (0) runs already active, newest is run 7")},
        // forbid: the newest active run blocks.
        AdmitCase{"forbid_busy", Overlap::forbid, 1, kTwoRuns, false,
                  skip(9, "run 9 is still active and the overlap policy is forbid")},
        // replace: every active run is cancelled, oldest first.
        AdmitCase{"replace_one", Overlap::replace, 1, kOneRun, false, replace({7})},
        AdmitCase{"replace_all", Overlap::replace, 1, kTwoRuns, false, replace({7, 9})},
        // queue: one waits behind the newest; later firings coalesce into it.
        AdmitCase{"queue_behind_newest", Overlap::queue, 1, kTwoRuns, false, queue(9)},
        AdmitCase{"queue_coalesces", Overlap::queue, 1, kOneWaiting, false,
                  skip(9, "coalesced into queued run 9")},
        AdmitCase{"queue_coalesces_into_an_older_waiting_run",
                  Overlap::queue,
                  1,
                  {{3, true}, {4}},
                  false,
                  skip(3, "coalesced into queued run 3")}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kairos::schedule
