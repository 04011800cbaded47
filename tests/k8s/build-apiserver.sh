#!/usr/bin/env bash
# Build a real kube-apiserver (1.20, Debian bookworm's `kubernetes` source package) for the tests.
#
# No Debian package ships kube-apiserver any more, so this script builds it from Debian's own sources,
# the way debian/rules does (a GOPATH with the tree linked in as k8s.io/kubernetes, CGO_ENABLED=0,
# `make WHAT=cmd/kube-apiserver`), with Debian's Go 1.19. It also installs etcd-server, which the
# test fixture (tests/k8s/apiserver.py) runs beside the apiserver.
#
#   bash tests/k8s/build-apiserver.sh     # about six minutes on two cores, cold; instant once built
#
# The binary lands in ${NBJOBS_CACHE:-$HOME/.cache/nbjobs}/kube-apiserver-1.20/kube-apiserver; the
# last line printed is its path. It is built only when absent, so running the script again is cheap.
# Set NBJOBS_KEEP_BUILD=1 to keep the build tree (a few GiB) after a successful build.
#
# Needs root (or sudo) for apt: it adds a deb-src entry for the machine's own Debian sources in its
# own file (/etc/apt/sources.list.d/nbjobs-deb-src.sources), runs `apt-get update`, installs the
# build dependencies and `apt-get source kubernetes`. Everything comes from Debian's archive.
set -Eeuo pipefail

CACHE_DIR=${NBJOBS_CACHE:-$HOME/.cache/nbjobs}
OUT_DIR=$CACHE_DIR/kube-apiserver-1.20
BIN=$OUT_DIR/kube-apiserver
BUILD_DIR=$OUT_DIR/build
SRC_LIST=/etc/apt/sources.list.d/nbjobs-deb-src.sources
DEBIAN_SOURCES=/etc/apt/sources.list.d/debian.sources
GO_ROOT=/usr/lib/go-1.19
REFLECT2_DEBIAN=/usr/share/gocode/src/github.com/modern-go/reflect2
PACKAGES=(golang-1.19-go golang-github-modern-go-reflect2-dev etcd-server dpkg-dev rsync make)

log() { printf '[build-apiserver] %s\n' "$*" >&2; }
die() {
    printf '[build-apiserver] ERROR: %s\n' "$*" >&2
    exit 1
}
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

# (grep >/dev/null rather than grep -q in pipes: -q exits early, and pipefail then sees a SIGPIPE.)
built() { [[ -x $BIN ]] && "$BIN" --version 2>/dev/null | grep '^Kubernetes v1\.20\.' >/dev/null; }
have_etcd() { command -v etcd >/dev/null || [[ -x /usr/bin/etcd ]]; }

if built && have_etcd; then
    echo "$BIN"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: apt steps need root (run as root, or with sudo)"
    SUDO=(sudo)
fi

mkdir -p "$OUT_DIR"
# One build at a time (parallel test workers, two shells): the others wait, then find the binary.
exec 9>"$OUT_DIR/.lock"
flock -n 9 || { log "another build holds $OUT_DIR/.lock: waiting for it"; flock 9; }

# apt-get install PACKAGE... for those not installed yet (one apt-get update and a retry if it fails).
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "apt-get install ${missing[*]}"
    local install=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
    "${install[@]}" "${missing[@]}" >&2 && return 0
    log "apt-get install failed: apt-get update, then once more"
    "${SUDO[@]}" apt-get update -q >&2 || die "apt-get update failed"
    "${install[@]}" "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

if built; then # built before, but the runtime dependency (etcd) is missing
    ensure_packages etcd-server
    have_etcd || die "etcd-server installed but no etcd binary on PATH"
    echo "$BIN"
    exit 0
fi

START=$SECONDS

# --- 1. deb-src entry for the same release, URIs and keyring as the binary entries -----------------
# shellcheck source=/dev/null
. /etc/os-release
[[ ${VERSION_CODENAME:-} == bookworm ]] ||
    die "this script builds bookworm's kubernetes 1.20 source; this machine is ${PRETTY_NAME:-unknown}"
want_list=$(mktemp)
if [[ -f $DEBIAN_SOURCES ]] && grep '^Types: *deb *$' "$DEBIAN_SOURCES" >/dev/null; then
    { echo "# Added by nbjobs tests/k8s/build-apiserver.sh: source entries for $DEBIAN_SOURCES"
      sed -e 's/^Types: *deb *$/Types: deb-src/' "$DEBIAN_SOURCES"; } >"$want_list"
else
    cat >"$want_list" <<'EOF'
# Added by nbjobs tests/k8s/build-apiserver.sh
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
need_update=0
if ! cmp -s "$want_list" "$SRC_LIST"; then
    log "writing $SRC_LIST"
    "${SUDO[@]}" install -m 0644 "$want_list" "$SRC_LIST"
    need_update=1
