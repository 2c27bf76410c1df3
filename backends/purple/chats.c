/* chats.c: libpurple's side of group chats: its chat signals and conversation UI
 * operations, as events of the rooms rooms.c keeps.
 *
 * chat-joined starts a room's wait for its occupants (see rooms.c); chat_add_users with
 * the initial list including the user ends it. Afterwards arrivals and role changes are
 * occupant_updated (only when the role changed: IRC's WHO answers mark everyone away),
 * renames occupant_renamed, departures occupant_left, the topic room_subject. Messages
 * come through write_chat with the user's own flagged as sent (libpurple compares the
 * nick), which take the ids of the oldest message waiting for its reflection. Errors
 * libpurple writes into a conversation fail a direct message or become a room notice.
 * Conversations are tidied every minute: histories cleared, idle direct ones closed.
 */
#include <stdio.h>
#include <string.h>

#include "rooms.h"

static int handle;

static void chat_joined_cb(PurpleConversation *conv, gpointer data)
{
	PPSession *s = NULL;
	PPRoom *r = pp_room_of(conv, &s);

	(void)data;
	if (s == NULL)
		return;
	if (r == NULL) {   /* joined by the network's doing: shown all the same */
		char *name = pp_fold(purple_conversation_get_name(conv));
		r = pp_room_new(s, name);
		g_free(name);
	}
	pp_room_settling(r);
}

static void chat_add_users(PurpleConversation *conv, GList *cbuddies, gboolean new_arrivals)
{
	PPRoom *r = pp_room_of(conv, NULL);

	if (r == NULL)
		return;
	if (r->state == ROOM_SETTLING) {
		for (GList *l = cbuddies; l && !new_arrivals; l = l->next)
			if (pp_room_is_own(conv, purple_conv_chat_cb_get_name(l->data))) {
				pp_room_emit_joined(r, conv);
				return;
			}
		return;
	}
	if (r->state != ROOM_JOINED)
		return;
	for (GList *l = cbuddies; l; l = l->next) {
		const char *nick = purple_conv_chat_cb_get_name(l->data);
		int flags = purple_conv_chat_user_get_flags(PURPLE_CONV_CHAT(conv), nick);
		if (!g_hash_table_contains(r->roles, nick))
			g_hash_table_replace(r->roles, g_strdup(nick), GINT_TO_POINTER((flags & ROLE_FLAGS) + 1));
		pp_room_emit_occupant(r, nick, flags);
	}
}

static void chat_update_user(PurpleConversation *conv, const char *user)
{
	PPRoom *r = pp_room_of(conv, NULL);

	if (r != NULL && r->state == ROOM_JOINED)
		pp_room_note_occupant(r, user, purple_conv_chat_user_get_flags(PURPLE_CONV_CHAT(conv), user), TRUE);
}

static void chat_rename_user(PurpleConversation *conv, const char *old, const char *now, const char *alias)
{
	PPRoom *r = pp_room_joined_room(conv);
	JsonObject *f;
	gpointer flags;

	(void)alias;
	if (r == NULL)
		return;
	flags = g_hash_table_lookup(r->roles, old);
	g_hash_table_remove(r->roles, old);
	g_hash_table_replace(r->roles, g_strdup(now), flags ? flags : GINT_TO_POINTER(1));
	f = json_object_new();
	pp_set_id(f, "room", r->name);
	pp_set_str(f, "old", old);
	pp_set_str(f, "new", now);
	pp_emit(r->s, "occupant_renamed", f);
}

static void buddy_left_cb(PurpleConversation *conv, const char *nick, const char *reason, gpointer data)
{
	PPRoom *r = pp_room_joined_room(conv);
	JsonObject *f;

	(void)data;
	if (r == NULL)
		return;
	g_hash_table_remove(r->roles, nick);
	f = json_object_new();
	pp_set_id(f, "room", r->name);
	pp_set_str(f, "nick", nick);
	pp_set_str(f, "kind", "part");
	pp_set_str(f, "reason", reason && *reason ? reason : NULL);
	pp_emit(r->s, "occupant_left", f);
}

/* The user is out of the room (kicked, or the network's doing; not their own leave,
 * which forgot the room first). */
