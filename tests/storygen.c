/*
 * storygen.c - news with syndicated copies (see storygen.h).
 */
#include "storygen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_TIME 1700000000
#define EVENT_GAP 50          /* seconds between events */

typedef struct plan {
    uint32_t event;
    int kind;
    uint32_t variant;         /* SAME_EVENT: which outlet's own text */
    uint32_t site;
    uint64_t seed;            /* COPY: the edits */
    int64_t time;
    size_t original;
} plan_t;

struct as_gen {
    uint64_t seed;
    plan_t *p;
    size_t n;
};

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned pick(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

/* ------------------------------------------------------------ text */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_add(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL,
                      b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static const char *const syl[] = {
    "ba", "ro", "mi", "te", "lo", "ka", "vin", "dor", "sa", "el", "na",
    "tha", "gor", "li", "ven", "as", "ti", "mar", "zo", "pel", "qui", "ran",
    "do", "fe", "ha", "jun", "ko", "lu", "mo", "nes", "or", "pa", "ri",
    "sto", "tu", "ul", "va", "wen", "xi", "ya", "ber", "cal", "dri", "fon",
    "gal", "hil", "ir", "jas", "kel", "lom", "mun", "nor", "ost", "pra",
    "rul", "sen", "tor", "ur", "vel", "wyn",
};
#define N_SYL (sizeof(syl) / sizeof(syl[0]))

/* An invented capitalized name of 3 or 4 syllables. */
static void name(uint64_t *s, char *out, size_t cap)
{
    unsigned n = 3 + pick(s, 2), i;
    size_t len = 0;

    out[0] = '\0';
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s",
                                syl[pick(s, N_SYL)]);
    out[0] = (char)(out[0] - 32);
}

static const char *const words[] = {
    "the", "the", "the", "a", "a", "of", "of", "to", "to", "in", "in", "and",
    "and", "for", "on", "with", "as", "by", "at", "from", "that", "its",
    "their", "after", "before", "over", "under", "into", "while", "than",
    "government", "officials", "market", "company", "plan", "agreement",
    "talks", "council", "ministry", "report", "analysts", "investors",
    "residents", "workers", "police", "court", "election", "budget",
    "prices", "energy", "water", "region", "city", "border", "trade",
    "security", "health", "hospital", "school", "project", "program",
    "committee", "proposal", "decision", "statement", "data", "growth",
    "costs", "funding", "contract", "network", "system", "service",
    "policy", "crisis", "support", "pressure", "rules", "sanctions",
    "exports", "imports", "shares", "profits", "losses", "demand", "supply",
    "storm", "flood", "fire", "damage", "delay", "review", "inquiry",
    "vote", "law", "bill", "deal", "strike", "protest", "visit", "meeting",
    "summit", "forecast", "estimate", "survey", "study", "results",
    "said", "announced", "warned", "expected", "reported", "confirmed",
    "approved", "rejected", "delayed", "raised", "cut", "signed",
    "opened", "closed", "moved", "faced", "increased", "reduced",
    "launched", "ordered", "criticized", "welcomed", "described", "called",
    "new", "local", "national", "regional", "former", "senior", "public",
    "private", "major", "small", "large", "recent", "early", "final",
    "annual", "monthly", "higher", "lower", "strong", "weak", "key",
    "several", "many", "some", "most", "three", "four", "five", "ten",
    "percent", "million", "billion", "last", "next", "week", "month",
    "year", "quarter", "day", "morning", "evening", "spokesperson",
    "director", "minister", "leader", "president", "chief", "mayor",
    "economy", "industry", "sector", "agency", "office", "department",
    "partners", "allies", "critics", "experts", "sources", "members",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))

typedef struct event_names {
    char p1[32], p2[32], place[32], org[32], topic[32];
} event_names_t;

static void event_names(uint64_t seed, uint32_t event, event_names_t *e)
{
    uint64_t s = seed ^ ((uint64_t)event * 0x2545f4914f6cdd1dULL);

    name(&s, e->p1, sizeof(e->p1));
    name(&s, e->p2, sizeof(e->p2));
    name(&s, e->place, sizeof(e->place));
    name(&s, e->org, sizeof(e->org));
    snprintf(e->topic, sizeof(e->topic), "%s", words[30 + pick(&s, 70)]);
}

