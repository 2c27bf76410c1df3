/* session.c: sessions (one PurpleAccount each), their login and end, and their commands.
 *
 * A login builds the account from the registration: the user name with the parts the
 * protocol splits off appended (the operator's preset first, else the user's field,
 * else the plugin's default), the password, and the protocol options (the operator's
 * presets win over the user's fields). The password is never remembered: libpurple's
 * accounts.xml is neither read nor written (the account-prefs UI operations below take
 * over loading and saving, and do nothing), and its buddy list is not saved either.
 * Connection signals become connected / authenticated / login_failed / unreachable /
 * disconnected; a session that ended (either side) forgets its account at once, and
 * libpurple's account is deleted from the main loop, outside the signal that ended it.
 * Every command is acknowledged with done after it is handled; requests the network
 * cannot answer get their empty answers, since the core waits for one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pontoon-purple.h"

static GHashTable *sessions;     /* gint64* id -> PPSession */
static GHashTable *by_account;   /* PurpleAccount* -> PPSession */
static GHashTable *doomed;       /* PurpleAccount* -> idle source deleting it */
static int handle;

static void nothing(void) {}
static void drop_pending(PPSession *s);

static PurpleAccountPrefsUiOps account_prefs_ops = {.load = nothing, .save = nothing, .schedule_save = nothing};

PPSession *pp_session_of(PurpleAccount *account)
{
	return account ? g_hash_table_lookup(by_account, account) : NULL;
}

PurpleConnection *pp_connection(PPSession *s)
{
	PurpleConnection *gc = s->account ? purple_account_get_connection(s->account) : NULL;

	return (gc != NULL && s->signed_on) ? gc : NULL;
}

static void delete_now(PurpleAccount *a)
{
	guint source = GPOINTER_TO_UINT(g_hash_table_lookup(doomed, a));

	if (source != 0) {
		g_source_remove(source);
		g_hash_table_remove(doomed, a);
	}
	purple_accounts_delete(a);
}

static gboolean delete_later_cb(gpointer data)
{
	g_hash_table_remove(doomed, data);
	purple_accounts_delete(data);
	return FALSE;
}

/* The session is over: forgotten now, its account deleted now or from the main loop. */
static void forget(PPSession *s, gboolean now)
{
	PurpleAccount *a = s->account;

	g_hash_table_remove(sessions, &s->id);
	if (a != NULL) {
		g_hash_table_remove(by_account, a);
		if (now)
			delete_now(a);
		else if (!g_hash_table_contains(doomed, a))
			g_hash_table_insert(doomed, a, GUINT_TO_POINTER(g_idle_add(delete_later_cb, a)));
	}
	pp_rooms_free(s);
	g_hash_table_destroy(s->presences);
	drop_pending(s);
	g_queue_free(s->pending);
	g_free(s);
}

/* A command that came before the session signed on: the core sends a user's joins as soon
 * as it logged them in, and libpurple takes none before its connection is up. */
typedef struct {
	gint64 seq;
	JsonObject *body;
} PPPending;

/* Commands held before the sign-on; beyond, they are carried out at once (and fail). */
#define MAX_PENDING 256

static void run_command(PPSession *s, gint64 id, gint64 seq, JsonObject *body);

/* Acknowledges the held commands without running them: the session ended before its
 * sign-on (the core, told so, drops what it had asked). */
static void drop_pending(PPSession *s)
{
	PPPending *w;

	while ((w = g_queue_pop_head(s->pending)) != NULL) {
		pp_done(s->id, w->seq);
		json_object_unref(w->body);
		g_free(w);
	}
}

/* Runs the held commands, one main-loop turn after the sign-on (not from inside
 * libpurple's signal). */
static gboolean run_pending_cb(gpointer data)
{
	gint64 id = *(gint64 *)data;
	PPSession *s = g_hash_table_lookup(sessions, &id);
	PPPending *w;

	g_free(data);
	while (s != NULL && (w = g_queue_pop_head(s->pending)) != NULL) {
		run_command(s, id, w->seq, w->body);
		json_object_unref(w->body);
		g_free(w);
		s = g_hash_table_lookup(sessions, &id);   /* a command may end it */
	}
	return FALSE;
}

