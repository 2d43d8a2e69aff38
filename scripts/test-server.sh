# scripts/test-server.sh — sourced by scripts/check-faults and scripts/check-memory: a private
# MariaDB and a development-style httpd config (conf/dev-server.conf.in) in a run directory
# under build/, with a private copy of the module so that a rebuild during the run does not
# reach a graceful restart. Set src, run, port, dbport before sourcing; then
#   server_setup EXTRA_CONF   keys, MariaDB, $run/httpd.conf (EXTRA_CONF appended)
#   server_start              httpd -k start, waits for /health
#   server_cleanup            stops httpd and MariaDB, removes $run unless KEEP_RUN_DIR=1
apxs=${APXS:-apxs}
httpd=${HTTPD:-$($apxs -q SBINDIR)/$($apxs -q TARGET)}
moddir=$($apxs -q LIBEXECDIR)
module=${MODULE_SO:-$src/.libs/mod_secauth.so}
user=secauth

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- env "$@"; else env "$@"; fi
}
if [ "$(id -u)" -eq 0 ]; then dbctl="runuser -u $user -- env HOME=$run $src/scripts/mariadb"
else dbctl="$src/scripts/mariadb"; fi

server_setup() {
    [ -f "$module" ] || { echo "no module at $module: run make first" >&2; exit 2; }
    mkdir -p "$run/htdocs"
    cp "$module" "$run/mod_secauth.so"
    umask 077
    head -c 64 /dev/urandom >"$run/jwt.key"
    head -c 32 /dev/urandom >"$run/totp.key"
    umask 022
    user_line=""
    if [ "$(id -u)" -eq 0 ]; then
        id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
        user_line="User $user
Group $user"
        chown -R "$user:$user" "$run"
    fi
    as_user HOME="$run" "$src/scripts/mariadb" start "$run/mariadb" "$dbport" >/dev/null
    dbd="DBDriver mysql
DBDParams \"host=127.0.0.1 port=$dbport user=secauth pass=secauth dbname=security_db reconnect=0 connecttimeout=2 readtimeout=5 writetimeout=5\"
DBDMin 0
DBDKeep 8
DBDMax 16"
    awk -v rundir="$run" -v port="$port" -v moddir="$moddir" -v module="$run/mod_secauth.so" \
        -v srcdir="$src" -v dbd="$dbd" -v user="$user_line" '
        { gsub(/@RUNDIR@/, rundir); gsub(/@PORT@/, port); gsub(/@MODDIR@/, moddir);
          gsub(/@MODULE_SO@/, module); gsub(/@SRCDIR@/, srcdir); gsub(/@USER@/, user);
          gsub(/@DBD@/, dbd); print }' "$src/conf/dev-server.conf.in" >"$run/httpd.conf"
    printf '\n%s\n' "$1" >>"$run/httpd.conf"
    "$httpd" -t -f "$run/httpd.conf" >/dev/null 2>&1 || { "$httpd" -t -f "$run/httpd.conf"; exit 1; }
}

server_wait() {
    i=0
    until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt ${1:-100} ] && { echo "httpd did not start; see $run/error.log" >&2; cat "$run/error.log" >&2; exit 1; }
        sleep 0.1
    done
}

server_start() {
    "$httpd" -f "$run/httpd.conf" -k start
    server_wait
}

server_cleanup() {
    [ -f "$run/httpd.pid" ] && "$httpd" -f "$run/httpd.conf" -k stop >/dev/null 2>&1
    i=0
    while [ -f "$run/httpd.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    as_user HOME="$run" "$src/scripts/mariadb" stop "$run/mariadb" >/dev/null 2>&1 || true
    [ -n "$KEEP_RUN_DIR" ] || rm -rf "$run"
}
