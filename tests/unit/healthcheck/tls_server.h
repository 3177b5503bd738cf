// An HTTPS target for the TLS tests: a self-signed certificate for 127.0.0.1 made
// with the openssl CLI, served by Python's http.server in a child process.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

extern char** environ;

namespace gslb::health::test {

class TlsServer {
 public:
  // `dir` receives cert.pem and key.pem. ok() is false when the tools are missing.
  explicit TlsServer(const std::string& dir) : cert_(dir + "/cert.pem") {
    const std::string key = dir + "/key.pem";
    const std::string req = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
                            " -addext subjectAltName=IP:127.0.0.1 -keyout '" + key +
                            "' -out '" + cert_ + "' 2>/dev/null";
    if (std::system(req.c_str()) != 0) return;
    const std::string script =
        "import http.server, ssl, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '2')\n"
        "        self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self, *args): pass\n"
        "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
        "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
        "print(srv.server_address[1], flush=True)\n"
        "srv.serve_forever()\n";
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const char* argv[] = {"python3", "-c", script.c_str(), cert_.c_str(), key.c_str(), nullptr};
    if (posix_spawnp(&pid_, "python3", &actions, nullptr, const_cast<char**>(argv), environ) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    // The child prints its port once it listens: the read is the readiness signal.
    char line[16] = {};
    FILE* from_child = ::fdopen(out[0], "r");
    if (pid_ > 0 && std::fgets(line, sizeof line, from_child) != nullptr) port_ = std::atoi(line);
    std::fclose(from_child);
  }
  ~TlsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  bool ok() const { return port_ > 0; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/healthz"; }
  const std::string& ca_file() const { return cert_; }

 private:
  std::string cert_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace gslb::health::test
