// Trimming: Kubernetes objects reduced to exactly what DeriveSandbox and
// SpecFromStatefulSet (status.h) read, so the watch cache keeps only that. The trimmed
// objects give the same derived Sandbox as the originals; a field either function starts
// to read must be kept here too (tests/unit/service/sandbox_cache_test.cc,
// DerivationOnTrimmedObjectsEqualsDerivationOnWholeObjects, checks the equality).
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_TRIM_H_
#define SANDBOXD_DOMAIN_TRIM_H_

#include "src/kube/objects.h"

namespace sandboxd::domain {

kube::StatefulSet TrimStatefulSet(kube::StatefulSet sts);
kube::Pod TrimPod(kube::Pod pod);
kube::PersistentVolumeClaim TrimClaim(kube::PersistentVolumeClaim claim);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_TRIM_H_
