// Fuzzes util/parse: number parsers, trim, line and token splitting, keyed "key value" lookup.
#include <string>

#include "fuzz_check.h"
#include "util/parse.h"

namespace parse = soroka::parse;

namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = soroka::fuzz::as_text(data, size);

  std::string_view t = parse::trim(text);
  FUZZ_CHECK(t.empty() || (!is_space(t.front()) && !is_space(t.back())));

  // A number is the whole trimmed text: digits, with a '-' for i64.
  if (auto u = parse::u64(text)) {
    FUZZ_CHECK(all_digits(t));
    FUZZ_CHECK(std::to_string(*u).size() <= t.size());
  }
  if (auto i = parse::i64(text)) FUZZ_CHECK(all_digits(t.front() == '-' ? t.substr(1) : t));
  (void)parse::f64(text);

  // Lines: no '\n' inside, and together with the '\n's they are the whole text.
  std::string joined;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::string_view line = parse::next_line(rest);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    joined.append(line);
    if (joined.size() < text.size()) joined.push_back('\n');
  }
  FUZZ_CHECK(joined == text);

  // Tokens: non-empty until the end, no whitespace inside, in order.
  rest = text;
  std::size_t pos = 0;
  for (std::string_view tok = parse::next_token(rest); !tok.empty(); tok = parse::next_token(rest)) {
    for (char c : tok) FUZZ_CHECK(!is_space(c));
    auto at = text.find(tok, pos);
    FUZZ_CHECK(at != std::string_view::npos);
    pos = at + tok.size();
  }
  FUZZ_CHECK(parse::trim(rest).empty());

  // keyed_u64 finds the first line whose first token is the key: here the first line's.
  std::string_view lines = text;
  std::string_view line0 = parse::next_line(lines);
  std::string_view key = parse::next_token(line0);
  if (!key.empty()) FUZZ_CHECK(parse::keyed_u64(text, key) == parse::u64(parse::next_token(line0)));
  return 0;
}
