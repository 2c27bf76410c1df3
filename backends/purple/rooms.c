/* rooms.c: group chats: the rooms each session is in or joining, and the commands.
 *
 * join_room joins with the components the protocol derives from the room's name
 * (chat_info_defaults: IRC's channel, XMPP's room and server), the nick asked for as
 * its handle where the protocol takes one, and the password. A joined room is shown to
 * the core (room_joined) once its occupants are known: when libpurple adds the initial
 * occupant list with the user in it (IRC's NAMES, XMPP's own presence, which comes
 * last; see chats.c), else after SETTLE_MS. A message sent keeps the client's ids until
 * the network's reflection of it comes back (libpurple's IRC echoes locally, at once).
 * A join nobody answers fails after JOIN_TIMEOUT_S; libpurple's join failures, and its
 * notices naming a room being joined (it has no other way to say IRC refused one), fail
 * it at once. Bounded: rooms per session, waiting ids per room, occupants shown.
 */
#include <stdio.h>
#include <string.h>

#include "rooms.h"

static GList *joining;   /* PPRoom in ROOM_JOINING, all sessions */

void pp_room_ids_free(gpointer data)
{
	Ids *ids = data;

	g_free(ids->id);
	g_free(ids->origin_id);
	g_free(ids);
}

PPRoom *pp_room_new(PPSession *s, const char *name)
{
	PPRoom *r = g_new0(PPRoom, 1);

	r->s = s;
	r->name = g_strdup(name);
	r->key = g_ascii_strdown(name, -1);
	r->roles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_queue_init(&r->pending);
	g_hash_table_replace(s->rooms, r->key, r);
	return r;
}

static void room_free(PPRoom *r)
{
	if (r->timer)
		g_source_remove(r->timer);
	joining = g_list_remove(joining, r);
	g_queue_clear_full(&r->pending, pp_room_ids_free);
	g_hash_table_destroy(r->roles);
	g_free(r->name);
	g_free(r->key);
	g_free(r);
}

void pp_room_forget(PPRoom *r)
{
	g_hash_table_remove(r->s->rooms, r->key);
	room_free(r);
}

void pp_rooms_free(PPSession *s)
{
	GList *all = g_hash_table_get_values(s->rooms);

	g_list_free_full(all, (GDestroyNotify)room_free);
	g_hash_table_destroy(s->rooms);
	s->rooms = NULL;
}

PPRoom *pp_room_named(PPSession *s, const char *name)
{
	char *key = g_ascii_strdown(name, -1);
	PPRoom *r = g_hash_table_lookup(s->rooms, key);

	g_free(key);
	return r;
}

PPRoom *pp_room_of(PurpleConversation *conv, PPSession **sp)
{
	PPSession *s;

	if (purple_conversation_get_type(conv) != PURPLE_CONV_TYPE_CHAT)
		return NULL;
	s = pp_session_of(purple_conversation_get_account(conv));
	if (sp != NULL)
		*sp = s;
	return s ? pp_room_named(s, purple_conversation_get_name(conv)) : NULL;
}

PurpleConversation *pp_room_conv_of(PPRoom *r)
{
	for (GList *l = purple_get_chats(); l; l = l->next) {
		PurpleConversation *c = l->data;
		if (purple_conversation_get_account(c) == r->s->account
		    && g_ascii_strcasecmp(purple_conversation_get_name(c), r->name) == 0
		    && !purple_conv_chat_has_left(PURPLE_CONV_CHAT(c)))
			return c;
	}
	return NULL;
}

/* The user's nick in the room, as the occupant list spells it. */
char *pp_room_own_nick(PurpleConversation *conv)
{
	PurpleConvChat *chat = PURPLE_CONV_CHAT(conv);
	PurpleAccount *a = purple_conversation_get_account(conv);
	const char *me = purple_conv_chat_get_nick(chat);

	for (GList *l = purple_conv_chat_get_users(chat); l && me; l = l->next) {
		const char *n = purple_conv_chat_cb_get_name(l->data);
		if (purple_strequal(purple_normalize(a, n), me))
			return g_strdup(n);
	}
	return g_strdup(me ? me : "");
}

