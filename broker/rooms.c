#include "rooms.h"

#include <stdlib.h>
#include <string.h>

room_t *room_find(room_t *index, const char *name) {
    room_t *r = NULL;
    HASH_FIND_STR(index, name, r);
    return r;
}

size_t room_count(room_t *index) { return HASH_COUNT(index); }

void room_foreach(room_t *index, room_name_cb fn, void *ud) {
    for (room_t *r = index; r; r = r->hh.next) fn(r->name, ud);
}

void room_member_foreach(const room_member_t *m, room_name_cb fn, void *ud) {
    for (uint32_t i = 0; i < m->n_links; i++) fn(m->links[i].room->name, ud);
}

int room_is_member(const room_member_t *m, const char *name) {
    for (uint32_t i = 0; i < m->n_links; i++)
        if (strcmp(m->links[i].room->name, name) == 0) return 1;
    return 0;
}

int room_join(room_t **index, room_member_t *m, const char *name) {
    room_t *r = room_find(*index, name);
    if (r) {
        for (uint32_t i = 0; i < m->n_links; i++)
            if (m->links[i].room == r) return 1;
    }
    if (m->n_links == m->cap_links) {
        uint32_t cap = m->cap_links ? m->cap_links * 2 : 2;
        room_link_t *l = realloc(m->links, cap * sizeof *l);
        if (!l) return -1;
        m->links = l;
        m->cap_links = cap;
    }
    if (!r) {
        size_t len = strlen(name);
        r = calloc(1, sizeof *r + len + 1);
        if (!r) return -1;
        memcpy(r->name, name, len + 1);
        HASH_ADD(hh, *index, name, len, r);
    }
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 4;
        room_member_t **mm = realloc(r->members, cap * sizeof *mm);
        if (!mm) {
            if (r->n == 0) {
                HASH_DEL(*index, r);
                free(r);
            }
            return -1;
        }
        r->members = mm;
        r->cap = cap;
    }
    r->members[r->n] = m;
    m->links[m->n_links].room = r;
    m->links[m->n_links].idx = r->n;
    m->n_links++;
    r->n++;
    return 0;
}

/* Removes link i of m from its room (swap-remove on both sides). */
static void unlink_at(room_t **index, room_member_t *m, uint32_t i) {
    room_t *r = m->links[i].room;
    uint32_t idx = m->links[i].idx;
    uint32_t last = r->n - 1;
    if (idx != last) {
        room_member_t *moved = r->members[last];
        r->members[idx] = moved;
        for (uint32_t k = 0; k < moved->n_links; k++)
            if (moved->links[k].room == r) {
                moved->links[k].idx = idx;
                break;
            }
    }
    r->n--;
    m->links[i] = m->links[m->n_links - 1];
    m->n_links--;
    if (r->n == 0) {
        HASH_DEL(*index, r);
        free(r->members);
        free(r);
    } else if (r->cap > 16 && r->n < r->cap / 4) {
        room_member_t **mm = realloc(r->members, (r->cap / 2) * sizeof *mm);
        if (mm) {
            r->members = mm;
            r->cap /= 2;
        }
    }
    if (m->n_links == 0) {
        free(m->links);
        m->links = NULL;
        m->cap_links = 0;
    }
}

int room_leave(room_t **index, room_member_t *m, const char *name) {
    for (uint32_t i = 0; i < m->n_links; i++)
        if (strcmp(m->links[i].room->name, name) == 0) {
            unlink_at(index, m, i);
            return 0;
        }
    return 1;
}

void room_leave_matching(room_t **index, room_member_t *m, const char *prefix) {
    size_t pl = prefix ? strlen(prefix) : 0;
    for (uint32_t i = 0; i < m->n_links;) {
        if (!prefix || strncmp(m->links[i].room->name, prefix, pl) == 0) unlink_at(index, m, i);
        else i++;
    }
}
