// Per-thread last error of the C ABI (see "Conventions" in sttwhisper.h).
#include <string>

#include "internal.h"

namespace sttw {

namespace {
thread_local int32_t g_last_code = STT_OK;
thread_local std::string g_last_msg;
}  // namespace

void fail(int32_t code, const std::string& msg) { throw SttError(code, msg); }

int32_t set_error(int32_t code, const std::string& msg) {
  g_last_code = code;
  g_last_msg = msg;
  return code;
}

void clear_error() {
  g_last_code = STT_OK;
  g_last_msg.clear();
}

int32_t last_error_code() { return g_last_code; }
const char* last_error() { return g_last_msg.c_str(); }

}  // namespace sttw
