/*
 * arena.h - per-request bump allocator with a memory budget.
 *
 * protobuf-c unpacks whatever the wire says: a megabyte of empty repeated
 * sub-messages can become a hundred megabytes of heap. Every request is
 * therefore unpacked into an arena that refuses to grow past its budget,
 * and everything allocated for the request (decoded message, normalized
 * strings, reply scratch) is released at once by as_arena_destroy().
 *
 * An arena is not thread-safe; it belongs to one request at a time.
 */
#ifndef AS_ARENA_H
#define AS_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct as_arena as_arena_t;

/* Creates an arena that hands out at most budget bytes in total. Returns
 * NULL when out of memory. */
as_arena_t *as_arena_create(size_t budget);

/* Frees every allocation of the arena and the arena. Accepts NULL. */
void as_arena_destroy(as_arena_t *a);

/* Returns n bytes aligned for any type, or NULL when the budget would be
 * exceeded (the arena then remembers it, see as_arena_exhausted) or when
 * out of memory. */
void *as_arena_alloc(as_arena_t *a, size_t n);

/* Returns a copy of the n bytes at s plus a NUL, or NULL as above. */
char *as_arena_strndup(as_arena_t *a, const char *s, size_t n);

/* Returns nonzero if an allocation was refused for the budget. */
int as_arena_exhausted(const as_arena_t *a);

/* Returns the budget the arena was created with. */
size_t as_arena_budget(const as_arena_t *a);

/* Returns the bytes of the budget not handed out yet (an allocation of n
 * bytes may take up to n + 15 of them, for alignment). */
size_t as_arena_left(const as_arena_t *a);

/* Returns a protobuf-c allocator that allocates from a (free is a no-op). */
ProtobufCAllocator as_arena_allocator(as_arena_t *a);

#endif
