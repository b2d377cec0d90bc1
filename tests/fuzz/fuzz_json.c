/*
 * fuzz_json.c - libFuzzer target: the input is one line of an import
 * file. It is parsed with jansson and converted with cli_article_from_json
 * exactly as `artstore import` / `put --json` do; a converted article is
 * freed again, so leaks show.
 */
#include <jansson.h>
#include <stdint.h>

#include "cli_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    as_article_t a;
    char err[256];

    if (obj == NULL)
        return 0;
    if (cli_article_from_json(obj, &a, 0, err, sizeof(err)) == 0)
        cli_article_clear(&a);
    json_decref(obj);
    return 0;
}
