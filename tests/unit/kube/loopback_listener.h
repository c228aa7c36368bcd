// Test scaffolding for the HTTP transport tests: a TCP listener on 127.0.0.1 with a port
// chosen by the OS, and the once-per-binary libcurl initialisation.
#ifndef SANDBOXD_TESTS_UNIT_KUBE_LOOPBACK_LISTENER_H_
#define SANDBOXD_TESTS_UNIT_KUBE_LOOPBACK_LISTENER_H_

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace sandboxd::kube::testing {

// curl_global_init is the program's job: a test binary calls this once, at namespace
// scope (`const auto* const kCurl = RegisterCurlEnvironment();`).
inline ::testing::Environment* RegisterCurlEnvironment() {
  class CurlEnvironment : public ::testing::Environment {
   public:
    void SetUp() override { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
    void TearDown() override { curl_global_cleanup(); }
  };
  return ::testing::AddGlobalTestEnvironment(new CurlEnvironment);
}

// Accepts connections on 127.0.0.1 and serves each with `serve(fd)` on a thread of its
// own (TCP_NODELAY set, so that what a test writes leaves at once). The destructor shuts
// every connection down, joins every thread and closes every socket: declare the
// listener as the last member of its owner, so that it goes first and `serve` never runs
// against a half-destroyed owner. Thread-safe.
class LoopbackListener {
 public:
  explicit LoopbackListener(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("LoopbackListener: cannot listen on 127.0.0.1");
      std::abort();  // a constructor cannot fail the test; nothing below would work
    }
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~LoopbackListener() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    accept_thread_.join();
    for (auto& t : threads_) t.join();
    for (int fd : fds_) close(fd);
  }

  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  void AcceptLoop() {
    while (true) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        close(fd);
        return;
      }
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { serve_(fd); });
    }
  }

  const std::function<void(int fd)> serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::kube::testing

#endif  // SANDBOXD_TESTS_UNIT_KUBE_LOOPBACK_LISTENER_H_
