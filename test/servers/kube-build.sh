#!/bin/sh
# Builds the test cluster's binaries from Go modules: etcd, kube-apiserver, kubectl and helm, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/mdmops/kube/<versions>/bin, outside the clone so a fresh clone on
# the same machine reuses them. Skips what is already built. Progress goes to stderr; the bin dir is
# the only line on stdout (test/servers/kube.ts reads it). A fresh build takes many minutes.
set -eu

KUBE_VERSION=v1.34.4   # newest 1.34 on the Go module proxy; staging modules are v0.34.4
ETCD_VERSION=v3.5.35
HELM_VERSION=v3.21.4

cache=${XDG_CACHE_HOME:-$HOME/.cache}/mdmops/kube
dir=$cache/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION
bin=$dir/bin

say() { echo "kube-build: $*" >&2; }

if [ -x "$bin/etcd" ] && [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/helm" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || { say "Go 1.26 or later (etcd v3.5.35 and helm v3.21.4 require it) is needed to build the test cluster's binaries; install it from https://go.dev/dl/"; exit 1; }
# Never fetch another toolchain behind the user's back; the module cache and build cache stay where Go keeps them.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
mkdir -p "$bin" "$dir/src"
# One build at a time (two test files may start clusters at once): the second waits, then finds the binaries.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.lock"
  flock 9
fi

# now: seconds since the epoch, for the build times printed and kept in $dir/build-times.
now() { date +%s; }

# build NAME MODULE_DIR PACKAGE LDFLAGS: go build into a temp file, then rename, so an interrupted
# build never leaves a binary that looks finished.
build() {
  name=$1 moddir=$2 pkg=$3 ldflags=$4
  if [ -x "$bin/$name" ]; then return 0; fi
  say "building $name ($pkg) ..."
  start=$(now)
  (cd "$moddir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/.$name.tmp" "$pkg")
  mv "$bin/.$name.tmp" "$bin/$name"
  took=$(( $(now) - start ))
  echo "$name $took s" >> "$dir/build-times"
  say "built $name in ${took}s"
}

# wrapper NAME GOMOD_BODY PACKAGE...: a module that requires what the binaries live in; go get adds
# the go.sum entries for the packages (downloading the modules on first use).
wrapper() {
  name=$1 body=$2
  shift 2
  moddir=$dir/src/$name
  if [ ! -f "$moddir/.ready" ]; then
    say "resolving modules for $name (first time: downloads into $(go env GOMODCACHE)) ..."
    mkdir -p "$moddir"
    printf 'module mdmops.test/%s\n\ngo 1.24.0\n\n%s\n' "$name" "$body" > "$moddir/go.mod"
    (cd "$moddir" && go get "$@")
    touch "$moddir/.ready"
  fi
  echo "$moddir"
}

# etcd 3.5: its main package is the server module itself; `go install` refuses it (replace directives).
etcd_mod=$(wrapper etcd "require go.etcd.io/etcd/server/v3 $ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
build etcd "$etcd_mod" go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"

# kube-apiserver and kubectl: k8s.io/kubernetes replaces its staging modules with ./staging paths,
# which a dependent module must map to the published v0.Y.Z itself.
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
staging_version=v0.${KUBE_VERSION#v1.}
replaces=""
for m in $staging; do replaces="$replaces	k8s.io/$m => k8s.io/$m $staging_version
"; done
kube_mod=$(wrapper kubernetes "require k8s.io/kubernetes $KUBE_VERSION

replace (
$replaces)" "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION")
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
kube_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags="$kube_ldflags -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
build kube-apiserver "$kube_mod" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kubectl "$kube_mod" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"

# helm: its version, and the Kubernetes version `helm template` and `helm lint` assume, come from
# ldflags as in helm's Makefile (client-go v0.Y.Z means Kubernetes 1.Y).
helm_mod=$(wrapper helm "require helm.sh/helm/v3 $HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
client_go=$(cd "$helm_mod" && go list -m -f '{{.Version}}' k8s.io/client-go)
helm_k8s_minor=${client_go#v0.}
helm_k8s_minor=${helm_k8s_minor%%.*}
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags="$helm_ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_k8s_minor"
done
build helm "$helm_mod" helm.sh/helm/v3/cmd/helm "$helm_ldflags"

say "done: $bin"
echo "$bin"
