#!/usr/bin/env bash
# The worker container's entrypoint. With no arguments it runs `rose-ash worker` after loading
# Docker secrets and waiting for PostgreSQL; the steps are shared by every service:
# docker/entrypoint.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -eq 0 ]]; then
    set -- worker
fi
exec "${here}/../docker/entrypoint.sh" "$@"