gboolean pp_room_is_own(PurpleConversation *conv, const char *nick)
{
	const char *me = purple_conv_chat_get_nick(PURPLE_CONV_CHAT(conv));

	return me != NULL && purple_strequal(purple_normalize(purple_conversation_get_account(conv), nick), me);
}

JsonObject *pp_room_occupant(const char *nick, int flags)
{
	JsonObject *o = json_object_new();

	pp_set_str(o, "nick", nick);
	pp_set_str(o, "role", (flags & (PURPLE_CBFLAGS_OP | PURPLE_CBFLAGS_HALFOP | PURPLE_CBFLAGS_FOUNDER))
	                          ? "moderator" : "participant");
	pp_set_str(o, "affiliation", (flags & PURPLE_CBFLAGS_FOUNDER) ? "owner"
	                             : (flags & PURPLE_CBFLAGS_OP) ? "admin"
	                             : (flags & (PURPLE_CBFLAGS_HALFOP | PURPLE_CBFLAGS_VOICE)) ? "member" : "none");
	return o;
}

void pp_room_emit_occupant(PPRoom *r, const char *nick, int flags)
{
	JsonObject *f = json_object_new();

	pp_set_id(f, "room", r->name);
	json_object_set_object_member(f, "occupant", pp_room_occupant(nick, flags));
	pp_emit(r->s, "occupant_updated", f);
}

/* An occupant's role as known now: told when it is news. */
void pp_room_note_occupant(PPRoom *r, const char *nick, int flags, gboolean tell)
{
	gpointer before = g_hash_table_lookup(r->roles, nick);
	int now = (flags & ROLE_FLAGS) + 1;

	if (GPOINTER_TO_INT(before) == now)
		return;
	g_hash_table_replace(r->roles, g_strdup(nick), GINT_TO_POINTER(now));
	if (tell)
		pp_room_emit_occupant(r, nick, flags);
}

static void join_failed(PPSession *s, const char *room, const char *error, const char *text)
{
	JsonObject *f = json_object_new();

	pp_set_id(f, "room", room);
	pp_set_str(f, "error", error);
	pp_set_str(f, "text", text);
	pp_emit(s, "room_join_failed", f);
}

void pp_room_fail(PPRoom *r, const char *error, const char *text)
{
	join_failed(r->s, r->name, error, text);
	pp_room_forget(r);
}

void pp_room_emit_joined(PPRoom *r, PurpleConversation *conv)
{
	PurpleConvChat *chat = PURPLE_CONV_CHAT(conv);
	JsonArray *occupants = json_array_new();
	JsonObject *f = json_object_new();
	char *me = pp_room_own_nick(conv);
	gboolean self = FALSE;
	int n = 0;

	if (r->timer) {
		g_source_remove(r->timer);
		r->timer = 0;
	}
	joining = g_list_remove(joining, r);
	r->state = ROOM_JOINED;
	for (GList *l = purple_conv_chat_get_users(chat); l; l = l->next) {
		const char *nick = purple_conv_chat_cb_get_name(l->data);
		int flags = purple_conv_chat_user_get_flags(chat, nick);
		pp_room_note_occupant(r, nick, flags, FALSE);
		self |= strcmp(nick, me) == 0;
		if (n++ < MAX_OCCUPANTS)
			json_array_add_object_element(occupants, pp_room_occupant(nick, flags));
	}
	if (!self)
		json_array_add_object_element(occupants, pp_room_occupant(me, 0));
	if (n > MAX_OCCUPANTS)
		fprintf(stderr, "pontoon-purple: %s has %d occupants; %d shown\n", r->name, n, MAX_OCCUPANTS);
	pp_set_id(f, "room", r->name);
	pp_set_str(f, "nick", me);
	json_object_set_array_member(f, "occupants", occupants);
	pp_set_str(f, "subject", purple_conv_chat_get_topic(chat));
	pp_emit(r->s, "room_joined", f);
	g_free(me);
}

static gboolean settle_cb(gpointer data)
{
	PPRoom *r = data;
	PurpleConversation *conv = pp_room_conv_of(r);

	r->timer = 0;
	if (conv != NULL)
		pp_room_emit_joined(r, conv);
	return FALSE;
}

