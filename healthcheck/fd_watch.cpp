#include "healthcheck/fd_watch.h"

#include <string>

namespace gslb::health {

namespace asio = boost::asio;

FdWatch::FdWatch(asio::io_context& io, Ready ready, Log log)
    : io_(io), ready_(std::move(ready)), log_(std::move(log)) {}

FdWatch::~FdWatch() {
  while (!entries_.empty()) forget(entries_.begin()->first);
}

void FdWatch::forget(int fd) {
  const auto it = entries_.find(fd);
  if (it == entries_.end()) return;
  boost::system::error_code ignored;
  it->second->sd.cancel(ignored);
  // release(), not close(): the fd is the library's to close.
  it->second->sd.release();
  entries_.erase(it);
}

void FdWatch::watch(int fd, bool read, bool write) {
  if (!read && !write) {
    forget(fd);
    return;
  }
  auto& slot = entries_[fd];
  if (!slot) {
    slot = std::make_shared<Entry>(io_);
    boost::system::error_code ec;
    slot->sd.assign(fd, ec);
    if (ec) {
      log_(Severity::error, "healthcheck: cannot watch fd " + std::to_string(fd) + ": " + ec.message(), {});
      entries_.erase(fd);
      return;
    }
  }
  const auto entry = slot;
  entry->want_read = read;
  entry->want_write = write;
  if (read && !entry->read_armed) arm(fd, entry, false);
  if (write && !entry->write_armed) arm(fd, entry, true);
}

void FdWatch::arm(int fd, const std::shared_ptr<Entry>& entry, bool write) {
  (write ? entry->write_armed : entry->read_armed) = true;
  const auto kind = write ? asio::posix::stream_descriptor::wait_write
                          : asio::posix::stream_descriptor::wait_read;
  std::weak_ptr<void> alive = lifetime_.token();
  entry->sd.async_wait(kind, [this, alive, fd, entry, write](const boost::system::error_code& ec) {
    (write ? entry->write_armed : entry->read_armed) = false;
    if (ec == asio::error::operation_aborted || alive.expired()) return;
    const auto current = entries_.find(fd);
    if (current == entries_.end() || current->second != entry) return;
    if (!(write ? entry->want_write : entry->want_read)) return;
    // The callback may change the interest or forget the fd; re-arm only if the
    // same entry still wants this direction and nobody armed it meanwhile.
    ready_(fd, !write, write);
    const auto after = entries_.find(fd);
    if (after == entries_.end() || after->second != entry) return;
    if ((write ? entry->want_write : entry->want_read) &&
        !(write ? entry->write_armed : entry->read_armed))
      arm(fd, entry, write);
  });
}

}  // namespace gslb::health
