/* main.c: pontoon-purple's process: the command line, libpurple's start in a private
 * directory, the GLib main loop (libpurple's event loop too), and the core's lines read
 * from stdin through a GIOChannel watch.
 *
 * Usage: pontoon-purple --protocol prpl-irc [--room-domain D]... [--preset key=value]...
 *        pontoon-purple --list
 *
 * stdout is the protocol's alone: it is duplicated for our lines and fd 1 pointed at
 * stderr, so that nothing libpurple or a library prints can break a line. Lines from
 * the core are bounded (256 KiB, longer ones skipped to their newline), checked for
 * nesting, parsed, and dispatched by their one key; anything malformed is logged and
 * skipped. Stdin's end is the end (or SIGTERM): every session is logged out and the
 * process exits, removing its private directory (see README.md: what is written there,
 * and the leftovers of killed processes, removed by the next one).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <glib-unix.h>

#include "pontoon-purple.h"

PPConfig pp;

static GMainLoop *loop;
static GString *line;
static gboolean skipping;
static char *user_dir;
static gboolean user_dir_ours;
static pid_t main_pid;   /* a forked child (libpurple's DNS lookups) must not clean up */

/* libpurple's event loop on GLib's (as its nullclient example does). */
typedef struct {
	PurpleInputFunction function;
	gpointer data;
} IoClosure;

static gboolean io_invoke(GIOChannel *source, GIOCondition condition, gpointer data)
{
	IoClosure *c = data;
	PurpleInputCondition cond = 0;

	if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		cond |= PURPLE_INPUT_READ;
	if (condition & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		cond |= PURPLE_INPUT_WRITE;
	c->function(c->data, g_io_channel_unix_get_fd(source), cond);
	return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition condition, PurpleInputFunction function, gpointer data)
{
	IoClosure *c = g_new0(IoClosure, 1);
	GIOChannel *channel = g_io_channel_unix_new(fd);
	GIOCondition cond = 0;
	guint id;

	c->function = function;
	c->data = data;
	if (condition & PURPLE_INPUT_READ)
		cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (condition & PURPLE_INPUT_WRITE)
		cond |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
	id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, cond, io_invoke, c, g_free);
	g_io_channel_unref(channel);
	return id;
}

static PurpleEventLoopUiOps eventloop_ops = {
	.timeout_add = g_timeout_add,
	.timeout_remove = g_source_remove,
	.input_add = input_add,
	.input_remove = g_source_remove,
	.timeout_add_seconds = g_timeout_add_seconds,
};

/* One line from the core. */
static void handle_line(const char *text, gsize len)
{
	static JsonParser *parser;
	GError *error = NULL;
	JsonNode *root;
	JsonObject *o;
	GList *members;
	const char *tag;
	JsonObject *body;

	if (len == 0)
		return;
	if (pp_too_deep(text, len)) {
		fprintf(stderr, "pontoon-purple: a line nested too deep; skipped\n");
		return;
	}
	if (parser == NULL)
		parser = json_parser_new();
	if (!json_parser_load_from_data(parser, text, (gssize)len, &error)) {
		/* Not json-glib's message: it quotes the line, which may hold a password. */
		fprintf(stderr, "pontoon-purple: a line of %zu bytes that is not JSON; skipped\n", (size_t)len);
		g_error_free(error);
		return;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root) || json_object_get_size(o = json_node_get_object(root)) != 1) {
		fprintf(stderr, "pontoon-purple: a line that is not a protocol message; skipped\n");
		return;
	}
	members = json_object_get_members(o);
	tag = members->data;
	g_list_free(members);
	body = pp_get_obj(o, tag);
	if (body == NULL) {
		fprintf(stderr, "pontoon-purple: a %.40s without an object; skipped\n", tag);
	} else if (strcmp(tag, "ping") == 0) {
		gint64 request;
		if (pp_get_int(body, "request", &request)) {
			JsonObject *pong = json_object_new(), *top = json_object_new();
			JsonNode *n = json_node_new(JSON_NODE_OBJECT);
			json_object_set_int_member(pong, "request", request);
			json_object_set_object_member(top, "pong", pong);
			json_node_take_object(n, top);
			pp_write(n);
		}
	} else if (strcmp(tag, "welcome") == 0) {
		pp_on_welcome(body);
	} else if (!pp.welcomed) {
		fprintf(stderr, "pontoon-purple: a %.40s before the welcome; skipped\n", tag);
	} else if (strcmp(tag, "login") == 0) {
		pp_on_login(body);
	} else if (strcmp(tag, "command") == 0) {
		pp_on_command(body);
	} else if (strcmp(tag, "logout") == 0) {
		pp_on_logout(body);
	} else {
		fprintf(stderr, "pontoon-purple: an unknown line %.40s; skipped\n", tag);
	}
}

