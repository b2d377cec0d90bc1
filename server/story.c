/*
 * story.c - near-duplicate fingerprints and story key terms (see story.h).
 */
#include "story.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Bump when the fingerprint or the terms change meaning: stored
 * fingerprints are then rebuilt. */
#define FP_VERSION 5  /* 5: term postings bounded by a horizon */

#define SEED_BAND 0x62616e646b657973ULL
#define SEED_TERM 0x6b65797465726d73ULL

#define SHINGLE 4             /* words per shingle */
#define CONTENT_MIN_WORDS 8   /* a content line has at least this many */
#define CONTENT_MIN_TOTAL 20  /* below this, every line counts */
#define LEAD_WORDS 60
#define WORD_MAX 64           /* a longer key term is taken by its start */

void as_story_params_default(as_story_params_t *p)
{
    p->bands = 20;
    p->rows = 3;
    p->dup_threshold = 0.3;
    p->join_terms = 3;
    p->window_s = 3 * 86400;
    p->common_terms = 200;
    p->name_max = 50;
}

uint64_t as_story_params_hash(const as_story_params_t *p)
{
    uint64_t v[8];

    v[0] = FP_VERSION;
    v[1] = p->bands;
    v[2] = p->rows;
    v[3] = (uint64_t)(p->dup_threshold * 1e6 + 0.5);
    v[4] = p->join_terms;
    v[5] = (uint64_t)p->window_s;
    v[6] = p->common_terms;
    v[7] = p->name_max;
    return XXH3_64bits(v, sizeof(v)) | 1;  /* never 0: 0 means "none" */
}

/* The splitmix64 finalizer: a fast bijective mix of 64 bits. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* ------------------------------------------------------------ words */

