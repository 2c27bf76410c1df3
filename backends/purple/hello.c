/* hello.c: what the transport says of itself, built from the protocol plugin.
 *
 * The registration form is the plugin's own account settings: the user name and
 * password first, then the parts of the user name the plugin splits off (IRC's server,
 * XMPP's domain and resource), then its protocol options (string and int as text, bool
 * as yes/no, a list as text naming the values allowed). A setting preset on the command
 * line (--preset key=value) is left out of the form; one preset by the operator's
 * [transports.NAME.options] cannot be (the hello went out before the welcome) and wins
 * over what the user entered. The address rules say how the core tells a room from a
 * contact without asking: IRC's channels by their prefix, XMPP's rooms by the MUC
 * domains given with --room-domain, other protocols' by --room-pattern.
 */
#include <stdio.h>
#include <string.h>

#include "pontoon-purple.h"

static GPtrArray *settings;   /* PPSetting */

GPtrArray *pp_settings(void)
{
	return settings;
}

static gboolean is_protocol(const char *id)
{
	return strcmp(pp.protocol_id, id) == 0;
}

/* "Connect server" -> "connect_server": a field name from a label. */
static char *slug(const char *text)
{
	GString *s = g_string_new(NULL);

	for (const char *p = text; *p; p++) {
		if (g_ascii_isalnum(*p))
			g_string_append_c(s, g_ascii_tolower(*p));
		else if (s->len > 0 && s->str[s->len - 1] != '_')
			g_string_append_c(s, '_');
	}
	while (s->len > 0 && s->str[s->len - 1] == '_')
		g_string_truncate(s, s->len - 1);
	if (s->len == 0)
		g_string_append(s, "field");
	return g_string_free(s, FALSE);
}

static gboolean var_taken(const char *var)
{
	if (strcmp(var, "username") == 0 || strcmp(var, "password") == 0)
		return TRUE;
	for (guint i = 0; i < settings->len; i++) {
		PPSetting *st = g_ptr_array_index(settings, i);
		if (st->var != NULL && strcmp(st->var, var) == 0)
			return TRUE;
	}
	return FALSE;
}

static void add_setting(char *key, PurpleAccountOption *option, PurpleAccountUserSplit *split)
{
	PPSetting *st = g_new0(PPSetting, 1);

	st->key = key;
	st->option = option;
	st->split = split;
	if (!g_hash_table_contains(pp.cli_presets, key)) {
		/* IRC's ident option is called "username": its field cannot be. */
		st->var = var_taken(key) ? g_strconcat("option_", key, NULL) : g_strdup(key);
	}
	g_ptr_array_add(settings, st);
}

/* The settings of the protocol, and the address rules' defaults for it. */
void pp_settings_build(void)
{
	settings = g_ptr_array_new();
	for (GList *l = pp.info->user_splits; l; l = l->next)
		add_setting(slug(purple_account_user_split_get_text(l->data)), NULL, l->data);
	for (GList *l = pp.info->protocol_options; l; l = l->next)
		add_setting(g_strdup(purple_account_option_get_setting(l->data)), l->data, NULL);

	if (pp.gateway_type == NULL) {
		static const struct { const char *id, *type; } types[] = {
			{"prpl-irc", "irc"}, {"prpl-jabber", "xmpp"}, {"prpl-gg", "gadu-gadu"},
			{"prpl-meanwhile", "sametime"}, {"prpl-simple", "simple"}, {"prpl-novell", "novell"},
			{"prpl-zephyr", "zephyr"}, {"prpl-bonjour", "bonjour"},
		};
		for (gsize i = 0; i < G_N_ELEMENTS(types); i++)
			if (is_protocol(types[i].id))
				pp.gateway_type = types[i].type;
		if (pp.gateway_type == NULL)
			pp.gateway_type = g_str_has_prefix(pp.protocol_id, "prpl-") ? pp.protocol_id + 5 : pp.protocol_id;
	}
	if (is_protocol("prpl-irc")) {
		if (pp.room_pattern == NULL)
			pp.room_pattern = "[#&!+][^ ,]*";
		if (pp.contact_pattern == NULL)
			pp.contact_pattern = "[^#&!+@:, ][^@!, ]*";
		if (pp.occupant_contact == NULL)
			pp.occupant_contact = "{nick}";
	} else if (is_protocol("prpl-jabber")) {
		if (pp.room_pattern == NULL && pp.room_domains != NULL && pp.room_domains[0] != NULL) {
			GString *rx = g_string_new("[^@/ ]+@(?:");
			for (char **d = pp.room_domains; *d; d++) {
				if (d != pp.room_domains)
					g_string_append_c(rx, '|');
				for (const char *c = *d; *c; c++) {
					if (*c == '.')
						g_string_append(rx, "\\.");
					else
						g_string_append_c(rx, g_ascii_tolower(*c));
				}
			}
			g_string_append_c(rx, ')');
			pp.room_pattern = g_string_free(rx, FALSE);
		}
		if (pp.contact_pattern == NULL)
			pp.contact_pattern = "[^@/ ]+@[^@/ ]+(?:/.+)?";
		if (pp.occupant_contact == NULL)
			pp.occupant_contact = "{room}/{nick}";
		if (pp.max_length == 0)
			pp.max_length = 1023;
	}
	if (pp.max_length == 0)
		pp.max_length = 255;
}

