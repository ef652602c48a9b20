/*
 * rooms — the room index of one namespace: room name → members, and for each
 * member the rooms it is in.
 *
 * Members are `room_member_t`s embedded in the owner's struct (a Socket.IO
 * socket), so this module knows nothing of sockets and is tested alone.
 * A room keeps an array of members; each member keeps, per room, its index in
 * that array, so join and leave are O(1) (swap-remove) and a broadcast walks
 * plain arrays.  Empty rooms are freed at once.
 *
 * Deduplicating a multi-room broadcast uses marks instead of a visited set:
 * the caller takes a fresh mark value per broadcast and stamps each member it
 * delivers to (room_member_t.mark), so no allocation happens per broadcast.
 */
#ifndef SIO_ROOMS_H
#define SIO_ROOMS_H

#include <stddef.h>
#include <stdint.h>
#include "../common/uthash_keyed.h"

typedef struct room room_t;

typedef struct room_link {
    room_t *room;
    uint32_t idx;  /* position of the member in room->members */
} room_link_t;

typedef struct room_member {
    room_link_t *links;  /* rooms this member is in, n_links of them */
    uint32_t n_links, cap_links;
    uint32_t mark;       /* broadcast dedup stamp, owned by the caller */
} room_member_t;

struct room {
    UT_hash_handle hh;
    room_member_t **members;
    uint32_t n, cap;
    char name[];         /* NUL-terminated, the hash key */
};

/* Returns 0 when joined, 1 when already a member, -1 on allocation failure. */
int room_join(room_t **index, room_member_t *m, const char *name);
/* Returns 0 when left, 1 when not a member. */
int room_leave(room_t **index, room_member_t *m, const char *name);
/* Leaves every room whose name starts with prefix (all rooms when NULL). */
void room_leave_matching(room_t **index, room_member_t *m, const char *prefix);
room_t *room_find(room_t *index, const char *name);
int room_is_member(const room_member_t *m, const char *name);
/* Number of rooms in the index. */
size_t room_count(room_t *index);

/* Iteration for callers that must not know the index's layout (the
 * cluster's requests, through socketio).  fn gets each name, borrowed for
 * the call, and must not join or leave meanwhile. */
typedef void (*room_name_cb)(const char *name, void *ud);
/* Every room of the index, oldest first. */
void room_foreach(room_t *index, room_name_cb fn, void *ud);
/* Every room m is in. */
void room_member_foreach(const room_member_t *m, room_name_cb fn, void *ud);

#endif