/* ASCII letters and digits: the word characters below 0x80. */
static const unsigned char ascii_word[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

/* Returns the length of the separator at p (an ASCII byte other than a
 * letter or digit; UTF-8 punctuation and spaces of Latin-1 and of the
 * General Punctuation block: quotes, dashes, no-break space), or 0 when p
 * starts a word character. */
static inline size_t sep_len(const unsigned char *p, const unsigned char *end)
{
    if (*p < 0x80)
        return !ascii_word[*p];
    if (*p == 0xc2 && p + 1 < end && p[1] >= 0x80 && p[1] <= 0xbf)
        return 2;
    if (*p == 0xe2 && p + 2 < end && (p[1] == 0x80 || p[1] == 0x81))
        return 3;
    if (*p == 0xe3 && p + 2 < end && p[1] == 0x80 && p[2] <= 0x82)
        return 3;  /* ideographic space, comma, full stop */
    return 0;
}

/* Length of the UTF-8 sequence that starts with byte c (1 for a stray
 * continuation byte, so a walk always advances). */
static inline size_t seq_len(unsigned char c)
{
    if (c < 0xc0)
        return 1;
    if (c < 0xe0)
        return 2;
    if (c < 0xf0)
        return 3;
    return 4;
}

typedef struct word {
    const unsigned char *p;
    size_t len;
} word_t;

/* Finds the next word in [*pp, end); returns 0 at the end. */
static inline int next_word(const unsigned char **pp, const unsigned char *end,
                     word_t *w)
{
    const unsigned char *p = *pp;
    size_t n;

    while (p < end) {
        if (*p < 0x80) {
            if (ascii_word[*p])
                break;
            p++;
        } else if ((n = sep_len(p, end)) != 0) {
            p += n;
        } else {
            break;
        }
    }
    if (p >= end) {
        *pp = p;
        return 0;
    }
    w->p = p;
    while (p < end) {
        if (*p < 0x80) {
            if (!ascii_word[*p])
                break;
            p++;
        } else if (sep_len(p, end) == 0) {
            n = seq_len(*p);
            p += (size_t)(end - p) < n ? (size_t)(end - p) : n;
        } else {
            break;
        }
    }
    w->len = (size_t)(p - w->p);
    *pp = p;
    return 1;
}

/* Copies the word case-folded (ASCII) into buf; returns its length. */
static size_t fold(const word_t *w, char *buf)
{
    size_t i, n = w->len < WORD_MAX ? w->len : WORD_MAX;

    for (i = 0; i < n; i++) {
        unsigned char c = w->p[i];

        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    return n;
}

/* Returns nonzero if the line's last visible character ends a sentence:
 * . ! ? or a closing quote or parenthesis after one. */
static int ends_sentence(const unsigned char *p, const unsigned char *end)
{
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (end == p)
        return 0;
    switch (end[-1]) {
    case '.': case '!': case '?': case '"': case '\'': case ')':
        return 1;
    }
    /* ” ’ … » */
    if (end - p >= 3 && end[-3] == 0xe2 && end[-2] == 0x80 &&
        (end[-1] == 0x9d || end[-1] == 0x99 || end[-1] == 0xa6))
        return 1;
    if (end - p >= 2 && end[-2] == 0xc2 && end[-1] == 0xbb)
        return 1;
    return 0;
}

/* ------------------------------------------------------------ scan */

/*
 * The scan finds the lines that have words, their words and each word's
 * value, and whether each line is a content line. Shingles are then
 * formed from the word values alone, and the key terms re-read only the
 * lead (60 words at most).
 *
 * It works on bit masks, 64 bytes of the body at a time (one bit per
 * byte): the word bytes and the newlines. A word starts where a word bit
 * follows a clear one and ends where one is followed by a clear one; the
 * starts and ends are taken from the masks in tight loops, a word's value
 * is read 8 bytes at a time. English text has a word every 6-7 bytes: a
 * loop that decides at each byte whether a word starts or ends
 * mispredicts at most of them (that loop was two thirds of the
 * fingerprint's time).
 *
 * A word's value is a product of its case-folded bytes read 8 at a time
 * (word_value); a shingle's hash adds its four word values rotated by
 * position and mixes the sum once (shingle_hash): four multiplications
 * per word in all, no hash call per word or per shingle.
 */
typedef struct line {
    const unsigned char *p, *end;
    uint32_t first, n;       /* its words: values first .. first+n-1 */
    int content;
} line_t;

#define SCAN_WORDS 1024      /* on the stack; more go to the heap */
#define SCAN_LINES 128
#define BLOCK 64             /* bytes per mask */
#define SCAN_BLOCKS 128      /* masks on the stack (bodies up to 8 KB) */

typedef struct scan {
    uint64_t *wh;            /* word values, in body order */
    uint32_t *ws, *we;       /* each word's start and end offsets */
    size_t nw;
    line_t *lines;           /* the lines with words */
    size_t nl, lcap;
    size_t content_words;
    int failed;              /* out of memory: the scan stopped early */
    void *heap;              /* wh, ws and we when the stack is too small */
    uint64_t wbuf[SCAN_WORDS];
    uint32_t sbuf[SCAN_WORDS], ebuf[SCAN_WORDS];
    line_t lbuf[SCAN_LINES];
} scan_t;

/* Doubles a scan array (the stack buffer is copied to the heap the first
 * time). Returns 0 or -1. */
static int scan_grow(void **arr, size_t *cap, size_t elem, const void *stack)
{
    size_t cap2 = *cap * 2;
    void *g;

    if (*arr == stack) {
        if ((g = malloc(cap2 * elem)) != NULL)
            memcpy(g, *arr, *cap * elem);
    } else {
        g = realloc(*arr, cap2 * elem);
    }
    if (g == NULL)
        return -1;
    *arr = g;
    *cap = cap2;
    return 0;
}

/* Ends the line [l->p, end) with its words counted: records it when it
 * has words, deciding whether it is a content line (see story.h). */
static void scan_line(scan_t *s, line_t *l, const unsigned char *end,
                      size_t caps)
{
    if (l->n == 0)
        return;
    l->end = end;
    /* Mostly capitalized words: a headline or a slogan. */
    l->content = l->n >= CONTENT_MIN_WORDS && caps * 2 <= l->n &&
                 ends_sentence(l->p, end);
    if (l->content)
        s->content_words += l->n;
    if (s->nl == s->lcap &&
        scan_grow((void **)&s->lines, &s->lcap, sizeof(line_t),
                  s->lbuf) != 0) {
        s->failed = 1;
        return;
    }
    s->lines[s->nl++] = *l;
}

/* Byte classes: bit 0 a word byte (an ASCII letter or digit, or any byte
 * from 0x80 on until the separators among them are taken out), bit 1 a
 * newline, bit 2 a byte from 0x80 on. */
static unsigned char class_tab[256];

static void class_tab_init(void)
{
    static int done;
    unsigned c;

    /* Every thread computes the same bytes: a race writes equal values. */
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
    for (c = 0; c < 256; c++)
        __atomic_store_n(&class_tab[c], (unsigned char)(
                         (c >= 0x80 ? 5 : ascii_word[c]) | (c == '\n') << 1),
                         __ATOMIC_RELAXED);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

/* Classifies the 64 bytes at p: *w word bytes, *nl newlines, *hi bytes
 * from 0x80 on, bit i for p[i]; fold gets the 64 bytes case-folded: an
 * ASCII byte | 0x20 (in a word, a letter folded or a digit kept), the
 * others as they are. */
static inline void classify_scalar(const unsigned char *p, uint64_t *w,
                                   uint64_t *nl, uint64_t *hi,
                                   unsigned char *fold)
{
    uint64_t a = 0, b = 0, c = 0;
    unsigned i;

    for (i = 0; i < BLOCK; i++) {
        uint64_t k = class_tab[p[i]];

        a |= (k & 1) << i;
        b |= (k >> 1 & 1) << i;
        c |= (k >> 2) << i;
        fold[i] = (unsigned char)(p[i] | (p[i] < 0x80 ? 0x20 : 0));
    }
    *w = a;
    *nl = b;
    *hi = c;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* classify_scalar's masks for 16 bytes, with SSE2 (every x86-64 has it).
 * A range lo..hi is one signed compare: x + (0x80 - lo) < hi - lo + 1 -
 * 128. Letters are tested case-folded (x | 0x20: no other byte folds into
 * a..z). */
static inline void classify16(const unsigned char *p, uint64_t *w,
                              uint64_t *nl, uint64_t *hi, unsigned char *fold)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i ascii = _mm_cmpgt_epi8(x, _mm_set1_epi8(-1));
    __m128i low = _mm_or_si128(x, _mm_set1_epi8(0x20));
    __m128i let = _mm_cmplt_epi8(
        _mm_add_epi8(low, _mm_set1_epi8((char)(0x80 - 'a'))),
        _mm_set1_epi8((char)(26 - 128)));
    __m128i dig = _mm_cmplt_epi8(
        _mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
        _mm_set1_epi8((char)(10 - 128)));
    uint64_t h = (unsigned)_mm_movemask_epi8(x);

    *w = (unsigned)_mm_movemask_epi8(_mm_or_si128(let, dig)) | h;
    *nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x,
                                                     _mm_set1_epi8('\n')));
    *hi = h;
    _mm_storeu_si128((__m128i *)(void *)fold, _mm_or_si128(x,
                     _mm_and_si128(ascii, _mm_set1_epi8(0x20))));
}

static inline void classify(const unsigned char *p, uint64_t *w, uint64_t *nl,
                            uint64_t *hi, unsigned char *fold)
{
    uint64_t a[4], b[4], c[4];
    unsigned i;

    for (i = 0; i < 4; i++)
        classify16(p + 16 * i, &a[i], &b[i], &c[i], fold + 16 * i);
    *w = a[0] | a[1] << 16 | a[2] << 32 | a[3] << 48;
    *nl = b[0] | b[1] << 16 | b[2] << 32 | b[3] << 48;
    *hi = c[0] | c[1] << 16 | c[2] << 32 | c[3] << 48;
}
#else
#define classify classify_scalar
#endif

/* The 8 bytes at p as a little-endian number, whatever the machine's
 * byte order: fingerprints are the same on every replica. */
static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* A word's ASCII bytes are letters and digits: x | 0x20 folds a letter
 * and keeps a digit; bytes from 0x80 on are kept. The scan folds the
 * whole body that way once (classify), into a copy with 16 bytes to
 * spare at the end, from which words are read. */

/* low_bytes[n]: the low n bytes (0..8) of a 64-bit number. */
static const uint64_t low_bytes[9] = {
    0, 0xff, 0xffff, 0xffffff, 0xffffffffULL, 0xffffffffffULL,
    0xffffffffffffULL, 0xffffffffffffffULL, 0xffffffffffffffffULL,
};
#define WORD_MUL1 0x9e3779b97f4a7c15ULL
#define WORD_MUL2 0xc2b2ae3d27d4eb4fULL

/* A word's value from its len folded bytes at p (15 more bytes can be
 * read), from its bytes as 8-byte pieces c0, c1, ... (the last one padded
 * with zero bytes). Up to 16 bytes (nearly all words): c0 * K1 + c1 * K2,
 * two loads, two independent multiplications and no branch but the one on
 * the length (a branch on a word's length mispredicts often); no two
 * words of up to 8 bytes get the same value. Longer: h = len, then h = (h
 * ^ c_i) * K1 for each piece, and h * K2. */
static inline uint64_t word_value(const unsigned char *p, size_t len)
{
    uint64_t h;
    size_t i;

    if (len <= 16) {
        size_t n0 = len < 8 ? len : 8;

        return (load_le64(p) & low_bytes[n0]) * WORD_MUL1 +
               (load_le64(p + 8) & low_bytes[len - n0]) * WORD_MUL2;
    }
    h = len;
    for (i = 0; i * 8 < len; i++) {
        size_t n = len - i * 8;

        h = (h ^ (load_le64(p + i * 8) & low_bytes[n < 8 ? n : 8])) *
            WORD_MUL1;
    }
    return h * WORD_MUL2;
}

/* Takes the non-ASCII separators (sep_len) out of a block's word bytes w;
 * hi: its bytes from 0x80 on. A separator that runs into the next block
 * leaves the bits to take out there in *carry. */
static uint64_t drop_separators(const unsigned char *block,
                                const unsigned char *end, uint64_t w,
                                uint64_t hi, uint64_t *carry)
{
    while (hi != 0) {
        unsigned i = (unsigned)__builtin_ctzll(hi);
        size_t n;

        hi &= hi - 1;
        if ((n = sep_len(block + i, end)) < 2)
            continue;
        /* n is 2 or 3 bytes, which may reach into the next block. */
        w &= ~((((uint64_t)1 << n) - 1) << i);
        if (i + n > BLOCK)
            *carry |= ((uint64_t)1 << (i + n - BLOCK)) - 1;
    }
    return w;
}

/* Fills m[i] with the word bytes and m[nb + i] with the newlines of block
 * i, and fold with the body folded (classify). The last, partial block is
 * classified from a copy padded with NULs (no class). */
static void scan_masks(const unsigned char *p, const unsigned char *end,
                       size_t nb, uint64_t *m, unsigned char *fold)
{
    unsigned char tail[BLOCK];
    uint64_t carry = 0;
    size_t i;

    for (i = 0; i < nb; i++) {
        const unsigned char *b = p + i * BLOCK;
        uint64_t w, nl, hi, c = 0;

        if ((size_t)(end - b) < BLOCK) {
            memset(tail, 0, sizeof(tail));
            memcpy(tail, b, (size_t)(end - b));
            classify(tail, &w, &nl, &hi, fold + i * BLOCK);
        } else {
            classify(b, &w, &nl, &hi, fold + i * BLOCK);
        }
        w &= ~carry;
        if (hi != 0)
            w = drop_separators(b, end, w, hi, &c);
        carry = c;
        m[i] = w;
        m[nb + i] = nl;
    }
}

/* The position of the next newline from block *blk on, whose bits not
 * yet passed are *m (nl: the newline masks); none when there is none. */
static inline size_t next_newline(const uint64_t *nl, size_t nb, size_t *blk,
                                  uint64_t *m, size_t none)
{
    while (*m == 0) {
        if (*blk + 1 >= nb)
            return none;
        *m = nl[++*blk];
    }
    return *blk * BLOCK + (size_t)__builtin_ctzll(*m);
}

static void scan_body(const char *body, scan_t *s)
{
    const unsigned char *p = (const unsigned char *)body, *end;
    uint64_t mbuf[2 * SCAN_BLOCKS], *m = mbuf, *nlm, nm;
    unsigned char fbuf[SCAN_BLOCKS * BLOCK + 16], *fold = fbuf;
    size_t len, nb, i, nw = 0, caps = 0, nlb = 0, nlpos;
    uint32_t *ws, *we, open_at = 0;
    uint64_t *wh;
    int open = 0;
    line_t l;

    memset(s, 0, offsetof(scan_t, wbuf));
    s->wh = s->wbuf;
    s->ws = s->sbuf;
    s->we = s->ebuf;
    s->lines = s->lbuf;
    s->lcap = SCAN_LINES;
    if (body == NULL)
        return;
    class_tab_init();
    len = strlen(body);
    end = p + len;
    nb = (len + BLOCK - 1) / BLOCK;
    /* A word and its separator take two bytes at least. */
    if (len / 2 + 1 > SCAN_WORDS) {
        size_t n = len / 2 + 1;

        if ((s->heap = malloc(n * (sizeof(uint64_t) + 2 * sizeof(uint32_t))))
            == NULL) {
            s->failed = 1;
            return;
        }
        s->wh = s->heap;
        s->ws = (uint32_t *)(s->wh + n);
        s->we = s->ws + n;
    }
    if (nb > SCAN_BLOCKS) {
        /* The masks and the folded copy (16 bytes to spare), together. */
        if ((m = malloc(2 * nb * sizeof(uint64_t) + nb * BLOCK + 16)) ==
            NULL) {
            s->failed = 1;
            return;
        }
        fold = (unsigned char *)(m + 2 * nb);
    }
    memset(fold + nb * BLOCK, 0, 16);
    scan_masks(p, end, nb, m, fold);
    nlm = m + nb;

    /* One walk over the blocks: each end bit (a word's last byte) pairs
     * with the start bit before it, which may be in an earlier block
     * (open); a line ends at each newline. */
    ws = s->ws;
    we = s->we;
    wh = s->wh;
    memset(&l, 0, sizeof(l));
    l.p = p;
    nm = nb > 0 ? nlm[0] : 0;
    nlpos = next_newline(nlm, nb, &nlb, &nm, len);
    for (i = 0; i < nb; i++) {
        uint64_t w = m[i];
        uint64_t st = w & ~(w << 1 | (i > 0 ? m[i - 1] >> 63 : 0));
        uint64_t en = w & ~(w >> 1 | (i + 1 < nb ? m[i + 1] << 63 : 0));
        uint32_t base = (uint32_t)(i * BLOCK), b0, b1;

        for (; en != 0; en &= en - 1) {
            b1 = base + (uint32_t)__builtin_ctzll(en) + 1;
            if (open) {
                b0 = open_at;
                open = 0;
            } else {
                b0 = base + (uint32_t)__builtin_ctzll(st);
                st &= st - 1;
            }
            while (nlpos < b0) {
                l.n = (uint32_t)(nw - l.first);
                scan_line(s, &l, p + nlpos, caps);
                if (s->failed)
                    goto out;
                memset(&l, 0, sizeof(l));
                l.p = p + nlpos + 1;
                l.first = (uint32_t)nw;
                caps = 0;
                nm &= nm - 1;
                nlpos = next_newline(nlm, nb, &nlb, &nm, len);
            }
            caps += (unsigned)(p[b0] - 'A') < 26u;
            ws[nw] = b0;
            we[nw] = b1;
            wh[nw++] = word_value(fold + b0, b1 - b0);
        }
        /* A start left over: its word goes on into the next block. */
        if (st != 0) {
            open = 1;
            open_at = base + (uint32_t)__builtin_ctzll(st);
        }
    }
    s->nw = nw;
    /* The line of the last word; the lines after it have none. */
    l.n = (uint32_t)(nw - l.first);
    scan_line(s, &l, p + nlpos, caps);
out:
    if (m != mbuf)
        free(m);
}

static void scan_free(scan_t *s)
{
    free(s->heap);
    if (s->lines != s->lbuf)
        free(s->lines);
}

/* Nonzero when line i counts: a content line, or any line with words when
 * the body has too few content words. */
static int scan_keeps(const scan_t *s, size_t i)
{
    return s->content_words < CONTENT_MIN_TOTAL || s->lines[i].content;
}

/* The shingle hash of n (1..SHINGLE) word values, oldest first: the
 * values rotated by 16 bits per position, added, and mixed once. The
 * values are products already: two multiplications per shingle, in
 * mix64. */
static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return x << r | x >> ((64 - r) & 63);
}