static void field(JsonArray *fields, const char *var, const char *label, const char *kind, gboolean required)
{
	JsonObject *f = json_object_new();

	pp_set_str(f, "var", var);
	pp_set_str(f, "label", label);
	pp_set_str(f, "kind", kind);
	json_object_set_boolean_member(f, "required", required);
	json_array_add_object_element(fields, f);
}

static gboolean password_needed(void)
{
	return !(pp.info->options & (OPT_PROTO_NO_PASSWORD | OPT_PROTO_PASSWORD_OPTIONAL));
}

static void option_field(JsonArray *fields, PPSetting *st)
{
	PurpleAccountOption *o = st->option;
	const char *text = purple_account_option_get_text(o);
	char *label = NULL;

	switch (purple_account_option_get_type(o)) {
	case PURPLE_PREF_BOOLEAN:
		field(fields, st->var, text, "boolean", FALSE);
		return;
	case PURPLE_PREF_INT:
		label = g_strdup_printf("%s (a number; default %d)", text, purple_account_option_get_default_int(o));
		break;
	case PURPLE_PREF_STRING: {
		const char *def = purple_account_option_get_default_string(o);
		label = (def != NULL && *def != '\0') ? g_strdup_printf("%s (default %s)", text, def) : g_strdup(text);
		field(fields, st->var, label, purple_account_option_get_masked(o) ? "password" : "text", FALSE);
		g_free(label);
		return;
	}
	case PURPLE_PREF_STRING_LIST: {
		GString *s = g_string_new(text);
		g_string_append(s, ": one of");
		for (GList *l = purple_account_option_get_list(o); l; l = l->next) {
			PurpleKeyValuePair *kvp = l->data;
			g_string_append_printf(s, "%s %s (%s)", l == purple_account_option_get_list(o) ? "" : ",",
			                       (const char *)kvp->value, kvp->key);
		}
		if (purple_account_option_get_default_list_value(o) != NULL)
			g_string_append_printf(s, "; default %s", purple_account_option_get_default_list_value(o));
		label = g_string_free(s, FALSE);
		break;
	}
	default:
		label = g_strdup(text);
		break;
	}
	field(fields, st->var, label, "text", FALSE);
	g_free(label);
}

