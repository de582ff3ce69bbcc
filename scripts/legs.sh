# shellcheck shell=bash
# The test legs of printfarm, sourced by scripts/setup, scripts/test and scripts/freeze.
#
#   min     the oldest Home Assistant printfarm supports (requirements/min.txt, constraints.txt),
#           Python >= 3.13.2, in .venv; the demo and the benchmark run on it too
#   newest  the newest Home Assistant that pytest-homeassistant-custom-component supports
#           (requirements/newest.txt, requirements/newest-constraints.txt), Python 3.14, in
#           .venv-newest; on a machine without a Python 3.14 (Debian 12) it runs inside a cached
#           Debian sid root with its python3.14 (scripts/in-root)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PRINTFARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/printfarm}"
ALL_LEGS=(min newest)
# The legs scripts/setup and scripts/test take when none are named.
DEFAULT_LEGS=(min newest)

# The minimum leg's Python: the one Home Assistant 2026.2 needs, built from source where missing.
PY_MIN_VERSION="3.13.15"
PY_MIN_FLOOR="3.13.2"
PY_MIN_PREFIX="$CACHE/python-$PY_MIN_VERSION"
# The newest leg's Python: Home Assistant 2026.10 needs >= 3.14.2.
PY_NEWEST_FLOOR="3.14.2"
# The Debian root that brings Python 3.14 where the machine has none. Its directory is named by
# its recipe, so a changed recipe builds a new root instead of patching an old one.
ROOTFS_PACKAGES="python3.14 python3.14-venv mosquitto openssl ca-certificates"
ROOTFS_RECIPE="debootstrap --variant=minbase sid; apt-get install $ROOTFS_PACKAGES; 1"
ROOTFS="$CACHE/root-sid-$(printf '%s' "$ROOTFS_RECIPE" | sha256sum | cut -c1-12)"

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing system packages: ${missing[*]}"
    if [ "$APT_UPDATED" = 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The legs to work on: the arguments, else PRINTFARM_LEGS ("min", "newest", "min,newest"), else
# DEFAULT_LEGS.
selected_legs() {
    local words="${*:-${PRINTFARM_LEGS:-}}" leg known
    words="${words//,/ }"
    [ -n "${words// /}" ] || words="${DEFAULT_LEGS[*]}"
    for leg in $words; do
        known=0
        for name in "${ALL_LEGS[@]}"; do [ "$leg" = "$name" ] && known=1; done
        [ "$known" = 1 ] || { log "unknown leg '$leg' (legs: ${ALL_LEGS[*]})"; return 1; }
        echo "$leg"
    done
}

leg_venv() { if [ "$1" = min ]; then echo "$ROOT/.venv"; else echo "$ROOT/.venv-$1"; fi; }
leg_requirements() { echo "$ROOT/requirements/$1.txt"; }
leg_constraints() { if [ "$1" = min ]; then echo "$ROOT/constraints.txt"; else echo "$ROOT/requirements/$1-constraints.txt"; fi; }
# Every file whose pins make up a leg's environment.
leg_pin_files() {
    echo "$(leg_requirements "$1")" "$ROOT/requirements_test.txt" "$(leg_constraints "$1")"
    if [ "$1" = min ]; then echo "$ROOT/requirements.txt"; fi
}

# python_ok PYTHON FLOOR BELOW: PYTHON is >= FLOOR and < BELOW, with working venv, ssl and sqlite3.
python_ok() {
    "$1" - "$2" "$3" <<'PY' >/dev/null 2>&1
import sys
floor, below = (tuple(int(p) for p in arg.split(".")) for arg in sys.argv[1:3])
if not floor <= sys.version_info[:3] < below:
    raise SystemExit(1)
import ensurepip, ssl, sqlite3, venv, lzma, bz2, ctypes  # noqa: F401
PY
}

# find_python NAME FLOOR BELOW [CANDIDATE]...: the first suitable Python among the candidates,
# NAME on PATH and pyenv's versions.
find_python() {
    local name="$1" floor="$2" below="$3"
    shift 3
    local candidates=("$@") dir
    command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [ -d "$pyenv_root/versions" ]; then
        for dir in $(ls -1 "$pyenv_root/versions" 2>/dev/null | sort -rV); do
            [ -x "$pyenv_root/versions/$dir/bin/python3" ] && candidates+=("$pyenv_root/versions/$dir/bin/python3")
        done
    fi
    for candidate in "${candidates[@]}"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && python_ok "$candidate" "$floor" "$below"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# The Debian archive address, read from this machine's own apt sources.
debian_mirror() {
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb(-src)? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp):\/\//) print $i}' \
            | grep -v security | head -n 1 || true)
    fi
    [ -n "$uri" ] || { log "no Debian archive found in the apt sources"; return 1; }
    echo "${uri%/}"
}