static void end_session(PPSession *s, const char *event, const char *reason)
{
	JsonObject *f = json_object_new();

	pp_set_str(f, "reason", reason && *reason ? reason : "the connection ended");
	pp_emit(s, event, f);
	fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT " ended: %s\n", s->id, event);
	forget(s, FALSE);
}

void pp_on_welcome(JsonObject *body)
{
	gint64 protocol = 0;
	JsonObject *options = pp_get_obj(body, "options");
	GList *keys = options ? json_object_get_members(options) : NULL;

	if (pp.welcomed)
		return;
	if (!pp_get_int(body, "protocol", &protocol) || protocol != PP_PROTOCOL_VERSION)
		fprintf(stderr, "pontoon-purple: the core speaks protocol %" G_GINT64_FORMAT ", not %d\n",
		        protocol, PP_PROTOCOL_VERSION);
	pp.welcomed = TRUE;
	for (GList *l = keys; l; l = l->next) {
		const char *key = l->data, *value = pp_get_str(options, key);
		gboolean known = FALSE;
		if (value == NULL)
			continue;
		if (strcmp(key, "accept_certificates") == 0) {
			if (!pp_parse_bool(value, &pp.accept_certificates))
				fprintf(stderr, "pontoon-purple: option accept_certificates: not true or false\n");
			continue;
		}
		for (guint i = 0; i < pp_settings()->len; i++)
			known |= strcmp(((PPSetting *)g_ptr_array_index(pp_settings(), i))->key, key) == 0;
		if (!known)
			fprintf(stderr, "pontoon-purple: option %s is no setting of %s; ignored\n", key, pp.protocol_id);
		else if (g_hash_table_contains(pp.cli_presets, key))
			fprintf(stderr, "pontoon-purple: option %s is preset on the command line; that one applies\n", key);
		else
			g_hash_table_replace(pp.presets, g_strdup(key), g_strdup(value));
	}
	g_list_free(keys);
}

/* The account's user name: the legacy id, and each part the protocol splits off. */
static char *build_username(const char *legacy, JsonObject *opts, char **why)
{
	GString *u = g_string_new(legacy);

	for (guint i = 0; i < pp_settings()->len; i++) {
		PPSetting *st = g_ptr_array_index(pp_settings(), i);
		const char *preset, *given, *def;
		char sep;
		gboolean has_sep;

		if (st->split == NULL)
			continue;
		sep = purple_account_user_split_get_separator(st->split);
		preset = g_hash_table_lookup(pp.presets, st->key);
		given = st->var ? pp_get_str(opts, st->var) : NULL;
		def = purple_account_user_split_get_default_value(st->split);
		has_sep = strchr(legacy, sep) != NULL;
		if (preset != NULL) {
			if (has_sep) {
				*why = g_strdup_printf("The user name cannot hold '%c' here: the gateway sets the %s.", sep, st->key);
				return g_string_free(u, TRUE), NULL;
			}
			if (*preset)
				g_string_append_printf(u, "%c%s", sep, preset);
		} else if (given != NULL && *given != '\0') {
			if (has_sep) {
				*why = g_strdup_printf("Give the %s in the user name or in its own field, not both.", st->key);
				return g_string_free(u, TRUE), NULL;
			}
			g_string_append_printf(u, "%c%s", sep, given);
		} else if (!has_sep && def != NULL && *def != '\0') {
			g_string_append_printf(u, "%c%s", sep, def);
		}
	}
	return g_string_free(u, FALSE);
}

