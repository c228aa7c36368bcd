#include "src/kube/kube_config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/base/errno_text.h"
#include "yaml-cpp/yaml.h"

namespace sandboxd::kube {
namespace {

// One named entry (cluster, user or context) and the directory of the file defining it.
struct Entry {
  YAML::Node node;  // the inner "cluster"/"user"/"context" map
  std::string file;
  std::string dir;
};

struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::optional<std::string> current_context;
  std::vector<std::string> files;
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return absl::StrCat(dir, "/", path);
}

std::string Where(const Entry& e, absl::string_view section, absl::string_view name,
                  absl::string_view key) {
  if (name.empty()) return absl::StrCat("kubeconfig ", e.file, ": ", section, ".", key);
  return absl::StrCat("kubeconfig ", e.file, ": ", section, "[", name, "].", key);
}

// Reads a scalar string; "" when absent. Errors when present but not a scalar.
absl::StatusOr<std::string> Scalar(const Entry& e, absl::string_view section,
                                   absl::string_view name, const char* key) {
  YAML::Node n = e.node[key];
  if (!n || n.IsNull()) return std::string();
  if (!n.IsScalar()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(e, section, name, key), ": must be a string"));
  }
  return n.as<std::string>();
}

// Reads `<key>-data` (base64) or `<key>` (a path), preferring the data.
absl::StatusOr<std::string> DataOrFile(const Entry& e, absl::string_view section,
                                       absl::string_view name, const std::string& key) {
  std::string data_key = key + "-data";
  absl::StatusOr<std::string> data = Scalar(e, section, name, data_key.c_str());
  if (!data.ok()) return data.status();
  if (!data->empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(*data, &decoded)) {
      return absl::FailedPreconditionError(
          absl::StrCat(Where(e, section, name, data_key), ": invalid base64"));
    }
    return decoded;
  }
  absl::StatusOr<std::string> file = Scalar(e, section, name, key.c_str());
  if (!file.ok()) return file.status();
  if (file->empty()) return std::string();
  std::string path = Resolve(e.dir, *file);
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(e, section, name, key), ": ", contents.status().message()));
  }
  return contents;
}

absl::Status MergeFile(const std::string& file, const YAML::Node& root, Merged& merged) {
  if (!root || root.IsNull()) return absl::OkStatus();  // empty file
  if (!root.IsMap()) {
    return absl::FailedPreconditionError(absl::StrCat("kubeconfig ", file, ": not a YAML map"));
  }
  std::string dir = DirOf(file);
  struct Section {
    const char* list;
    const char* inner;
    std::map<std::string, Entry>* out;
  };
  for (const Section& s : {Section{"clusters", "cluster", &merged.clusters},
                           Section{"users", "user", &merged.users},
                           Section{"contexts", "context", &merged.contexts}}) {
    YAML::Node list = root[s.list];
    if (!list || list.IsNull()) continue;
    if (!list.IsSequence()) {
      return absl::FailedPreconditionError(
          absl::StrCat("kubeconfig ", file, ": ", s.list, ": must be a list"));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      YAML::Node item = list[i];
      YAML::Node name = item["name"];
      if (!item.IsMap() || !name || !name.IsScalar() || name.as<std::string>().empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("kubeconfig ", file, ": ", s.list, "[", i, "].name: missing"));
      }
      YAML::Node inner = item[s.inner];
      if (inner && !inner.IsNull() && !inner.IsMap()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "kubeconfig ", file, ": ", s.list, "[", name.as<std::string>(), "].", s.inner,
            ": must be a map"));
      }
      // First file to define a name wins; later entries are ignored as a whole.
      s.out->emplace(name.as<std::string>(),
                     Entry{inner ? inner : YAML::Node(YAML::NodeType::Map), file, dir});
    }
  }
  YAML::Node current = root["current-context"];
  if (!merged.current_context && current && current.IsScalar() &&
      !current.as<std::string>().empty()) {
    merged.current_context = current.as<std::string>();
  }
  return absl::OkStatus();
}