static inline uint64_t shingle_hash(const uint64_t *v, size_t n)
{
    uint64_t h = n;
    size_t j;

    for (j = 0; j < n; j++)
        h += rotl64(v[j], (unsigned)(16 * j));
    return mix64(h);
}

/* shingle_hash(v, SHINGLE) written out: rotations by constants are one
 * instruction each, where the loop above, not unrolled, took some 30 per
 * shingle. */
static inline uint64_t shingle_hash4(const uint64_t *v)
{
    return mix64(SHINGLE + v[0] + rotl64(v[1], 16) + rotl64(v[2], 32) +
                 rotl64(v[3], 48));
}

/* Moves the kept lines' word values to the front of s->wh and returns how
 * many there are. */
static size_t scan_kept(scan_t *s)
{
    size_t i, j, n = 0;

    if (s->content_words < CONTENT_MIN_TOTAL)
        return s->nw;  /* every line is kept: nothing moves */
    for (i = 0; i < s->nl; i++) {
        const line_t *l = &s->lines[i];

        if (!scan_keeps(s, i))
            continue;
        for (j = 0; j < l->n; j++)
            s->wh[n++] = s->wh[l->first + j];
    }
    return n;
}

/* Writes the hashes of the kept lines' shingles (4 consecutive words,
 * across line ends; a body of 1-3 words is one shingle) into out, at most
 * max, or, when mins is not NULL, keeps instead each one-permutation
 * MinHash bin's minimum there. Returns the number of shingles. Takes the
 * kept words to the front of s->wh (scan_kept). */