/* Joined: the occupants come next; the room is shown once they are known (or after
 * SETTLE_MS). */
void pp_room_settling(PPRoom *r)
{
	if (r->timer)
		g_source_remove(r->timer);
	joining = g_list_remove(joining, r);
	r->state = ROOM_SETTLING;
	r->timer = g_timeout_add(SETTLE_MS, settle_cb, r);
}

static gboolean join_timeout_cb(gpointer data)
{
	PPRoom *r = data;

	r->timer = 0;
	pp_room_fail(r, "other", "The network did not answer the join.");
	return FALSE;
}

/* Shown once: the room's occupants (if it was waiting for them) before anything else. */
PPRoom *pp_room_joined_room(PurpleConversation *conv)
{
	PPRoom *r = pp_room_of(conv, NULL);

	if (r != NULL && r->state == ROOM_SETTLING)
		pp_room_emit_joined(r, conv);
	return (r != NULL && r->state == ROOM_JOINED) ? r : NULL;
}

void pp_rooms_join(PPSession *s, JsonObject *p)
{
	const char *name = pp_get_id(p, "room"), *nick = pp_get_str(p, "nick"), *password = pp_get_str(p, "password");
	PurpleConnection *gc = pp_connection(s);
	PPRoom *r;
	GHashTable *comps, *defaults;
	GList *entries;
	gboolean had_defaults;

	if (name == NULL)
		return;
	if (gc == NULL) {
		join_failed(s, name, "busy", "Not connected to the network.");
		return;
	}
	if ((r = pp_room_named(s, name)) != NULL) {
		PurpleConversation *conv = pp_room_conv_of(r);
		if (r->state == ROOM_JOINED && conv != NULL)
			pp_room_emit_joined(r, conv);   /* again: the core asks after a restart of its own */
		return;
	}
	if (g_hash_table_size(s->rooms) >= MAX_ROOMS) {
		join_failed(s, name, "too_many_rooms", "In too many rooms already.");
		return;
	}
	comps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	defaults = pp.info->chat_info_defaults ? pp.info->chat_info_defaults(gc, name) : NULL;
	had_defaults = defaults != NULL;
	if (defaults != NULL) {
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, defaults);
		while (g_hash_table_iter_next(&it, &k, &v))
			g_hash_table_replace(comps, g_strdup(k), g_strdup(v));
		g_hash_table_destroy(defaults);
	}
	entries = pp.info->chat_info ? pp.info->chat_info(gc) : NULL;
	for (GList *l = entries; l; l = l->next) {
		struct proto_chat_entry *e = l->data;
		if (!had_defaults && l == entries)
			g_hash_table_replace(comps, g_strdup(e->identifier), g_strdup(name));
		else if (nick != NULL && *nick && (strcmp(e->identifier, "handle") == 0 || strcmp(e->identifier, "nick") == 0))
			g_hash_table_replace(comps, g_strdup(e->identifier), g_strdup(nick));
		else if (password != NULL && *password && (e->secret || strcmp(e->identifier, "password") == 0))
			g_hash_table_replace(comps, g_strdup(e->identifier), g_strdup(password));
	}
	g_list_free_full(entries, g_free);
	r = pp_room_new(s, name);
	r->state = ROOM_JOINING;
	r->timer = g_timeout_add_seconds(JOIN_TIMEOUT_S, join_timeout_cb, r);
	joining = g_list_prepend(joining, r);
	serv_join_chat(gc, comps);   /* may fail at once: r is not used after */
	g_hash_table_destroy(comps);
}

void pp_rooms_leave(PPSession *s, JsonObject *p)
{
	const char *name = pp_get_id(p, "room");
	PPRoom *r = name ? pp_room_named(s, name) : NULL;
	PurpleConversation *conv = r ? pp_room_conv_of(r) : NULL;

	if (r == NULL)
		return;
	pp_room_forget(r);
	if (conv != NULL)
		purple_conversation_destroy(conv);   /* leaves (IRC PART, XMPP unavailable) */
}

