/*
 * arena.c - per-request bump allocator with a memory budget.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (64 * 1024)
#define ARENA_ALIGN 16

typedef struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} chunk_t;

struct as_arena {
    chunk_t *head;
    size_t budget;
    size_t spent;
    int exhausted;
};

as_arena_t *as_arena_create(size_t budget)
{
    as_arena_t *a = calloc(1, sizeof(*a));

    if (a != NULL)
        a->budget = budget;
    return a;
}

void as_arena_destroy(as_arena_t *a)
{
    chunk_t *c, *next;

    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *as_arena_alloc(as_arena_t *a, size_t n)
{
    chunk_t *c = a->head;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    void *p;

    if (need == 0)
        need = ARENA_ALIGN;
    if (need < n || need > a->budget - a->spent) {
        a->exhausted = 1;
        return NULL;
    }
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;

        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->used = 0;
        /* A chunk made for one big allocation goes behind the current one,
         * so the small allocations keep filling the current chunk. */
        if (need > ARENA_CHUNK && a->head != NULL) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    p = c->data + c->used;
    c->used += need;
    a->spent += need;
    return p;
}

char *as_arena_strndup(as_arena_t *a, const char *s, size_t n)
{
    char *p = as_arena_alloc(a, n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int as_arena_exhausted(const as_arena_t *a)
{
    return a->exhausted;
}

size_t as_arena_budget(const as_arena_t *a)
{
    return a->budget;
}

size_t as_arena_left(const as_arena_t *a)
{
    return a->budget - a->spent;
}

static void *pb_alloc(void *data, size_t size)
{
    return as_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

ProtobufCAllocator as_arena_allocator(as_arena_t *a)
{
    ProtobufCAllocator al = { pb_alloc, pb_free, a };
    return al;
}
