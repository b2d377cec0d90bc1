/*
 * check_main.h - the one way every Check suite is run from main().
 */
#ifndef AS_CHECK_MAIN_H
#define AS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Runs suite s (forking per test, Check's default), prints its summary
 * and returns the process exit code: EXIT_SUCCESS when every test passed. */
static inline int as_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Runs the n tests (each a START_TEST name) as the suite name, in one
 * case "core" in which each test may take timeout seconds; returns as
 * as_check_run does. */
static inline int as_check_run_tests(const char *name, double timeout,
                                     const TTest *const *tests, size_t n)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("core");
    size_t i;

    tcase_set_timeout(tc, timeout);
    for (i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return as_check_run(s);
}

/* The main() of a suite of one case: AS_CHECK_MAIN("wal", 120, test_a,
 * test_b, ...) runs the tests listed, in that order. */
#define AS_CHECK_MAIN(name, timeout, ...)                                  \
    int main(void)                                                         \
    {                                                                      \
        const TTest *const as_tests_[] = { __VA_ARGS__ };                  \
                                                                           \
        return as_check_run_tests(name, timeout, as_tests_,                \
                                  sizeof(as_tests_) /                      \
                                      sizeof(as_tests_[0]));               \
    }

#endif
