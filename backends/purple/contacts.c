/* contacts.c: the buddy list, presence and direct messages of each session.
 *
 * The buddy list libpurple has at sign-on (XMPP's roster; IRC's is empty: it keeps
 * none) goes to the core as contact_list, later additions and removals by the network
 * as contact_updated / contact_removed (not the ones the user's own commands made).
 * A buddy's presence is its active status's primitive and message, sent when it
 * changes. add_contact / remove_contact add the buddy to libpurple's list and the
 * network's (IRC polls ISON for them; XMPP subscribes). A peer's authorization request
 * (an XMPP subscription) is accepted, so that they see the user's presence.
 * Direct messages arrive through the write_im UI operation (which has their time),
 * HTML stripped; the user's own (flagged as sent) are not echoed back.
 */
#include <stdio.h>
#include <string.h>

#include "pontoon-purple.h"

#define GROUP "Pontoon"
#define MAX_CONTACTS 5000

static int handle;

/* A peer's name as the core knows it: libpurple's normal form (XMPP: the bare JID,
 * or room/nick for a room's occupant), folded as the hello declared. */
char *pp_contact_name(PurpleAccount *account, const char *who)
{
	const char *norm = purple_normalize(account, who);

	return pp_fold(norm != NULL && *norm != '\0' ? norm : who);
}

static const char *availability(PurplePresence *pr, char **message)
{
	PurpleStatus *st = purple_presence_get_active_status(pr);
	const char *m;

	*message = NULL;
	if (st == NULL || !purple_presence_is_online(pr))
		return "offline";
	m = purple_status_get_attr_string(st, "message");
	if (m != NULL && *m != '\0')
		*message = purple_markup_strip_html(m);
	switch (purple_status_type_get_primitive(purple_status_get_type(st))) {
	case PURPLE_STATUS_AWAY:
		return "away";
	case PURPLE_STATUS_EXTENDED_AWAY:
		return "extended_away";
	case PURPLE_STATUS_UNAVAILABLE:
		return "do_not_disturb";
	case PURPLE_STATUS_OFFLINE:
		return "offline";
	default:
		return "available";
	}
}

/* The buddy's presence, unless the core already has it (`force`: even then). */
static void emit_presence(PPSession *s, PurpleBuddy *b, gboolean force)
{
	char *message, *name = pp_fold(purple_buddy_get_name(b));
	const char *av = availability(purple_buddy_get_presence(b), &message);
	char *key = g_strdup_printf("%s\n%s", av, message ? message : "");
	const char *last = g_hash_table_lookup(s->presences, name);
	JsonObject *f;

	if (!force && last != NULL && strcmp(last, key) == 0) {
		g_free(key);
		g_free(name);
		g_free(message);
		return;
	}
	if (last != NULL || g_hash_table_size(s->presences) < MAX_CONTACTS)
		g_hash_table_replace(s->presences, g_strdup(name), key);
	else
		g_free(key);
	f = json_object_new();
	pp_set_id(f, "contact", name);
	pp_set_str(f, "availability", av);
	pp_set_str(f, "status", message);
	pp_emit(s, "contact_presence", f);
	g_free(name);
	g_free(message);
}

static JsonObject *contact_object(PurpleBuddy *b)
{
	JsonObject *c = json_object_new();
	char *name = pp_fold(purple_buddy_get_name(b));
	const char *alias = purple_buddy_get_alias_only(b);

	pp_set_id(c, "id", name);
	pp_set_str(c, "name", (alias != NULL && strcmp(alias, purple_buddy_get_name(b)) != 0) ? alias : NULL);
	g_free(name);
	return c;
}

void pp_contacts_signed_on(PPSession *s)
{
	GSList *buddies = purple_find_buddies(s->account, NULL);
	JsonArray *list = json_array_new();
	int n = 0;

	for (GSList *l = buddies; l && n < MAX_CONTACTS; l = l->next, n++)
		json_array_add_object_element(list, contact_object(l->data));
	if (json_array_get_length(list) > 0) {
		JsonObject *f = json_object_new();
		json_object_set_array_member(f, "contacts", list);
		pp_emit(s, "contact_list", f);
	} else {
		json_array_unref(list);
	}
	n = 0;
	for (GSList *l = buddies; l && n < MAX_CONTACTS; l = l->next, n++)
		if (purple_presence_is_online(purple_buddy_get_presence(l->data)))
			emit_presence(s, l->data, FALSE);
	g_slist_free(buddies);
}