static size_t scan_shingles(scan_t *s, uint64_t *out, size_t max,
                            uint64_t *mins)
{
    size_t n = scan_kept(s), i, got;
    const uint64_t *x = s->wh;
    uint64_t h;

    if (n == 0)
        return 0;
    if (n < SHINGLE) {
        /* Fewer words than a shingle: the words are the one shingle. */
        h = shingle_hash(x, n);
        if (mins != NULL)
            mins[h >> 57] = h & (((uint64_t)1 << 57) - 1);
        else if (max > 0)
            out[0] = h;
        return 1;
    }
    got = n - SHINGLE + 1;
    for (i = 0; i < got; i++) {
        h = shingle_hash4(x + i);
        if (mins != NULL) {
            /* The top 7 bits pick the bin, the rest compete. */
            uint64_t v = h & (((uint64_t)1 << 57) - 1), m = mins[h >> 57];

            /* Unconditional: a branch here is mispredicted often. */
            mins[h >> 57] = v < m ? v : m;
        } else if (i < max) {
            out[i] = h;
        }
    }
    return got;
}

/* ------------------------------------------------------------ fingerprint */

/* Fills the signature from the kept lines' shingles. */
static void sign(scan_t *s, as_story_fp_t *fp)
{
    uint64_t mins[AS_STORY_BINS];
    size_t i;

    for (i = 0; i < AS_STORY_BINS; i++)
        mins[i] = UINT64_MAX;
    fp->n_shingles = (uint32_t)scan_shingles(s, NULL, 0, mins);
    if (fp->n_shingles == 0) {
        memset(fp->sig, 0, sizeof(fp->sig));
        return;
    }
    for (i = 0; i < AS_STORY_BINS; i++) {
        size_t d = 0;

        /* Rotation densification: an empty bin borrows the next full
         * bin's minimum, marked with the distance it was borrowed over. */
        while (mins[(i + d) % AS_STORY_BINS] == UINT64_MAX)
            d++;
        fp->sig[i] = (uint16_t)(mix64(mins[(i + d) % AS_STORY_BINS] +
                                      d * 0x9e3779b97f4a7c15ULL) >> 48);
    }
}

/* Common words that are never key terms (folded). */
static const char *const stop_words[] = {
    "about", "after", "again", "against", "ahead", "all", "also", "amid",
    "and", "any", "april", "are", "around", "august", "back", "been",
    "before", "being", "between", "both", "but", "can", "could", "day",
    "days", "december", "despite", "did", "does", "down", "during", "each",
    "even", "every", "february", "first", "for", "friday", "from", "further",
    "had", "has", "have", "her", "here", "his", "how", "inc", "into", "its",
    "january", "july", "june", "just", "last", "late", "later", "least",
    "may", "march", "many", "more", "most", "monday", "much", "new", "news",
    "next", "not", "november", "now", "october", "off", "one", "only",
    "other", "our", "out", "over", "per", "read", "report", "reports",
    "said", "saturday", "say", "says", "september", "she", "since", "some",
    "still", "such", "sunday", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "through",
    "thursday", "today", "too", "tuesday", "two", "under", "until", "upon",
    "very", "was", "way", "wednesday", "week", "were", "what", "when",
    "where", "which", "while", "who", "why", "will", "with", "would",
    "year", "years", "yesterday", "yet", "you", "your",
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_stop(const char *w)
{
    static int sorted;
    static const char *words[sizeof(stop_words) / sizeof(stop_words[0])];
    size_t n = sizeof(stop_words) / sizeof(stop_words[0]);

    /* Sorted once; the list is constant, so racing threads write the same
     * bytes. The check is cheap enough to keep it simple. */
    if (!__atomic_load_n(&sorted, __ATOMIC_ACQUIRE)) {
        const char *tmp[sizeof(stop_words) / sizeof(stop_words[0])];

        memcpy(tmp, stop_words, sizeof(tmp));
        qsort(tmp, n, sizeof(tmp[0]), cmp_str);
        for (size_t i = 0; i < n; i++)
            __atomic_store_n(&words[i], tmp[i], __ATOMIC_RELAXED);
        __atomic_store_n(&sorted, 1, __ATOMIC_RELEASE);
    }
    return bsearch(&w, words, n, sizeof(words[0]), cmp_str) != NULL;
}

/* A term's hash: the low bit is set for a name (capitalized in the lead);
 * terms compare without it. */
static uint32_t term_hash(const char *folded, size_t len, int name)
{
    uint32_t h = (uint32_t)XXH3_64bits_withSeed(folded, len, SEED_TERM);

    return (h & ~1u) | (name ? 1u : 0u);
}

/* Adds a term unless present (then only its name bit is or-ed in). */
static void add_term(as_story_fp_t *fp, uint32_t t)
{
    size_t i;

    for (i = 0; i < fp->n_terms; i++)
        if ((fp->terms[i] | 1u) == (t | 1u)) {
            fp->terms[i] |= t & 1u;
            return;
        }
    if (fp->n_terms < AS_STORY_MAX_TERMS)
        fp->terms[fp->n_terms++] = t;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a | 1u, y = *(const uint32_t *)b | 1u;

    return x < y ? -1 : x > y;
}

/* Returns nonzero if the folded word is a term candidate: 3+ bytes, not
 * all digits, not a stop word. */
static int term_word(const char *buf, size_t n)
{
    size_t i;

    if (n < 3)
        return 0;
    for (i = 0; i < n; i++)
        if (buf[i] < '0' || buf[i] > '9')
            break;
    return i < n && !is_stop(buf);
}

/* Returns nonzero if the word at w starts a sentence: only spaces and
 * opening quotes stand between it and the line's start or a . ! ? */
static int starts_sentence(const unsigned char *line, const unsigned char *w)
{
    while (w > line) {
        unsigned char c = w[-1];

        if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '(') {
            w--;
        } else if (w - line >= 3 && w[-3] == 0xe2 && w[-2] == 0x80 &&
                   (c == 0x9c || c == 0x98 || c == 0x9d || c == 0x99)) {
            w -= 3;  /* curly quotes */
        } else {
            return c == '.' || c == '!' || c == '?' || c == ':';
        }
    }
    return 1;
}

/* Collects the key terms: names of the lead first (capitalized words that
 * do not start a line), then the title's words. The lead's words are the
 * scan's (their offsets); the title is short and walked here. */
static void collect_terms(const char *title, const scan_t *s,
                          const char *body, as_story_fp_t *fp)
{
    const unsigned char *b = (const unsigned char *)body;
    char buf[WORD_MAX + 1];
    size_t i, j, words = 0, len;
    word_t w;

    fp->n_terms = 0;
    for (i = 0; i < s->nl && words < LEAD_WORDS; i++) {
        const line_t *l = &s->lines[i];

        if (!scan_keeps(s, i))
            continue;
        for (j = 0; j < l->n && words < LEAD_WORDS; j++) {
            size_t k = l->first + j;

            words++;
            w.p = b + s->ws[k];
            if (j == 0 || !(w.p[0] >= 'A' && w.p[0] <= 'Z') ||
                starts_sentence(l->p, w.p))
                continue;
            w.len = s->we[k] - s->ws[k];
            len = fold(&w, buf);
            buf[len] = '\0';
            if (term_word(buf, len))
                add_term(fp, term_hash(buf, len, 1));
        }
    }
    if (title != NULL) {
        const unsigned char *p = (const unsigned char *)title;
        const unsigned char *end = p + strlen(title);

        while (next_word(&p, end, &w)) {
            len = fold(&w, buf);
            buf[len] = '\0';
            if (term_word(buf, len))
                add_term(fp, term_hash(buf, len, 0));
        }
    }
    qsort(fp->terms, fp->n_terms, sizeof(fp->terms[0]), cmp_u32);
}