/* The protocol options: the operator's preset, else the user's field, else the default. */
static gboolean apply_options(PurpleAccount *a, JsonObject *opts, char **why)
{
	for (guint i = 0; i < pp_settings()->len; i++) {
		PPSetting *st = g_ptr_array_index(pp_settings(), i);
		const char *value;
		gboolean preset;

		if (st->option == NULL)
			continue;
		value = g_hash_table_lookup(pp.presets, st->key);
		preset = value != NULL;
		if (!preset && st->var != NULL)
			value = pp_get_str(opts, st->var);
		if (value == NULL || (*value == '\0' && !preset))
			continue;
		switch (purple_account_option_get_type(st->option)) {
		case PURPLE_PREF_BOOLEAN: {
			gboolean b;
			if (!pp_parse_bool(value, &b)) {
				*why = g_strdup_printf("%s must be yes or no.", st->key);
				return FALSE;
			}
			purple_account_set_bool(a, st->key, b);
			break;
		}
		case PURPLE_PREF_INT: {
			char *end = NULL;
			gint64 n = g_ascii_strtoll(value, &end, 10);
			if (end == value || *end != '\0' || n < G_MININT || n > G_MAXINT) {
				*why = g_strdup_printf("%s must be a number.", st->key);
				return FALSE;
			}
			purple_account_set_int(a, st->key, (int)n);
			break;
		}
		case PURPLE_PREF_STRING_LIST: {
			gboolean ok = FALSE;
			for (GList *l = purple_account_option_get_list(st->option); l; l = l->next)
				ok |= strcmp(((PurpleKeyValuePair *)l->data)->value, value) == 0;
			if (!ok) {
				*why = g_strdup_printf("%s: %s is not one of the values allowed.", st->key, value);
				return FALSE;
			}
			purple_account_set_string(a, st->key, value);
			break;
		}
		default:
			purple_account_set_string(a, st->key, value);
			break;
		}
	}
	return TRUE;
}

void pp_on_login(JsonObject *body)
{
	gint64 id;
	JsonObject *acct = pp_get_obj(body, "account");
	JsonObject *opts = pp_get_obj(acct, "options");
	const char *legacy = pp_get_str(acct, "legacy_id");
	const char *secret = pp_get_str(acct, "secret");
	PPSession *s;
	PurpleAccount *a, *old;
	PurpleStatusType *available;
	char *username, *why = NULL;

	if (!pp_get_int(body, "session", &id)) {
		fprintf(stderr, "pontoon-purple: a login without a session number; skipped\n");
		return;
	}
	if (g_hash_table_contains(sessions, &id)) {
		fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT " is already logged in\n", id);
		return;
	}
	s = g_new0(PPSession, 1);
	s->id = id;
	s->rooms = g_hash_table_new(g_str_hash, g_str_equal);
	s->presences = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	s->pending = g_queue_new();
	g_hash_table_insert(sessions, &s->id, s);
	if (legacy == NULL || *legacy == '\0') {
		end_session(s, "login_failed", "No user name.");
		return;
	}
	if ((username = build_username(legacy, opts, &why)) == NULL) {
		end_session(s, "login_failed", why);
		g_free(why);
		return;
	}
	if ((old = purple_accounts_find(username, pp.protocol_id)) != NULL) {
		if (pp_session_of(old) != NULL) {
			end_session(s, "login_failed", "This account is already logged in through this gateway.");
			g_free(username);
			return;
		}
		delete_now(old);   /* a session's that ended, not deleted yet */
	}
	if ((secret == NULL || *secret == '\0')
	    && !(pp.info->options & (OPT_PROTO_NO_PASSWORD | OPT_PROTO_PASSWORD_OPTIONAL))) {
		end_session(s, "login_failed", "A password is needed.");
		g_free(username);
		return;
	}
	a = purple_account_new(username, pp.protocol_id);
	g_free(username);
	purple_account_set_remember_password(a, FALSE);
	if (secret != NULL && *secret != '\0')
		purple_account_set_password(a, secret);
	if (!apply_options(a, opts, &why)) {
		purple_account_destroy(a);
		end_session(s, "login_failed", why);
		g_free(why);
		return;
	}
	purple_accounts_add(a);
	s->account = a;
	g_hash_table_insert(by_account, a, s);
	fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT ": logging in\n", id);
	available = purple_account_get_status_type_with_primitive(a, PURPLE_STATUS_AVAILABLE);
	if (available != NULL)
		purple_account_set_status(a, purple_status_type_get_id(available), TRUE, NULL);
	/* Connects: its outcome comes as signals (perhaps at once, for a bad user name). */
	purple_account_set_enabled(a, PP_UI_ID, TRUE);
}

