#!/bin/sh
# The official redis image's start-up: options (or a .conf) alone run redis-server, and
# redis-server started as root owns /data and continues as the redis user.
set -eu
case "${1:-}" in
    -* | *.conf) set -- redis-server "$@" ;;
    *) ;;
esac
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
