// Temp-dir helpers shared by the kube config and credentials tests. Not thread-safe.
#ifndef SANDBOXD_TESTS_UNIT_KUBE_TEST_FILES_H_
#define SANDBOXD_TESTS_UNIT_KUBE_TEST_FILES_H_

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace sandboxd::kube::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/kube_test_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

  // Writes `contents` to path()/name (creating parent dirs) and returns the full path.
  std::string Write(const std::string& name, const std::string& contents, bool executable = false) {
    std::string full = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    {
      std::ofstream out(full, std::ios::binary | std::ios::trunc);
      out << contents;
    }
    if (executable) chmod(full.c_str(), 0755);
    return full;
  }

 private:
  std::string path_;
};

}  // namespace sandboxd::kube::testing

#endif  // SANDBOXD_TESTS_UNIT_KUBE_TEST_FILES_H_
