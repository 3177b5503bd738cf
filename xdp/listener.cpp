#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "xdp/xdp.h"

// The compiled gslbd_xdp.bpf.c, embedded at build time (xdp/embed.cmake).
extern "C" const unsigned char gslb_xdp_object[];
extern "C" const size_t gslb_xdp_object_size;

namespace gslb::xdp {

namespace {

// UMEM geometry, per queue. A frame holds one packet; 4096 bytes (a page) is the
// size every driver accepts in aligned mode and fits any MTU up to ~3.8 KB after
// the kernel's 256-byte headroom. kFrames frames = 16 MiB of locked memory a queue.
constexpr uint32_t kFrameSize = XSK_UMEM__DEFAULT_FRAME_SIZE;
constexpr uint32_t kFrames = 4096;
// The fill and completion rings can hold every frame, so returning a frame to the
// fill ring never finds it full: frames go rx -> tx -> completion -> fill, or
// rx -> fill when there is no reply, and never need a free list.
constexpr uint32_t kFillRing = kFrames;
constexpr uint32_t kCompRing = kFrames;
constexpr uint32_t kRxRing = 2048;
constexpr uint32_t kTxRing = 2048;
// Frames handled per wakeup: as many as UdpServer's two batches, so that one poll
// and one transmit kick are spread over many queries under load.
constexpr unsigned kBatch = 64;
// How long an idle queue sleeps before it lets go of a replaced serving state.
constexpr int kIdleMs = 1000;
// While replies wait in the transmit ring (a kick that found the device busy), the
// queue wakes this often to kick again.
constexpr int kRetryKickMs = 1;
// The program's name in the kernel: a program of that name found on the interface
// was left by a gslbd that did not exit cleanly, and is replaced.
constexpr char kProgramName[] = "gslbd_xdp";

std::string errno_text(int e) { return std::strerror(e < 0 ? -e : e); }

// libbpf prints its diagnostics to stderr by default; they are kept instead and
// appended to the error message of the step that failed (control thread only).
std::string& libbpf_messages() {
  static std::string messages;
  return messages;
}

int keep_libbpf_message(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  const int n = vsnprintf(line, sizeof line, format, args);
  if (n > 0) libbpf_messages() += line;
  return n;
}

[[noreturn]] void fail(const std::string& interface, const std::string& what, int error) {
  std::string m = "server.xdp on " + interface + ": " + what + ": " + errno_text(error);
  std::string details = libbpf_messages();
  libbpf_messages().clear();
  while (!details.empty() && details.back() == '\n') details.pop_back();
  if (!details.empty()) m += " (libbpf: " + details + ")";
  throw std::runtime_error(m);
}

bool has_capability(unsigned cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1;
}

// Names every missing capability at once, instead of the EPERM of whichever system
// call happens to come first.
void check_capabilities(const std::string& interface, size_t locked_bytes) {
  std::string missing;
  auto need = [&missing](bool ok, const char* name) {
    if (!ok) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  need(has_capability(CAP_NET_ADMIN), "CAP_NET_ADMIN (attach the XDP program)");
  need(has_capability(CAP_NET_RAW), "CAP_NET_RAW (open AF_XDP sockets)");
  need(has_capability(CAP_BPF) || has_capability(CAP_SYS_ADMIN), "CAP_BPF (load the program and its maps)");
  rlimit memlock{};
  getrlimit(RLIMIT_MEMLOCK, &memlock);
  need(has_capability(CAP_IPC_LOCK) || memlock.rlim_cur == RLIM_INFINITY || memlock.rlim_cur >= locked_bytes,
       ("CAP_IPC_LOCK or a memlock limit of " + std::to_string(locked_bytes >> 20) + " MiB (the AF_XDP buffers)").c_str());
  if (!missing.empty())
    throw std::runtime_error("server.xdp on " + interface + ": missing " + missing +
                             "; see systemd/gslbd-xdp.conf for the drop-in that grants them");
}

unsigned interface_index(const std::string& interface) {
  const unsigned index = if_nametoindex(interface.c_str());
  if (index == 0) throw std::runtime_error("server.xdp.interface: no network interface named \"" + interface + "\" here");
  return index;
}

// Receive queues as the driver reports them (ethtool -l), else as sysfs lists them.
unsigned receive_queues(const std::string& interface) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    ethtool_channels channels{};
    channels.cmd = ETHTOOL_GCHANNELS;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, interface.c_str(), IFNAMSIZ - 1);
    ifr.ifr_data = reinterpret_cast<char*>(&channels);
    const int rc = ioctl(fd, SIOCETHTOOL, &ifr);
    close(fd);
    if (rc == 0 && channels.rx_count + channels.combined_count > 0) return channels.rx_count + channels.combined_count;
  }
  unsigned n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net/" + interface + "/queues", ec))
    if (e.path().filename().string().rfind("rx-", 0) == 0) ++n;
  return n == 0 ? 1 : n;
}