size_t as_story_shingles(const char *body, uint64_t *out, size_t max)
{
    scan_t *s = malloc(sizeof(*s));
    size_t n = 0;

    if (s == NULL)
        return 0;
    scan_body(body, s);
    if (!s->failed)
        n = scan_shingles(s, out, max, NULL);
    scan_free(s);
    free(s);
    return n;
}

void as_story_fingerprint(const char *title, const char *body,
                          as_story_fp_t *fp)
{
    scan_t s;

    memset(fp, 0, sizeof(*fp));
    scan_body(body, &s);
    if (s.failed)
        s.nl = 0;  /* out of memory: no fingerprint, never a duplicate */
    sign(&s, fp);
    collect_terms(title, &s, body, fp);
    scan_free(&s);
}

double as_story_similarity(const as_story_fp_t *a, const as_story_fp_t *b)
{
    size_t i, eq = 0;

    if (a->n_shingles == 0 || b->n_shingles == 0)
        return 0;
    for (i = 0; i < AS_STORY_BINS; i++)
        eq += a->sig[i] == b->sig[i];
    return (double)eq / AS_STORY_BINS;
}

size_t as_story_band_keys(const as_story_fp_t *fp, const as_story_params_t *p,
                          uint64_t *keys)
{
    size_t b, r;

    if (fp->n_shingles == 0)
        return 0;
    /* A band's key: its bins, four to a 64-bit word, mixed with a seed of
     * the band's number (mix64 is a bijection: two different bands of up
     * to four bins never get the same key). No hash call: this runs on
     * the writer thread, 20 times per article. */
    for (b = 0; b < p->bands && b < AS_STORY_MAX_BANDS &&
                (b + 1) * p->rows <= AS_STORY_BINS; b++) {
        const uint16_t *v = fp->sig + b * p->rows;
        uint64_t h = SEED_BAND ^ (b * 0x9e3779b97f4a7c15ULL), w = 0;

        for (r = 0; r < p->rows; r++) {
            w = w << 16 | v[r];
            if (r % 4 == 3 || r + 1 == p->rows) {
                h = mix64(h ^ w);
                w = 0;
            }
        }
        keys[b] = h;
    }
    return b;
}

size_t as_story_shared_terms(const uint32_t *a, size_t na, const uint32_t *b,
                             size_t nb)
{
    size_t i = 0, j = 0, n = 0;

    while (i < na && j < nb) {
        uint32_t x = a[i] | 1u, y = b[j] | 1u;

        if (x == y) {
            n++;
            i++;
            j++;
        } else if (x < y) {
            i++;
        } else {
            j++;
        }
    }
    return n;
}

/* ------------------------------------------------------------ bands */

/* Open addressing with linear probing over 8-byte slots: a 32-bit
 * fragment of the key's hash (never 0, never all ones) above the id's 32
 * bits (ids from 2^32 on are not indexed). 0 marks an empty slot and all
 * ones a removed one. A slot's position comes from its fragment alone (so
 * that the table can be rehashed from its slots): every entry whose key
 * has the same fragment is on the same probe chain, and a lookup meets
 * them all. A false match therefore comes once per key in 2^32 / entries,
 * not per slot probed: with a 24-bit fragment and 40-bit ids, a store of
 * 20,000 articles (400,000 entries) had one for a fifth of its articles,
 * each costing a fingerprint read from LMDB, and with millions of
 * articles a fragment's unrelated entries would have filled the 8 a key
 * keeps. It costs one verification, never a wrong answer: candidates are
 * compared by their signatures. */
#define BAND_EMPTY 0
#define BAND_DEAD UINT64_MAX
#define ID_BITS 32
#define ID_MASK ((((uint64_t)1) << ID_BITS) - 1)
#define BAND_KEY_CAP 8
#define BAND_QUICK ((size_t)1 << 22)   /* slots (32 MB) */

/* Below BAND_STEP_FROM slots, a table outgrown is moved into the next one
 * at once (a few hundred KB at most); from there on, BAND_STEP of its
 * slots move at each insert, so that no put waits for a whole table of
 * tens of MB to be rehashed (a growth of the 32 MB table stalled the
 * writer for a batch: 10-18% of its samples in a window). BAND_STEP must
 * be 2 or more: a table grown at least twofold starts at most 35% full
 * and fills to 70% after 0.35 × its slots (0.7 × the old table's) more
 * inserts, by when the old table's slots are all moved. */
#define BAND_STEP_FROM ((size_t)1 << 16)
#define BAND_STEP 8
/* From 65% full on, a table of BAND_STEP_FROM slots or more maps its
 * successor and writes one byte of it per BAND_TOUCH bytes at each insert,
 * so that its pages are faulted in (zeroed by the kernel, 2 MB at a time
 * with huge pages) a few at a time before the growth, not all by the
 * first lookups after it (measured: 80-200 ms for one article's 20
 * inserts after a growth to 32 MB and more). The whole successor, at most
 * 4 × 8 bytes per slot of the table, is touched after table slots / 128
 * inserts, long before the table is 70% full (after 5% of its slots);
 * starting late keeps the time two tables are held short. */
#define BAND_TOUCH ((size_t)4096)

/* One open-addressing table of band slots (as above). */
typedef struct btab {
    uint64_t *slots;
    size_t cap;
} btab_t;

/* While the table grows, two tables: cur takes every new entry, and old's
 * entries move to cur BAND_STEP slots at a time, in slot order (a moved
 * slot is marked removed, so that old's probe chains stay whole). A
 * lookup walks both: an entry is in exactly one of them, so the ids found
 * and counted under a key are those of one table holding them all,
 * whatever the moment of the growth. */
struct as_story_bands {
    btab_t cur, old;       /* old.slots: NULL when not growing */
    btab_t next;           /* cur's successor, mapped from 65% full on */
    size_t touched;        /* bytes of next faulted in */
    size_t moved;          /* old's slots [0, moved) have moved */
    size_t used, dead;     /* entries and removed slots in cur */
    size_t old_used;       /* entries left in old */
};

static uint64_t band_frag(uint64_t key)
{
    /* 32 bits scaled to 1 .. 2^32 - 2 by a multiply and a shift (a
     * division here was 40 cycles, twice per band key). */
    return ((mix64(key) >> 32) * (((uint64_t)1 << 32) - 2) >> 32) + 1;
}

