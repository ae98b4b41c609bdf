#!/usr/bin/env bash
# Build, push and roll out Rose Ash on Docker Swarm.
#
#   ./deploy.sh                   what changed since each service's last deploy (see below)
#   ./deploy.sh blog market       these services
#   ./deploy.sh --all             every service
#   ./deploy.sh --dry-run [...]   print the plan and the commands; touch neither Docker nor git
#   ./deploy.sh --force [...]     deploy even though the working tree has uncommitted changes
#   ./deploy.sh --local           build every image here and run the whole stack on this machine's
#                                 Docker as a single-node Swarm (see "Local" below)
#
# Services: the six apps and the worker (whose image the backup service runs too). Each deploy records the commit it deployed as the git tag
# deployed/<service> (and deployed/stack when the stack file was applied). With no service named,
# a service is planned when:
#   - it has never been deployed (no tag), or
#   - a path every image or the stack depends on changed since its tag: shared/, pyproject.toml,
#     requirements.lock, docker-compose.yml, docker/, .dockerignore, the production config; or
#   - its own directory (blog/, ..., worker/) changed since its tag; or
#   - the image of its last deploy is missing from the registry (not checked in a dry run).
# Anything else (docs, tests, CI, this script) deploys nothing. The stack file, the Caddyfile and
# deploy/prometheus/ are shipped by a stack deploy (Docker configs named after the commit).
#
# Images are tagged with the commit (12 hex digits) and built from the repository root. When the
# stack file changed since the last stack deploy (or was never deployed), every service is built
# and the stack is applied with `docker stack deploy`; otherwise each planned service is rolled
# out with `docker service update --image` (start-first, rolled back on failure: see
# docker-compose.yml).
#
# Environment:
#   REGISTRY             image registry (registry.rose-ash.com:5000)
#   STACK                stack name (rose-ash); services are STACK_<service>
#   DOCKER               the docker client (docker)
#   ROLLOUT_DOCKER_HOST  where stack deploy / service update run, e.g. ssh://deploy@manager
#                        (default: the client's DOCKER_HOST); builds stay on this machine
#   DEPLOY_PUSH_TAGS     a git remote to push the deployed/* tags to after a deploy (CI: origin)
#   DEPLOY_LOCK_HOST     user@host whose /tmp/rose-ash-deploy.lock (flock) is held, over SSH, from
#                        before the build to the end: deploys queue there, one at a time (CI: the
#                        manager). Unset: the lock is this machine's, beside .git.
#
# Local (--local): every image is built here as rose-ash.local/<service>:<commit>[-dirty] (no
# push; uncommitted changes are fine), from the base images' tags (docker/base-images.env without
# the digests; docker/offline/build.sh makes any missing one from Debian's packages). The engine
# becomes a single-node Swarm if it is not one (the node gets the rose-ash.db and rose-ash.proxy
# labels), throwaway secrets are generated for any missing one, the stack is deployed, and the
# script waits until every service runs healthy, then prints where the site answers. Caddy gets
# its certificates from its own CA, and services answer by DNS round robin (ROSE_ENDPOINT_MODE=dnsrr:
# no IPVS needed). Nothing is recorded in git.
#   ROSE_HTTP_PORT, ROSE_HTTPS_PORT   the ports Caddy publishes (8080, 8443)
#   ROSE_LOCAL_WAIT_S                 how long to wait for the stack to be healthy (900)
#   ROSE_APP_REPLICAS, ROSE_WEB_CONCURRENCY   replicas per app and processes per replica (1 and 1:
#                                     the whole stack fits a small machine; production has 2 and 2)
# Health checks get 30 s each and 10 minutes to start (ROSE_HEALTH_TIMEOUT, ROSE_HEALTH_START_PERIOD).
# The plan is printed as lines a script can read: `commit: <sha>`, one `reason: <service>: ...`
# per planned service, `plan: <services...>` (empty when there is nothing to do) and
# `rollout: stack-deploy|service-update|none`.
set -euo pipefail
# A failing git inside $(...) must stop the script, not read as "nothing changed".
shopt -s inherit_errexit

SERVICES=(blog market cart events federation account worker)
# Paths that go into every image or shape the whole stack: a change rebuilds every service.
COMMON_PATHS=(shared/ pyproject.toml requirements.lock docker-compose.yml docker/ .dockerignore
    _config/app-config.production.yaml)
