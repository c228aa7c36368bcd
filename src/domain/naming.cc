#include "src/domain/naming.h"

namespace sandboxd::domain {
namespace {

std::string Cat(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(a.size() + b.size());
  out.append(a);
  out.append(b);
  return out;
}

}  // namespace

bool IsReservedLabelKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return key == kLabelApp;
  std::string_view prefix = key.substr(0, slash);
  for (const char* reserved : kReservedLabelPrefixes) {
    std::string_view r(reserved);
    if (prefix == r) return true;
    if (prefix.size() > r.size() + 1 && prefix.substr(prefix.size() - r.size()) == r &&
        prefix[prefix.size() - r.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::string StatefulSetName(std::string_view name) { return std::string(name); }
std::string ServiceName(std::string_view name) { return Cat(name, "-service"); }
std::string AppIngressName(std::string_view name) { return Cat(name, "-app-ingress"); }
std::string TtydIngressName(std::string_view name) { return Cat(name, "-ttyd-ingress"); }
std::string ClaimName(std::string_view claim_template, std::string_view name) {
  return Cat(Cat(claim_template, "-"), Cat(name, "-0"));
}

std::string SealosVolumeName(std::string_view mount_path) {
  std::string out;
  for (char c : mount_path) {
    if (c == '/') {
      out += "vn-";
    } else {
      out += c;
    }
  }
  return out;
}
std::string PodName(std::string_view name) { return Cat(name, "-0"); }

std::string PodDnsName(std::string_view name, std::string_view ns) {
  return Cat(Cat(Cat(PodName(name), "."), Cat(ServiceName(name), ".")),
             Cat(ns, ".svc.cluster.local"));
}

std::string AppHostLabel(std::string_view name) { return Cat(name, "-app"); }
std::string TerminalHostLabel(std::string_view name) { return Cat(name, "-ttyd"); }

std::string AppHost(std::string_view name, std::string_view domain) {
  return Cat(Cat(AppHostLabel(name), "."), domain);
}
std::string TerminalHost(std::string_view name, std::string_view domain) {
  return Cat(Cat(TerminalHostLabel(name), "."), domain);
}

std::vector<DerivedName> DerivedLabelNames(std::string_view name) {
  return {
      {"StatefulSet", StatefulSetName(name)},
      {"Service", ServiceName(name)},
      {"app Ingress", AppIngressName(name)},
      {"terminal Ingress", TtydIngressName(name)},
      {"PVC", ClaimName(kLegacyClaimTemplateName, name)},
      {"pod", PodName(name)},
      // The StatefulSet controller labels pods with controller-revision-hash
      // "<name>-<hash>", the hash being up to 10 characters.
      {"controller-revision-hash label", Cat(name, "-0123456789")},
      {"app host", AppHostLabel(name)},
      {"terminal host", TerminalHostLabel(name)},
  };
}

}  // namespace sandboxd::domain
