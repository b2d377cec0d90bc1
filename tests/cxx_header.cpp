// cxx_header.cpp - artstore.h used from C++: the header compiles as C++
// (-Wall -Wextra -Werror, where a string literal is never a char *), and
// an article is filled from literals without a cast. Run by check_client
// against a live server: puts one article at the endpoint in argv[1] and
// prints its id.
#include <cstdio>

#include "artstore.h"

int main(int argc, char **argv)
{
    static const char *const tags[] = { "C++", "Literals" };
    static const char *const authors[] = { "Bjarne" };
    static const as_meta_t meta[] = { { "lang", "en" } };
    as_client_t *c = nullptr;
    as_article_t a = {};
    as_put_result_t r;
    int rc;

    if (argc != 2)
        return 2;
    a.url = "https://cxx.example/1";
    a.title = "Filled from C++";
    a.body = "No casts.";
    a.source = "C++ Desk";
    a.authors = authors;
    a.n_authors = 1;
    a.tags = tags;
    a.n_tags = 2;
    a.meta = meta;
    a.n_meta = 1;
    if ((rc = as_client_connect(argv[1], 5000, &c)) != AS_OK)
        return 1;
    rc = as_put(c, &a, AS_REV_ANY, &r);
    if (rc != AS_OK) {
        std::fprintf(stderr, "%s: %s\n", as_code_name(rc),
                     as_client_errmsg(c));
        as_client_close(c);
        return 1;
    }
    std::printf("%llu\n", static_cast<unsigned long long>(r.id));
    as_client_close(c);
    return 0;
}
