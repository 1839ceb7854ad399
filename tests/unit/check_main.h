// One main() for every Check suite binary (GStreamer's GST_CHECK_MAIN, in C):
//   UM_CHECK_MAIN(registry_suite)
// runs the suite, prints Check's summary line, and exits non-zero on any failure.
#ifndef UMSHIM_TESTS_CHECK_MAIN_H
#define UMSHIM_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define UM_CHECK_MAIN(suite_fn)                                                                    \
    int main(void) {                                                                               \
        SRunner *runner = srunner_create(suite_fn());                                              \
        srunner_run_all(runner, CK_NORMAL);                                                        \
        int failed = srunner_ntests_failed(runner);                                                \
        srunner_free(runner);                                                                      \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                          \
    }

#endif
