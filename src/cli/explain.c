// SPDX-License-Identifier: MIT
/*
 * nitrovm explain --error-code Exx: what an error number means (the texts are in error_texts.c).
 *
 * As nitro-cli's explain: the text goes to stderr and the exit status is 0, and an unknown code is answered
 * "No such error code X", also with status 0, so that scripts written against one behave the same with the
 * other.  Codes are matched as nitro-cli matches them: exactly "E" and two digits.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char explain_usage[] =
	"Usage: nitrovm explain --error-code Exx\n\n"
	"Explain an error number: what it means, what usually causes it and what to do about it. A failing nitrovm\n"
	"command prints one line \"[ Exx ] sentence\" and exits with status xx; the numbers are nitro-cli's (E00 to\n"
	"E60), and E70 is nitrovm's own (an attestation document that is not accepted). As with nitro-cli, the\n"
	"explanation is written to standard error and the exit status is 0, also for a code that does not exist\n"
	"(\"No such error code ...\").\n\n"
	"  --error-code Exx   the number, as printed in the error line (E19, E35, ...)\n";

static const struct cli_error_text *find_text(const char *code)
{
	if (strlen(code) != 3 || code[0] != 'E' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9')
		return NULL;
	for (size_t i = 0; i < cli_error_texts_count; i++)
		if (cli_error_texts[i].code == (code[1] - '0') * 10 + (code[2] - '0'))
			return &cli_error_texts[i];
	return NULL;
}

int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "error-code", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_error_text *t;
	const char *code = NULL;
	int c;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'e': code = optarg; break;
		case 'h': fputs(explain_usage, stdout); return 0;
		default: return cli_bad_option("explain");
		}
	}
	if (optind < argc)
		return cli_fail(E_INVALID_ARGUMENT, "unexpected argument '%s' for explain", argv[optind]);
	if (!code)
		return cli_fail(E_MISSING_ARGUMENT, "explain needs --error-code Exx");
	t = find_text(code);
	if (!t)
		fprintf(stderr, "No such error code %s\n", code);
	else
		fprintf(stderr, "%s\n", t->text);
	return 0;
}
