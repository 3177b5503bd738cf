/* The stand-in target of bench/probe_bench.py: one thread, epoll, on 127.0.0.1
 * ports BASE .. BASE+COUNT-1. Every request (a header block ending in CRLF CRLF)
 * gets a 200 with a 3-byte body, keep-alive (HTTP/1.1); a connection that sends
 * nothing (a TCP check) is closed when the client closes it. On SIGTERM it prints
 * "connections N requests M cpu S" (S: its own user+system seconds) and exits, so
 * the bench can show it was never the bottleneck.
 *
 * cc -O2 -o probe_target probe_target.c; ./probe_target BASE COUNT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

/* Per descriptor: how much of "\r\n\r\n" the last bytes read matched. */
static unsigned char matched[1 << 20];

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s BASE_PORT COUNT\n", argv[0]);
    return 2;
  }
  const int base = atoi(argv[1]), count = atoi(argv[2]);
  struct rlimit nofile;
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGPIPE, SIG_IGN);
  const int ep = epoll_create1(0);
  int first_listener = -1, last_listener = -1;
  for (int i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)(base + i))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
      perror("bind/listen");
      return 1;
    }
    if (first_listener < 0) first_listener = fd;
    last_listener = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  printf("ready\n");
  fflush(stdout);
  unsigned long long connections = 0, requests = 0;
  struct epoll_event events[256];
  char buf[4096];
  while (!stop) {
    const int n = epoll_wait(ep, events, 256, 200);
    for (int e = 0; e < n; ++e) {
      const int fd = events[e].data.fd;
      if (fd >= first_listener && fd <= last_listener) {
        for (;;) {
          const int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          if (c >= (int)sizeof matched) {
            close(c);
            continue;
          }
          ++connections;
          matched[c] = 0;
          struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      const ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        close(fd);   /* also leaves the epoll set */
        continue;
      }
      for (ssize_t i = 0; i < got; ++i) {
        const char want = "\r\n\r\n"[matched[fd]];
        matched[fd] = buf[i] == want ? matched[fd] + 1 : (buf[i] == '\r' ? 1 : 0);
        if (matched[fd] == 4) {
          matched[fd] = 0;
          ++requests;
          /* A 41-byte reply into an empty socket buffer: it fits whole. */
          if (write(fd, reply, sizeof reply - 1) < 0) break;
        }
      }
    }
  }
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  printf("connections %llu requests %llu cpu %.3f\n", connections, requests,
         (double)self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6);
  return 0;
}
