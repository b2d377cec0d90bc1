/*
 * storygen.h - a generator of news with syndicated copies, for the story
 * tests and bench/story_bench.
 *
 * Events happen one after another. Each has an original article from a
 * wire outlet; copies of it on other sites (the same body wrapped in the
 * copying site's chrome, a changed headline, a paragraph dropped or added,
 * "Read also: ..." lines); and sometimes articles of other outlets about
 * the same event (their own text, the same names and places in title and
 * lead). An event with only its original is an unrelated article. Every
 * article is wrapped in its site's chrome (header, menus, share and comment
 * widgets, a promotional sentence, related headlines), as scraped pages are.
 *
 * Deterministic: the same seed and count give the same articles in the
 * same order (time order; an original always comes before its copies).
 * Names are invented from syllables per event, so two events share a
 * name only by rare chance.
 */
#ifndef AS_STORYGEN_H
#define AS_STORYGEN_H

#include <stddef.h>
#include <stdint.h>

enum { AS_GEN_ORIGINAL = 0, AS_GEN_COPY = 1, AS_GEN_SAME_EVENT = 2 };

typedef struct as_gen_article {
    char *url, *title, *body, *source, *tag;  /* malloc'ed */
    int64_t published_at;
    uint32_t event;          /* ground truth: the event */
    int kind;                /* AS_GEN_* */
    size_t original;         /* index (in generation order) of the
                                event's original */
} as_gen_article_t;

typedef struct as_gen as_gen_t;

/* Plans n articles from seed. Returns NULL when out of memory. */
as_gen_t *as_gen_new(uint64_t seed, size_t n);
void as_gen_free(as_gen_t *g);
size_t as_gen_count(const as_gen_t *g);

/* Renders article i (0 <= i < count) into *a; free with
 * as_gen_article_clear. Returns 0 or -1 when out of memory. */
int as_gen_render(const as_gen_t *g, size_t i, as_gen_article_t *a);
void as_gen_article_clear(as_gen_article_t *a);

/* Wraps body text in the chrome of site s (any number; taken modulo the
 * sites). The result is malloc'ed; NULL when out of memory. */
char *as_gen_wrap(unsigned site, const char *title, const char *text);

#endif