static void feed(const char *data, gsize len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		gsize take = nl ? (gsize)(nl - data) : len;

		if (!skipping) {
			g_string_append_len(line, data, take);
			if (line->len > PP_MAX_LINE) {
				fprintf(stderr, "pontoon-purple: a line longer than %d bytes; skipped\n", PP_MAX_LINE);
				g_string_truncate(line, 0);
				skipping = TRUE;
			}
		}
		if (nl == NULL)
			return;
		if (!skipping) {
			if (line->len > 0 && line->str[line->len - 1] == '\r')
				g_string_truncate(line, line->len - 1);
			handle_line(line->str, line->len);
		}
		g_string_truncate(line, 0);
		skipping = FALSE;
		data = nl + 1;
		len -= take + 1;
	}
}

static gboolean stdin_ready(GIOChannel *source, GIOCondition condition, gpointer data)
{
	char buf[65536];
	ssize_t n;

	(void)source;
	(void)condition;
	(void)data;
	n = read(0, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return TRUE;
	if (n <= 0) {
		if (line->len > 0 && !skipping)
			handle_line(line->str, line->len);   /* a last line without its newline */
		fprintf(stderr, "pontoon-purple: stdin closed; logging out and exiting\n");
		g_main_loop_quit(loop);
		return FALSE;
	}
	feed(buf, (gsize)n);
	return TRUE;
}

static gboolean quit_cb(gpointer data)
{
	fprintf(stderr, "pontoon-purple: signal %d; logging out and exiting\n", GPOINTER_TO_INT(data));
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static void remove_tree(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);

	if (dir != NULL) {
		const char *name;
		while ((name = g_dir_read_name(dir)) != NULL) {
			char *child = g_build_filename(path, name, NULL);
			if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
				remove_tree(child);
			else
				g_unlink(child);
			g_free(child);
		}
		g_dir_close(dir);
	}
	g_rmdir(path);
}

static void cleanup_dir(void)
{
	if (user_dir_ours && user_dir != NULL && getpid() == main_pid)
		remove_tree(user_dir);
}

/* Private directories of backends that were killed (Pontoon stops its backends with
 * SIGKILL): removed when the process named in their pid file is gone. Conservative: a
 * directory without a pid file, or whose pid lives (perhaps reused), stays. */
static void remove_stale_dirs(void)
{
	const char *tmp = g_get_tmp_dir();
	GDir *dir = g_dir_open(tmp, 0, NULL);
	const char *name;

	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		char *path, *pidfile, *text = NULL;
		gint64 pid;
		GStatBuf st;

		if (!g_str_has_prefix(name, "pontoon-purple-") || strlen(name) != strlen("pontoon-purple-XXXXXX"))
			continue;
		path = g_build_filename(tmp, name, NULL);
		pidfile = g_build_filename(path, "pontoon-purple.pid", NULL);
		/* Ours only: a directory of this user, closed to others (so that nobody else
		 * can have put anything in it). */
		if (g_lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077)
		    && g_file_get_contents(pidfile, &text, NULL, NULL)
		    && (pid = g_ascii_strtoll(text, NULL, 10)) > 1 && pid <= G_MAXINT
		    && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
			fprintf(stderr, "pontoon-purple: removing %s, left by process %" G_GINT64_FORMAT "\n", path, pid);
			remove_tree(path);
		}
		g_free(text);
		g_free(pidfile);
		g_free(path);
	}
	g_dir_close(dir);
}

static void setup_user_dir(const char *given)
{
	if (given != NULL && *given != '\0') {
		if (g_mkdir_with_parents(given, 0700) != 0) {
			fprintf(stderr, "pontoon-purple: cannot create %s: %s\n", given, g_strerror(errno));
			exit(2);
		}
		user_dir = g_strdup(given);
	} else {
		GError *error = NULL;
		user_dir = g_dir_make_tmp("pontoon-purple-XXXXXX", &error);
		if (user_dir == NULL) {
			fprintf(stderr, "pontoon-purple: cannot make a private directory: %s\n", error->message);
			exit(2);
		}
		user_dir_ours = TRUE;
		main_pid = getpid();
		atexit(cleanup_dir);
		{
			char *pidfile = g_build_filename(user_dir, "pontoon-purple.pid", NULL);
			char *pid = g_strdup_printf("%d\n", (int)main_pid);
			g_file_set_contents(pidfile, pid, -1, NULL);
			g_free(pid);
			g_free(pidfile);
		}
		remove_stale_dirs();
	}
	purple_util_set_user_dir(user_dir);
}

