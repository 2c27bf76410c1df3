/* io.c: the protocol's lines as JSON, both ways.
 *
 * Writing: one JSON object per line on the protocol's output (a private copy of stdout,
 * see main.c), flushed at once; every string made valid UTF-8 first, and a line longer
 * than the core reads is dropped (and logged) rather than sent.
 * Reading: typed getters that answer NULL/FALSE for anything missing or of the wrong
 * type, so a malformed line is skipped, never trusted; and a nesting check before
 * parsing. Also the conversions between the core's plain text and libpurple's HTML.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pontoon-purple.h"

static FILE *out;

void pp_io_init(int fd)
{
	out = fdopen(fd, "w");
	if (out == NULL) {
		fprintf(stderr, "pontoon-purple: cannot open the protocol output: %s\n", g_strerror(errno));
		exit(1);
	}
}

void pp_write(JsonNode *root)
{
	JsonGenerator *gen = json_generator_new();
	gsize len = 0;
	gchar *text;

	json_generator_set_root(gen, root);
	text = json_generator_to_data(gen, &len);
	g_object_unref(gen);
	json_node_unref(root);
	if (len > PP_MAX_LINE) {
		fprintf(stderr, "pontoon-purple: a line of %zu bytes not sent (over the core's limit)\n", (size_t)len);
	} else if (fwrite(text, 1, len, out) != len || fputc('\n', out) == EOF || fflush(out) != 0) {
		/* The core is gone: nothing more to do. */
		fprintf(stderr, "pontoon-purple: writing to the core failed: %s; exiting\n", g_strerror(errno));
		g_free(text);
		exit(1);
	}
	g_free(text);
}

/* {"<tag>": body} */
static JsonNode *tagged(const char *tag, JsonObject *body)
{
	JsonObject *o = json_object_new();
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);

	json_object_set_object_member(o, tag, body);
	json_node_take_object(n, o);
	return n;
}

static void emit_node(PPSession *s, JsonNode *event)
{
	JsonObject *body = json_object_new();

	json_object_set_int_member(body, "session", s->id);
	json_object_set_member(body, "event", event);
	pp_write(tagged("event", body));
}

/* An event with fields: {"event": {"session": N, "event": {"<name>": fields}}}. */
void pp_emit(PPSession *s, const char *name, JsonObject *fields)
{
	emit_node(s, tagged(name, fields));
}

/* An event without fields: {"event": {"session": N, "event": "<name>"}}. */
void pp_emit_unit(PPSession *s, const char *name)
{
	JsonNode *n = json_node_new(JSON_NODE_VALUE);

	json_node_set_string(n, name);
	emit_node(s, n);
}

void pp_done(gint64 session, gint64 seq)
{
	JsonObject *body = json_object_new();

	json_object_set_int_member(body, "session", session);
	json_object_set_int_member(body, "seq", seq);
	pp_write(tagged("done", body));
}

/* A string member, made valid UTF-8; NULL is JSON's null. */
void pp_set_str(JsonObject *o, const char *key, const char *value)
{
	if (value == NULL) {
		json_object_set_null_member(o, key);
	} else if (g_utf8_validate(value, -1, NULL)) {
		json_object_set_string_member(o, key, value);
	} else {
		char *valid = g_utf8_make_valid(value, -1);
		json_object_set_string_member(o, key, valid);
		g_free(valid);
	}
}

/* An address: {"name": ...} (one network per transport: no "network"). */
void pp_set_id(JsonObject *o, const char *key, const char *name)
{
	JsonObject *id = json_object_new();

	pp_set_str(id, "name", name ? name : "");
	json_object_set_object_member(o, key, id);
}

JsonObject *pp_ids_object(const char *id, const char *origin_id)
{
	JsonObject *ids = json_object_new();

	pp_set_str(ids, "id", id);
	pp_set_str(ids, "origin_id", origin_id);
	return ids;
}

const char *pp_get_str(JsonObject *o, const char *key)
{
	JsonNode *n = o ? json_object_get_member(o, key) : NULL;

	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

gboolean pp_get_int(JsonObject *o, const char *key, gint64 *result)
{
	JsonNode *n = o ? json_object_get_member(o, key) : NULL;

	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
		return FALSE;
	*result = json_node_get_int(n);
	return *result >= 0;
}

JsonObject *pp_get_obj(JsonObject *o, const char *key)
{
	JsonNode *n = o ? json_object_get_member(o, key) : NULL;

	if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n))
		return NULL;
	return json_node_get_object(n);
}

/* The name of the address at `key` ({"name": ...}); the network part is ignored, since
 * a libpurple transport reaches one network. */
const char *pp_get_id(JsonObject *o, const char *key)
{
	const char *name = pp_get_str(pp_get_obj(o, key), "name");

	return (name != NULL && *name != '\0') ? name : NULL;
}

/* Whether a line nests arrays and objects deeper than the core itself allows (json-glib
 * parses recursively: a deep line must not reach it). */
gboolean pp_too_deep(const char *line, gsize len)
{
	int depth = 0;
	gboolean in_string = FALSE, escaped = FALSE;

	for (gsize i = 0; i < len; i++) {
		char c = line[i];
		if (in_string) {
			if (escaped)
				escaped = FALSE;
			else if (c == '\\')
				escaped = TRUE;
			else if (c == '"')
				in_string = FALSE;
		} else if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > PP_MAX_DEPTH)
				return TRUE;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return FALSE;
}

/* The core's text as the HTML libpurple's prpls expect: escaped, line breaks as <br>;
 * an action as "/me ...", which the prpls turn into their network's (IRC's CTCP ACTION). */
char *pp_text_to_html(const char *body, const char *kind)
{
	char *escaped = g_markup_escape_text(body, -1);
	char *html = purple_strreplace(escaped, "\n", "<br>");

	g_free(escaped);
	if (kind != NULL && strcmp(kind, "action") == 0) {
		char *me = g_strconcat("/me ", html, NULL);
		g_free(html);
		html = me;
	}
	return html;
}

/* A message from libpurple (HTML) as text; `kind` says whether it was an action. */
char *pp_html_to_text(const char *html, const char **kind)
{
	char *text = purple_markup_strip_html(html ? html : "");

	*kind = "text";
	if (g_str_has_prefix(text, "/me ")) {
		char *rest = g_strdup(text + 4);
		g_free(text);
		text = rest;
		*kind = "action";
	}
	/* Bounded: the core takes a line of at most 256 KiB, the body with the rest. */
	if (strlen(text) > 64 * 1024) {
		const char *end = NULL;
		text[64 * 1024] = '\0';
		g_utf8_validate(text, -1, &end);
		if (end != NULL)
			text[end - text] = '\0';
	}
	return text;
}

char *pp_rfc3339(time_t t)
{
	GDateTime *dt = g_date_time_new_from_unix_utc((gint64)t);
	char *s;

	if (dt == NULL)
		return NULL;
	s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
	g_date_time_unref(dt);
	return s;
}
