// `gslbd ctl`: one request over the control socket, the answer printed, the
// outcome as the exit code (see kUsage).
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "dnsd/config.h"
#include "dnsd/daemon.h"
#include "dnsd/unix_socket.h"

namespace gslb::dns {

namespace {

constexpr const char* kCtlUsage =
    "Usage: gslbd ctl [-c FILE | -s SOCKET] COMMAND\n"
    "  status                  every cluster's health and drain state (JSON)\n"
    "  pid                     the process ID of the gslbd serving the socket\n"
    "  drain CLUSTER           take CLUSTER out of answers (kept across restarts)\n"
    "  undrain CLUSTER         put it back\n"
    "  reload                  reload the configuration; waits, prints the outcome\n"
    "  explain NAME CLIENT     how CLIENT's answer for NAME comes about (JSON)\n"
    "  replace                 start a new gslbd that takes over without losing a query\n"
    "The socket: -s SOCKET, else server.control_socket of -c FILE, else\n"
    "$RUNTIME_DIRECTORY/control.sock, else /run/gslbd/control.sock (the packaged unit's).\n"
    "Exit status: 0 done, 1 refused or failed, 2 usage, 3 no gslbd on the socket.\n";

constexpr int kOk = 0, kFailed = 1, kUsage = 2, kNoDaemon = 3;

// Replies come once the work is done: a reload of a large GeoIP source, or a
// replacement that waits for its first health checks, takes a while.
constexpr auto kReplyTimeout = std::chrono::seconds(300);

int usage(const std::string& why) {
  std::cerr << "gslbd ctl: " << why << "\n" << kCtlUsage;
  return kUsage;
}

}  // namespace

int run_ctl(int argc, char** argv) {
  std::string config, socket_path;
  std::vector<std::string> command;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kCtlUsage;
      return kOk;
    }
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config = argv[++i];
    } else if ((arg == "-s" || arg == "--socket") && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (!arg.empty() && arg[0] == '-' && command.empty()) {
      return usage("unknown option '" + arg + "'");
    } else {
      command.push_back(arg);
    }
  }
  if (command.empty()) return usage("missing COMMAND");
  const std::string& cmd = command[0];
  const size_t want = cmd == "drain" || cmd == "undrain" ? 2 : cmd == "explain" ? 3 : 1;
  if (cmd != "status" && cmd != "pid" && cmd != "drain" && cmd != "undrain" && cmd != "reload" && cmd != "explain" && cmd != "replace")
    return usage("unknown command '" + cmd + "'");
  if (command.size() != want) return usage(cmd + " takes " + std::to_string(want - 1) + " argument(s)");
  std::string line;
  for (const std::string& w : command) {
    // The protocol separates words by spaces; none of its arguments has any.
    if (w.empty() || w.find_first_of(" \t\r\n") != std::string::npos) return usage("bad argument '" + w + "'");
    line += (line.empty() ? "" : " ") + w;
  }
  if (socket_path.empty() && !config.empty()) {
    try {
      socket_path = load_config(config).server.control_socket;
    } catch (const std::exception&) {
      // A file being edited into a reload the daemon will refuse (and say why):
      // the socket is where the daemon puts it when the file does not name one.
      socket_path = default_control_socket(config);
    }
  }
  if (socket_path.empty()) {
    const char* runtime_dir = std::getenv("RUNTIME_DIRECTORY");
    socket_path = runtime_dir ? std::string(runtime_dir) + "/control.sock" : "/run/gslbd/control.sock";
  }
  std::string error;
  bool no_daemon = false;
  const UniqueFd fd = connect_unix(socket_path, &error, &no_daemon);
  if (fd.get() < 0) {
    std::cerr << "gslbd ctl: no gslbd on " << error << "\n";
    return no_daemon ? kNoDaemon : kFailed;
  }
  std::string reply;
  if (!send_message(fd.get(), line + "\n") || !read_all(fd.get(), kReplyTimeout, &reply, &error)) {
    std::cerr << "gslbd ctl: " << socket_path << ": " << error << "\n";
    return kFailed;
  }
  if (reply.rfind("ok\n", 0) == 0) {
    std::cout << reply.substr(3);
    return kOk;
  }
  if (reply.rfind("error\n", 0) == 0) {
    std::cerr << "gslbd ctl: " << cmd << ": " << reply.substr(6);
    return kFailed;
  }
  // The daemon closed without an answer: it stopped, or it was replaced meanwhile.
  std::cerr << "gslbd ctl: " << socket_path << ": no answer (did gslbd stop?)\n";
  return kFailed;
}

}  // namespace gslb::dns