/* One sentence of 10-24 words; names of the event now and then. */
static void sentence(sbuf_t *b, uint64_t *s, const event_names_t *e)
{
    unsigned n = 10 + pick(s, 15), i;

    for (i = 0; i < n; i++) {
        const char *w = words[pick(s, N_WORDS)];
        unsigned r = pick(s, 40);

        if (e != NULL && r == 0)
            w = e->p1;
        else if (e != NULL && r == 1)
            w = e->place;
        if (i == 0)
            sb_add(b, "%c%s", w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0],
                   w + 1);
        else
            sb_add(b, " %s", w);
        if (i > 2 && i + 2 < n && pick(s, 9) == 0)
            sb_add(b, ",");
    }
    if (pick(s, 6) == 0 && e != NULL)
        sb_add(b, ", %s said.", e->p2);
    else
        sb_add(b, ".");
}

/* A paragraph of 2-4 sentences; sometimes a quote. */
static void paragraph(sbuf_t *b, uint64_t *s, const event_names_t *e)
{
    unsigned n = 2 + pick(s, 3), i;

    if (pick(s, 5) == 0) {
        sb_add(b, "\xe2\x80\x9c");
        sentence(b, s, NULL);
        sb_add(b, "\xe2\x80\x9d %s said. ", e ? e->p1 : "A spokesperson");
        n--;
    }
    for (i = 0; i < n; i++) {
        if (i > 0)
            sb_add(b, " ");
        sentence(b, s, e);
    }
}

static void headline(sbuf_t *b, uint64_t *s, const event_names_t *e)
{
    unsigned n = 4 + pick(s, 5), i;

    if (e != NULL)
        sb_add(b, "%s ", pick(s, 2) ? e->p1 : e->org);
    for (i = 0; i < n; i++) {
        const char *w = words[30 + pick(s, N_WORDS - 30)];

        sb_add(b, "%s%c%s", i ? " " : "", w[0] - 32, w + 1);
    }
    if (e != NULL)
        sb_add(b, " in %s", e->place);
}

/* ------------------------------------------------------------ sites */

#define N_SITES 40

static void site_name(unsigned site, char *out, size_t cap)
{
    uint64_t s = 0x5173 + site * 7919ULL;
    char a[32];

    name(&s, a, sizeof(a));
    snprintf(out, cap, "%s %s", a,
             (const char *const[]){ "Times", "Daily", "Post", "Wire",
                                    "Herald", "News", "Journal",
                                    "Tribune" }[site % 8]);
}