static void send_failed(PPSession *s, const char *room, JsonObject *ids, const char *error, const char *reason)
{
	JsonObject *f = json_object_new();

	pp_set_id(f, "room", room);
	json_object_set_object_member(f, "ids", ids);
	pp_set_str(f, "error", error);
	pp_set_str(f, "reason", reason);
	pp_emit(s, "room_send_failed", f);
}

void pp_rooms_send(PPSession *s, JsonObject *p)
{
	const char *name = pp_get_id(p, "room"), *body = pp_get_str(p, "body"), *kind = pp_get_str(p, "kind");
	JsonObject *ids = pp_get_obj(p, "ids");
	const char *id = pp_get_str(ids, "id"), *origin_id = pp_get_str(ids, "origin_id");
	PurpleConnection *gc = pp_connection(s);
	PPRoom *r = name ? pp_room_named(s, name) : NULL;
	PurpleConversation *conv = r ? pp_room_conv_of(r) : NULL;
	Ids *mine;
	char *html;

	if (name == NULL || body == NULL)
		return;
	if (gc == NULL || r == NULL || r->state == ROOM_JOINING || conv == NULL) {
		send_failed(s, name, pp_ids_object(id, origin_id), "unreachable", "You are not in this room.");
		return;
	}
	if (r->state == ROOM_SETTLING)
		pp_room_emit_joined(r, conv);
	mine = g_new0(Ids, 1);
	mine->id = g_strdup(id);
	mine->origin_id = g_strdup(origin_id);
	g_queue_push_tail(&r->pending, mine);
	while (g_queue_get_length(&r->pending) > MAX_PENDING)
		pp_room_ids_free(g_queue_pop_head(&r->pending));
	html = pp_text_to_html(body, kind);
	if (serv_chat_send(gc, purple_conv_chat_get_id(PURPLE_CONV_CHAT(conv)), html, 0) < 0) {
		pp_room_ids_free(g_queue_pop_tail(&r->pending));
		send_failed(s, name, pp_ids_object(id, origin_id), "refused", "The network did not take the message.");
	}
	g_free(html);
}

void pp_rooms_set_subject(PPSession *s, JsonObject *p)
{
	const char *name = pp_get_id(p, "room"), *subject = pp_get_str(p, "subject");
	PurpleConnection *gc = pp_connection(s);
	PPRoom *r = name ? pp_room_named(s, name) : NULL;
	PurpleConversation *conv = r ? pp_room_conv_of(r) : NULL;

	if (gc != NULL && conv != NULL && subject != NULL && pp.info->set_chat_topic != NULL)
		pp.info->set_chat_topic(gc, purple_conv_chat_get_id(PURPLE_CONV_CHAT(conv)), subject);
}

void pp_rooms_invite(PPSession *s, JsonObject *p)
{
	const char *name = pp_get_id(p, "room"), *who = pp_get_id(p, "contact"), *reason = pp_get_str(p, "reason");
	PurpleConnection *gc = pp_connection(s);
	PPRoom *r = name ? pp_room_named(s, name) : NULL;
	PurpleConversation *conv = r ? pp_room_conv_of(r) : NULL;

	if (gc != NULL && conv != NULL && who != NULL)
		serv_chat_invite(gc, purple_conv_chat_get_id(PURPLE_CONV_CHAT(conv)), reason ? reason : "", who);
}

/* A notice from libpurple (it names no account): a join it names fails, if only one. */
void pp_rooms_on_notice(const char *text)
{
	PPRoom *found = NULL;
	int count = 0;
	char *lower = g_ascii_strdown(text, -1);
	const char *error = "other";

	for (GList *l = joining; l; l = l->next) {
		PPRoom *r = l->data;
		if (strstr(lower, r->key) != NULL) {
			found = r;
			count++;
		}
	}
	if (count == 1) {
		if (strstr(lower, "banned"))
			error = "banned";
		else if (strstr(lower, "invit"))
			error = "invite_only";
		else if (strstr(lower, "full"))
			error = "full";
		else if (strstr(lower, "key") || strstr(lower, "password"))
			error = "bad_key";
		pp_room_fail(found, error, text);
	}
	g_free(lower);
}
