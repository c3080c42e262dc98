// String helpers: JSON out-strings, case, whitespace, byte-level BPE tokens.
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "internal.h"

namespace sttw {

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size() + 1);
  return p;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

namespace {
// GPT-2 byte-level BPE: unicode code point -> byte (inverse of bytes_to_unicode).
const std::vector<int>& byte_decoder() {
  static const std::vector<int> table = [] {
    std::vector<int> dec(512, -1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      if (printable) {
        dec[b] = b;
      } else {
        dec[256 + n] = b;
        ++n;
      }
    }
    return dec;
  }();
  return table;
}
}  // namespace

std::string token_bytes(const std::string& tok) {
  const auto& dec = byte_decoder();
  std::string out;
  size_t i = 0;
  while (i < tok.size()) {
    const unsigned char c = static_cast<unsigned char>(tok[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 0x6 && i + 1 < tok.size()) { cp = ((c & 0x1F) << 6) | (tok[i + 1] & 0x3F); len = 2; }
    else { return tok; }  // not a byte-level token (never happens below eot)
    if (cp >= dec.size() || dec[cp] < 0) return tok;
    out.push_back(static_cast<char>(dec[cp]));
    i += len;
  }
  return out;
}

}  // namespace sttw
