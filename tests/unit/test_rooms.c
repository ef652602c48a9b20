/* Room index: join/leave bookkeeping on both sides, swap-remove indexes,
 * prefix leave, and freeing of empty rooms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/rooms.h"

/* Every member's links must point at the right slot of the right room. */
static void check_consistent(room_t *index, room_member_t *members, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < members[i].n_links; k++) {
            room_link_t *l = &members[i].links[k];
            assert_true(l->idx < l->room->n);
            assert_ptr_equal(l->room->members[l->idx], &members[i]);
        }
    room_t *r, *tmp;
    HASH_ITER(hh, index, r, tmp) assert_true(r->n > 0);
}

static void test_join_leave(void **state) {
    (void)state;
    room_t *idx = NULL;
    room_member_t m[3];
    memset(m, 0, sizeof m);
    assert_int_equal(room_join(&idx, &m[0], "a"), 0);
    assert_int_equal(room_join(&idx, &m[0], "a"), 1);
    assert_int_equal(room_join(&idx, &m[1], "a"), 0);
    assert_int_equal(room_join(&idx, &m[2], "a"), 0);
    assert_int_equal(room_join(&idx, &m[1], "b"), 0);
    assert_int_equal(room_count(idx), 2);
    assert_int_equal(room_find(idx, "a")->n, 3);
    assert_true(room_is_member(&m[1], "b"));
    assert_false(room_is_member(&m[0], "b"));
    check_consistent(idx, m, 3);
    /* removing the first member moves the last one into its slot */
    assert_int_equal(room_leave(&idx, &m[0], "a"), 0);
    assert_int_equal(room_leave(&idx, &m[0], "a"), 1);
    assert_int_equal(room_find(idx, "a")->n, 2);
    check_consistent(idx, m, 3);
    assert_int_equal(room_leave(&idx, &m[1], "b"), 0);
    assert_null(room_find(idx, "b"));
    room_leave_matching(&idx, &m[1], NULL);
    room_leave_matching(&idx, &m[2], NULL);
    assert_null(idx);
    for (int i = 0; i < 3; i++) assert_null(m[i].links);
}

static void test_leave_matching_prefix(void **state) {
    (void)state;
    room_t *idx = NULL;
    room_member_t m;
    memset(&m, 0, sizeof m);
    room_join(&idx, &m, "room:1");
    room_join(&idx, &m, "user:7");
    room_join(&idx, &m, "room:2");
    room_join(&idx, &m, "roomy");
    room_leave_matching(&idx, &m, "room:");
    assert_int_equal(m.n_links, 2);
    assert_true(room_is_member(&m, "user:7"));
    assert_true(room_is_member(&m, "roomy"));
    assert_null(room_find(idx, "room:1"));
    room_leave_matching(&idx, &m, NULL);
    assert_int_equal(room_count(idx), 0);
}

/* Many members and rooms joined and left in a scrambled order. */
static void test_many(void **state) {
    (void)state;
    enum { N = 300, R = 17 };
    room_t *idx = NULL;
    room_member_t *m = calloc(N, sizeof *m);
    char name[16];
    for (int i = 0; i < N; i++)
        for (int r = 0; r < R; r++)
            if ((i + r) % 3) {
                snprintf(name, sizeof name, "r%d", r);
                assert_int_equal(room_join(&idx, &m[i], name), 0);
            }
    check_consistent(idx, m, N);
    for (int i = 0; i < N; i += 2)
        for (int r = R - 1; r >= 0; r -= 2) {
            snprintf(name, sizeof name, "r%d", r);
            room_leave(&idx, &m[(i * 7) % N], name);
        }
    check_consistent(idx, m, N);
    size_t total = 0;
    room_t *rr, *tmp;
    HASH_ITER(hh, idx, rr, tmp) total += rr->n;
    size_t links = 0;
    for (int i = 0; i < N; i++) links += m[i].n_links;
    assert_int_equal(total, links);
    for (int i = 0; i < N; i++) room_leave_matching(&idx, &m[i], NULL);
    assert_null(idx);
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_leave),
        cmocka_unit_test(test_leave_matching_prefix),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