void pp_on_logout(JsonObject *body)
{
	gint64 id;
	PPSession *s;

	if (!pp_get_int(body, "session", &id) || (s = g_hash_table_lookup(sessions, &id)) == NULL)
		return;
	fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT ": logged out\n", id);
	forget(s, TRUE);
}

void pp_sessions_close_all(void)
{
	GList *all = g_hash_table_get_values(sessions);

	for (GList *l = all; l; l = l->next)
		forget(l->data, TRUE);
	g_list_free(all);
}

/* The empty answer to a request the network cannot answer (the core waits for one). */
static void answer_request(PPSession *s, const char *name, JsonObject *p, const char *why)
{
	gint64 request;
	JsonObject *f, *err;

	if (!pp_get_int(p, "request", &request))
		return;
	f = json_object_new();
	json_object_set_int_member(f, "request", request);
	if (strcmp(name, "list_rooms") == 0) {
		pp_set_str(f, "text", why);
		pp_emit(s, "room_list_failed", f);
	} else if (strcmp(name, "look_up") == 0) {
		json_object_set_null_member(f, "details");
		pp_emit(s, "looked_up", f);
	} else {
		err = json_object_new();
		pp_set_str(err, "Err", why);
		json_object_set_object_member(f, strcmp(name, "list_bans") == 0 ? "masks" : "config", err);
		pp_emit(s, strcmp(name, "list_bans") == 0 ? "ban_list" : "room_config", f);
	}
}

static void dispatch(PPSession *s, const char *name, JsonObject *p)
{
	if (strcmp(name, "send_message") == 0)
		pp_contacts_send(s, p);
	else if (strcmp(name, "send_room_message") == 0)
		pp_rooms_send(s, p);
	else if (strcmp(name, "join_room") == 0)
		pp_rooms_join(s, p);
	else if (strcmp(name, "leave_room") == 0)
		pp_rooms_leave(s, p);
	else if (strcmp(name, "set_subject") == 0)
		pp_rooms_set_subject(s, p);
	else if (strcmp(name, "invite") == 0)
		pp_rooms_invite(s, p);
	else if (strcmp(name, "set_presence") == 0)
		pp_contacts_set_presence(s, p);
	else if (strcmp(name, "add_contact") == 0 && pp_get_id(p, "contact"))
		pp_contacts_add(s, pp_get_id(p, "contact"));
	else if (strcmp(name, "remove_contact") == 0 && pp_get_id(p, "contact"))
		pp_contacts_remove(s, pp_get_id(p, "contact"));
	else if (strcmp(name, "list_rooms") == 0 || strcmp(name, "look_up") == 0
	         || strcmp(name, "list_bans") == 0 || strcmp(name, "get_room_config") == 0)
		answer_request(s, name, p, "Not supported by this gateway's libpurple backend.");
	else if (strcmp(name, "disconnect") == 0) {
		fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT ": disconnecting\n", s->id);
		forget(s, TRUE);
	}
	/* Anything else (reactions, corrections, chat states...): not carried; done. */
}

void pp_on_command(JsonObject *body)
{
	gint64 id, seq;
	PPSession *s;

	if (!pp_get_int(body, "session", &id) || !pp_get_int(body, "seq", &seq)) {
		fprintf(stderr, "pontoon-purple: a command without session or seq; skipped\n");
		return;
	}
	s = g_hash_table_lookup(sessions, &id);
	if (s != NULL && !s->signed_on && g_queue_get_length(s->pending) < MAX_PENDING) {
		PPPending *w = g_new0(PPPending, 1);

		w->seq = seq;
		w->body = json_object_ref(body);
		g_queue_push_tail(s->pending, w);
		return;
	}
	run_command(s, id, seq, body);
}