/* Zeroed memory for a lookup table of n bytes. One of 2 MB or more is
 * mapped, aligned to 2 MB, and asks for huge pages: the band table is
 * probed at 20 random places per article, and with 4 KB pages each probe
 * of a table of tens of MB also misses the TLB. The mapping is zeroed by
 * the kernel page by page as it is first written, not all at once here:
 * a memset of a grown table was the writer's stall. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *table_alloc(size_t n)
{
    unsigned char *p, *a;
    size_t head;

    if (n < HUGE_PAGE)
        return calloc(1, n);
    p = mmap(NULL, n + HUGE_PAGE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    a = (unsigned char *)(((uintptr_t)p + HUGE_PAGE - 1) &
                          ~(uintptr_t)(HUGE_PAGE - 1));
    head = (size_t)(a - p);
    if (head > 0)
        munmap(p, head);
    munmap(a + n, HUGE_PAGE - head);
#ifdef MADV_HUGEPAGE
    (void)madvise(a, n, MADV_HUGEPAGE);  /* a hint: refusal is harmless */
#endif
    return a;
}

/* Frees table_alloc(n)'s p (NULL is fine). */
static void table_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    if (n < HUGE_PAGE)
        free(p);
    else
        munmap(p, n);
}

static int btab_alloc(btab_t *t, size_t cap)
{
    t->cap = cap;
    t->slots = table_alloc(cap * sizeof(*t->slots));
    return t->slots == NULL ? -1 : 0;
}

static void btab_free(btab_t *t)
{
    table_free(t->slots, t->cap * sizeof(*t->slots));
    t->slots = NULL;
    t->cap = 0;
}

/* Walks fragment f's probe chain in t: counts its entries into *same and
 * reports their ids to fn until it returns nonzero (then *stop is set;
 * fn is not called when *stop is set already). Sets *at (when not NULL)
 * to the first removed slot on the chain, SIZE_MAX when none. Returns the
 * empty slot that ends the chain. */
static size_t btab_walk(const btab_t *t, uint64_t f,
                        int (*fn)(void *arg, uint64_t id), void *arg,
                        int *stop, size_t *same, size_t *at)
{
    size_t i;

    if (at != NULL)
        *at = SIZE_MAX;
    for (i = (size_t)mix64(f) & (t->cap - 1); t->slots[i] != BAND_EMPTY;
         i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i] == BAND_DEAD) {
            if (at != NULL && *at == SIZE_MAX)
                *at = i;
        } else if ((t->slots[i] >> ID_BITS) == f) {
            (*same)++;
            if (!*stop && fn(arg, t->slots[i] & ID_MASK) != 0)
                *stop = 1;
        }
    }
    return i;
}

/* Marks slot value v removed in t; returns 1 when it was there. */
static int btab_remove(btab_t *t, uint64_t v)
{
    size_t i;

    for (i = (size_t)mix64(v >> ID_BITS) & (t->cap - 1);
         t->slots[i] != BAND_EMPTY; i = (i + 1) & (t->cap - 1))
        if (t->slots[i] == v) {
            t->slots[i] = BAND_DEAD;
            return 1;
        }
    return 0;
}