char *as_gen_wrap(unsigned site, const char *title, const char *text)
{
    uint64_t s = 0xc0ffee + (uint64_t)site * 104729ULL;
    char sn[64], dom[64];
    sbuf_t b = { 0 };
    size_t i, j = 0;

    site %= N_SITES;
    site_name(site, sn, sizeof(sn));
    for (i = 0; sn[i] && j + 1 < sizeof(dom); i++)
        if (sn[i] != ' ')
            dom[j++] = (char)(sn[i] >= 'A' && sn[i] <= 'Z' ? sn[i] + 32
                                                            : sn[i]);
    dom[j] = '\0';
    switch (site % 4) {
    case 0:
        sb_add(&b, "%s\nYour Trusted Source for Up-to-date News from Around "
               "the World!\n\n", sn);
        break;
    case 1:
        sb_add(&b, "Home | World | Business | Markets | Tech | Sports\n%s\n"
               "Daily %s News\n\n", sn, syl[site % N_SYL]);
        break;
    case 2:
        sb_add(&b, "Menu\nSearch\n%s\nSubscribe\n\n", sn);
        break;
    default:
        break;
    }
    if (title != NULL)
        sb_add(&b, "%s\n\n", title);
    sb_add(&b, "%s\n\n", text);
    if (site % 3 == 0) {
        sb_add(&b, "Read Next: ");
        headline(&b, &s, NULL);
        sb_add(&b, "\n\nShare this article\nShareable URL\nPrev Post\n\n");
    }
    if (site % 2 == 0)
        sb_add(&b, "Leave a Reply\n\nYour email address will not be "
               "published. Required fields are marked *\n\n");
    else
        sb_add(&b, "Subscribe\nNotify of\nguest\n0 Comments\nInline "
               "Feedbacks\nView all comments\n\nSubscribe to our mailing "
               "list and get interesting stuff and updates to your email "
               "inbox.\n\n");
    sb_add(&b, "%s brings readers the stories that matter, with alerts and "
           "analysis you can trust every single day.\n", sn);
    if (site % 5 == 1)
        sb_add(&b, "Image and article originally from www.%s.com. Read the "
               "original article here.\n", dom);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ------------------------------------------------------------ plan */

/* qsort has no context argument: the plans being sorted. */
static const plan_t *sort_plans;

/* Orders plan indexes by time, then by index (deterministic). */
static int cmp_plan(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const plan_t *x = &sort_plans[i], *y = &sort_plans[j];

    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return i < j ? -1 : i > j;
}

as_gen_t *as_gen_new(uint64_t seed, size_t n)
{
    as_gen_t *g = calloc(1, sizeof(*g));
    uint64_t s = seed;
    uint32_t ev = 0;
    size_t i, j;

    if (g == NULL)
        return NULL;
    g->seed = seed;
    g->p = calloc(n ? n : 1, sizeof(*g->p));
    if (g->p == NULL) {
        free(g);
        return NULL;
    }
    while (g->n < n) {
        unsigned r = pick(&s, 100), copies, others;
        int64_t t0 = BASE_TIME + (int64_t)ev * EVENT_GAP;
        size_t orig = g->n;

        copies = r < 45 ? 0 : r < 85 ? 1 + pick(&s, 3) : r < 97
                 ? 4 + pick(&s, 7) : 11 + pick(&s, 20);
        r = pick(&s, 100);
        others = r < 70 ? 0 : r < 90 ? 1 : 2 + pick(&s, 2);
        for (i = 0; i < 1 + copies + others && g->n < n; i++) {
            plan_t *p = &g->p[g->n++];

            p->event = ev;
            p->kind = i == 0 ? AS_GEN_ORIGINAL
                             : i <= copies ? AS_GEN_COPY : AS_GEN_SAME_EVENT;
            p->variant = (uint32_t)(i - copies);
            p->site = pick(&s, N_SITES);
            p->seed = rnd(&s);
            p->original = orig;
            p->time = t0 + (i == 0 ? 0 : 60 + (int64_t)pick(&s, 36 * 3600));
        }
        ev++;
    }
    /* Time order (an original is never later than its family): sort an
     * index, then permute and renumber the originals. */
    {
        size_t *idx = malloc(sizeof(*idx) * (g->n ? g->n : 1));
        plan_t *sorted = malloc(sizeof(*sorted) * (g->n ? g->n : 1));
        size_t *pos = malloc(sizeof(*pos) * (g->n ? g->n : 1));

        if (idx == NULL || sorted == NULL || pos == NULL) {
            free(idx);
            free(sorted);
            free(pos);
            as_gen_free(g);
            return NULL;
        }
        for (i = 0; i < g->n; i++)
            idx[i] = i;
        sort_plans = g->p;
        qsort(idx, g->n, sizeof(*idx), cmp_plan);
        for (i = 0; i < g->n; i++) {
            sorted[i] = g->p[idx[i]];
            pos[idx[i]] = i;
        }
        for (j = 0; j < g->n; j++)
            sorted[j].original = pos[sorted[j].original];
        free(g->p);
        g->p = sorted;
        free(idx);
        free(pos);
    }
    return g;
}

void as_gen_free(as_gen_t *g)
{
    if (g == NULL)
        return;
    free(g->p);
    free(g);
}

size_t as_gen_count(const as_gen_t *g)
{
    return g->n;
}

void as_gen_article_clear(as_gen_article_t *a)
{
    free(a->url);
    free(a->title);
    free(a->body);
    free(a->source);
    free(a->tag);
    memset(a, 0, sizeof(*a));
}

/* The text of an original (variant 0) or of an outlet's own article about
 * the event (variant > 0): a lead naming the event's people and place,
 * then 5-9 paragraphs. */
static void event_text(sbuf_t *b, sbuf_t *title, uint64_t gseed,
                       uint32_t event, uint32_t variant)
{
    event_names_t e;
    uint64_t s = gseed ^ ((uint64_t)event << 20) ^ (variant * 0x9e37ULL);
    unsigned n, i;

    event_names(gseed, event, &e);
    rnd(&s);
    headline(title, &s, &e);
    n = 5 + pick(&s, 5);
    sb_add(b, "%s \xe2\x80\x94 %s of the %s %s on %s that the %s ",
           e.place, e.p1, e.org, words[110 + pick(&s, 20)],
           (const char *const[]){ "Monday", "Tuesday", "Wednesday",
                                  "Thursday", "Friday" }[pick(&s, 5)],
           e.topic);
    sentence(b, &s, &e);
    sb_add(b, " %s, who met %s in %s, %s the %s.", e.p2, e.p1, e.place,
           words[110 + pick(&s, 20)], words[30 + pick(&s, 70)]);
    for (i = 0; i < n; i++) {
        sb_add(b, "\n\n");
        paragraph(b, &s, &e);
    }
}

/* Splits text into paragraphs (by blank lines); returns how many. */
static size_t split_paras(char *text, char **out, size_t max)
{
    size_t n = 0;
    char *p = text, *q;

    while (p && *p && n < max) {
        q = strstr(p, "\n\n");
        if (q)
            *q = '\0';
        out[n++] = p;
        p = q ? q + 2 : NULL;
    }
    return n;
}

int as_gen_render(const as_gen_t *g, size_t i, as_gen_article_t *a)
{
    const plan_t *p = &g->p[i];
    
    sbuf_t text = { 0 }, title = { 0 }, out = { 0 };
    char sn[64], *paras[64];
    uint64_t s = p->seed;
    size_t np, k;

    memset(a, 0, sizeof(*a));
    event_text(&text, &title, g->seed, p->event,
               p->kind == AS_GEN_SAME_EVENT ? p->variant : 0);
    if (text.oom || title.oom)
        goto out_oom;
    if (p->kind == AS_GEN_COPY) {
        unsigned drop, add, reads;
        sbuf_t t2 = { 0 };

        /* A new headline: reworded, prefixed or suffixed. */
        switch (pick(&s, 4)) {
        case 0:
            sb_add(&t2, "WATCH: %s", title.p);
            break;
        case 1:
            site_name(p->site, sn, sizeof(sn));
            sb_add(&t2, "%s | %s", title.p, sn);
            break;
        case 2:
            headline(&t2, &s, NULL);
            break;
        default:
            sb_add(&t2, "%s, officials say", title.p);
            break;
        }
        free(title.p);
        title = t2;
        np = split_paras(text.p, paras, 64);
        drop = np > 3 && pick(&s, 2) == 0 ? 1 + pick(&s, (unsigned)np - 1)
                                          : 0;
        add = pick(&s, 3) == 0 ? 1 + pick(&s, (unsigned)np) : 0;
        reads = pick(&s, 5) < 3 ? 1 + pick(&s, 3) : 0;
        for (k = 0; k < np; k++) {
            if (k == drop && drop != 0)
                continue;
            if (out.len)
                sb_add(&out, "\n\n");
            sb_add(&out, "%s", paras[k]);
            if (add == k + 1) {
                sb_add(&out, "\n\n");
                paragraph(&out, &s, NULL);
            }
            if (reads > 0 && k + 1 < np && pick(&s, 3) == 0) {
                reads--;
                sb_add(&out, "\n\nRead also: ");
                headline(&out, &s, NULL);
            }
        }
        free(text.p);
        text = out;
        if (text.oom || title.oom)
            goto out_oom;
    }
    a->body = as_gen_wrap(p->site, title.p, text.p);
    a->title = title.p;
    title.p = NULL;
    site_name(p->site, sn, sizeof(sn));
    a->source = strdup(sn);
    {
        char url[128];

        snprintf(url, sizeof(url), "https://site%u.example/%zu", p->site, i);
        a->url = strdup(url);
    }
    {
        event_names_t e;

        event_names(g->seed, p->event, &e);
        a->tag = strdup(e.topic);
    }
    a->published_at = p->time;
    a->event = p->event;
    a->kind = p->kind;
    a->original = p->original;
    free(text.p);
    if (a->body == NULL || a->source == NULL || a->url == NULL ||
        a->tag == NULL) {
        as_gen_article_clear(a);
        return -1;
    }
    return 0;

out_oom:
    free(text.p);
    free(title.p);
    free(out.p);
    return -1;
}