void pp_contacts_add(PPSession *s, const char *name)
{
	PurpleBuddy *b = purple_find_buddy(s->account, name);

	if (b == NULL) {
		PurpleGroup *g = purple_find_group(GROUP);
		if (g == NULL) {
			g = purple_group_new(GROUP);
			purple_blist_add_group(g, NULL);
		}
		b = purple_buddy_new(s->account, name, NULL);
		s->own_change++;
		purple_blist_add_buddy(b, NULL, g, NULL);
		if (pp_connection(s) != NULL)
			purple_account_add_buddy_with_invite(s->account, b, NULL);
		s->own_change--;
	}
	emit_presence(s, b, TRUE);
}

void pp_contacts_remove(PPSession *s, const char *name)
{
	PurpleBuddy *b = purple_find_buddy(s->account, name);
	char *folded = pp_fold(name);

	g_hash_table_remove(s->presences, folded);
	g_free(folded);
	if (b == NULL)
		return;
	s->own_change++;
	if (pp_connection(s) != NULL)
		purple_account_remove_buddy(s->account, b, purple_buddy_get_group(b));
	purple_blist_remove_buddy(b);
	s->own_change--;
}

static void send_failed(PPSession *s, const char *to, const char *id, const char *reason)
{
	JsonObject *f = json_object_new();

	pp_set_id(f, "to", to);
	pp_set_str(f, "id", id);
	pp_set_str(f, "reason", reason);
	pp_emit(s, "send_failed", f);
}

void pp_contacts_send(PPSession *s, JsonObject *p)
{
	const char *to = pp_get_id(p, "to"), *body = pp_get_str(p, "body");
	const char *id = pp_get_str(p, "id"), *kind = pp_get_str(p, "kind");
	PurpleConnection *gc = pp_connection(s);
	PurpleConversation *conv;
	char *html;

	if (to == NULL || body == NULL)
		return;
	if (gc == NULL) {
		send_failed(s, to, id, "Not connected to the network.");
		return;
	}
	/* XMPP's prpl wants the conversation a UI would have open. */
	conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, to, s->account);
	if (conv == NULL)
		conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, s->account, to);
	pp_conversation_used(conv);
	html = pp_text_to_html(body, kind);
	if (serv_send_im(gc, to, html, 0) < 0)
		send_failed(s, to, id, "The network did not take the message.");
	g_free(html);
}

void pp_contacts_set_presence(PPSession *s, JsonObject *p)
{
	const char *av = pp_get_str(p, "availability"), *status = pp_get_str(p, "status");
	PurpleStatusPrimitive prim;
	PurpleStatusType *t;

	if (av == NULL || s->account == NULL || strcmp(av, "offline") == 0)
		return;
	if (strcmp(av, "away") == 0)
		prim = PURPLE_STATUS_AWAY;
	else if (strcmp(av, "extended_away") == 0)
		prim = PURPLE_STATUS_EXTENDED_AWAY;
	else if (strcmp(av, "do_not_disturb") == 0)
		prim = PURPLE_STATUS_UNAVAILABLE;
	else
		prim = PURPLE_STATUS_AVAILABLE;
	t = purple_account_get_status_type_with_primitive(s->account, prim);
	if (t == NULL && prim != PURPLE_STATUS_AVAILABLE)
		t = purple_account_get_status_type_with_primitive(s->account, PURPLE_STATUS_AWAY);
	if (t == NULL)
		return;
	if (status != NULL && *status != '\0' && purple_status_type_get_attr(t, "message") != NULL) {
		char *html = g_markup_escape_text(status, -1);
		purple_account_set_status(s->account, purple_status_type_get_id(t), TRUE, "message", html, NULL);
		g_free(html);
	} else {
		purple_account_set_status(s->account, purple_status_type_get_id(t), TRUE, NULL);
	}
}