/* Carries out one command of session `id` (`s`, NULL when it is over) and acknowledges it. */
static void run_command(PPSession *s, gint64 id, gint64 seq, JsonObject *body)
{
	JsonNode *cmd = json_object_get_member(body, "command");
	const char *name = NULL;
	JsonObject *p = NULL, *empty = NULL;

	if (cmd != NULL && JSON_NODE_HOLDS_VALUE(cmd) && json_node_get_value_type(cmd) == G_TYPE_STRING) {
		name = json_node_get_string(cmd);
		p = empty = json_object_new();
	} else if (cmd != NULL && JSON_NODE_HOLDS_OBJECT(cmd) && json_object_get_size(json_node_get_object(cmd)) == 1) {
		GList *members = json_object_get_members(json_node_get_object(cmd));
		name = members->data;
		p = pp_get_obj(json_node_get_object(cmd), name);
		g_list_free(members);
	}
	if (name == NULL || p == NULL)
		fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT ": a malformed command; acknowledged\n", id);
	else if (s != NULL)
		dispatch(s, name, p);
	if (empty != NULL)
		json_object_unref(empty);
	pp_done(id, seq);
}

/* Whether a sign-on means the network checked a password (the core's server mode
 * refuses unchecked logins unless the operator allows them): one was given and used,
 * except on IRC, where only SASL checks it (a server password or none checks nothing). */
static gboolean checks_password(PurpleAccount *a)
{
	const char *password = purple_account_get_password(a);

	if (password == NULL || *password == '\0' || (pp.info->options & OPT_PROTO_NO_PASSWORD))
		return FALSE;
	if (strcmp(pp.protocol_id, "prpl-irc") == 0)
		return purple_account_get_bool(a, "sasl", FALSE);
	return TRUE;
}

static void signed_on_cb(PurpleConnection *gc, gpointer data)
{
	PPSession *s = pp_session_of(purple_connection_get_account(gc));

	(void)data;
	if (s == NULL || s->signed_on)
		return;
	s->signed_on = TRUE;
	fprintf(stderr, "pontoon-purple: session %" G_GINT64_FORMAT ": signed on\n", s->id);
	if (checks_password(s->account))
		pp_emit_unit(s, "authenticated");
	pp_emit_unit(s, "connected");
	pp_contacts_signed_on(s);
	if (!g_queue_is_empty(s->pending))
		g_idle_add(run_pending_cb, g_memdup2(&s->id, sizeof s->id));
}

static void connection_error_cb(PurpleConnection *gc, PurpleConnectionError err, const char *desc, gpointer data)
{
	PPSession *s = pp_session_of(purple_connection_get_account(gc));

	(void)data;
	if (s == NULL)
		return;
	if (s->signed_on)
		end_session(s, "disconnected", desc);
	else if (err == PURPLE_CONNECTION_ERROR_NETWORK_ERROR)
		end_session(s, "unreachable", desc);
	else
		end_session(s, "login_failed", desc);
}

static void signed_off_cb(PurpleConnection *gc, gpointer data)
{
	PPSession *s = pp_session_of(purple_connection_get_account(gc));

	(void)data;
	if (s != NULL)
		end_session(s, s->signed_on ? "disconnected" : "unreachable", "Signed off by the network.");
}

/* Before purple_core_init: libpurple must not read or write accounts.xml. */
void pp_sessions_init(void)
{
	sessions = g_hash_table_new(g_int64_hash, g_int64_equal);
	by_account = g_hash_table_new(g_direct_hash, g_direct_equal);
	doomed = g_hash_table_new(g_direct_hash, g_direct_equal);
	purple_account_prefs_set_ui_ops(&account_prefs_ops);
}

/* After purple_core_init: the connection signals. */
void pp_sessions_start(void)
{
	void *conn = purple_connections_get_handle();

	purple_signal_connect(conn, "signed-on", &handle, PURPLE_CALLBACK(signed_on_cb), NULL);
	purple_signal_connect(conn, "signed-off", &handle, PURPLE_CALLBACK(signed_off_cb), NULL);
	purple_signal_connect(conn, "connection-error", &handle, PURPLE_CALLBACK(connection_error_cb), NULL);
}
