/*
 * protocol — the request types of @socket.io/redis-adapter 8.x
 * (RequestType in its lib/index.ts), shared by the adapter and sio-admin.
 */
#ifndef SIO_PROTOCOL_H
#define SIO_PROTOCOL_H

enum {
    REQ_SOCKETS = 0,
    REQ_ALL_ROOMS = 1,
    REQ_REMOTE_JOIN = 2,
    REQ_REMOTE_LEAVE = 3,
    REQ_REMOTE_DISCONNECT = 4,
    REQ_REMOTE_FETCH = 5,
    REQ_SERVER_SIDE_EMIT = 6,
    REQ_BROADCAST = 7,
    REQ_BROADCAST_CLIENT_COUNT = 8,
    REQ_BROADCAST_ACK = 9,
};

#endif
