/* log.h — the module's own stable message tags: every line mod_secauth writes to the error log
 * starts with "SAnnn: " (SA501 ... SA829), which the README's troubleshooting section and the
 * docs quote and which log monitoring can match. httpd's APLOGNO numbers are the registry of
 * httpd's own code, so the module does not take numbers from it. */
#ifndef SECAUTH_LOG_H
#define SECAUTH_LOG_H

#define SECAUTH_LOGNO(n) "SA" #n ": "

#endif
