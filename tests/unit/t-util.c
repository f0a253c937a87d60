/*
 * Keys of file names: valid UTF-8 names are their own keys, every other
 * byte becomes U+EF00 + byte, and a key always gives back the name's very
 * bytes. Messages show such bytes as \xNN.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

/*
 * What random names are made of: whole UTF-8 characters (U+EF80 and
 * U+EFFF among them), the pieces of some, and bytes UTF-8 never holds.
 */
static const char *const pieces[] = {
	"a", ".", "/", "\x7f", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x93\xb7",
	"\xee\xbe\x80", "\xee\xbf\xbf", "\xee\xbd\xbf", "\xef\x80\x80", "\x80",
	"\xbe", "\xbf", "\xc0", "\xc3", "\xe9", "\xed\xa0", "\xee", "\xf4\x90",
	"\xf8", "\xff"
};

static uint64_t	 rng = 0x9e3779b97f4a7c15ULL;

/* xorshift64: the same strings on every run. */
static unsigned int
rnd(unsigned int n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((unsigned int)(rng % n));
}

/* A random name of up to 24 bytes, none of them NUL. */
static void
random_name(char *buf, size_t size)
{
	const char	*piece;
	size_t		 len = 0, n, want = rnd(25);

	while (len < want) {
		if (rnd(4) == 0) {
			buf[len++] = (char)(1 + rnd(255));
			continue;
		}
		piece = pieces[rnd(sizeof pieces / sizeof pieces[0])];
		if ((n = strlen(piece)) > size - 1 - len)
			break;
		memcpy(buf + len, piece, n);
		len += n;
	}
	buf[len] = '\0';
}

/* Check name's key is want, valid UTF-8, and gives name back. */
static void
check(const char *name, const char *want, const char *what)
{
	char	*key = key_from_name(name), *back = name_from_key(key);

	is_str(key, want, "%s: its key", what);
	ok(utf8_valid(key) && strcmp(back, name) == 0,
	    "%s: the key is UTF-8 and gives the name back", what);
	free(back);
	free(key);
}

int
main(void)
{
	struct job_error	 err = { ERROR_NONE, 0, NULL };
	char			 name[40], *key, *back, *again, *shown;
	int			 i, bad_back = 0, bad_again = 0, bad_valid = 0;
	int			 bad_same = 0, escaped = 0, multibyte = 0;

	plan(26);

	check("2024/trip/IMG_0001.JPG", "2024/trip/IMG_0001.JPG",
	    "ASCII is unchanged");
	check("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x93\xb7.jpg",
	    "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x93\xb7.jpg",
	    "valid multibyte UTF-8 is unchanged");
	/* U+EFE9 is EE BF A9. */
	check("caf\xe9.jpg", "caf\xee\xbf\xa9.jpg",
	    "a lone Latin-1 0xe9 is U+EFE9");
	check("x\xe6\x97", "x\xee\xbf\xa6\xee\xbe\x97",
	    "a sequence cut short at the end escapes each byte");
	check("\xc0\xaf.jpg", "\xee\xbf\x80\xee\xbe\xaf.jpg",
	    "an overlong '/' escapes each byte, and makes no '/'");
	check("\xed\xa0\x80", "\xee\xbf\xad\xee\xbe\xa0\xee\xbe\x80",
	    "a surrogate written as bytes escapes each byte");
	check("x\xee\xbe\x80.jpg", "x\xee\xbf\xae\xee\xbe\xbe\xee\xbe\x80.jpg",
	    "a real U+EF80 escapes its three bytes");
	check("\xf4\x90\x80\x80", "\xee\xbf\xb4\xee\xbe\x90\xee\xbe\x80"
	    "\xee\xbe\x80", "a code point over U+10FFFF escapes each byte");
	check("\xee\xbd\xbf\xef\x80\x80", "\xee\xbd\xbf\xef\x80\x80",
	    "U+EF7F and U+F000, either side of the escapes, are unchanged");

	shown = utf8_escape("caf\xe9 \xc3\xa9 \xee\xbf\xa9");
	is_str(shown, "caf\\xe9 \xc3\xa9 \xee\xbf\xa9",
	    "for messages, a byte that is not UTF-8 is written \\xNN");
	free(shown);
	job_error_set(&err, ERROR_IO, 0, "cannot open '%s'", "caf\xe9.jpg");
	is_str(err.msg, "cannot open 'caf\\xe9.jpg'",
	    "a job's error message is always UTF-8");
	job_error_clear(&err);

	back = name_from_key("plain \xee\xbf\xa9 \xc3\xa9");
	is_str(back, "plain \xe9 \xc3\xa9",
	    "a key's U+EF80..U+EFFF become bytes, the rest is copied");
	free(back);

	for (i = 0; i < 200000; i++) {
		random_name(name, sizeof name);
		key = key_from_name(name);
		back = name_from_key(key);
		again = key_from_name(back);
		if (!utf8_valid(key))
			bad_valid++;
		if (strcmp(back, name) != 0)
			bad_back++;
		if (strcmp(again, key) != 0)
			bad_again++;
		if (strcmp(key, name) != 0)
			escaped++;
		else if (strpbrk(name, "\xa5\xa9\xb7") != NULL)
			multibyte++;
		/* Names that are UTF-8 with no escape in them keep their key. */
		if (utf8_valid(name) && strstr(name, "\xee\xbe") == NULL &&
		    strstr(name, "\xee\xbf") == NULL && strcmp(key, name) != 0)
			bad_same++;
		free(again);
		free(back);
		free(key);
	}
	printf("# %d names with bytes escaped, %d with multibyte UTF-8 kept\n",
	    escaped, multibyte);
	ok(escaped > 10000 && multibyte > 1000, "the random names hold both "
	    "bytes to escape and multibyte UTF-8 kept as it is");
	is_int(bad_valid, 0, "200,000 random names: every key is UTF-8");
	is_int(bad_back, 0, "every key gives its name back");
	is_int(bad_again, 0, "the name given back has the same key again");
	is_int(bad_same, 0, "a UTF-8 name without U+EF80..U+EFFF is its own "
	    "key");

	return (done_testing());
}