void pp_contacts_write_im(PurpleConversation *conv, const char *who, const char *message,
                          PurpleMessageFlags flags, time_t mtime)
{
	PurpleAccount *account = purple_conversation_get_account(conv);
	PPSession *s = pp_session_of(account);
	const char *kind;
	char *from, *body, *when = NULL;
	JsonObject *f;

	if (s == NULL || (flags & (PURPLE_MESSAGE_SEND | PURPLE_MESSAGE_SYSTEM)))
		return;
	pp_conversation_used(conv);
	if (who == NULL || *who == '\0')
		who = purple_conversation_get_name(conv);
	from = pp_contact_name(account, who);
	body = pp_html_to_text(message, &kind);
	if (flags & PURPLE_MESSAGE_AUTO_RESP)
		kind = "notice";
	if (flags & PURPLE_MESSAGE_DELAYED)
		when = pp_rfc3339(mtime);
	f = json_object_new();
	pp_set_id(f, "from", from);
	pp_set_str(f, "body", body);
	pp_set_str(f, "kind", kind);
	if (when != NULL)
		pp_set_str(f, "time", when);
	pp_emit(s, "message", f);
	g_free(from);
	g_free(body);
	g_free(when);
}

static void status_changed_cb(PurpleBuddy *b, PurpleStatus *old, PurpleStatus *now, gpointer data)
{
	PPSession *s = pp_session_of(purple_buddy_get_account(b));

	(void)old;
	(void)now;
	(void)data;
	if (s != NULL && s->signed_on)
		emit_presence(s, b, FALSE);
}

static void signed_on_off_cb(PurpleBuddy *b, gpointer data)
{
	status_changed_cb(b, NULL, NULL, data);
}

static void buddy_added_cb(PurpleBuddy *b, gpointer data)
{
	PPSession *s = pp_session_of(purple_buddy_get_account(b));
	JsonObject *f;

	(void)data;
	if (s == NULL || !s->signed_on || s->own_change > 0)
		return;
	f = json_object_new();
	json_object_set_object_member(f, "contact", contact_object(b));
	pp_emit(s, "contact_updated", f);
}

static void buddy_removed_cb(PurpleBuddy *b, gpointer data)
{
	PPSession *s = pp_session_of(purple_buddy_get_account(b));
	JsonObject *f;
	char *name;

	(void)data;
	if (s == NULL || !s->signed_on || s->own_change > 0)
		return;
	name = pp_fold(purple_buddy_get_name(b));
	g_hash_table_remove(s->presences, name);
	f = json_object_new();
	pp_set_id(f, "contact", name);
	pp_emit(s, "contact_removed", f);
	g_free(name);
}

/* A peer asks to see the user's presence (an XMPP subscription): yes. */
static int authorization_cb(PurpleAccount *account, const char *who, gpointer data)
{
	PPSession *s = pp_session_of(account);

	(void)data;
	if (s == NULL)
		return 0;
	fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT ": accepting %s's request to see the user's presence\n",
	        s->id, who);
	return 1;
}

void pp_contacts_init(void)
{
	void *blist = purple_blist_get_handle();

	purple_signal_connect(blist, "buddy-status-changed", &handle, PURPLE_CALLBACK(status_changed_cb), NULL);
	purple_signal_connect(blist, "buddy-signed-on", &handle, PURPLE_CALLBACK(signed_on_off_cb), NULL);
	purple_signal_connect(blist, "buddy-signed-off", &handle, PURPLE_CALLBACK(signed_on_off_cb), NULL);
	purple_signal_connect(blist, "buddy-added", &handle, PURPLE_CALLBACK(buddy_added_cb), NULL);
	purple_signal_connect(blist, "buddy-removed", &handle, PURPLE_CALLBACK(buddy_removed_cb), NULL);
	purple_signal_connect(purple_accounts_get_handle(), "account-authorization-requested", &handle,
	                      PURPLE_CALLBACK(authorization_cb), NULL);
}
