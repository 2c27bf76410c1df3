/* rooms.h: what rooms.c (the room table and the commands) and chats.c (libpurple's
 * chat signals and conversation UI operations) share. */
#ifndef PONTOON_PURPLE_ROOMS_H
#define PONTOON_PURPLE_ROOMS_H

#include "pontoon-purple.h"

#define SETTLE_MS 2000       /* wait for the occupants, at most, once joined */
#define JOIN_TIMEOUT_S 30    /* a join without an answer fails */
#define MAX_ROOMS 500        /* per session */
#define MAX_PENDING 32       /* messages waiting for their reflection, per room */
#define MAX_OCCUPANTS 1500   /* in room_joined (the core reads lines of 256 KiB) */
#define IM_IDLE_S 600        /* a direct conversation unused this long is closed */
#define ROLE_FLAGS (PURPLE_CBFLAGS_VOICE | PURPLE_CBFLAGS_HALFOP | PURPLE_CBFLAGS_OP | PURPLE_CBFLAGS_FOUNDER)

typedef enum { ROOM_JOINING, ROOM_SETTLING, ROOM_JOINED } RoomState;

typedef struct {
	char *id, *origin_id;
} Ids;

typedef struct {
	PPSession *s;
	char *name;          /* as the core names it */
	char *key;           /* lower case */
	RoomState state;
	guint timer;
	GQueue pending;      /* Ids, oldest first */
	GHashTable *roles;   /* nick -> role flags + 1, as last told */
} PPRoom;

PPRoom *pp_room_new(PPSession *s, const char *name);
void pp_room_forget(PPRoom *r);
PPRoom *pp_room_named(PPSession *s, const char *name);
PPRoom *pp_room_of(PurpleConversation *conv, PPSession **sp);
PurpleConversation *pp_room_conv_of(PPRoom *r);
char *pp_room_own_nick(PurpleConversation *conv);
gboolean pp_room_is_own(PurpleConversation *conv, const char *nick);
JsonObject *pp_room_occupant(const char *nick, int flags);
void pp_room_emit_occupant(PPRoom *r, const char *nick, int flags);
void pp_room_note_occupant(PPRoom *r, const char *nick, int flags, gboolean tell);
void pp_room_fail(PPRoom *r, const char *error, const char *text);
void pp_room_emit_joined(PPRoom *r, PurpleConversation *conv);
PPRoom *pp_room_joined_room(PurpleConversation *conv);
void pp_room_settling(PPRoom *r);
void pp_room_ids_free(gpointer data);

#endif