TAG_PREFIX="deployed/"
STACK_FILE="docker-compose.yml"
# What a stack deploy ships besides the services: a change deploys the stack.
STACK_PATHS=("$STACK_FILE" Caddyfile deploy/prometheus/)

REGISTRY="${REGISTRY:-registry.rose-ash.com:5000}"
STACK="${STACK:-rose-ash}"
DOCKER="${DOCKER:-docker}"
ROLLOUT_DOCKER_HOST="${ROLLOUT_DOCKER_HOST:-}"
DEPLOY_PUSH_TAGS="${DEPLOY_PUSH_TAGS:-}"
DEPLOY_LOCK_HOST="${DEPLOY_LOCK_HOST:-}"

dry_run=false
local_stack=false
force=false
all=false
requested=()

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
    printf 'deploy.sh: error: %s\n' "$*" >&2
    exit "${2:-1}"
}

say() { printf '%s\n' "$*"; }

is_service() {
    local s
    for s in "${SERVICES[@]}"; do
        [[ "$s" == "$1" ]] && return 0
    done
    return 1
}

# The commit a service (or "stack") was last deployed at, or nothing.
deployed_commit() {
    git rev-parse -q --verify "refs/tags/${TAG_PREFIX}$1^{commit}" 2>/dev/null || true
}

# The first changed path (since commit $1) among the pathspecs that follow, or nothing.
first_change() {
    local since="$1" out
    shift
    # --no-renames: a file moved out of an app directory counts for that app too.
    out="$(git diff --no-renames --name-only "$since" HEAD -- "$@")"
    printf '%s' "${out%%$'\n'*}"
}

# Run a command, or only print it in a dry run.
run() {
    if [[ "$dry_run" == true ]]; then
        say "run: $*"
    else
        say "+ $*"
        "$@"
    fi
}

# A docker command for the Swarm (ROLLOUT_DOCKER_HOST), printed with that host in a dry run.
run_rollout() {
    if [[ -n "$ROLLOUT_DOCKER_HOST" ]]; then
        run env "DOCKER_HOST=${ROLLOUT_DOCKER_HOST}" "$@"
    else
        run "$@"
    fi
}