as_story_bands_t *as_story_bands_new(void)
{
    as_story_bands_t *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    if (btab_alloc(&b->cur, 1024) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

void as_story_bands_free(as_story_bands_t *b)
{
    if (b == NULL)
        return;
    btab_free(&b->cur);
    btab_free(&b->old);
    btab_free(&b->next);
    free(b);
}

/* Moves up to n of the old table's slots into the current one, and frees
 * the old table when all have moved. */
static void band_migrate(as_story_bands_t *b, size_t n)
{
    btab_t *o = &b->old, *c = &b->cur;
    size_t end;

    if (o->slots == NULL)
        return;
    end = o->cap - b->moved <= n ? o->cap : b->moved + n;
    for (; b->moved < end; b->moved++) {
        uint64_t v = o->slots[b->moved];
        size_t i;

        if (v == BAND_EMPTY || v == BAND_DEAD)
            continue;
        i = (size_t)mix64(v >> ID_BITS) & (c->cap - 1);
        while (c->slots[i] != BAND_EMPTY && c->slots[i] != BAND_DEAD)
            i = (i + 1) & (c->cap - 1);
        if (c->slots[i] == BAND_DEAD)
            b->dead--;
        c->slots[i] = v;
        o->slots[b->moved] = BAND_DEAD;
        b->old_used--;
        b->used++;
    }
    if (b->moved == o->cap)
        btab_free(o);
}

/* The size of the current table's successor. A slot keeps only the
 * fragment, so positions come from the fragment alone: the table can be
 * rehashed from its slots. Up to BAND_QUICK slots it grows fourfold, not
 * twofold: every entry is moved a third as often while a young store
 * fills the table (the moves were a third of the band table's time in a
 * store's first 20,000 articles), for at most BAND_QUICK slots of room
 * unused. */
static size_t band_next_cap(const as_story_bands_t *b)
{
    return b->cur.cap < BAND_QUICK ? b->cur.cap * 4 : b->cur.cap * 2;
}

/* From 65% full on, maps the successor and faults in BAND_TOUCH bytes
 * more of it (out of memory: left to the growth, which tries again). */
static void band_prepare(as_story_bands_t *b)
{
    size_t n, end;

    if (b->cur.cap < BAND_STEP_FROM || b->old.slots != NULL ||
        (b->used + b->dead) * 20 < b->cur.cap * 13)
        return;
    if (b->next.slots == NULL) {
        if (btab_alloc(&b->next, band_next_cap(b)) != 0)
            return;
        b->touched = 0;
    }
    n = b->next.cap * sizeof(*b->next.slots);
    end = n - b->touched <= BAND_TOUCH ? n : b->touched + BAND_TOUCH;
    for (; b->touched < end; b->touched += BAND_TOUCH)
        ((volatile unsigned char *)b->next.slots)[b->touched] = 0;
    b->touched = end;
}

/* Makes room for one more slot in the current table, starting a growth
 * into its successor when its load passes 70%. Returns 0 or -1 when out
 * of memory. */
static int band_reserve(as_story_bands_t *b)
{
    size_t cap;

    band_migrate(b, BAND_STEP);
    band_prepare(b);
    if ((b->used + b->dead + 1) * 10 <= b->cur.cap * 7)
        return 0;
    band_migrate(b, SIZE_MAX);  /* not reached with BAND_STEP >= 2 */
    cap = band_next_cap(b);
    while ((b->used + 1) * 10 > cap * 4)
        cap *= 2;
    if (b->next.slots != NULL && b->next.cap != cap)
        btab_free(&b->next);
    if (b->next.slots == NULL && btab_alloc(&b->next, cap) != 0)
        return -1;
    b->old = b->cur;
    b->cur = b->next;
    b->next.slots = NULL;
    b->next.cap = 0;
    b->moved = 0;
    b->old_used = b->used;
    b->used = 0;
    b->dead = 0;
    if (b->old.cap < BAND_STEP_FROM)
        band_migrate(b, SIZE_MAX);
    return 0;
}

int as_story_bands_find_add(as_story_bands_t *b, uint64_t key, uint64_t id,
                            int (*fn)(void *arg, uint64_t id), void *arg)
{
    uint64_t f = band_frag(key);
    size_t i, same = 0, at;
    int stop = fn == NULL;

    if (id > ID_MASK || band_reserve(b) != 0) {
        if (fn != NULL)
            as_story_bands_find(b, key, fn, arg);
        return -1;
    }
    /* One walk over the key's probe chain (in each table while growing):
     * report the ids under the key, count them, and remember the first
     * reusable slot. */
    if (b->old.slots != NULL)
        btab_walk(&b->old, f, fn, arg, &stop, &same, NULL);
    i = btab_walk(&b->cur, f, fn, arg, &stop, &same, &at);
    /* A key already held by BAND_KEY_CAP articles gets no more: a later
     * copy finds the first ones (the ones duplicate_of names), and
     * identical texts by the thousand cannot make the probing quadratic. */
    if (same >= BAND_KEY_CAP)
        return 0;
    if (at == SIZE_MAX)
        at = i;
    else
        b->dead--;
    b->cur.slots[at] = (f << ID_BITS) | id;
    b->used++;
    return 0;
}

void as_story_bands_prefetch(const as_story_bands_t *b, uint64_t key)
{
    size_t h = (size_t)mix64(band_frag(key));

    __builtin_prefetch(&b->cur.slots[h & (b->cur.cap - 1)], 1);
    if (b->old.slots != NULL)
        __builtin_prefetch(&b->old.slots[h & (b->old.cap - 1)], 0);
}

int as_story_bands_add(as_story_bands_t *b, uint64_t key, uint64_t id)
{
    return as_story_bands_find_add(b, key, id, NULL, NULL);
}

void as_story_bands_remove(as_story_bands_t *b, uint64_t key, uint64_t id)
{
    uint64_t v = (band_frag(key) << ID_BITS) | id;

    if (b->old.slots != NULL && btab_remove(&b->old, v)) {
        b->old_used--;
        return;
    }
    if (btab_remove(&b->cur, v)) {
        b->used--;
        b->dead++;
    }
}

void as_story_bands_find(const as_story_bands_t *b, uint64_t key,
                         int (*fn)(void *arg, uint64_t id), void *arg)
{
    uint64_t f = band_frag(key);
    size_t same = 0;
    int stop = 0;

    if (b->old.slots != NULL)
        btab_walk(&b->old, f, fn, arg, &stop, &same, NULL);
    if (!stop)
        btab_walk(&b->cur, f, fn, arg, &stop, &same, NULL);
}

size_t as_story_bands_bytes(const as_story_bands_t *b)
{
    return (b->cur.cap + b->old.cap + b->next.cap) * sizeof(uint64_t);
}

/* ------------------------------------------------------------ terms */

/* Open addressing over terms (0 marks an empty slot: stored terms have the
 * name bit set, t | 1); each term owns an array ordered by (time, id). */
typedef struct tslot {
    uint32_t term;
    uint32_t n, cap;
    as_story_posting_t *ps;
} tslot_t;

/* A candidate of as_story_join: an article sharing terms. */
typedef struct cand {
    uint64_t id;      /* 0: empty */
    uint64_t story;
    int64_t time;
    unsigned terms, names;
    unsigned last;    /* index+1 of the last term counted */
} cand_t;

struct as_story_terms {
    tslot_t *slots;
    size_t cap, used;
    size_t postings;
    /* as_story_join's scratch, kept between calls: a hash of candidates
     * (all empty between calls) and the slots it used. Allocating and
     * zeroing it per article was a third of the join's time. */
    cand_t *cand;
    size_t cand_cap;
    size_t *cand_used;
};

as_story_terms_t *as_story_terms_new(void)
{
    as_story_terms_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->cap = 1024;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    if (t->slots == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void as_story_terms_free(as_story_terms_t *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->cap; i++)
        free(t->slots[i].ps);
    free(t->slots);
    free(t->cand);
    free(t->cand_used);
    free(t);
}

static tslot_t *term_slot(tslot_t *slots, size_t cap, uint32_t term)
{
    size_t i = (size_t)mix64(term) & (cap - 1);

    while (slots[i].term != 0 && slots[i].term != term)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int post_cmp(int64_t time, uint64_t id, const as_story_posting_t *p)
{
    if (time != p->time)
        return time < p->time ? -1 : 1;
    return id < p->id ? -1 : id > p->id;
}

/* The first index in s whose (time, id) is not below (time, id). */
static size_t lower_bound(const tslot_t *s, int64_t time, uint64_t id)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (post_cmp(time, id, &s->ps[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int as_story_terms_add(as_story_terms_t *t, uint32_t term,
                       const as_story_posting_t *p)
{
    tslot_t *s;
    size_t at;

    term |= 1u;
    if ((t->used + 1) * 10 > t->cap * 7) {
        size_t cap = t->cap * 2, i;
        tslot_t *n = calloc(cap, sizeof(*n));

        if (n == NULL)
            return -1;
        for (i = 0; i < t->cap; i++)
            if (t->slots[i].term != 0)
                *term_slot(n, cap, t->slots[i].term) = t->slots[i];
        free(t->slots);
        t->slots = n;
        t->cap = cap;
    }
    s = term_slot(t->slots, t->cap, term);
    if (s->term == 0) {
        s->term = term;
        t->used++;
    }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 2;
        as_story_posting_t *ps = realloc(s->ps, sizeof(*ps) * cap);

        if (ps == NULL)
            return -1;
        s->ps = ps;
        s->cap = cap;
    }
    /* Articles mostly come in time order: usually an append. */
    at = s->n > 0 && post_cmp(p->time, p->id, &s->ps[s->n - 1]) > 0
             ? s->n : lower_bound(s, p->time, p->id);
    memmove(s->ps + at + 1, s->ps + at, (s->n - at) * sizeof(*s->ps));
    s->ps[at] = *p;
    s->n++;
    t->postings++;
    return 0;
}

void as_story_terms_remove(as_story_terms_t *t, uint32_t term, int64_t time,
                           uint64_t id)
{
    tslot_t *s = term_slot(t->slots, t->cap, term | 1u);
    size_t at;

    if (s->term == 0)
        return;
    at = lower_bound(s, time, id);
    if (at < s->n && s->ps[at].time == time && s->ps[at].id == id) {
        memmove(s->ps + at, s->ps + at + 1, (s->n - at - 1) * sizeof(*s->ps));
        s->n--;
        t->postings--;
    }
    /* The slot stays (term != 0) so that probing chains are kept. */
}

size_t as_story_terms_range(const as_story_terms_t *t, uint32_t term,
                            int64_t from, int64_t to, size_t max,
                            const as_story_posting_t **out)
{
    const tslot_t *s = term_slot(t->slots, t->cap, term | 1u);
    size_t a, b;

    *out = NULL;
    if (s->term == 0 || s->n == 0)
        return 0;
    /* Articles mostly come in time order: a new one's window usually
     * reaches past the end of the list, and whether more than max
     * postings are in it is then one comparison, not two binary searches
     * over a long list (one cache miss per step). */
    b = to == INT64_MAX || s->ps[s->n - 1].time <= to
            ? s->n : lower_bound(s, to + 1, 0);
    if (b > max && s->ps[b - max - 1].time >= from)
        return max + 1;
    a = lower_bound(s, from, 0);
    *out = s->ps + a;
    return b > a ? b - a : 0;
}

void as_story_terms_prune(as_story_terms_t *t, int64_t before)
{
    size_t i, live = 0, cap = 1024;
    tslot_t *n;

    for (i = 0; i < t->cap; i++) {
        tslot_t *s = &t->slots[i];
        size_t a;

        if (s->term == 0 || s->n == 0)
            continue;
        /* The list is ordered by time: the postings to drop lead it. */
        a = s->ps[0].time >= before ? 0 : lower_bound(s, before, 0);
        if (a > 0) {
            memmove(s->ps, s->ps + a, (s->n - a) * sizeof(*s->ps));
            s->n -= (uint32_t)a;
            t->postings -= a;
        }
        if (s->n == 0) {
            free(s->ps);
            s->ps = NULL;
            s->cap = 0;
        } else if (s->n * 4 <= s->cap) {
            as_story_posting_t *ps = realloc(s->ps, sizeof(*ps) * s->n * 2);

            if (ps != NULL) {
                s->ps = ps;
                s->cap = s->n * 2;
            }
        }
        live += s->n > 0;
    }
    /* Terms left without postings go with a rehash (their slots are kept
     * otherwise, for the probe chains): the table holds the terms of the
     * articles since `before`, not of every article ever. */
    while (live * 10 > cap * 5)
        cap *= 2;
    if (cap >= t->cap && live == t->used)
        return;
    if ((n = calloc(cap, sizeof(*n))) == NULL)
        return;  /* the old table stays: correct, only larger */
    for (i = 0; i < t->cap; i++) {
        if (t->slots[i].term == 0)
            continue;
        if (t->slots[i].n > 0)
            *term_slot(n, cap, t->slots[i].term) = t->slots[i];
        else
            free(t->slots[i].ps);
    }
    free(t->slots);
    t->slots = n;
    t->cap = cap;
    t->used = live;
}

size_t as_story_terms_postings(const as_story_terms_t *t)
{
    return t->postings;
}

size_t as_story_terms_bytes(const as_story_terms_t *t)
{
    size_t i, n = t->cap * sizeof(tslot_t);

    for (i = 0; i < t->cap; i++)
        n += t->slots[i].cap * sizeof(as_story_posting_t);
    return n;
}

/* ------------------------------------------------------------ join */

/* Makes room in t's candidate scratch for total candidates (a table of
 * twice as many slots, all empty). Returns 0 or -1. */
static int cand_reserve(as_story_terms_t *t, size_t total)
{
    size_t cap = 16;
    cand_t *c;
    size_t *u;

    while (cap < total * 2)
        cap *= 2;
    if (cap <= t->cand_cap)
        return 0;
    c = calloc(cap, sizeof(*c));
    u = malloc(cap / 2 * sizeof(*u));
    if (c == NULL || u == NULL) {
        free(c);
        free(u);
        return -1;
    }
    free(t->cand);
    free(t->cand_used);
    t->cand = c;
    t->cand_used = u;
    t->cand_cap = cap;
    return 0;
}

uint64_t as_story_join(as_story_terms_t *t, const as_story_params_t *p,
                       const as_story_fp_t *fp, int64_t time, uint64_t self)
{
    const as_story_posting_t *ps[AS_STORY_MAX_TERMS];
    size_t np[AS_STORY_MAX_TERMS], total = 0, cap, i, j, n_used = 0;
    size_t name_cap = p->name_max < p->common_terms ? p->name_max
                                                     : p->common_terms;
    unsigned char rare[AS_STORY_MAX_TERMS];
    unsigned n_rare = 0, n_two = 0;
    int64_t from, to;
    cand_t *c, *best = NULL;
    uint64_t story = 0;

    from = time < INT64_MIN + p->window_s ? INT64_MIN : time - p->window_s;
    to = time > INT64_MAX - p->window_s ? INT64_MAX : time + p->window_s;
    /* Each term's slot, then the end of its list, are a cache miss each in
     * tables of millions of postings: fetched for all terms together, they
     * are waited for twice per article, not twice per term. */
    for (i = 0; i < fp->n_terms; i++)
        __builtin_prefetch(&t->slots[(size_t)mix64(fp->terms[i] | 1u) &
                                     (t->cap - 1)]);
    for (i = 0; i < fp->n_terms; i++) {
        const tslot_t *s = term_slot(t->slots, t->cap, fp->terms[i] | 1u);

        if (s->n > 0) {
            __builtin_prefetch(&s->ps[s->n - 1]);
            if (s->n > name_cap)
                __builtin_prefetch(&s->ps[s->n - 1 - name_cap]);
        }
    }
    /*
     * A join needs join_terms shared terms, two of them names of the new
     * article's lead rare in the window: common words alone never join two
     * stories, nor one name shared by chance with common words. So only
     * the articles found under two of the rare names can be joined: those
     * lists (at most name_max postings each) are walked first, and the
     * other terms' lists (up to common_terms postings each, the whole
     * window's articles sharing the commonest words) only when an article
     * shares two rare names, and then only to count that article's terms.
     * The result is the one of counting every term of every article.
     */
    for (i = 0; i < fp->n_terms; i++) {
        rare[i] = 0;
        if (!(fp->terms[i] & 1u))
            continue;
        np[i] = as_story_terms_range(t, fp->terms[i], from, to, name_cap,
                                     &ps[i]);
        if (np[i] > 0 && np[i] <= name_cap) {
            rare[i] = 1;
            n_rare++;
            total += np[i];
        }
    }
    if (n_rare < 2)
        return 0;
    if (cand_reserve(t, total) != 0)
        return 0;  /* out of memory: a new story, never a wrong one */
    c = t->cand;
    cap = t->cand_cap;
    for (i = 0; i < fp->n_terms; i++) {
        if (!rare[i])
            continue;
        for (j = 0; j < np[i]; j++) {
            const as_story_posting_t *q = &ps[i][j];
            size_t h = (size_t)mix64(q->id) & (cap - 1);

            if (q->id == self)
                continue;
            while (c[h].id != 0 && c[h].id != q->id)
                h = (h + 1) & (cap - 1);
            if (c[h].id == 0) {
                c[h].id = q->id;
                c[h].story = q->story;
                c[h].time = q->time;
                t->cand_used[n_used++] = h;
            }
            if (c[h].last == i + 1)
                continue;  /* one article listed twice under one term */
            c[h].last = (unsigned)(i + 1);
            c[h].terms++;
            c[h].names++;
            n_two += c[h].names == 2;
        }
    }
    /* The other terms, counted for the articles with two rare names: a
     * capitalized common word ("City", "Senior") is carried by many
     * articles, and counts as a term, not as a name. */
    for (i = 0; n_two > 0 && i < fp->n_terms; i++) {
        size_t n;

        if (rare[i])
            continue;
        n = as_story_terms_range(t, fp->terms[i], from, to, p->common_terms,
                                 &ps[i]);
        if (n > p->common_terms)
            continue;  /* too common in the window to tell stories apart */
        for (j = 0; j < n; j++) {
            const as_story_posting_t *q = &ps[i][j];
            size_t h = (size_t)mix64(q->id) & (cap - 1);

            while (c[h].id != 0 && c[h].id != q->id)
                h = (h + 1) & (cap - 1);
            if (c[h].id == 0 || c[h].names < 2 || c[h].last == i + 1)
                continue;
            c[h].last = (unsigned)(i + 1);
            c[h].terms++;
        }
    }
    for (i = 0; n_two > 0 && i < n_used; i++) {
        cand_t *x = &c[t->cand_used[i]];

        if (x->terms < p->join_terms || x->names < 2)
            continue;
        if (best == NULL || x->terms > best->terms ||
            (x->terms == best->terms && x->story < best->story))
            best = x;
    }
    if (best != NULL)
        story = best->story;
    /* Empty again for the next call: only the slots used. */
    for (i = 0; i < n_used; i++)
        memset(&c[t->cand_used[i]], 0, sizeof(*c));
    return story;
}