unsigned interface_mtu(const std::string& interface) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, interface.c_str(), IFNAMSIZ - 1);
  const int rc = fd < 0 ? -1 : ioctl(fd, SIOCGIFMTU, &ifr);
  const int e = errno;
  if (fd >= 0) close(fd);
  if (rc != 0) fail(interface, "reading the MTU", e);
  return static_cast<unsigned>(ifr.ifr_mtu);
}

// One receive queue: its UMEM, its AF_XDP socket and rings, and its thread.
struct Queue {
  unsigned id = 0;
  unsigned mtu = 0;
  bool zero_copy = false;
  void* area = MAP_FAILED;
  xsk_umem* umem = nullptr;
  xsk_socket* xsk = nullptr;
  xsk_ring_prod fill{};
  xsk_ring_cons comp{};
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};
  std::unique_ptr<Responder> responder;
  int stop_fd = -1;
  std::thread thread;
  alignas(64) uint8_t scratch[kFrameSize];

  Queue() = default;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() {
    if (xsk) xsk_socket__delete(xsk);
    if (umem) xsk_umem__delete(umem);
    if (area != MAP_FAILED) munmap(area, static_cast<size_t>(kFrames) * kFrameSize);
    if (stop_fd >= 0) close(stop_fd);
  }

  void open(const std::string& interface, int xsks_map) {
    stop_fd = eventfd(0, EFD_CLOEXEC);
    if (stop_fd < 0) fail(interface, "eventfd", errno);
    const size_t bytes = static_cast<size_t>(kFrames) * kFrameSize;
    area = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (area == MAP_FAILED) fail(interface, "allocating the AF_XDP buffers of queue " + std::to_string(id), errno);
    const xsk_umem_config umem_config{kFillRing, kCompRing, kFrameSize, XSK_UMEM__DEFAULT_FRAME_HEADROOM, 0};
    if (const int rc = xsk_umem__create(&umem, area, bytes, &fill, &comp, &umem_config))
      fail(interface, "registering the AF_XDP buffers of queue " + std::to_string(id), rc);
    // Zero-copy when the driver has it; else the kernel copies each frame (veth, say).
    xsk_socket_config config{};
    config.rx_size = kRxRing;
    config.tx_size = kTxRing;
    config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
    config.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY;
    int rc = xsk_socket__create(&xsk, interface.c_str(), id, umem, &rx, &tx, &config);
    zero_copy = rc == 0;
    if (rc != 0) {
      config.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
      rc = xsk_socket__create(&xsk, interface.c_str(), id, umem, &rx, &tx, &config);
    }
    if (rc == -EBUSY)
      throw std::runtime_error("server.xdp on " + interface + ": queue " + std::to_string(id) +
                               " already has an AF_XDP socket (another gslbd, or another AF_XDP program)");
    if (rc != 0) fail(interface, "opening the AF_XDP socket of queue " + std::to_string(id), rc);
    if (const int m = xsk_socket__update_xskmap(xsk, xsks_map))
      fail(interface, "registering the AF_XDP socket of queue " + std::to_string(id), m);
    uint32_t at = 0;
    xsk_ring_prod__reserve(&fill, kFrames, &at);
    for (uint32_t i = 0; i < kFrames; ++i) *xsk_ring_prod__fill_addr(&fill, at + i) = uint64_t{i} * kFrameSize;
    xsk_ring_prod__submit(&fill, kFrames);
  }

  void run(const std::atomic<bool>& stopping) {
    const int fd = xsk_socket__fd(xsk);
    for (;;) {
      reclaim();
      // Under load the ring refills while a batch is answered: take the next batch
      // without a poll call (the kernel fills the rings without being asked, except
      // for a zero-copy fill ring that says it needs a wakeup).
      if (xsk_cons_nb_avail(&rx, 1) && !(zero_copy && xsk_ring_prod__needs_wakeup(&fill))) {
        if (stopping.load(std::memory_order_acquire)) return;
        answer_batch(fd);
        continue;
      }
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      const int ready = poll(fds, 2, tx_pending() ? kRetryKickMs : kIdleMs);
      if (stopping.load(std::memory_order_acquire)) return;
      if (ready <= 0) {
        if (tx_pending()) kick(fd);
        responder->idle();
        continue;
      }
      if (fds[0].revents & POLLIN) answer_batch(fd);
    }
  }

  void answer_batch(int fd) {
    uint32_t rx_at = 0;
    const uint32_t received = xsk_ring_cons__peek(&rx, kBatch, &rx_at);
    if (received == 0) return;
    responder->begin_batch();
    xdp_desc replies[kBatch];
    uint64_t unused[kBatch];
    unsigned n_replies = 0, n_unused = 0;
    for (uint32_t i = 0; i < received; ++i) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&rx, rx_at + i);
      const uint64_t frame_end = (d->addr / kFrameSize + 1) * kFrameSize;
      uint8_t* frame = static_cast<uint8_t*>(xsk_umem__get_data(area, d->addr));
      const size_t len = reply_in_place(frame, d->len, frame_end - d->addr, mtu, *responder, scratch);
      if (len)
        replies[n_replies++] = {d->addr, static_cast<uint32_t>(len), 0};
      else
        unused[n_unused++] = d->addr;
    }
    xsk_ring_cons__release(&rx, received);
    uint32_t tx_at = 0;
    const unsigned reserved = xsk_ring_prod__reserve(&tx, n_replies, &tx_at);
    for (unsigned i = 0; i < reserved; ++i) *xsk_ring_prod__tx_desc(&tx, tx_at + i) = replies[i];
    // A full transmit ring drops the rest, as a full socket buffer would.
    for (unsigned i = reserved; i < n_replies; ++i) unused[n_unused++] = replies[i].addr;
    if (reserved < n_replies) responder->dropped(n_replies - reserved);
    if (reserved) {
      xsk_ring_prod__submit(&tx, reserved);
      kick(fd);
      // Copy mode sends at most 32 frames a call (the kernel's budget): kick until the
      // kernel has taken the whole batch off the ring, a bounded number of times.
      for (unsigned k = 0; !zero_copy && k < kBatch / 32 && tx_pending(); ++k) kick(fd);
    }
    refill(unused, n_unused);
  }

  // Copy mode transmits within this call (and zero-copy drivers that asked for a
  // wakeup start their transmit); EAGAIN or EBUSY leaves the frames on the ring for
  // the next kick.
  void kick(int fd) {
    if (xsk_ring_prod__needs_wakeup(&tx)) sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
  }

  // Replies on the transmit ring that the kernel has not taken yet (a kick that found
  // the device busy, or a zero-copy driver that sends later).
  bool tx_pending() { return xsk_prod_nb_free(&tx, kTxRing) < kTxRing; }

  // Frames whose replies have left go back to the fill ring.
  void reclaim() {
    uint32_t at = 0;
    const uint32_t done = xsk_ring_cons__peek(&comp, kCompRing, &at);
    if (done == 0) return;
    uint32_t fill_at = 0;
    xsk_ring_prod__reserve(&fill, done, &fill_at);  // never short: see kFillRing
    for (uint32_t i = 0; i < done; ++i) *xsk_ring_prod__fill_addr(&fill, fill_at + i) = *xsk_ring_cons__comp_addr(&comp, at + i);
    xsk_ring_prod__submit(&fill, done);
    xsk_ring_cons__release(&comp, done);
  }

  void refill(const uint64_t* addrs, unsigned n) {
    if (n == 0) return;
    uint32_t at = 0;
    xsk_ring_prod__reserve(&fill, n, &at);  // never short: see kFillRing
    // The kernel takes the frame's start from any address inside it.
    for (unsigned i = 0; i < n; ++i) *xsk_ring_prod__fill_addr(&fill, at + i) = addrs[i] / kFrameSize * kFrameSize;
    xsk_ring_prod__submit(&fill, n);
  }
};

}  // namespace