static void chat_left_cb(PurpleConversation *conv, gpointer data)
{
	PPRoom *r = pp_room_of(conv, NULL);
	JsonObject *f;
	char *me;

	(void)data;
	if (r == NULL)
		return;
	if (r->state != ROOM_JOINED) {
		pp_room_fail(r, "other", "The network refused the join.");
		return;
	}
	me = pp_room_own_nick(conv);
	f = json_object_new();
	pp_set_id(f, "room", r->name);
	pp_set_str(f, "nick", me);
	pp_set_str(f, "kind", "part");
	json_object_set_null_member(f, "reason");
	pp_emit(r->s, "occupant_left", f);
	g_free(me);
	pp_room_forget(r);
}

static void join_failed_cb(PurpleConnection *gc, GHashTable *components, gpointer data)
{
	PPSession *s = pp_session_of(purple_connection_get_account(gc));
	char *name = (s && pp.info->get_chat_name && components) ? pp.info->get_chat_name(components) : NULL;
	PPRoom *r = name ? pp_room_named(s, name) : NULL;

	(void)data;
	if (r != NULL && r->state != ROOM_JOINED)
		pp_room_fail(r, "other", "The network refused the join.");
	g_free(name);
}

static void topic_cb(PurpleConversation *conv, const char *who, const char *topic, gpointer data)
{
	PPRoom *r = pp_room_of(conv, NULL);
	JsonObject *f;
	char *text;

	(void)data;
	if (r == NULL || r->state != ROOM_JOINED)
		return;   /* before: it goes with room_joined */
	text = purple_markup_strip_html(topic ? topic : "");
	f = json_object_new();
	pp_set_id(f, "room", r->name);
	pp_set_str(f, "nick", who && *who ? who : NULL);
	pp_set_str(f, "subject", text);
	pp_emit(r->s, "room_subject", f);
	g_free(text);
}

static int invited_cb(PurpleAccount *account, const char *inviter, const char *room, const char *message,
                      GHashTable *components, gpointer data)
{
	PPSession *s = pp_session_of(account);
	JsonObject *f;
	char *name, *by;

	(void)components;
	(void)data;
	if (s == NULL || room == NULL)
		return 0;
	name = pp_fold(room);
	by = inviter ? pp_contact_name(account, inviter) : NULL;
	f = json_object_new();
	pp_set_id(f, "room", name);
	if (by != NULL)
		pp_set_id(f, "by", by);
	pp_set_str(f, "reason", message);
	pp_emit(s, "invited", f);
	g_free(name);
	g_free(by);
	return -1;   /* no answer to the network: the user joins, or not */
}

static void write_chat(PurpleConversation *conv, const char *who, const char *message,
                       PurpleMessageFlags flags, time_t mtime)
{
	PPRoom *r;
	JsonObject *f, *ids;
	const char *kind;
	char *body, *nick, *when = NULL;

	if ((flags & (PURPLE_MESSAGE_SYSTEM | PURPLE_MESSAGE_ERROR)) || who == NULL || *who == '\0')
		return;
	if ((r = pp_room_joined_room(conv)) == NULL)
		return;
	body = pp_html_to_text(message, &kind);
	if (flags & PURPLE_MESSAGE_DELAYED)
		when = pp_rfc3339(mtime);
	if ((flags & PURPLE_MESSAGE_SEND) && !(flags & PURPLE_MESSAGE_DELAYED) && !g_queue_is_empty(&r->pending)) {
		Ids *mine = g_queue_pop_head(&r->pending);
		ids = pp_ids_object(mine->id, mine->origin_id);
		pp_room_ids_free(mine);
	} else {
		ids = pp_ids_object(NULL, NULL);
	}
	nick = (flags & PURPLE_MESSAGE_SEND) ? pp_room_own_nick(conv) : g_strdup(who);
	f = json_object_new();
	pp_set_id(f, "room", r->name);
	pp_set_str(f, "nick", nick);
	pp_set_str(f, "body", body);
	pp_set_str(f, "kind", kind);
	json_object_set_object_member(f, "ids", ids);
	if (when != NULL)
		pp_set_str(f, "time", when);
	pp_emit(r->s, "room_message", f);
	g_free(body);
	g_free(nick);
	g_free(when);
}