image_exists() {
    "$DOCKER" manifest inspect "$1" >/dev/null 2>&1
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --dry-run) dry_run=true ;;
            --force) force=true ;;
            --local) local_stack=true ;;
            --all) all=true ;;
            -h | --help)
                usage
                exit 0
                ;;
            -*) die "unknown option $1 (see --help)" 2 ;;
            *)
                is_service "$1" || die "unknown service '$1' (one of: ${SERVICES[*]})" 2
                requested+=("$1")
                ;;
        esac
        shift
    done
    if [[ "$all" == true && ${#requested[@]} -gt 0 ]]; then
        die "--all and service names do not go together" 2
    fi
    if [[ "$local_stack" == true && ( "$all" == true || "$dry_run" == true ||
        ${#requested[@]} -gt 0 ) ]]; then
        die "--local builds and runs everything; it takes no other option" 2
    fi
}

# Wait for, then hold until this script exits, the deploy lock (DEPLOY_LOCK_HOST's over SSH, or
# this machine's): flock runs `cat`, which holds the lock until our end of its stdin closes.
hold_deploy_lock() {
    # shellcheck disable=SC2016 # $0 is the lock file, expanded by the shell that runs flock
    local line hold='exec flock -w 3600 "$0" sh -c "echo locked; exec cat >/dev/null"'
    if [[ -n "$DEPLOY_LOCK_HOST" ]]; then
        say "waiting for the deploy lock on ${DEPLOY_LOCK_HOST}"
        coproc DEPLOY_LOCK { ssh "$DEPLOY_LOCK_HOST" sh -c "'${hold}'" /tmp/rose-ash-deploy.lock; }
    else
        coproc DEPLOY_LOCK { sh -c "$hold" "$(git rev-parse --git-common-dir)/rose-ash-deploy.lock"; }
    fi
    read -r line <&"${DEPLOY_LOCK[0]}" || true
    [[ "$line" == locked ]] || die "could not take the deploy lock"
}

# --- local: the whole stack on this machine ---------------------------------------------------------

# The tag of a base image (docker/base-images.env), without its digest.
base_tag() {
    local line
    line="$(grep -E "^$1=" docker/base-images.env)" || die "$1 is not in docker/base-images.env"
    line="${line#*=}"
    printf '%s' "${line%%@*}"
}

# A secret of the local stack, created from stdin unless it exists (an existing database keeps
# the password it was made with).
local_secret() {
    if "$DOCKER" secret inspect "$1" >/dev/null 2>&1; then
        cat >/dev/null
    else
        "$DOCKER" secret create "$1" - >/dev/null
        say "created secret $1"
    fi
}

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

local_secrets() {
    local image="$1" pg rd
    if ! "$DOCKER" secret inspect postgres_password >/dev/null 2>&1; then
        pg="$(random_hex)"
        printf %s "$pg" | local_secret postgres_password
        printf %s "postgresql://rose_ash:${pg}@postgres:5432/rose_ash" | local_secret database_url
    fi
    if ! "$DOCKER" secret inspect redis_password >/dev/null 2>&1; then
        rd="$(random_hex)"
        printf %s "$rd" | local_secret redis_password
        printf %s "redis://:${rd}@redis:6379/0" | local_secret redis_url
    fi
    local name
    for name in rose_secret_key rose_internal_secret rose_smtp_password rose_ghost_content_key \
        rose_ghost_admin_key rose_ghost_webhook_secret rose_sumup_api_key \
        rose_sumup_merchant_code rose_metrics_token; do
        random_hex | local_secret "$name"
    done
    for name in rose_ap_private_key rose_oidc_private_key; do
        if ! "$DOCKER" secret inspect "$name" >/dev/null 2>&1; then
            "$DOCKER" run --rm --entrypoint rose-ash "$image" keys generate | local_secret "$name"
        fi
    done
}

local_swarm() {
    local state node addr
    state="$("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')"
    if [[ "$state" != active ]]; then
        addr="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')"
        say "+ docker swarm init${addr:+ --advertise-addr $addr}"
        "$DOCKER" swarm init ${addr:+--advertise-addr "$addr"} >/dev/null
    fi
    node="$("$DOCKER" info --format '{{.Swarm.NodeID}}')"
    "$DOCKER" node update --label-add rose-ash.db=true --label-add rose-ash.proxy=true "$node" \
        >/dev/null
}

# Until every service of the stack runs all its replicas (a task with a health check counts once
# healthy), or ROSE_LOCAL_WAIT_S passes.
local_wait() {
    local deadline=$((SECONDS + ${ROSE_LOCAL_WAIT_S:-900})) pending line name replicas
    while true; do
        pending=""
        while read -r name replicas; do
            [[ "${replicas%%/*}" == "${replicas##*/}" && "${replicas##*/}" != 0 ]] ||
                pending+=" ${name}(${replicas})"
        done < <("$DOCKER" service ls --filter "label=com.docker.stack.namespace=${STACK}" \
            --format '{{.Name}} {{.Replicas}}' | sed 's/ (.*)//')
        [[ -n "$pending" ]] || return 0
        if ((SECONDS > deadline)); then
            for line in $pending; do
                "$DOCKER" service ps --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' \
                    "${line%%(*}" | head -n 3 >&2
            done
            die "not healthy after ${ROSE_LOCAL_WAIT_S:-900} s:${pending}"
        fi
        sleep 5
    done
}

local_main() {
    local tag head svc registry=rose-ash.local
    head="$(git rev-parse HEAD)"
    tag="$(git rev-parse --short=12 HEAD)"
    [[ -z "$(git status --porcelain)" ]] || tag="${tag}-dirty"
    say "commit: ${head}"
    local -a bases=(PYTHON_IMAGE POSTGRES_IMAGE REDIS_IMAGE CADDY_IMAGE PROMETHEUS_IMAGE)
    local -a missing=() images=() var
    for var in "${bases[@]}"; do
        images+=("${var}=$(base_tag "$var")")
        "$DOCKER" image inspect "$(base_tag "$var")" >/dev/null 2>&1 || missing+=("$var")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "base images missing here (${missing[*]}): building the offline stand-ins"
        DOCKER="$DOCKER" docker/offline/build.sh
    fi
    for svc in "${SERVICES[@]}"; do
        run "$DOCKER" build --quiet --file "${svc}/Dockerfile" --tag "${registry}/${svc}:${tag}" \
            --build-arg "PYTHON_IMAGE=$(base_tag PYTHON_IMAGE)" \
            --build-arg "POSTGRES_IMAGE=$(base_tag POSTGRES_IMAGE)" \
            --label "org.opencontainers.image.revision=${head}" .
    done
    local_swarm
    local_secrets "${registry}/worker:${tag}"
    run env "TAG=${tag}" "REGISTRY=${registry}" "${images[@]}" \
        "ROSE_HTTP_PORT=${ROSE_HTTP_PORT:-8080}" "ROSE_HTTPS_PORT=${ROSE_HTTPS_PORT:-8443}" \
        ROSE_CADDY_GLOBAL=local_certs ROSE_BACKUP_HEALTH_INTERVAL=20s ROSE_ENDPOINT_MODE=dnsrr \
        "ROSE_APP_REPLICAS=${ROSE_APP_REPLICAS:-1}" "ROSE_WEB_CONCURRENCY=${ROSE_WEB_CONCURRENCY:-1}" \
        ROSE_HEALTH_TIMEOUT=30s ROSE_HEALTH_START_PERIOD=600s \
        "$DOCKER" stack deploy --resolve-image never --compose-file "$STACK_FILE" "$STACK"
    say "waiting until every service of ${STACK} is healthy"
    local_wait
    say "Rose Ash runs at ${tag}: Caddy answers https://<app>.rose-ash.com on port ${ROSE_HTTPS_PORT:-8443}"
    say "of this machine (apps: ${SERVICES[*]/worker/}), with certificates from its own CA."
    say "e.g. curl -k --resolve blog.rose-ash.com:${ROSE_HTTPS_PORT:-8443}:127.0.0.1 https://blog.rose-ash.com:${ROSE_HTTPS_PORT:-8443}/"
    say "Remove it: docker stack rm ${STACK} (volumes and secrets stay until removed by hand)."
}

main() {
    parse_args "$@"
    cd "$(dirname "$0")"
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "not inside a git work tree"
    if [[ "$local_stack" == true ]]; then
        hold_deploy_lock
        local_main
        return
    fi

    local head tag dirty
    head="$(git rev-parse HEAD)"
    tag="$(git rev-parse --short=12 HEAD)"
    dirty="$(git status --porcelain)"
    if [[ -n "$dirty" ]]; then
        if [[ "$force" == true ]]; then
            tag="${tag}-dirty"
            say "warning: deploying uncommitted changes (--force); images are tagged ${tag}"
        elif [[ "$dry_run" == true ]]; then
            say "warning: the working tree has uncommitted changes; a real deploy would refuse (--force overrides)"
        else
            die "the working tree has uncommitted changes; commit them or use --force"
        fi
    fi
    say "commit: ${head}"

    # --- what to deploy -------------------------------------------------------------------------
    local -a plan=()
    local -A why=()
    local svc last common own change
    if [[ "$all" == true ]]; then
        for svc in "${SERVICES[@]}"; do
            plan+=("$svc")
            why[$svc]="--all"
        done
    elif [[ ${#requested[@]} -gt 0 ]]; then
        for svc in "${requested[@]}"; do
            [[ -n "${why[$svc]:-}" ]] && continue
            plan+=("$svc")
            why[$svc]="requested"
        done
    else
        for svc in "${SERVICES[@]}"; do
            last="$(deployed_commit "$svc")"
            if [[ -z "$last" ]]; then
                why[$svc]="never deployed"
                plan+=("$svc")
                continue
            fi
            common="$(first_change "$last" "${COMMON_PATHS[@]}")"
            own="$(first_change "$last" "${svc}/")"
            if [[ -n "$common" ]]; then
                why[$svc]="shared change since ${last:0:12}: ${common}"
            elif [[ -n "$own" ]]; then
                why[$svc]="changed since ${last:0:12}: ${own}"
            elif [[ "$dry_run" == false ]] &&
                ! image_exists "${REGISTRY}/${svc}:$(git rev-parse --short=12 "$last")"; then
                why[$svc]="image ${REGISTRY}/${svc}:$(git rev-parse --short=12 "$last") is missing"
            else
                continue
            fi
            plan+=("$svc")
        done
        if [[ "$dry_run" == true ]]; then
            say "note: a dry run does not ask the registry for missing images"
        fi
    fi

    # The stack file is applied with every service at one tag: a stack deploy builds them all.
    local rollout="service-update" stack_last stack_reason=""
    stack_last="$(deployed_commit stack)"
    if [[ -z "$stack_last" ]]; then
        stack_reason="the stack was never deployed"
    else
        change="$(first_change "$stack_last" "${STACK_PATHS[@]}")"
        [[ -z "$change" ]] || stack_reason="${change} changed since ${stack_last:0:12}"
    fi
    if [[ -n "$stack_reason" && ( ${#plan[@]} -gt 0 || "$all" == true ) ]]; then
        rollout="stack-deploy"
        for svc in "${SERVICES[@]}"; do
            if [[ -z "${why[$svc]:-}" ]]; then
                plan+=("$svc")
                why[$svc]="${stack_reason}: the stack deploy runs every service at ${tag}"
            fi
        done
    elif [[ ${#plan[@]} -eq ${#SERVICES[@]} ]]; then
        rollout="stack-deploy"
    fi
    # Keep the order of SERVICES, whatever order they were named in.
    local -a ordered=()
    for svc in "${SERVICES[@]}"; do
        [[ -n "${why[$svc]:-}" ]] && ordered+=("$svc")
    done
    plan=("${ordered[@]+"${ordered[@]}"}")

    for svc in "${plan[@]+"${plan[@]}"}"; do
        say "reason: ${svc}: ${why[$svc]}"
    done
    say "plan: ${plan[*]+"${plan[*]}"}"
    if [[ ${#plan[@]} -eq 0 ]]; then
        say "rollout: none"
        say "Nothing to deploy: no service changed since its last deploy."
        return 0
    fi
    say "rollout: ${rollout}"

    [[ "$dry_run" == true ]] || hold_deploy_lock

    # --- build and push every planned image before rolling anything out -------------------------
    for svc in "${plan[@]}"; do
        run "$DOCKER" build --file "${svc}/Dockerfile" --tag "${REGISTRY}/${svc}:${tag}" \
            --label "org.opencontainers.image.revision=${head}" .
    done
    for svc in "${plan[@]}"; do
        run "$DOCKER" push "${REGISTRY}/${svc}:${tag}"
    done

    # --- roll out -------------------------------------------------------------------------------
    if [[ "$rollout" == "stack-deploy" ]]; then
        run_rollout env "TAG=${tag}" "REGISTRY=${REGISTRY}" "$DOCKER" stack deploy \
            --with-registry-auth --detach=false --compose-file "$STACK_FILE" "$STACK"
    else
        for svc in "${plan[@]}"; do
            run_rollout "$DOCKER" service update --with-registry-auth --detach=false \
                --image "${REGISTRY}/${svc}:${tag}" "${STACK}_${svc}"
            # The backup service runs the worker's image: it moves with it.
            if [[ "$svc" == worker ]]; then
                run_rollout "$DOCKER" service update --with-registry-auth --detach=false \
                    --image "${REGISTRY}/${svc}:${tag}" "${STACK}_backup"
            fi
        done
    fi

    # --- record what was deployed ---------------------------------------------------------------
    local -a tags=()
    for svc in "${plan[@]}"; do
        tags+=("${TAG_PREFIX}${svc}")
    done
    [[ "$rollout" == "stack-deploy" ]] && tags+=("${TAG_PREFIX}stack")
    for t in "${tags[@]}"; do
        run git tag --force "$t" "$head"
    done
    if [[ -n "$DEPLOY_PUSH_TAGS" ]]; then
        local -a refs=()
        for t in "${tags[@]}"; do
            refs+=("refs/tags/${t}")
        done
        run git push --force "$DEPLOY_PUSH_TAGS" "${refs[@]}"
    fi
    if [[ "$dry_run" == true ]]; then
        say "Dry run: nothing was built, pushed, deployed or recorded."
    else
        say "Deployed ${plan[*]} at ${tag}."
    fi
}

main "$@"
