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

#endif
