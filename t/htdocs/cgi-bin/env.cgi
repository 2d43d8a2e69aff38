#!/bin/sh
# env.cgi — shows what a CGI behind AuthType Bearer receives from the access check.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'REMOTE_USER=%s\n' "$REMOTE_USER"
printf 'AUTH_TYPE=%s\n' "$AUTH_TYPE"
env | grep -E '^(SECAUTH_|HTTP_SECAUTH)' | sort