static JsonObject *descriptor(void)
{
	JsonObject *d = json_object_new();
	JsonArray *fields = json_array_new();
	const char *name = purple_plugin_get_name(pp.prpl);
	GString *instructions = g_string_new(NULL);
	GString *preset = g_string_new(NULL);
	char *prompt;

	if (is_protocol("prpl-irc"))
		field(fields, "username", "Nick", "text", TRUE);
	else if (is_protocol("prpl-jabber"))
		field(fields, "username", "Address (user@domain)", "text", TRUE);
	else
		field(fields, "username", "User name", "text", TRUE);
	if (!(pp.info->options & OPT_PROTO_NO_PASSWORD))
		field(fields, "password", "Password", "password", password_needed());
	for (guint i = 0; i < settings->len; i++) {
		PPSetting *st = g_ptr_array_index(settings, i);
		if (st->var == NULL) {
			g_string_append_printf(preset, "%s%s", preset->len ? ", " : "", st->key);
		} else if (st->split != NULL) {
			const char *def = purple_account_user_split_get_default_value(st->split);
			char *label = (def != NULL && *def != '\0')
				? g_strdup_printf("%s (default %s)", purple_account_user_split_get_text(st->split), def)
				: g_strdup(purple_account_user_split_get_text(st->split));
			field(fields, st->var, label, "text", FALSE);
			g_free(label);
		} else {
			option_field(fields, st);
		}
	}
	g_string_append_printf(instructions, "Log in to %s (through libpurple %s).", name, purple_core_get_version());
	if (preset->len)
		g_string_append_printf(instructions, " Set by the gateway: %s.", preset->str);
	if (is_protocol("prpl-irc"))
		prompt = g_strdup("Enter the nick of the person on IRC.");
	else if (is_protocol("prpl-jabber"))
		prompt = g_strdup("Enter the person's address (user@domain).");
	else
		prompt = g_strdup_printf("Enter the person's user name on %s.", name);

	pp_set_str(d, "gateway_type", pp.gateway_type);
	pp_set_str(d, "registration_instructions", instructions->str);
	json_object_set_array_member(d, "registration_fields", fields);
	pp_set_str(d, "prompt", prompt);
	json_object_set_array_member(d, "commands", json_array_new());
	json_object_set_array_member(d, "network_settings", json_array_new());
	json_object_set_array_member(d, "room_settings", json_array_new());
	json_object_set_boolean_member(d, "one_network", TRUE);
	g_string_free(instructions, TRUE);
	g_string_free(preset, TRUE);
	g_free(prompt);
	return d;
}

void pp_send_hello(void)
{
	JsonObject *hello = json_object_new();
	JsonObject *addresses = json_object_new();
	JsonObject *login = json_object_new();
	JsonObject *top = json_object_new();
	JsonNode *root = json_node_new(JSON_NODE_OBJECT);
	static const char *cases[] = {"exact", "ascii_lowercase", "lowercase"};

	pp_set_str(addresses, "case", cases[pp.name_case]);
	json_object_set_int_member(addresses, "max_length", pp.max_length);
	pp_set_str(addresses, "contact", pp.contact_pattern);
	pp_set_str(addresses, "room", pp.room_pattern);
	pp_set_str(addresses, "occupant_contact", pp.occupant_contact);
	pp_set_str(login, "id", "username");
	pp_set_str(login, "secret", (pp.info->options & OPT_PROTO_NO_PASSWORD) ? NULL : "password");

	json_object_set_int_member(hello, "protocol", PP_PROTOCOL_VERSION);
	json_object_set_int_member(hello, "vocabulary", PP_VOCABULARY_VERSION);
	json_object_set_object_member(hello, "descriptor", descriptor());
	json_object_set_object_member(hello, "addresses", addresses);
	json_object_set_object_member(hello, "login", login);
	json_object_set_boolean_member(hello, "raw_commands", FALSE);
	json_object_set_object_member(top, "hello", hello);
	json_node_take_object(root, top);
	pp_write(root);
}

/* A name as the core folds it (the case declared in the hello). */
char *pp_fold(const char *name)
{
	switch (pp.name_case) {
	case PP_CASE_ASCII:
		return g_ascii_strdown(name, -1);
	case PP_CASE_UNICODE:
		return g_utf8_validate(name, -1, NULL) ? g_utf8_strdown(name, -1) : g_ascii_strdown(name, -1);
	default:
		return g_strdup(name);
	}
}

gboolean pp_parse_bool(const char *v, gboolean *result)
{
	if (g_ascii_strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || g_ascii_strcasecmp(v, "yes") == 0) {
		*result = TRUE;
		return TRUE;
	}
	if (g_ascii_strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 || g_ascii_strcasecmp(v, "no") == 0
	    || *v == '\0') {
		*result = FALSE;
		return TRUE;
	}
	return FALSE;
}
