// Typed, located reading of YAML nodes: every problem becomes a diagnostic at the node's
// file:line:column and reading goes on, so one pass reports everything that is wrong.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace kairos::config {

/// "file:line:column" (just "file" when the line is unknown).
std::string format_loc(const SourceLoc& loc);

/// The problems of one load, over all its files.
class Diagnostics {
 public:
  void add(SourceLoc loc, std::string message);
  std::size_t count() const;
  /// Sorted by file (in `file_order`, others last by name), then line and column.
  std::vector<Diagnostic> take_sorted(const std::vector<std::string>& file_order);

 private:
  std::vector<Diagnostic> list_;
};

/// One entry of a YAML map.
///
/// TRICKY: assigning a YAML::Node does not rebind the handle, it overwrites the node it
/// refers to, in the document, for every other handle too. So Entry cannot be assigned
/// (copy construction, which rebinds nothing, is fine); containers of entries are rebuilt,
/// never erased from or sorted.
struct Entry {
  Entry(std::string key_, YAML::Node key_node_, YAML::Node value_, SourceLoc key_loc_,
        SourceLoc value_loc_)
      : key(std::move(key_)),
        key_node(std::move(key_node_)),
        value(std::move(value_)),
        key_loc(std::move(key_loc_)),
        value_loc(std::move(value_loc_)) {}
  Entry(const Entry&) = default;
  Entry& operator=(const Entry&) = delete;

  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  SourceLoc key_loc;
  SourceLoc value_loc;  // the key's location when the value is empty
};

/// Reads one file's nodes into typed values, reporting problems to a shared Diagnostics.
class Reader {
 public:
  /// `source` is the file's text, used to find where a quoted scalar's content starts.
  Reader(std::string file, std::string_view source, Diagnostics& diagnostics)
      : file_(std::move(file)), source_(source), diagnostics_(&diagnostics) {}

  const std::string& file() const { return file_.str(); }
  /// The single YAML document of `text` (null when empty); nothing after reporting a
  /// syntax error or a second document.
  std::optional<YAML::Node> parse_document(const std::string& text) const;
  /// How many problems have been reported so far (by any reader of this load).
  std::size_t error_count() const { return diagnostics_->count(); }
  SourceLoc loc(const YAML::Node& node) const;
  /// Where the text of a scalar starts: after the opening quote of a quoted scalar, on the
  /// indicator of a block scalar (whose lines do not map 1:1 to columns anyway).
  SourceLoc text_loc(const YAML::Node& scalar) const;
  void error(const SourceLoc& at, std::string message) const;

  /// The entries of `map` in file order. Keys that are not plain strings are reported; so
  /// are repeated keys when `report_duplicates` (yaml-cpp keeps them silently). A null node
  /// is an empty map; any other non-map is reported as "`what`: expected a map".
  std::vector<Entry> entries(const YAML::Node& map, const SourceLoc& where, std::string_view what,
                             bool report_duplicates = true) const;
  /// Reports entries whose key is not in `allowed` (with a did-you-mean hint) and drops them.
  void keep_known(std::vector<Entry>& entries, std::span<const std::string_view> allowed) const;

  std::optional<std::string> string(const Entry& e) const;
  std::optional<std::string> nonempty_string(const Entry& e) const;
  std::optional<std::int64_t> integer(const Entry& e, std::int64_t min, std::int64_t max) const;
  std::optional<bool> boolean(const Entry& e) const;
  std::optional<double> number(const Entry& e, double min, double max) const;
  std::optional<Duration> duration(const Entry& e) const;
  std::optional<std::uint64_t> size(const Entry& e) const;
  /// Index of the value in `names`.
  std::optional<std::size_t> choice(const Entry& e, std::span<const std::string_view> names) const;
  /// A list of strings; `nonempty` rejects `[]`.
  std::optional<std::vector<std::string>> string_list(const Entry& e, bool nonempty) const;

  /// Whether a scalar was written without quotes or tags (so `"3"` is not an integer).
  static bool is_plain(const YAML::Node& node) { return node.Tag() == "?"; }
  /// "a map", "a list", "nothing" or "'text'", for "expected X, got Y" messages.
  static std::string describe(const YAML::Node& node);

 private:
  std::optional<std::string> plain_scalar(const Entry& e, std::string_view expected) const;

  FileName file_;  // shared by every location read here
  std::string_view source_;
  Diagnostics* diagnostics_;
};

}  // namespace kairos::config
