#!/bin/sh
# The image's entrypoint: the API listens on the container's every address, so it needs a bearer
# token. On the first start with a writable /etc/vigil and no token there, one is made (readable
# by the vigil user alone; read it with `podman exec vigil cat /etc/vigil/api.token`); it is
# never printed. Then the command runs in this process's place.
set -eu
token=/etc/vigil/api.token
if [ ! -e "$token" ] && [ -w /etc/vigil ]; then
    (umask 077 && /opt/vigil/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" > "$token")
    echo "vigil-entrypoint: made an API token in $token (podman exec <container> cat $token)" >&2
fi
exec "$@"
