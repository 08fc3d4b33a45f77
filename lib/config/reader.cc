#include "config/reader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "config/suggest.h"

namespace kairos::config {
namespace {

// Records where each document starts and whether it is nothing but a null.
class DocumentProbe : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start = YAML::Mark::null_mark();
    int events = 0;
    bool lone_null = false;
  };
  std::vector<Document> documents;

  void OnDocumentStart(const YAML::Mark&) override { documents.emplace_back(); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    event(mark);
    if (documents.back().events == 1) documents.back().lone_null = true;
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { event(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    event(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    event(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    event(mark);
  }
  void OnMapEnd() override {}

 private:
  void event(const YAML::Mark& mark) {
    if (documents.empty()) documents.emplace_back();
    Document& doc = documents.back();
    if (doc.events++ == 0) doc.start = mark;
    if (doc.events > 1) doc.lone_null = false;
  }
};

bool same(const YAML::Mark& a, const YAML::Mark& b) {
  return a.pos == b.pos && a.line == b.line && a.column == b.column;
}

}  // namespace

std::string format_loc(const SourceLoc& loc) {
  if (loc.line <= 0) return loc.file.str();
  return loc.file.str() + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

std::string Diagnostic::str() const {
  return format_loc(loc) + ": " + message;
}

std::size_t Diagnostics::count() const {
  return list_.size();
}

void Diagnostics::add(SourceLoc loc, std::string message) {
  list_.push_back(Diagnostic{std::move(loc), std::move(message)});
}

std::vector<Diagnostic> Diagnostics::take_sorted(const std::vector<std::string>& file_order) {
  auto rank = [&](const std::string& file) {
    auto it = std::find(file_order.begin(), file_order.end(), file);
    return static_cast<std::size_t>(it - file_order.begin());
  };
  std::stable_sort(list_.begin(), list_.end(), [&](const Diagnostic& a, const Diagnostic& b) {
    const auto ra = rank(a.loc.file), rb = rank(b.loc.file);
    if (ra != rb) return ra < rb;
    if (a.loc.file != b.loc.file) return a.loc.file < b.loc.file;
    if (a.loc.line != b.loc.line) return a.loc.line < b.loc.line;
    return a.loc.column < b.loc.column;
  });
  return std::move(list_);
}

std::optional<YAML::Node> Reader::parse_document(const std::string& text) const {
  try {
    // TRICKY: yaml-cpp 0.7 accepts some garbage (a lone ',') as an endless stream of null
    // documents without consuming it, so YAML::LoadAll never returns (fixed upstream by
    // jbeder/yaml-cpp#1319). A probe reads at most three documents instead: a null document
    // at the very place the previous one was is that stuck parser, i.e. a syntax error.
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentProbe probe;
    while (probe.documents.size() < 3 && parser.HandleNextDocument(probe)) {
      const auto& docs = probe.documents;
      const std::size_t n = docs.size();
      if (n >= 2 && docs[n - 1].lone_null && same(docs[n - 1].start, docs[n - 2].start)) {
        const YAML::Mark at = docs[n - 1].start;
        const auto pos = static_cast<std::size_t>(at.pos);
        const std::string what = pos < text.size() ? "'" + text.substr(pos, 1) + "'" : "input";
        error(SourceLoc{file_, at.line + 1, at.column + 1},
              "YAML syntax error: unexpected " + what);
        return std::nullopt;
      }
    }
    if (probe.documents.size() > 1) {
      error(
          SourceLoc{file_, probe.documents[1].start.line + 1, probe.documents[1].start.column + 1},
          "only one YAML document per file is allowed");
      return std::nullopt;
    }
    // The first document is known to end, so loading it cannot hang.
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    SourceLoc at{file_, e.mark.line + 1, e.mark.column + 1};
    if (e.mark.is_null()) at = SourceLoc{file_, 0, 0};
    error(at, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

SourceLoc Reader::loc(const YAML::Node& node) const {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return SourceLoc{file_, 0, 0};
  return SourceLoc{file_, mark.line + 1, mark.column + 1};  // yaml-cpp counts from 0
}

SourceLoc Reader::text_loc(const YAML::Node& scalar) const {
  SourceLoc at = loc(scalar);
  const YAML::Mark mark = scalar.Mark();
  if (!mark.is_null() && mark.pos >= 0 && static_cast<std::size_t>(mark.pos) < source_.size()) {
    const char first = source_[static_cast<std::size_t>(mark.pos)];
    if (first == '"' || first == '\'') at.column += 1;
  }
  return at;
}

void Reader::error(const SourceLoc& at, std::string message) const {
  diagnostics_->add(at, std::move(message));
}

std::string Reader::describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return (is_plain(node) ? "'" : "the string '") + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

std::vector<Entry> Reader::entries(const YAML::Node& map, const SourceLoc& where,
                                   std::string_view what, bool report_duplicates) const {
  std::vector<Entry> out;
  if (!map.IsDefined() || map.IsNull()) return out;
  if (!map.IsMap()) {
    error(where, std::string(what) + ": expected a map, got " + describe(map));
    return out;
  }
  std::map<std::string, SourceLoc> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const SourceLoc key_loc = loc(it->first);
    Entry e{"", it->first, it->second, key_loc, it->second.IsNull() ? key_loc : loc(it->second)};
    if (!e.key_node.IsScalar()) {
      error(e.key_loc,
            std::string(what) + ": keys must be plain strings, got " + describe(e.key_node));
      continue;
    }
    e.key = e.key_node.Scalar();  // a std::string: assigning it is harmless
    if (report_duplicates) {
      auto [first, inserted] = seen.emplace(e.key, e.key_loc);
      if (!inserted) {
        error(e.key_loc,
              "duplicate key '" + e.key + "' (first defined at " + format_loc(first->second) + ")");
        continue;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

void Reader::keep_known(std::vector<Entry>& entries,
                        std::span<const std::string_view> allowed) const {
  std::vector<Entry> known;
  for (const Entry& e : entries) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) {
      known.push_back(e);
    } else {
      error(e.key_loc, "unknown key '" + e.key + "'" + did_you_mean(e.key, allowed));
    }
  }
  entries.swap(known);
}

std::optional<std::string> Reader::string(const Entry& e) const {
  if (!e.value.IsScalar()) {
    error(e.value_loc, e.key + ": expected a string, got " + describe(e.value));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> Reader::nonempty_string(const Entry& e) const {
  auto s = string(e);
  if (s && s->empty()) {
    error(e.value_loc, e.key + ": must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> Reader::plain_scalar(const Entry& e, std::string_view expected) const {
  if (!e.value.IsScalar() || !is_plain(e.value)) {
    error(e.value_loc,
          e.key + ": expected " + std::string(expected) + ", got " + describe(e.value));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::int64_t> Reader::integer(const Entry& e, std::int64_t min,
                                            std::int64_t max) const {
  auto text = plain_scalar(e, "an integer");
  if (!text) return std::nullopt;
  // Decimal only: yaml-cpp would read "010" as octal and "0x10" as hex, which YAML 1.2
  // (and the schema's editors) do not.
  std::int64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc{} || ptr != end || begin == end) {
    error(e.value_loc, e.key + ": expected an integer, got " + describe(e.value));
    return std::nullopt;
  }
  if (value < min || value > max) {
    const std::string range =
        max == INT64_MAX ? "at least " + std::to_string(min)
                         : "between " + std::to_string(min) + " and " + std::to_string(max);
    error(e.value_loc, e.key + ": must be " + range + ", got " + *text);
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Reader::boolean(const Entry& e) const {
  auto text = plain_scalar(e, "true or false");
  if (!text) return std::nullopt;
  // YAML 1.2 booleans only: "yes"/"on" are strings to the editors' YAML 1.2 parsers.
  if (*text == "true" || *text == "True" || *text == "TRUE") return true;
  if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  error(e.value_loc, e.key + ": expected true or false, got " + describe(e.value));
  return std::nullopt;
}

std::optional<double> Reader::number(const Entry& e, double min, double max) const {
  auto text = plain_scalar(e, "a number");
  if (!text) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || ptr != text->data() + text->size() || !std::isfinite(value)) {
    error(e.value_loc, e.key + ": expected a number, got " + describe(e.value));
    return std::nullopt;
  }
  if (value < min || value > max) {
    auto fmt = [](double d) {
      std::string s = std::to_string(d);
      s.erase(s.find_last_not_of('0') + 1);
      if (s.ends_with('.')) s.pop_back();
      return s;
    };
    const std::string range =
        std::isinf(max) ? "at least " + fmt(min) : "between " + fmt(min) + " and " + fmt(max);
    error(e.value_loc, e.key + ": must be " + range + ", got " + *text);
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> Reader::duration(const Entry& e) const {
  if (!e.value.IsScalar()) {
    error(e.value_loc, e.key + ": expected a duration such as 30s, got " + describe(e.value));
    return std::nullopt;
  }
  std::string why;
  auto d = parse_duration(e.value.Scalar(), &why);
  if (!d) error(e.value_loc, e.key + ": " + why);
  return d;
}

std::optional<std::uint64_t> Reader::size(const Entry& e) const {
  if (!e.value.IsScalar()) {
    error(e.value_loc, e.key + ": expected a size such as 64KiB, got " + describe(e.value));
    return std::nullopt;
  }
  std::string why;
  auto s = parse_size(e.value.Scalar(), &why);
  if (!s) error(e.value_loc, e.key + ": " + why);
  return s;
}

std::optional<std::size_t> Reader::choice(const Entry& e,
                                          std::span<const std::string_view> names) const {
  std::string list;
  for (auto name : names) list += (list.empty() ? "" : ", ") + std::string(name);
  if (!e.value.IsScalar()) {
    error(e.value_loc, e.key + ": expected one of " + list + ", got " + describe(e.value));
    return std::nullopt;
  }
  const std::string& text = e.value.Scalar();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) return i;
  }
  error(e.value_loc, e.key + ": expected one of " + list + ", got " + describe(e.value) +
                         did_you_mean(text, names));
  return std::nullopt;
}

std::optional<std::vector<std::string>> Reader::string_list(const Entry& e, bool nonempty) const {
  if (!e.value.IsSequence()) {
    error(e.value_loc, e.key + ": expected a list of strings, got " + describe(e.value));
    return std::nullopt;
  }
  if (nonempty && e.value.size() == 0) {
    error(e.value_loc, e.key + ": must not be empty");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const YAML::Node& item : e.value) {
    if (!item.IsScalar()) {
      // An empty item has no useful mark of its own; the list's start is close enough.
      error(item.IsNull() ? e.value_loc : loc(item),
            e.key + ": expected a string, got " + describe(item));
      ok = false;
      continue;
    }
    out.push_back(item.Scalar());
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace kairos::config