std::vector<unsigned> resolve_queues(const std::string& interface, const std::vector<unsigned>& wanted) {
  interface_index(interface);
  const unsigned available = receive_queues(interface);
  if (wanted.empty()) {
    std::vector<unsigned> all(available);
    for (unsigned i = 0; i < available; ++i) all[i] = i;
    return all;
  }
  for (unsigned q : wanted)
    if (q >= available)
      throw std::runtime_error("server.xdp.queues: " + interface + " has " + std::to_string(available) +
                               " receive queue(s) (0 to " + std::to_string(available - 1) + "), not queue " +
                               std::to_string(q));
  return wanted;
}

struct Listener::Impl {
  Options options;
  unsigned ifindex = 0;
  bpf_object* object = nullptr;
  int program = -1;
  uint32_t attach_flags = 0;  // XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE once attached
  std::vector<std::unique_ptr<Queue>> queues;
  std::atomic<bool> stopping{false};

  ~Impl() {
    stop();
    if (attach_flags) {
      // Only our program: one that replaced it since is left alone.
      bpf_xdp_attach_opts opts{};
      opts.sz = sizeof opts;
      opts.old_prog_fd = program;
      bpf_xdp_detach(static_cast<int>(ifindex), attach_flags | XDP_FLAGS_REPLACE, &opts);
    }
    queues.clear();
    if (object) bpf_object__close(object);
  }