absl::StatusOr<ExecConfig> ParseExec(const Entry& user, const std::string& name) {
  YAML::Node n = user.node["exec"];
  Entry e{n, user.file, user.dir};
  const std::string section = absl::StrCat("users[", name, "].user.exec");
  ExecConfig exec;
  absl::StatusOr<std::string> api = Scalar(e, section, "", "apiVersion");
  if (!api.ok()) return api.status();
  if (*api != "client.authentication.k8s.io/v1" &&
      *api != "client.authentication.k8s.io/v1beta1") {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(e, section, "", "apiVersion"), ": unsupported \"", *api,
                     "\" (want client.authentication.k8s.io/v1 or v1beta1)"));
  }
  exec.api_version = *api;
  absl::StatusOr<std::string> command = Scalar(e, section, "", "command");
  if (!command.ok()) return command.status();
  if (command->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(e, section, "", "command"), ": missing"));
  }
  exec.command = command->find('/') != std::string::npos ? Resolve(user.dir, *command) : *command;
  try {
    if (YAML::Node args = n["args"]; args && args.IsSequence()) {
      for (const auto& a : args) exec.args.push_back(a.as<std::string>());
    }
    if (YAML::Node env = n["env"]; env && env.IsSequence()) {
      for (const auto& kv : env) {
        exec.env.emplace_back(kv["name"].as<std::string>(), kv["value"].as<std::string>(""));
      }
    }
    if (YAML::Node pci = n["provideClusterInfo"]; pci && pci.IsScalar()) {
      exec.provide_cluster_info = pci.as<bool>();
    }
  } catch (const YAML::Exception& ex) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(e, section, "", "args/env/provideClusterInfo"), ": ", ex.what()));
  }
  return exec;
}

absl::StatusOr<KubeConfig> Resolve(const Merged& merged, const std::string& requested,
                                   bool allow_insecure_http) {
  std::string files = absl::StrJoin(merged.files, ":");
  std::string ctx_name = requested;
  if (ctx_name.empty()) {
    if (!merged.current_context) {
      return absl::FailedPreconditionError(
          absl::StrCat("kubeconfig ", files, ": current-context is not set and no context "
                       "was requested"));
    }
    ctx_name = *merged.current_context;
  }
  auto ctx_it = merged.contexts.find(ctx_name);
  if (ctx_it == merged.contexts.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("kubeconfig ", files, ": contexts[", ctx_name, "]: not found"));
  }
  const Entry& ctx = ctx_it->second;
  KubeConfig cfg;
  cfg.context = ctx_name;
  cfg.source = files;

  absl::StatusOr<std::string> cluster_name = Scalar(ctx, "contexts", ctx_name, "cluster");
  if (!cluster_name.ok()) return cluster_name.status();
  absl::StatusOr<std::string> user_name = Scalar(ctx, "contexts", ctx_name, "user");
  if (!user_name.ok()) return user_name.status();
  absl::StatusOr<std::string> ns = Scalar(ctx, "contexts", ctx_name, "namespace");
  if (!ns.ok()) return ns.status();
  if (!ns->empty()) cfg.ns = *ns;

  auto cl_it = merged.clusters.find(*cluster_name);
  if (cl_it == merged.clusters.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        Where(ctx, "contexts", ctx_name, "cluster"), ": cluster \"", *cluster_name,
        "\" not found"));
  }
  const Entry& cl = cl_it->second;
  absl::StatusOr<std::string> server = Scalar(cl, "clusters", *cluster_name, "server");
  if (!server.ok()) return server.status();
  if (server->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(cl, "clusters", *cluster_name, "server"), ": missing"));
  }
  if (!absl::StartsWith(*server, "https://") && !absl::StartsWith(*server, "http://")) {
    return absl::FailedPreconditionError(absl::StrCat(
        Where(cl, "clusters", *cluster_name, "server"), ": \"", *server,
        "\" is not an http(s) URL"));
  }
  if (absl::StartsWith(*server, "http://") && !allow_insecure_http) {
    return absl::FailedPreconditionError(absl::StrCat(
        Where(cl, "clusters", *cluster_name, "server"), ": cluster \"", *cluster_name,
        "\" is served over plain http (\"", *server,
        "\"): refused, credentials and sandbox data would cross the network unencrypted; "
        "use https, or allow it explicitly (kube.allow_http, --kube_allow_http)"));
  }
  cfg.server = std::string(absl::StripSuffix(*server, "/"));
  cfg.cluster = *cluster_name;
  absl::StatusOr<std::string> ca = DataOrFile(cl, "clusters", *cluster_name, "certificate-authority");
  if (!ca.ok()) return ca.status();
  cfg.ca_pem = *std::move(ca);
  if (YAML::Node skip = cl.node["insecure-skip-tls-verify"]; skip && skip.IsScalar()) {
    try {
      cfg.insecure_skip_tls_verify = skip.as<bool>();
    } catch (const YAML::Exception&) {
      return absl::FailedPreconditionError(absl::StrCat(
          Where(cl, "clusters", *cluster_name, "insecure-skip-tls-verify"), ": not a boolean"));
    }
  }

  if (user_name->empty()) return cfg;  // anonymous
  auto u_it = merged.users.find(*user_name);
  if (u_it == merged.users.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        Where(ctx, "contexts", ctx_name, "user"), ": user \"", *user_name, "\" not found"));
  }
  const Entry& u = u_it->second;
  absl::StatusOr<std::string> token = Scalar(u, "users", *user_name, "token");
  if (!token.ok()) return token.status();
  cfg.token = *token;
  absl::StatusOr<std::string> token_file = Scalar(u, "users", *user_name, "tokenFile");
  if (!token_file.ok()) return token_file.status();
  if (!token_file->empty()) cfg.token_file = Resolve(u.dir, *token_file);
  absl::StatusOr<std::string> cert = DataOrFile(u, "users", *user_name, "client-certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = DataOrFile(u, "users", *user_name, "client-key");
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(u, "users", *user_name, cert->empty() ? "client-certificate"
                                                                  : "client-key"),
                     ": missing (client-certificate and client-key come in pairs)"));
  }
  cfg.client_cert_pem = *std::move(cert);
  cfg.client_key_pem = *std::move(key);
  if (u.node["exec"] && !u.node["exec"].IsNull()) {
    absl::StatusOr<ExecConfig> exec = ParseExec(u, *user_name);
    if (!exec.ok()) return exec.status();
    cfg.exec = *std::move(exec);
  }
  if (u.node["auth-provider"] && cfg.token.empty() && cfg.token_file.empty() &&
      cfg.client_cert_pem.empty() && !cfg.exec) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(u, "users", *user_name, "auth-provider"),
                     ": auth-provider plugins are not supported; use exec"));
  }
  return cfg;
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string msg = absl::StrCat("cannot read ", path, ": ", ErrnoText(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    return absl::FailedPreconditionError(msg);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  return ss.str();
}

absl::StatusOr<KubeConfig> LoadKubeConfig(const KubeConfigLoadOptions& options) {
  std::string env;
  if (options.kubeconfig_env) {
    env = *options.kubeconfig_env;
  } else if (const char* v = std::getenv("KUBECONFIG")) {
    env = v;
  }
  std::vector<std::string> paths;
  std::set<std::string> seen;
  for (absl::string_view p : absl::StrSplit(env, ':', absl::SkipEmpty())) {
    if (seen.insert(std::string(p)).second) paths.emplace_back(p);
  }
  if (paths.empty()) {
    std::string home;
    if (options.home) {
      home = *options.home;
    } else if (const char* h = std::getenv("HOME")) {
      home = h;
    }
    if (home.empty()) return absl::NotFoundError("no KUBECONFIG and no HOME for ~/.kube/config");
    paths.push_back(absl::StrCat(home, "/.kube/config"));
  }
  Merged merged;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> text = ReadFileToString(path);
    if (absl::IsNotFound(text.status())) continue;
    if (!text.ok()) return text.status();
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& ex) {
      return absl::FailedPreconditionError(
          absl::StrCat("kubeconfig ", path, ": invalid YAML: ", ex.what()));
    }
    merged.files.push_back(path);
    absl::Status s;
    try {
      s = MergeFile(path, root, merged);
    } catch (const YAML::Exception& ex) {
      s = absl::FailedPreconditionError(absl::StrCat("kubeconfig ", path, ": ", ex.what()));
    }
    if (!s.ok()) return s;
  }
  if (merged.files.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no kubeconfig file found (tried ", absl::StrJoin(paths, ", "), ")"));
  }
  try {
    return Resolve(merged, options.context, options.allow_insecure_http);
  } catch (const YAML::Exception& ex) {
    return absl::FailedPreconditionError(
        absl::StrCat("kubeconfig ", absl::StrJoin(merged.files, ":"), ": ", ex.what()));
  }
}