static gboolean parse_args(int argc, char **argv, gboolean *list, char **dir)
{
	char *protocol = NULL, *case_name = NULL, **presets = NULL;
	GError *error = NULL;
	GOptionEntry entries[] = {
		{"protocol", 'p', 0, G_OPTION_ARG_STRING, &protocol, "The libpurple protocol (prpl-irc, prpl-jabber...)", "ID"},
		{"list", 'l', 0, G_OPTION_ARG_NONE, list, "List the installed protocols and exit", NULL},
		{"room-domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pp.room_domains, "XMPP: a MUC service's domain (repeatable)", "DOMAIN"},
		{"room-pattern", 0, 0, G_OPTION_ARG_STRING, &pp.room_pattern, "The regular expression of room names", "REGEX"},
		{"contact-pattern", 0, 0, G_OPTION_ARG_STRING, &pp.contact_pattern, "The regular expression of contact names", "REGEX"},
		{"occupant-contact", 0, 0, G_OPTION_ARG_STRING, &pp.occupant_contact, "The contact behind a room's occupant: {nick}, {room}/{nick}", "TEMPLATE"},
		{"case", 0, 0, G_OPTION_ARG_STRING, &case_name, "How names compare: exact, ascii_lowercase, lowercase", "CASE"},
		{"gateway-type", 0, 0, G_OPTION_ARG_STRING, &pp.gateway_type, "The disco identity's type (default from the protocol)", "TYPE"},
		{"preset", 0, 0, G_OPTION_ARG_STRING_ARRAY, &presets, "Preset an account setting for every user, left out of the form (repeatable)", "KEY=VALUE"},
		{"user-dir", 0, 0, G_OPTION_ARG_FILENAME, dir, "libpurple's directory (default $PONTOON_PURPLE_DIR, else a private temporary one)", "DIR"},
		{"debug", 0, 0, G_OPTION_ARG_NONE, &pp.debug, "libpurple's debug output on stderr (may show network traffic)", NULL},
		{NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	GOptionContext *ctx = g_option_context_new("- a Pontoon backend for libpurple's protocols");

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "pontoon-purple: %s\n", error->message);
		g_error_free(error);
		g_option_context_free(ctx);
		return FALSE;
	}
	g_option_context_free(ctx);
	pp.protocol_id = protocol;
	pp.presets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	pp.cli_presets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (char **p = presets; p && *p; p++) {
		char *eq = strchr(*p, '=');
		if (eq == NULL || eq == *p) {
			fprintf(stderr, "pontoon-purple: --preset %s: not key=value\n", *p);
			return FALSE;
		}
		g_hash_table_replace(pp.presets, g_strndup(*p, eq - *p), g_strdup(eq + 1));
		g_hash_table_add(pp.cli_presets, g_strndup(*p, eq - *p));
	}
	g_strfreev(presets);
	for (char **d = pp.room_domains; d && *d; d++) {
		for (const char *c = *d; *c; c++) {
			if (!g_ascii_isalnum(*c) && *c != '.' && *c != '-') {
				fprintf(stderr, "pontoon-purple: --room-domain %s: not a domain\n", *d);
				return FALSE;
			}
		}
	}
	if (case_name == NULL)
		pp.name_case = (protocol && strcmp(protocol, "prpl-irc") == 0) ? PP_CASE_ASCII : PP_CASE_EXACT;
	else if (strcmp(case_name, "exact") == 0)
		pp.name_case = PP_CASE_EXACT;
	else if (strcmp(case_name, "ascii_lowercase") == 0)
		pp.name_case = PP_CASE_ASCII;
	else if (strcmp(case_name, "lowercase") == 0)
		pp.name_case = PP_CASE_UNICODE;
	else {
		fprintf(stderr, "pontoon-purple: --case %s: exact, ascii_lowercase or lowercase\n", case_name);
		return FALSE;
	}
	g_free(case_name);
	return TRUE;
}

static void debug_print(PurpleDebugLevel level, const char *category, const char *arg)
{
	(void)level;
	if (pp.debug)
		fprintf(stderr, "purple %s: %s", category ? category : "-", arg);
}

static gboolean debug_enabled(PurpleDebugLevel level, const char *category)
{
	(void)level;
	(void)category;
	return pp.debug;
}

static PurpleDebugUiOps debug_ops = {.print = debug_print, .is_enabled = debug_enabled};

static GHashTable *ui_info(void)
{
	static GHashTable *info;

	if (info == NULL) {
		info = g_hash_table_new(g_str_hash, g_str_equal);
		g_hash_table_insert(info, "name", "Pontoon");
		g_hash_table_insert(info, "version", "1");
		g_hash_table_insert(info, "client_type", "bot");
	}
	return info;
}

static PurpleCoreUiOps core_ops = {.ui_init = pp_ui_init, .get_ui_info = ui_info};

static void print_to_stderr(const gchar *text)
{
	fputs(text, stderr);
}

int main(int argc, char **argv)
{
	gboolean list = FALSE;
	char *dir = NULL;
	int proto_fd;
	GIOChannel *in;

	if (!parse_args(argc, argv, &list, &dir))
		return 2;
	if (!list && pp.protocol_id == NULL) {
		fprintf(stderr, "pontoon-purple: --protocol ID is required (--list shows them)\n");
		return 2;
	}
	/* Our lines get their own copy of stdout; fd 1 becomes stderr for everything else. */
	proto_fd = dup(1);
	if (proto_fd < 0 || dup2(2, 1) < 0) {
		perror("pontoon-purple: dup");
		return 1;
	}
	g_set_print_handler(print_to_stderr);
	pp_io_init(proto_fd);
	signal(SIGPIPE, SIG_IGN);
	/* libpurple's DNS lookups fork children it does not reap. */
	signal(SIGCHLD, SIG_IGN);

	setup_user_dir(dir ? dir : g_getenv("PONTOON_PURPLE_DIR"));
	{
		/* No voice or video here: GStreamer, which libpurple starts for them, gets no
		 * plugins (they brought 60 MB of graphics drivers into the process), and keeps
		 * its registry in the private directory. */
		char *none = g_build_filename(user_dir, "no-gstreamer-plugins", NULL);
		char *registry = g_build_filename(user_dir, "gstreamer-registry.bin", NULL);
		g_setenv("GST_PLUGIN_SYSTEM_PATH_1_0", none, TRUE);
		g_setenv("GST_PLUGIN_PATH_1_0", none, TRUE);
		g_setenv("GST_REGISTRY_1_0", registry, TRUE);
		g_free(none);
		g_free(registry);
	}
	purple_debug_set_enabled(FALSE);
	purple_debug_set_ui_ops(&debug_ops);
	purple_core_set_ui_ops(&core_ops);
	purple_eventloop_set_ui_ops(&eventloop_ops);
	pp_sessions_init();   /* account-prefs ops: before the core reads accounts.xml */
	if (!purple_core_init(PP_UI_ID)) {
		fprintf(stderr, "pontoon-purple: libpurple did not start\n");
		return 1;
	}
	purple_set_blist(purple_blist_new());
	/* libpurple logs conversations to disk by default: not messages of Pontoon's users. */
	purple_prefs_set_bool("/purple/logging/log_ims", FALSE);
	purple_prefs_set_bool("/purple/logging/log_chats", FALSE);
	purple_prefs_set_bool("/purple/logging/log_system", FALSE);

	if (list) {
		FILE *o = fdopen(dup(proto_fd), "w");
		for (GList *l = purple_plugins_get_protocols(); o && l; l = l->next) {
			PurplePlugin *p = l->data;
			fprintf(o, "%s\t%s\t%s\n", purple_plugin_get_id(p), purple_plugin_get_name(p),
			        purple_plugin_get_version(p) ? purple_plugin_get_version(p) : "");
		}
		if (o)
			fclose(o);
		return 0;
	}
	pp.prpl = purple_find_prpl(pp.protocol_id);
	if (pp.prpl == NULL) {
		fprintf(stderr, "pontoon-purple: no protocol %s here; installed:\n", pp.protocol_id);
		for (GList *l = purple_plugins_get_protocols(); l; l = l->next)
			fprintf(stderr, "  %s\n", purple_plugin_get_id(l->data));
		return 2;
	}
	pp.info = PURPLE_PLUGIN_PROTOCOL_INFO(pp.prpl);
	pp_sessions_start();
	pp_contacts_init();
	pp_rooms_init();
	pp_settings_build();
	pp_send_hello();

	line = g_string_new(NULL);
	loop = g_main_loop_new(NULL, FALSE);
	in = g_io_channel_unix_new(0);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, NULL);
	g_io_channel_unref(in);
	g_unix_signal_add(SIGTERM, quit_cb, GINT_TO_POINTER(SIGTERM));
	g_unix_signal_add(SIGINT, quit_cb, GINT_TO_POINTER(SIGINT));
	g_unix_signal_add(SIGHUP, quit_cb, GINT_TO_POINTER(SIGHUP));
	g_main_loop_run(loop);

	pp_sessions_close_all();
	purple_core_quit();
	return 0;
}