  void stop() {
    stopping.store(true, std::memory_order_release);
    for (auto& q : queues) {
      if (!q->thread.joinable()) continue;
      const uint64_t one = 1;
      if (write(q->stop_fd, &one, sizeof one) < 0) {
        // An eventfd write fails only on counter overflow; the poll timeout ends it then.
      }
      q->thread.join();
    }
  }

  void load() {
    const std::string& name = options.interface;
    libbpf_set_print(keep_libbpf_message);
    libbpf_messages().clear();
    bpf_object_open_opts opts{};
    opts.sz = sizeof opts;
    opts.object_name = kProgramName;
    object = bpf_object__open_mem(gslb_xdp_object, gslb_xdp_object_size, &opts);
    if (!object) fail(name, "opening the embedded XDP program", errno);
    if (const int rc = bpf_object__load(object)) fail(name, "loading the XDP program", rc);
    program = bpf_program__fd(bpf_object__find_program_by_name(object, kProgramName));
    const int ports = bpf_object__find_map_fd_by_name(object, "gslbd_ports");
    for (uint16_t port : options.ports) {
      const uint16_t key = htons(port);
      const uint8_t yes = 1;
      if (bpf_map_update_elem(ports, &key, &yes, BPF_ANY) != 0) fail(name, "setting the program's ports", errno);
    }
  }