/* Errors libpurple writes into a conversation: a direct message's fails it; a room's is
 * a notice in the room (or fails the join under way). */
static void write_conv(PurpleConversation *conv, const char *name, const char *alias, const char *message,
                       PurpleMessageFlags flags, time_t mtime)
{
	PPSession *s = pp_session_of(purple_conversation_get_account(conv));
	char *text;
	JsonObject *f;
	PPRoom *r;

	(void)name;
	(void)alias;
	(void)mtime;
	if (s == NULL || !(flags & PURPLE_MESSAGE_ERROR))
		return;
	text = purple_markup_strip_html(message ? message : "");
	f = json_object_new();
	if (purple_conversation_get_type(conv) == PURPLE_CONV_TYPE_IM) {
		char *to = pp_contact_name(purple_conversation_get_account(conv), purple_conversation_get_name(conv));
		pp_set_id(f, "to", to);
		json_object_set_null_member(f, "id");
		pp_set_str(f, "reason", text);
		pp_emit(s, "send_failed", f);
		g_free(to);
	} else if ((r = pp_room_of(conv, NULL)) != NULL && r->state != ROOM_JOINED) {
		json_object_unref(f);
		pp_room_fail(r, "other", text);
	} else if (r != NULL) {
		pp_set_id(f, "room", r->name);
		pp_set_str(f, "text", text);
		pp_emit(s, "room_notice", f);
	} else {
		json_object_unref(f);
	}
	g_free(text);
}

static PurpleConversationUiOps conversation_ops = {
	.write_chat = write_chat,
	.write_im = pp_contacts_write_im,
	.write_conv = write_conv,
	.chat_add_users = chat_add_users,
	.chat_rename_user = chat_rename_user,
	.chat_update_user = chat_update_user,
};

PurpleConversationUiOps *pp_conversation_ops(void)
{
	return &conversation_ops;
}

/* A direct conversation was used now: it is closed after IM_IDLE_S without use. */
void pp_conversation_used(PurpleConversation *conv)
{
	purple_conversation_set_data(conv, "pontoon-used", GINT_TO_POINTER((int)(g_get_monotonic_time() / G_USEC_PER_SEC)));
}

/* Bounded memory: libpurple keeps every conversation's history (system lines and
 * errors), and a direct conversation for everyone who ever wrote. */
static gboolean tidy_cb(gpointer data)
{
	int now = (int)(g_get_monotonic_time() / G_USEC_PER_SEC);
	GList *idle = NULL;

	(void)data;
	for (GList *l = purple_get_conversations(); l; l = l->next) {
		PurpleConversation *c = l->data;
		purple_conversation_clear_message_history(c);
		if (purple_conversation_get_type(c) == PURPLE_CONV_TYPE_IM
		    && now - GPOINTER_TO_INT(purple_conversation_get_data(c, "pontoon-used")) > IM_IDLE_S)
			idle = g_list_prepend(idle, c);
	}
	g_list_free_full(idle, (GDestroyNotify)purple_conversation_destroy);
	return TRUE;
}

void pp_rooms_init(void)
{
	void *convs = purple_conversations_get_handle();

	purple_signal_connect(convs, "chat-joined", &handle, PURPLE_CALLBACK(chat_joined_cb), NULL);
	purple_signal_connect(convs, "chat-left", &handle, PURPLE_CALLBACK(chat_left_cb), NULL);
	purple_signal_connect(convs, "chat-buddy-left", &handle, PURPLE_CALLBACK(buddy_left_cb), NULL);
	purple_signal_connect(convs, "chat-join-failed", &handle, PURPLE_CALLBACK(join_failed_cb), NULL);
	purple_signal_connect(convs, "chat-topic-changed", &handle, PURPLE_CALLBACK(topic_cb), NULL);
	purple_signal_connect(convs, "chat-invited", &handle, PURPLE_CALLBACK(invited_cb), NULL);
	g_timeout_add_seconds(60, tidy_cb, NULL);
}
