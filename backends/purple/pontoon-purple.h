/* pontoon-purple.h: what the parts of the libpurple backend share.
 *
 * The backend is one process serving many sessions of one libpurple protocol: main.c
 * runs the GLib main loop and reads the core's lines, io.c writes ours, hello.c says
 * what the transport is, session.c logs accounts in and out and dispatches commands,
 * contacts.c does buddies and direct messages, rooms.c and chats.c group chats (the
 * commands, and libpurple's chat signals), and ui.c answers libpurple's questions
 * (requests, notices) without a user to ask.
 */
#ifndef PONTOON_PURPLE_H
#define PONTOON_PURPLE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <purple.h>

#define PP_UI_ID "pontoon"
#define PP_PROTOCOL_VERSION 1
#define PP_VOCABULARY_VERSION 2
/* The longest line either side reads (the core's framing limit). */
#define PP_MAX_LINE (256 * 1024)
/* The deepest nesting of arrays and objects read (the core's limit too). */
#define PP_MAX_DEPTH 32

typedef enum { PP_CASE_EXACT, PP_CASE_ASCII, PP_CASE_UNICODE } PPCase;

/* The command line (everything the hello depends on) and the welcome's options. */
typedef struct {
	const char *protocol_id;
	PurplePlugin *prpl;
	PurplePluginProtocolInfo *info;
	const char *gateway_type;
	PPCase name_case;
	const char *contact_pattern;
	const char *room_pattern;
	const char *occupant_contact;
	int max_length;
	char **room_domains;
	GHashTable *presets;           /* setting key -> value: --preset, then the welcome's */
	GHashTable *cli_presets;       /* the keys from --preset: left out of the form */
	gboolean accept_certificates;  /* the operator's option: accept TLS certificates asked about */
	gboolean debug;                /* libpurple's debug output on stderr */
	gboolean welcomed;
} PPConfig;

extern PPConfig pp;

/* One setting of an account: a protocol option, or a part of the user name (a "split"). */
typedef struct {
	char *key;                       /* libpurple's setting key, or the split's name */
	char *var;                       /* its registration field; NULL when preset on the command line */
	PurpleAccountOption *option;     /* NULL for a split */
	PurpleAccountUserSplit *split;   /* NULL for an option */
} PPSetting;

/* One user logged in: one PurpleAccount. */
typedef struct {
	gint64 id;
	PurpleAccount *account;
	gboolean signed_on;
	GHashTable *rooms;   /* room key (lower case) -> PPRoom */
	GHashTable *presences;   /* contact -> the last presence sent ("availability\nmessage") */
	int own_change;      /* >0 while a command changes the buddy list: not echoed */
	GQueue *pending;     /* commands that came before the sign-on (PPPending), run after it */
} PPSession;

/* io.c: our lines, and reading theirs. */
void pp_io_init(int fd);
void pp_write(JsonNode *root);
void pp_emit(PPSession *s, const char *name, JsonObject *fields);
void pp_emit_unit(PPSession *s, const char *name);
void pp_done(gint64 session, gint64 seq);
void pp_set_str(JsonObject *o, const char *key, const char *value);
void pp_set_id(JsonObject *o, const char *key, const char *name);
JsonObject *pp_ids_object(const char *id, const char *origin_id);
const char *pp_get_str(JsonObject *o, const char *key);
gboolean pp_get_int(JsonObject *o, const char *key, gint64 *out);
JsonObject *pp_get_obj(JsonObject *o, const char *key);
const char *pp_get_id(JsonObject *o, const char *key);
gboolean pp_too_deep(const char *line, gsize len);
char *pp_text_to_html(const char *body, const char *kind);
char *pp_html_to_text(const char *html, const char **kind);
char *pp_rfc3339(time_t t);

/* hello.c: the hello, the settings, names. */
void pp_settings_build(void);
GPtrArray *pp_settings(void);
void pp_send_hello(void);
char *pp_fold(const char *name);
gboolean pp_parse_bool(const char *v, gboolean *out);

/* session.c: sessions and their commands. */
void pp_sessions_init(void);
void pp_sessions_start(void);
void pp_on_welcome(JsonObject *body);
void pp_on_login(JsonObject *body);
void pp_on_command(JsonObject *body);
void pp_on_logout(JsonObject *body);
void pp_sessions_close_all(void);
PPSession *pp_session_of(PurpleAccount *account);
PurpleConnection *pp_connection(PPSession *s);

/* contacts.c: buddies, presence, direct messages. */
void pp_contacts_init(void);
void pp_contacts_signed_on(PPSession *s);
void pp_contacts_send(PPSession *s, JsonObject *p);
void pp_contacts_add(PPSession *s, const char *name);
void pp_contacts_remove(PPSession *s, const char *name);
void pp_contacts_set_presence(PPSession *s, JsonObject *p);
void pp_contacts_write_im(PurpleConversation *conv, const char *who, const char *message,
                          PurpleMessageFlags flags, time_t mtime);
char *pp_contact_name(PurpleAccount *account, const char *who);

/* rooms.c: group chats. */
void pp_rooms_init(void);
void pp_rooms_free(PPSession *s);
void pp_rooms_join(PPSession *s, JsonObject *p);
void pp_rooms_leave(PPSession *s, JsonObject *p);
void pp_rooms_send(PPSession *s, JsonObject *p);
void pp_rooms_set_subject(PPSession *s, JsonObject *p);
void pp_rooms_invite(PPSession *s, JsonObject *p);
void pp_rooms_on_notice(const char *text);
PurpleConversationUiOps *pp_conversation_ops(void);
void pp_conversation_used(PurpleConversation *conv);

/* ui.c: libpurple's UI operations that need no user. */
void pp_ui_init(void);

#endif
