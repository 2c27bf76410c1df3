/* ui.c: libpurple's UI operations where a UI would ask or tell its user, who is not here.
 *
 * Requests (accept this certificate? create the room? plain-text authentication?)
 * are answered from the main loop, never while libpurple is still asking (its callers
 * are not ready for an answer inside the call), with the request's default action,
 * except certificates, which are refused unless the operator's accept_certificates
 * option says otherwise. Questions that want input, a choice, a form or a file are
 * cancelled. Every answer is logged on stderr. Notices (libpurple's pop-ups) go to
 * stderr, and fail a room join they name. The buddy list is never saved.
 */
#include <stdio.h>
#include <string.h>

#include "pontoon-purple.h"

typedef enum { ANSWER_ACTION, ANSWER_INPUT, ANSWER_CHOICE, ANSWER_FIELDS, ANSWER_FILE } AnswerKind;

typedef struct {
	PurpleRequestType type;
	AnswerKind kind;
	GCallback cb;
	void *user_data;
	int value;
	PurpleRequestFields *fields;
	guint source;
	gboolean firing, closed;
} Answer;

static gboolean answer_cb(gpointer data)
{
	Answer *a = data;

	a->source = 0;
	a->firing = TRUE;
	if (a->cb != NULL) {
		switch (a->kind) {
		case ANSWER_ACTION:
			((PurpleRequestActionCb)a->cb)(a->user_data, a->value);
			break;
		case ANSWER_CHOICE:
			((PurpleRequestChoiceCb)a->cb)(a->user_data, a->value);
			break;
		case ANSWER_INPUT:
			((PurpleRequestInputCb)a->cb)(a->user_data, NULL);
			break;
		case ANSWER_FIELDS:
			((PurpleRequestFieldsCb)a->cb)(a->user_data, a->fields);
			break;
		case ANSWER_FILE:
			((PurpleRequestFileCb)a->cb)(a->user_data, NULL);
			break;
		}
	}
	if (!a->closed)
		purple_request_close(a->type, a);   /* calls close_request: marks it closed */
	g_free(a);
	return FALSE;
}

static void *answer_later(PurpleRequestType type, AnswerKind kind, GCallback cb, void *user_data, int value,
                          PurpleRequestFields *fields)
{
	Answer *a = g_new0(Answer, 1);

	a->type = type;
	a->kind = kind;
	a->cb = cb;
	a->user_data = user_data;
	a->value = value;
	a->fields = fields;
	a->source = g_idle_add(answer_cb, a);
	return a;
}

static void close_request(PurpleRequestType type, void *ui_handle)
{
	Answer *a = ui_handle;

	(void)type;
	if (a == NULL)
		return;
	if (a->firing) {
		a->closed = TRUE;
		return;
	}
	if (a->source)
		g_source_remove(a->source);
	g_free(a);
}

static void log_request(const char *title, const char *primary, const char *answer)
{
	fprintf(stderr, "pontoon-purple: libpurple asked \"%s%s%s\": %s\n", title ? title : "",
	        primary ? " / " : "", primary ? primary : "", answer);
}

static void *request_action(const char *title, const char *primary, const char *secondary, int default_action,
                            PurpleAccount *account, const char *who, PurpleConversation *conv, void *user_data,
                            size_t count, va_list actions)
{
	const char *labels[16] = {0};
	GCallback cbs[16] = {0};
	size_t n = count < 16 ? count : 16, pick;
	gboolean certificate = (title && g_strrstr(title, "ertificate")) || (primary && g_strrstr(primary, "ertificate"));
	char *said;

	(void)secondary;
	(void)account;
	(void)who;
	(void)conv;
	for (size_t i = 0; i < n; i++) {
		labels[i] = va_arg(actions, const char *);
		cbs[i] = va_arg(actions, GCallback);
	}
	if (n == 0)
		return answer_later(PURPLE_REQUEST_ACTION, ANSWER_ACTION, NULL, user_data, 0, NULL);
	pick = n - 1;   /* the last action is the refusal, by libpurple's convention */
	if (certificate) {
		for (size_t i = 0; i < n; i++) {
			const char *l = labels[i] ? labels[i] : "";
			if (pp.accept_certificates ? (strstr(l, "Accept") != NULL) : (strstr(l, "Reject") || strstr(l, "Cancel")))
				pick = i;
		}
		if (!pp.accept_certificates)
			fprintf(stderr, "pontoon-purple: a certificate was refused (the option accept_certificates accepts it)\n");
	} else if (default_action >= 0 && (size_t)default_action < n) {
		pick = (size_t)default_action;
	}
	said = g_strdup_printf("answered \"%s\"", labels[pick] ? labels[pick] : "?");
	log_request(title, primary, said);
	g_free(said);
	return answer_later(PURPLE_REQUEST_ACTION, ANSWER_ACTION, cbs[pick], user_data, (int)pick, NULL);
}

static void *request_action_with_icon(const char *title, const char *primary, const char *secondary,
                                      int default_action, PurpleAccount *account, const char *who,
                                      PurpleConversation *conv, gconstpointer icon_data, gsize icon_size,
                                      void *user_data, size_t count, va_list actions)
{
	(void)icon_data;
	(void)icon_size;
	return request_action(title, primary, secondary, default_action, account, who, conv, user_data, count, actions);
}

