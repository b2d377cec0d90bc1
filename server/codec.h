/*
 * codec.h - how an article is stored in the `articles` sub-database:
 * compressed with zstd when that makes it smaller.
 *
 * A value is either
 *   - a packed Article, as every store written before compression holds
 *     (a protobuf message never starts with a 0 byte: field number 0 is
 *     invalid), or
 *   - AS_CODEC_TAG (0x00), AS_CODEC_ZSTD (0x01), then one zstd frame
 *     holding the packed Article, with its size in the frame header, or
 *   - AS_CODEC_TAG, AS_CODEC_SUFFIX (0x03), a length byte L, L bytes S,
 *     then one zstd frame holding P: the packed Article is P followed by
 *     S (protobuf lets a message be packed in two parts that are simply
 *     concatenated). The request workers pack and compress an article
 *     before the writer has assigned its id and revision; the writer then
 *     packs only those fields, S, and adds them outside the frame
 *     (as_codec_suffix), so compression stays off its one thread, or
 *   - AS_CODEC_TAG, AS_CODEC_SPLIT (0x02), then the first bytes of one of
 *     the forms above, whose rest the store keeps elsewhere (store.c
 *     splits a value too long for one LMDB leaf node; as_codec_join puts
 *     it back together before as_codec_decode).
 * So stores written before keep working: a value is decompressed only if
 * it was stored compressed, and a store can hold every form at once
 * (articles are recompressed only when they are written again). A build
 * older than a form cannot read it: one from before AS_CODEC_SUFFIX
 * refuses such an article as an unknown encoding (DATA_LOSS), so a store
 * written since then must not be served by an older artstored.
 *
 * An article stored with a suffix is byte for byte a valid packed Article
 * but not the one protobuf-c would pack whole (the assigned fields come
 * last): compare articles by their fields or content_hash, never by their
 * packed bytes.
 *
 * No dictionary: one trained on a benchmark's generated text would
 * flatter the benchmark, and one trained on a user's articles would have
 * to be stored, versioned and kept for every article compressed with it.
 * Plain zstd on one 3-5 KB article saves about half of English prose.
 *
 * An as_codec_t is not thread-safe: one per thread (the writer has one,
 * each reader has one, each request worker has an encoder).
 */
#ifndef AS_CODEC_H
#define AS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define AS_CODEC_TAG 0x00
#define AS_CODEC_ZSTD 0x01
#define AS_CODEC_SPLIT 0x02
#define AS_CODEC_SUFFIX 0x03
/* The longest suffix of the AS_CODEC_SUFFIX form (its length is a byte). */
#define AS_CODEC_SUFFIX_MAX 255
/* Values smaller than this are stored as they are: zstd's frame header
 * and the two tag bytes would eat most of the saving. */
#define AS_CODEC_MIN_BYTES 256
/* A compressed value claiming to expand past this is refused as corrupt
 * (articles are bounded far below it by the request limits). */
#define AS_CODEC_MAX_DECODED ((size_t)256 << 20)

typedef struct as_codec as_codec_t;

/*
 * Creates a codec that compresses at zstd level (1-19; 0 stores values
 * as they are). Returns NULL when out of memory. Free with as_codec_free.
 */
as_codec_t *as_codec_new(int level);

/* Frees the codec and everything it decoded. Accepts NULL. */
void as_codec_free(as_codec_t *c);

/*
 * Encodes the packed article in[0..n) for storage. *out and *out_n get
 * either the compressed value (in the codec's buffer, valid until the
 * next as_codec_encode) or in itself, when compression is off, the value
 * is small or compression would not make it smaller.
 * Returns 0, or RESOURCE_EXHAUSTED (out of memory) / INTERNAL (zstd
 * error) with st set.
 */
int as_codec_encode(as_codec_t *c, const void *in, size_t n,
                    const void **out, size_t *out_n, as_status_t *st);

/*
 * Writes into dst the stored value of the packed article P ++ S, given
 * enc[0..enc_n), what as_codec_encode made of P (P itself, or its
 * compressed form), and the packed suffix S = suffix[0..suffix_n), at most
 * AS_CODEC_SUFFIX_MAX bytes. dst has room for enc_n + suffix_n + 3 bytes
 * and must not overlap the inputs. Returns the value's length.
 */
size_t as_codec_suffix(const void *enc, size_t enc_n, const void *suffix,
                       size_t suffix_n, void *dst);

/* Returns nonzero if the stored value v[0..n) is compressed. */
int as_codec_is_compressed(const void *v, size_t n);

/*
 * Decodes the stored value v[0..n) to the packed article. An uncompressed
 * value is returned as it is (*out = v); a compressed one is decompressed
 * into memory the codec keeps until as_codec_reset, so several decoded
 * articles can be held at once. Returns 0, DATA_LOSS (not a valid frame,
 * or the size in its header is wrong or over AS_CODEC_MAX_DECODED) or
 * RESOURCE_EXHAUSTED, with st set.
 */
int as_codec_decode(as_codec_t *c, const void *v, size_t n,
                    const void **out, size_t *out_n, as_status_t *st);

/* Returns nonzero if the stored value v[0..n) is the head of a split one. */
int as_codec_is_split(const void *v, size_t n);

/*
 * Joins a split value: head[0..head_n) (including its two tag bytes) and
 * the rest, tail[0..tail_n), into the stored value they were cut from, in
 * memory the codec keeps until as_codec_reset. Returns 0, or
 * RESOURCE_EXHAUSTED (out of memory) / DATA_LOSS (not a split head) with
 * st set.
 */
int as_codec_join(as_codec_t *c, const void *head, size_t head_n,
                  const void *tail, size_t tail_n, const void **out,
                  size_t *out_n, as_status_t *st);

/* Releases what as_codec_decode returned (keeping up to a few MiB of
 * buffers for the next use). */
void as_codec_reset(as_codec_t *c);

#endif
