#include "src/kube/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/base/errno_text.h"

extern char** environ;

namespace sandboxd::kube {
namespace {

constexpr absl::Duration kPluginTimeout = absl::Seconds(30);
constexpr size_t kMaxPluginOutput = 1 << 20;

class StaticSource : public CredentialSource {
 public:
  explicit StaticSource(Credentials creds) : creds_(std::move(creds)) {}
  absl::StatusOr<Credentials> Get(absl::Time) override { return creds_; }
  std::optional<absl::StatusOr<Credentials>> Cached(absl::Time) override { return creds_; }
  bool Invalidate() override { return false; }

 private:
  const Credentials creds_;
};

std::string StringMember(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// Runs argv with envp, returning stdout. stderr is captured for the error message.
absl::StatusOr<std::string> RunPlugin(const std::vector<std::string>& argv_s,
                                      const std::vector<std::string>& env_s) {
  std::vector<char*> argv, envp;
  for (const auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env_s) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", argv_s[0], ": cannot start: ", ErrnoText(rc)));
  }
  std::string stdout_text, stderr_text;
  absl::Time deadline = absl::Now() + kPluginTimeout;
  bool timed_out = false;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string& dst = i == 0 ? stdout_text : stderr_text;
      if (dst.size() < kMaxPluginOutput) dst.append(buf, static_cast<size_t>(got));
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::UnauthenticatedError(absl::StrCat("exec plugin ", argv_s[0], ": timed out after ",
                                                   absl::FormatDuration(kPluginTimeout)));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return absl::UnauthenticatedError(absl::StrCat(
        "exec plugin ", argv_s[0], ": ",
        WIFEXITED(wstatus) ? absl::StrCat("exit status ", WEXITSTATUS(wstatus))
                           : std::string("killed by a signal"),
        ": ", absl::StripAsciiWhitespace(stderr_text.substr(0, 512))));
  }
  return stdout_text;
}

}  // namespace

std::optional<absl::StatusOr<Credentials>> CredentialSource::Cached(absl::Time) {
  return std::nullopt;
}

std::unique_ptr<CredentialSource> MakeCredentialSource(const KubeConfig& config) {
  if (!config.token.empty()) return std::make_unique<StaticSource>(Credentials{config.token, "", ""});
  if (!config.token_file.empty()) return std::make_unique<FileTokenSource>(config.token_file);
  if (!config.client_cert_pem.empty()) {
    return std::make_unique<StaticSource>(
        Credentials{"", config.client_cert_pem, config.client_key_pem});
  }
  if (config.exec) return std::make_unique<ExecCredentialSource>(*config.exec, config);
  return std::make_unique<StaticSource>(Credentials{});
}

FileTokenSource::FileTokenSource(std::string path, absl::Duration cache_for)
    : path_(std::move(path)), cache_for_(cache_for) {}

absl::StatusOr<Credentials> FileTokenSource::Get(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (token_.empty() || now - read_at_ >= cache_for_) {
    absl::StatusOr<std::string> text = ReadFileToString(path_);
    if (!text.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("token file: ", text.status().message()));
    }
    std::string token(absl::StripAsciiWhitespace(*text));
    if (token.empty()) {
      return absl::UnauthenticatedError(absl::StrCat("token file ", path_, " is empty"));
    }
    token_ = std::move(token);
    read_at_ = now;
  }
  return Credentials{token_, "", ""};
}

std::optional<absl::StatusOr<Credentials>> FileTokenSource::Cached(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (token_.empty() || now - read_at_ >= cache_for_) return std::nullopt;
  return Credentials{token_, "", ""};
}

bool FileTokenSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  token_.clear();
  return true;
}