static void *request_input(const char *title, const char *primary, const char *secondary, const char *default_value,
                           gboolean multiline, gboolean masked, gchar *hint, const char *ok_text, GCallback ok_cb,
                           const char *cancel_text, GCallback cancel_cb, PurpleAccount *account, const char *who,
                           PurpleConversation *conv, void *user_data)
{
	(void)secondary, (void)default_value, (void)multiline, (void)masked, (void)hint, (void)ok_text, (void)ok_cb;
	(void)cancel_text, (void)account, (void)who, (void)conv;
	log_request(title, primary, "cancelled");
	return answer_later(PURPLE_REQUEST_INPUT, ANSWER_INPUT, cancel_cb, user_data, 0, NULL);
}

static void *request_choice(const char *title, const char *primary, const char *secondary, int default_value,
                            const char *ok_text, GCallback ok_cb, const char *cancel_text, GCallback cancel_cb,
                            PurpleAccount *account, const char *who, PurpleConversation *conv, void *user_data,
                            va_list choices)
{
	(void)secondary, (void)ok_text, (void)ok_cb, (void)cancel_text, (void)account, (void)who, (void)conv;
	(void)choices;
	log_request(title, primary, "cancelled");
	return answer_later(PURPLE_REQUEST_CHOICE, ANSWER_CHOICE, cancel_cb, user_data, default_value, NULL);
}

static void *request_fields(const char *title, const char *primary, const char *secondary,
                            PurpleRequestFields *fields, const char *ok_text, GCallback ok_cb,
                            const char *cancel_text, GCallback cancel_cb, PurpleAccount *account, const char *who,
                            PurpleConversation *conv, void *user_data)
{
	(void)secondary, (void)ok_text, (void)ok_cb, (void)cancel_text, (void)account, (void)who, (void)conv;
	log_request(title, primary, "cancelled");
	return answer_later(PURPLE_REQUEST_FIELDS, ANSWER_FIELDS, cancel_cb, user_data, 0, fields);
}

static void *request_file(const char *title, const char *filename, gboolean savedialog, GCallback ok_cb,
                          GCallback cancel_cb, PurpleAccount *account, const char *who, PurpleConversation *conv,
                          void *user_data)
{
	(void)filename, (void)savedialog, (void)ok_cb, (void)account, (void)who, (void)conv;
	log_request(title, NULL, "cancelled");
	return answer_later(PURPLE_REQUEST_FILE, ANSWER_FILE, cancel_cb, user_data, 0, NULL);
}

static void *request_folder(const char *title, const char *dirname, GCallback ok_cb, GCallback cancel_cb,
                            PurpleAccount *account, const char *who, PurpleConversation *conv, void *user_data)
{
	(void)dirname, (void)ok_cb, (void)account, (void)who, (void)conv;
	log_request(title, NULL, "cancelled");
	return answer_later(PURPLE_REQUEST_FOLDER, ANSWER_FILE, cancel_cb, user_data, 0, NULL);
}

static PurpleRequestUiOps request_ops = {
	.request_input = request_input,
	.request_choice = request_choice,
	.request_action = request_action,
	.request_fields = request_fields,
	.request_file = request_file,
	.close_request = close_request,
	.request_folder = request_folder,
	.request_action_with_icon = request_action_with_icon,
};

static void *notify_message(PurpleNotifyMsgType type, const char *title, const char *primary, const char *secondary)
{
	char *text = g_strdup_printf("%s%s%s", primary ? primary : "", secondary && *secondary ? ": " : "",
	                             secondary ? secondary : "");
	char *plain = purple_markup_strip_html(text);

	(void)type;
	fprintf(stderr, "pontoon-purple: libpurple says \"%s\": %.500s\n", title ? title : "", plain);
	pp_rooms_on_notice(plain);
	g_free(text);
	g_free(plain);
	return NULL;
}

static void *notify_formatted(const char *title, const char *primary, const char *secondary, const char *text)
{
	(void)secondary;
	(void)text;
	fprintf(stderr, "pontoon-purple: libpurple shows \"%s\" (%s)\n", title ? title : "", primary ? primary : "");
	return NULL;
}

static PurpleNotifyUiOps notify_ops = {
	.notify_message = notify_message,
	.notify_formatted = notify_formatted,
};

static void save_nothing(PurpleBlistNode *node)
{
	(void)node;
}

static void save_no_account(PurpleAccount *account)
{
	(void)account;
}

static PurpleBlistUiOps blist_ops = {
	.save_node = save_nothing,
	.remove_node = save_nothing,
	.save_account = save_no_account,
};

/* The core's ui_init: during purple_core_init, before the buddy list exists. */
void pp_ui_init(void)
{
	purple_conversations_set_ui_ops(pp_conversation_ops());
	purple_request_set_ui_ops(&request_ops);
	purple_notify_set_ui_ops(&notify_ops);
	purple_blist_set_ui_ops(&blist_ops);
}
