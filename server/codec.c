/*
 * codec.c - zstd compression of stored articles (see codec.h).
 *
 * zstd (Debian's libzstd) rather than lz4: on one article it saves about
 * 45% of bench/compare's generated prose and 58% of a 4 KB excerpt of
 * English prose, where lz4 saves 15% and 38%. That decides how many
 * pages an article takes: a value over about 2 KB takes whole overflow
 * pages of its own, a smaller one shares a leaf page. Level 1 is the
 * default: levels 3-19 save 1-3% more for more of the writer's time.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Decoded values go into blocks that live until as_codec_reset. */
typedef struct block {
    struct block *next;
    size_t cap;
    size_t used;
    unsigned char data[];
} block_t;

#define BLOCK_MIN ((size_t)256 << 10)
#define KEEP_BYTES ((size_t)4 << 20)

struct as_codec {
    int level;
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    unsigned char *buf;    /* encode output */
    size_t buf_cap;
    block_t *blocks;       /* decode output, newest first */
};

as_codec_t *as_codec_new(int level)
{
    as_codec_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->level = level;
    return c;
}

void as_codec_free(as_codec_t *c)
{
    block_t *b, *next;

    if (c == NULL)
        return;
    for (b = c->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c->buf);
    free(c);
}

int as_codec_encode(as_codec_t *c, const void *in, size_t n,
                    const void **out, size_t *out_n, as_status_t *st)
{
    size_t bound, z;

    *out = in;
    *out_n = n;
    if (c->level <= 0 || n < AS_CODEC_MIN_BYTES)
        return 0;
    if (c->cctx == NULL) {
        if ((c->cctx = ZSTD_createCCtx()) == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory for a zstd context");
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, c->level);
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1);
        /* 4 bytes of checksum, so that a damaged article is found by
         * decompression (and by --check) instead of unpacking into
         * wrong text. */
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
    }
    bound = 2 + ZSTD_compressBound(n);
    if (bound > c->buf_cap) {
        unsigned char *p = realloc(c->buf, bound);

        if (p == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory compressing %zu bytes", n);
        c->buf = p;
        c->buf_cap = bound;
    }
    z = ZSTD_compress2(c->cctx, c->buf + 2, c->buf_cap - 2, in, n);
    if (ZSTD_isError(z))
        return as_status_set(st, AS_CODE_INTERNAL, "zstd compress: %s",
                             ZSTD_getErrorName(z));
    if (z + 2 >= n)
        return 0;          /* incompressible: store as it is */
    c->buf[0] = AS_CODEC_TAG;
    c->buf[1] = AS_CODEC_ZSTD;
    *out = c->buf;
    *out_n = z + 2;
    return 0;
}

size_t as_codec_suffix(const void *enc, size_t enc_n, const void *suffix,
                       size_t suffix_n, void *dst)
{
    const unsigned char *e = enc;
    unsigned char *d = dst;

    if (!as_codec_is_compressed(enc, enc_n)) {
        /* Stored as it is: the two parts, one after the other. */
        memcpy(d, enc, enc_n);
        memcpy(d + enc_n, suffix, suffix_n);
        return enc_n + suffix_n;
    }
    d[0] = AS_CODEC_TAG;
    d[1] = AS_CODEC_SUFFIX;
    d[2] = (unsigned char)suffix_n;
    memcpy(d + 3, suffix, suffix_n);
    memcpy(d + 3 + suffix_n, e + 2, enc_n - 2);
    return 3 + suffix_n + enc_n - 2;
}

int as_codec_is_compressed(const void *v, size_t n)
{
    const unsigned char *p = v;

    return n >= 2 && p[0] == AS_CODEC_TAG;
}

