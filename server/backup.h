/*
 * backup.h - backups: a consistent, compacted hot copy of the store written
 * by the server into a directory on its own machine, while it keeps
 * serving reads and writes. The Backup method (service_admin.c) calls
 * as_backup_run; this module knows no RPC.
 */
#ifndef AS_BACKUP_H
#define AS_BACKUP_H

#include <stddef.h>

#include <stdint.h>

#include "status.h"
#include "store.h"

/*
 * Checks that path may receive a backup of the store in data_dir and
 * prepares it: path must be absolute, must not be or lie inside data_dir
 * (symlinks resolved), its parent must exist, and path itself must not
 * exist or be an empty directory; it is created (mode 0700) if missing.
 * *created is set when this call created it (so a failed backup removes
 * it). Returns 0, or INVALID_ARGUMENT / FAILED_PRECONDITION / INTERNAL
 * with st naming the path and the reason.
 */
int as_backup_prepare_dir(const char *path, const char *data_dir,
                          int *created, as_status_t *st);

/*
 * Writes a backup of store s (whose data directory is data_dir) into path:
 * checks and prepares path (as_backup_prepare_dir), copies the store
 * (as_store_backup, compacted unless compact is 0), and removes a
 * directory it created when the copy fails. Runs on the calling thread
 * without holding any store reader of the caller. On success *bytes is the
 * size of the copy and *last_seq the last change it holds. Returns 0 or the
 * code of as_backup_prepare_dir / as_store_backup with st set.
 */
int as_backup_run(as_store_t *s, const char *path, const char *data_dir,
                  int compact, uint64_t *bytes, uint64_t *last_seq,
                  as_status_t *st);

#endif