  // Native mode, else generic (a driver without XDP support, much slower). An XDP
  // program already on the interface is replaced only if it is an earlier gslbd's.
  void attach() {
    const std::string& name = options.interface;
    const int index = static_cast<int>(ifindex);
    int rc = bpf_xdp_attach(index, program, XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_DRV_MODE, nullptr);
    if (rc == 0) {
      attach_flags = XDP_FLAGS_DRV_MODE;
      return;
    }
    if (rc == -EOPNOTSUPP) {
      rc = bpf_xdp_attach(index, program, XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_SKB_MODE, nullptr);
      if (rc == 0) {
        attach_flags = XDP_FLAGS_SKB_MODE;
        return;
      }
    }
    if (rc != -EBUSY && rc != -EEXIST) fail(name, "attaching the XDP program", rc);
    replace_stale();
  }

  void replace_stale() {
    const std::string& name = options.interface;
    const int index = static_cast<int>(ifindex);
    for (uint32_t mode : {uint32_t{XDP_FLAGS_DRV_MODE}, uint32_t{XDP_FLAGS_SKB_MODE}}) {
      uint32_t id = 0;
      if (bpf_xdp_query_id(index, static_cast<int>(mode), &id) != 0 || id == 0) continue;
      const int old = bpf_prog_get_fd_by_id(id);
      bpf_prog_info info{};
      uint32_t len = sizeof info;
      const bool ours = old >= 0 && bpf_obj_get_info_by_fd(old, &info, &len) == 0 && std::strcmp(info.name, kProgramName) == 0;
      if (!ours) {
        if (old >= 0) close(old);
        throw std::runtime_error("server.xdp on " + name + ": the interface already has XDP program " +
                                 (info.name[0] ? std::string("\"") + info.name + "\" " : "") + "(id " +
                                 std::to_string(id) + "); gslbd does not replace another program");
      }
      bpf_xdp_attach_opts opts{};
      opts.sz = sizeof opts;
      opts.old_prog_fd = old;
      const int rc = bpf_xdp_attach(index, program, mode | XDP_FLAGS_REPLACE, &opts);
      close(old);
      if (rc != 0) fail(name, "replacing the XDP program a previous gslbd left", rc);
      attach_flags = mode;
      return;
    }
    fail(name, "attaching the XDP program", EBUSY);
  }
};

Listener::Listener(const Options& options, std::vector<std::unique_ptr<Responder>> responders)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  m.ifindex = interface_index(options.interface);
  check_capabilities(options.interface, options.queues.size() * kFrames * kFrameSize);
  const unsigned mtu = interface_mtu(options.interface);
  m.load();
  const int xsks = bpf_object__find_map_fd_by_name(m.object, "gslbd_xsks");
  for (size_t i = 0; i < options.queues.size(); ++i) {
    auto q = std::make_unique<Queue>();
    q->id = options.queues[i];
    q->mtu = mtu;
    q->responder = std::move(responders[i]);
    q->open(options.interface, xsks);
    m.queues.push_back(std::move(q));
  }
  m.attach();
}

Listener::~Listener() = default;

std::string Listener::describe() const {
  const Impl& m = *impl_;
  std::string queues;
  bool zero_copy = true;
  for (const auto& q : m.queues) {
    if (!queues.empty()) queues += ',';  // not "," + string: a GCC 12 -O3 -Wrestrict false positive
    queues += std::to_string(q->id);
    zero_copy = zero_copy && q->zero_copy;
  }
  return std::string(m.attach_flags == XDP_FLAGS_DRV_MODE ? "native XDP" : "generic XDP (the driver has no native XDP)") +
         ", " + (zero_copy ? "zero-copy" : "copy mode (the driver has no AF_XDP zero-copy)") + ", queue(s) " + queues;
}

void Listener::start() {
  for (auto& q : impl_->queues) {
    Queue* queue = q.get();
    queue->thread = std::thread([queue, this] { queue->run(impl_->stopping); });
  }
}

}  // namespace gslb::xdp