fi
rm -f "$want_list"
if [[ $need_update -eq 1 ]] || ! apt-cache showsrc kubernetes 2>/dev/null | grep '^Version: 1\.20\.' >/dev/null; then
    log "apt-get update"
    "${SUDO[@]}" apt-get update -q >&2 || die "apt-get update failed"
fi
apt-cache showsrc kubernetes 2>/dev/null | grep '^Version: 1\.20\.' >/dev/null ||
    die "apt has no kubernetes 1.20 source package (check $SRC_LIST and apt-get update)"

# --- 2. build dependencies, from Debian -------------------------------------------------------------
ensure_packages "${PACKAGES[@]}"
[[ -x $GO_ROOT/bin/go ]] || die "$GO_ROOT/bin/go missing (package golang-1.19-go)"
[[ -f $REFLECT2_DEBIAN/reflect2.go ]] || die "$REFLECT2_DEBIAN missing (golang-github-modern-go-reflect2-dev)"

# --- 3. the source tree, prepared once (a failed build resumes on the same tree) ----------------------
SRC=""
if [[ -f $BUILD_DIR/.prepared ]]; then
    SRC=$(cat "$BUILD_DIR/.prepared")
    [[ -f $SRC/Makefile ]] || SRC=""
fi
if [[ -z $SRC ]]; then
    rm -rf "$BUILD_DIR"
    mkdir -p "$BUILD_DIR"
    log "apt-get source kubernetes (about 35 MB) into $BUILD_DIR"
    # apt warns that the download is unsandboxed when run as root here: harmless.
    (cd "$BUILD_DIR" && apt-get source -q kubernetes >"$BUILD_DIR/apt-source.log" 2>&1) ||
        { tail -n 20 "$BUILD_DIR/apt-source.log" >&2; die "apt-get source kubernetes failed"; }
    SRC=$(find "$BUILD_DIR" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-1.20*' | head -n1)
    [[ -n $SRC && -f $SRC/Makefile && -d $SRC/vendor ]] || die "no unpacked kubernetes-1.20* tree in $BUILD_DIR"
    log "source tree: $SRC"

    # The vendored reflect2 1.0.1 crashes at run time with Go >= 1.18 (it reads runtime internals by
    # symbol name); Debian's 1.0.2 is a drop-in replacement with the same API.
    log "replacing vendor/github.com/modern-go/reflect2 (1.0.1) with Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"
    rsync -a --delete --delete-excluded --exclude='*_test.go' --exclude='.*' --exclude='go.mod' --exclude='go.sum' \
        "$REFLECT2_DEBIAN/" "$SRC/vendor/github.com/modern-go/reflect2/"

    # As debian/rules: a GOPATH inside the tree with the tree linked in as k8s.io/kubernetes.
    mkdir -p "$SRC/.go/src/k8s.io"
    [[ -L $SRC/.go/src/k8s.io/kubernetes ]] || ln -s ../../.. "$SRC/.go/src/k8s.io/kubernetes"
    echo "$SRC" >"$BUILD_DIR/.prepared"
fi

# --- 4. build, as debian/rules does ------------------------------------------------------------------
log "make WHAT=cmd/kube-apiserver (about six minutes on two cores); log: $BUILD_DIR/make.log"
(
    cd "$SRC"
    export GOPATH=$SRC/.go
    export PATH=$GO_ROOT/bin:$PATH
    export CGO_ENABLED=0
    export HOME=$BUILD_DIR/home # debian/rules uses a throw-away HOME too
    mkdir -p "$HOME"
    unset GOFLAGS GO111MODULE GOROOT GOBIN # hack/lib sets GO111MODULE=off itself (GOPATH + vendor/)
    make WHAT=cmd/kube-apiserver
) >"$BUILD_DIR/make.log" 2>&1 || {
    tail -n 40 "$BUILD_DIR/make.log" >&2
    die "make WHAT=cmd/kube-apiserver failed (full log: $BUILD_DIR/make.log)"
}
out=$SRC/_output/bin/kube-apiserver
[[ -x $out ]] || die "make succeeded but $out is missing (log: $BUILD_DIR/make.log)"
install -m 0755 "$out" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
built || die "$BIN does not report Kubernetes v1.20.x: $("$BIN" --version 2>&1 | head -n1)"
log "built $("$BIN" --version) in $((SECONDS - START)) s, $(du -h "$BIN" | cut -f1)"

if [[ ${NBJOBS_KEEP_BUILD:-0} != 1 ]]; then
    log "removing the build tree $BUILD_DIR (NBJOBS_KEEP_BUILD=1 keeps it)"
    rm -rf "$BUILD_DIR"
fi
echo "$BIN"