build_min_python() {
    log "no Python >= $PY_MIN_FLOOR found; building CPython $PY_MIN_VERSION into $PY_MIN_PREFIX (once)"
    apt_install build-essential curl xz-utils libssl-dev libffi-dev zlib1g-dev libbz2-dev \
        libsqlite3-dev libreadline-dev liblzma-dev uuid-dev libncurses-dev libgdbm-dev
    local tarball="$CACHE/python3.13_$PY_MIN_VERSION.orig.tar.xz"
    mkdir -p "$CACHE"
    if [ ! -s "$tarball" ] || ! xz -t "$tarball" 2>/dev/null; then
        local url
        url="$(debian_mirror)/pool/main/p/python3.13/python3.13_$PY_MIN_VERSION.orig.tar.xz"
        log "downloading $url"
        curl -fsSL --retry 3 -o "$tarball.part" "$url"
        xz -t "$tarball.part"
        mv "$tarball.part" "$tarball"
    fi
    local work
    work="$(mktemp -d "$CACHE/build.XXXXXX")"
    tar -xJf "$tarball" -C "$work"
    local src
    src="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
    (
        cd "$src"
        ./configure --prefix="$PY_MIN_PREFIX" --with-ensurepip=install --enable-loadable-sqlite-extensions \
            >"$work/configure.log" 2>&1
        make -j"$(nproc)" >"$work/make.log" 2>&1
        make install >"$work/install.log" 2>&1
    ) || { log "CPython build failed; logs in $work"; exit 1; }
    rm -rf "$work"
    python_ok "$PY_MIN_PREFIX/bin/python3.13" "$PY_MIN_FLOOR" 3.14 || { log "built Python is not usable"; exit 1; }
}

# remove_tree DIR: deletes DIR, refusing while anything is mounted inside it (a bind-mounted
# repository must never be deleted through a root).
remove_tree() {
    local dir
    dir="$(realpath "$1")"
    if awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {found = 1} END {exit !found}' /proc/self/mounts; then
        log "not removing $dir: something is mounted inside it"
        return 1
    fi
    as_root rm -rf --one-file-system "$dir"
}

in_root() { "$ROOT/scripts/in-root" "$@"; }

# ensure_rootfs: the Debian sid root with Python 3.14, Mosquitto and openssl, at $ROOTFS.
# Built once (about a minute on a bare machine) in a temporary directory that is renamed into
# place when complete, so a half-built root is never used; under a lock, so two runs build once.
ensure_rootfs() {
    if [ -f "$ROOTFS/.printfarm-rootfs" ]; then
        return 0
    fi
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.rootfs.lock"
    flock 9
    if [ -f "$ROOTFS/.printfarm-rootfs" ]; then
        exec 9>&-
        return 0
    fi
    local stale
    for stale in "$CACHE"/.rootfs-build.*; do
        [ -d "$stale" ] && { remove_tree "$stale" || true; }
    done
    apt_install debootstrap
    local mirror tmp
    mirror="$(debian_mirror)"
    tmp="$(mktemp -d "$CACHE/.rootfs-build.XXXXXX")"
    log "no Python >= $PY_NEWEST_FLOOR found; building a Debian sid root with python3.14 (once): $ROOTFS"
    if ! as_root unshare --mount --propagation private \
        debootstrap --variant=minbase sid "$tmp" "$mirror" >"$CACHE/rootfs-build.log" 2>&1; then
        log "debootstrap failed; its log: $CACHE/rootfs-build.log"
        remove_tree "$tmp" || true
        exit 1
    fi
    # The machine's archive may be a dated snapshot whose sid Release has passed its Valid-Until.
    echo 'Acquire::Check-Valid-Until "false";' | as_root tee "$tmp/etc/apt/apt.conf.d/99printfarm" >/dev/null
    # shellcheck disable=SC2086 # the package list is split on purpose
    if ! in_root "$tmp" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive \
        && apt-get update -qq && apt-get install -y -qq --no-install-recommends $ROOTFS_PACKAGES \
        && apt-get clean" >>"$CACHE/rootfs-build.log" 2>&1 \
        || ! in_root "$tmp" /usr/bin/python3.14 - "$PY_NEWEST_FLOOR" 3.15 <<'PY' >>"$CACHE/rootfs-build.log" 2>&1; then
import sys
floor, below = (tuple(int(p) for p in arg.split(".")) for arg in sys.argv[1:3])
assert floor <= sys.version_info[:3] < below, sys.version
import ensurepip, ssl, sqlite3, venv, lzma, bz2, ctypes  # noqa: F401
PY
        log "installing $ROOTFS_PACKAGES into the root failed; log: $CACHE/rootfs-build.log"
        remove_tree "$tmp" || true
        exit 1
    fi
    printf '%s\n' "$ROOTFS_RECIPE" | as_root tee "$tmp/.printfarm-rootfs" >/dev/null
    as_root mv -T "$tmp" "$ROOTFS"
    # Roots of older recipes are no longer used.
    for stale in "$CACHE"/root-sid-*; do
        [ "$stale" != "$ROOTFS" ] && [ -d "$stale" ] && { remove_tree "$stale" || true; }
    done
    exec 9>&-
    log "root ready: $(in_root "$ROOTFS" /usr/bin/python3.14 -VV | head -n 1)"
}