absl::StatusOr<ExecCredential> ParseExecCredential(absl::string_view json,
                                                   absl::string_view api_version) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::UnauthenticatedError("exec plugin output is not a JSON object");
  }
  if (StringMember(doc, "kind") != "ExecCredential") {
    return absl::UnauthenticatedError("exec plugin output: kind is not ExecCredential");
  }
  if (std::string v = StringMember(doc, "apiVersion"); v != api_version) {
    return absl::UnauthenticatedError(absl::StrCat("exec plugin output: apiVersion \"", v,
                                                   "\" does not match \"", api_version, "\""));
  }
  auto status = doc.FindMember("status");
  if (status == doc.MemberEnd() || !status->value.IsObject()) {
    return absl::UnauthenticatedError("exec plugin output: status is missing");
  }
  ExecCredential out;
  out.credentials.bearer_token = StringMember(status->value, "token");
  out.credentials.client_cert_pem = StringMember(status->value, "clientCertificateData");
  out.credentials.client_key_pem = StringMember(status->value, "clientKeyData");
  bool has_cert = !out.credentials.client_cert_pem.empty();
  bool has_key = !out.credentials.client_key_pem.empty();
  if (has_cert != has_key) {
    return absl::UnauthenticatedError(
        "exec plugin output: clientCertificateData and clientKeyData must both be set");
  }
  if (out.credentials.bearer_token.empty() && !has_cert) {
    return absl::UnauthenticatedError(
        "exec plugin output: status has neither token nor clientCertificateData/clientKeyData");
  }
  if (std::string exp = StringMember(status->value, "expirationTimestamp"); !exp.empty()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, exp, &t, &err)) {
      return absl::UnauthenticatedError(
          absl::StrCat("exec plugin output: bad expirationTimestamp \"", exp, "\": ", err));
    }
    out.expiry = t;
  }
  return out;
}

ExecCredentialSource::ExecCredentialSource(ExecConfig exec, KubeConfig cluster)
    : exec_(std::move(exec)), cluster_(std::move(cluster)) {}

std::string ExecCredentialSource::ExecInfo() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("apiVersion");
  w.String(exec_.api_version.c_str());
  w.Key("kind");
  w.String("ExecCredential");
  w.Key("spec");
  w.StartObject();
  w.Key("interactive");
  w.Bool(false);
  if (exec_.provide_cluster_info) {
    w.Key("cluster");
    w.StartObject();
    w.Key("server");
    w.String(cluster_.server.c_str());
    if (!cluster_.ca_pem.empty()) {
      std::string b64 = absl::Base64Escape(cluster_.ca_pem);
      w.Key("certificate-authority-data");
      w.String(b64.c_str());
    }
    if (cluster_.insecure_skip_tls_verify) {
      w.Key("insecure-skip-tls-verify");
      w.Bool(true);
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<Credentials> ExecCredentialSource::Valid(absl::Time now) {
  if (cached_ && (!cached_->expiry || now < *cached_->expiry)) return cached_->credentials;
  return std::nullopt;
}

std::optional<absl::StatusOr<Credentials>> ExecCredentialSource::Cached(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (std::optional<Credentials> valid = Valid(now)) return *std::move(valid);
  return std::nullopt;
}

absl::StatusOr<Credentials> ExecCredentialSource::Get(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    if (std::optional<Credentials> valid = Valid(now)) return *std::move(valid);
  }
  absl::MutexLock run(&run_mu_);
  {
    absl::MutexLock lock(&mu_);  // a run we waited for may have refreshed the cache
    if (std::optional<Credentials> valid = Valid(now)) return *std::move(valid);
  }
  std::vector<std::string> argv = {exec_.command};
  argv.insert(argv.end(), exec_.args.begin(), exec_.args.end());
  std::vector<std::string> env;
  auto overridden = [&](absl::string_view entry) {
    absl::string_view name = entry.substr(0, entry.find('='));
    if (name == "KUBERNETES_EXEC_INFO") return true;
    for (const auto& kv : exec_.env) {
      if (kv.first == name) return true;
    }
    return false;
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!overridden(*e)) env.emplace_back(*e);
  }
  for (const auto& kv : exec_.env) env.push_back(absl::StrCat(kv.first, "=", kv.second));
  env.push_back(absl::StrCat("KUBERNETES_EXEC_INFO=", ExecInfo()));
  absl::StatusOr<std::string> out = RunPlugin(argv, env);
  if (!out.ok()) return out.status();
  absl::StatusOr<ExecCredential> cred = ParseExecCredential(*out, exec_.api_version);
  if (!cred.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec_.command, ": ", cred.status().message()));
  }
  absl::MutexLock lock(&mu_);
  Credentials fresh = cred->credentials;
  cached_ = *std::move(cred);
  return fresh;
}

bool ExecCredentialSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  cached_.reset();
  return true;
}

}  // namespace sandboxd::kube