absl::StatusOr<KubeConfig> LoadInClusterConfig(const InClusterOptions& options) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return absl::FailedPreconditionError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
        "be set");
  }
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = absl::StrCat("[", h, "]");
  KubeConfig cfg;
  cfg.server = absl::StrCat("https://", h, ":", port);
  cfg.source = "in-cluster";
  const std::string& dir = options.service_account_dir;
  cfg.token_file = absl::StrCat(dir, "/token");
  absl::StatusOr<std::string> token = ReadFileToString(cfg.token_file);
  if (!token.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster token: ", token.status().message()));
  }
  absl::StatusOr<std::string> ca = ReadFileToString(absl::StrCat(dir, "/ca.crt"));
  if (!ca.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("in-cluster CA: ", ca.status().message()));
  }
  cfg.ca_pem = *std::move(ca);
  if (const char* ns = std::getenv("POD_NAMESPACE"); ns != nullptr && *ns != '\0') {
    cfg.ns = ns;
  } else if (absl::StatusOr<std::string> file = ReadFileToString(absl::StrCat(dir, "/namespace"));
             file.ok() && !absl::StripAsciiWhitespace(*file).empty()) {
    cfg.ns = std::string(absl::StripAsciiWhitespace(*file));
  } else {
    cfg.ns = "default";
  }
  return cfg;
}

}  // namespace sandboxd::kube