# leg_python LEG: sets LEG_PYTHON (the interpreter) and LEG_ROOTFS (the root it runs in, or
# empty for this machine), building what is missing.
leg_python() {
    LEG_ROOTFS=""
    case "$1" in
        min)
            LEG_PYTHON="$(find_python python3.13 "$PY_MIN_FLOOR" 3.14 "${PRINTFARM_PYTHON:-}" "$PY_MIN_PREFIX/bin/python3.13" || true)"
            if [ -z "$LEG_PYTHON" ]; then
                build_min_python
                LEG_PYTHON="$PY_MIN_PREFIX/bin/python3.13"
            fi
            ;;
        newest)
            LEG_PYTHON="$(find_python python3.14 "$PY_NEWEST_FLOOR" 3.15 "${PRINTFARM_PYTHON_NEWEST:-}" || true)"
            if [ -z "$LEG_PYTHON" ]; then
                ensure_rootfs
                LEG_ROOTFS="$ROOTFS"
                LEG_PYTHON=/usr/bin/python3.14
            fi
            ;;
    esac
}

# leg_run LEG COMMAND [ARG]...: runs COMMAND where LEG's venv works (inside its root, if any),
# with the venv's bin first on PATH, in the current directory.
leg_run() {
    local venv rootfs=""
    venv="$(leg_venv "$1")"
    shift
    [ -f "$venv/.printfarm-rootfs" ] && rootfs="$(cat "$venv/.printfarm-rootfs")"
    if [ -n "$rootfs" ]; then
        in_root --bind "$ROOT" "$rootfs" /usr/bin/env PATH="$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$@"
    else
        PATH="$venv/bin:$PATH" "$@"
    fi
}

# setup_leg LEG: LEG's venv with its pinned stack, rebuilt when its interpreter or pins change.
setup_leg() {
    local leg="$1" venv stamp want version start=$SECONDS
    venv="$(leg_venv "$leg")"
    stamp="$venv/.printfarm-stamp"
    leg_python "$leg"
    local run=()
    [ -n "$LEG_ROOTFS" ] && run=(in_root --bind "$ROOT" "$LEG_ROOTFS")
    version="$("${run[@]}" "$LEG_PYTHON" -c 'import sys; print(sys.version.split()[0])')"
    # shellcheck disable=SC2046 # one word per file
    want="$("${run[@]}" "$LEG_PYTHON" -c 'import sys; print(sys.version)' | head -n 1)|${LEG_ROOTFS:-host}|$(cat $(leg_pin_files "$leg") | sha256sum | cut -d' ' -f1)"
    # (A venv made inside a root links to the root's python: -L, not -e, from out here.)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -L "$venv/bin/python" ]; then
        log "$leg leg: $(basename "$venv") is up to date (Python $version${LEG_ROOTFS:+, in $LEG_ROOTFS})"
        return 0
    fi
    log "$leg leg: Python $version ($LEG_PYTHON${LEG_ROOTFS:+ in $LEG_ROOTFS})"
    # A venv of another interpreter or place is made anew; one of the same is updated in place.
    if [ -e "$venv" ] && { [ ! -f "$stamp" ] || [ "$(cut -d'|' -f1-2 "$stamp")" != "$(cut -d'|' -f1-2 <<<"$want")" ]; }; then
        if [ "$leg" != min ] || ! "${run[@]}" "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            remove_tree "$venv"
        fi
    fi
    [ -L "$venv/bin/python" ] || "${run[@]}" "$LEG_PYTHON" -m venv "$venv"
    rm -f "$venv/.printfarm-rootfs"
    [ -n "$LEG_ROOTFS" ] && echo "$LEG_ROOTFS" >"$venv/.printfarm-rootfs"
    log "$leg leg: installing $(basename "$(leg_requirements "$leg")") with $(basename "$(leg_constraints "$leg")") into $(basename "$venv")"
    # Quiet the machine's pip configuration about local package folders that do not exist.
    leg_run "$leg" python -m pip install --quiet --disable-pip-version-check \
        -r "$(leg_requirements "$leg")" -c "$(leg_constraints "$leg")" 2> >(grep -v '^WARNING: Location' >&2)
    leg_run "$leg" python -m pip check >/dev/null || { log "pip check failed"; leg_run "$leg" python -m pip check; exit 1; }
    echo "$want" >"$stamp"
    log "$leg leg ready in $((SECONDS - start))s"
}