/* Returns n bytes from the codec's blocks, or NULL when out of memory. */
static void *block_alloc(as_codec_t *c, size_t n)
{
    block_t **pp, *b;

    for (pp = &c->blocks; (b = *pp) != NULL; pp = &b->next)
        if (b->cap - b->used >= n)
            break;
    if (b == NULL) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;

        if ((b = malloc(sizeof(*b) + cap)) == NULL)
            return NULL;
        b->cap = cap;
        b->used = 0;
    } else {
        *pp = b->next;     /* unlinked; goes back in front below */
    }
    b->next = c->blocks;
    c->blocks = b;
    b->used += n;
    return b->data + b->used - n;
}

int as_codec_is_split(const void *v, size_t n)
{
    const unsigned char *p = v;

    return n >= 2 && p[0] == AS_CODEC_TAG && p[1] == AS_CODEC_SPLIT;
}

int as_codec_join(as_codec_t *c, const void *head, size_t head_n,
                  const void *tail, size_t tail_n, const void **out,
                  size_t *out_n, as_status_t *st)
{
    unsigned char *dst;

    if (!as_codec_is_split(head, head_n))
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "stored article is not a split value");
    if (head_n - 2 + tail_n > AS_CODEC_MAX_DECODED)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "stored article's parts claim over %zu bytes",
                             AS_CODEC_MAX_DECODED);
    if ((dst = block_alloc(c, head_n - 2 + tail_n)) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory joining %zu bytes",
                             head_n - 2 + tail_n);
    memcpy(dst, (const unsigned char *)head + 2, head_n - 2);
    if (tail_n > 0)
        memcpy(dst + head_n - 2, tail, tail_n);
    *out = dst;
    *out_n = head_n - 2 + tail_n;
    return 0;
}

int as_codec_decode(as_codec_t *c, const void *v, size_t n,
                    const void **out, size_t *out_n, as_status_t *st)
{
    const unsigned char *p = v, *suffix = NULL;
    unsigned long long size;
    size_t got, skip = 2, suffix_n = 0;
    void *dst;

    if (!as_codec_is_compressed(v, n)) {
        *out = v;
        *out_n = n;
        return 0;
    }
    if (p[1] == AS_CODEC_SUFFIX) {
        /* The suffix S goes after the frame's content (codec.h). */
        if (n < 3 || (size_t)p[2] > n - 3)
            return as_status_set(st, AS_CODE_DATA_LOSS,
                                 "stored article's suffix is cut short");
        suffix = p + 3;
        suffix_n = p[2];
        skip = 3 + suffix_n;
    } else if (p[1] != AS_CODEC_ZSTD) {
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "stored article has unknown encoding %u",
                             (unsigned)p[1]);
    }
    size = ZSTD_getFrameContentSize(p + skip, n - skip);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > AS_CODEC_MAX_DECODED)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "stored article is not a valid zstd frame "
                             "(or claims over %zu bytes)",
                             AS_CODEC_MAX_DECODED);
    if (c->dctx == NULL && (c->dctx = ZSTD_createDCtx()) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for a zstd context");
    if ((dst = block_alloc(c, (size_t)size + suffix_n + 1)) == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory decompressing %llu bytes", size);
    got = ZSTD_decompressDCtx(c->dctx, dst, (size_t)size, p + skip,
                              n - skip);
    if (ZSTD_isError(got) || got != size)
        return as_status_set(st, AS_CODE_DATA_LOSS,
                             "stored article does not decompress: %s",
                             ZSTD_isError(got) ? ZSTD_getErrorName(got)
                                               : "size mismatch");
    if (suffix_n > 0)
        memcpy((unsigned char *)dst + got, suffix, suffix_n);
    *out = dst;
    *out_n = got + suffix_n;
    return 0;
}

void as_codec_reset(as_codec_t *c)
{
    block_t **pp = &c->blocks, *b;
    size_t kept = 0;

    while ((b = *pp) != NULL) {
        if (kept + b->cap <= KEEP_BYTES || kept == 0) {
            b->used = 0;
            kept += b->cap;
            pp = &b->next;
        } else {
            *pp = b->next;
            free(b);
        }
    }
}
