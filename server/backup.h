/*
 * backup.h - the Backup method: a consistent, compacted hot copy of the
 * store written by the server into a directory on its own machine, while
 * it keeps serving reads and writes.
 */
#ifndef AS_BACKUP_H
#define AS_BACKUP_H

#include <stddef.h>

#include "rpc.h"
#include "status.h"

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

/* The handler for /artstore.v1.ArticleStore/Backup (service.c's table).
 * Runs the copy on the calling worker thread without holding the worker's
 * store reader, and replies with the path, the size and the last seq. */
void as_backup_handle(as_call_t *call, const uint8_t *payload, size_t len);

#endif
