/* Time helpers (see timeutil.h). */
#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_ms(void)
{
	return mono_us() / 1000;
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iso8601_ms(int64_t ms, char out[ISO8601_LEN + 1])
{
	/* Log lines and audit events format the same second over and over: each thread keeps
	 * the last one and writes only the milliseconds. */
	static _Thread_local int64_t last_sec = -1;
	static _Thread_local char last[ISO8601_LEN + 1];
	if (ms >= 0 && ms / 1000 == last_sec) {
		memcpy(out, last, ISO8601_LEN + 1);
		int frac = (int)(ms % 1000);
		out[20] = (char)('0' + frac / 100);
		out[21] = (char)('0' + frac / 10 % 10);
		out[22] = (char)('0' + frac % 10);
		return;
	}
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char buf[64]; /* wide enough for any int fields, so the format cannot truncate */
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	memcpy(out, buf, ISO8601_LEN);
	out[ISO8601_LEN] = '\0';
	if (ms >= 0 && out[19] == '.' && out[23] == 'Z') { /* a four-digit year */
		last_sec = ms / 1000;
		memcpy(last, out, ISO8601_LEN + 1);
	}
}

int date_parse_ms(const char *s, int64_t *ms)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end != '\0')
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

/* n digits at s as a number; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int datetime_parse_ms(const char *s, int64_t *ms)
{
	char day[11];
	if (strlen(s) < 10)
		return -1;
	memcpy(day, s, 10);
	day[10] = '\0';
	int64_t t;
	if (date_parse_ms(day, &t) != 0 || digits(s, 4) < 0 || s[4] != '-' || s[7] != '-')
		return -1;
	const char *p = s + 10;
	if (*p == 'T' || *p == ' ') {
		int h = digits(p + 1, 2), mi = p[3] == ':' ? digits(p + 4, 2) : -1, sec = 0;
		if (h < 0 || h > 23 || mi < 0 || mi > 59)
			return -1;
		p += 6;
		if (*p == ':') {
			if ((sec = digits(p + 1, 2)) < 0 || sec > 60)
				return -1;
			p += 3;
		}
		int64_t frac = 0;
		if (*p == '.') {
			int n = 0;
			for (p++; *p >= '0' && *p <= '9'; p++, n++)
				if (n < 3)
					frac = frac * 10 + (*p - '0');
			if (n == 0)
				return -1;
			for (; n < 3; n++)
				frac *= 10;
		}
		t += ((int64_t)h * 3600 + (int64_t)mi * 60 + sec) * 1000 + frac;
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : digits(p + 3, 2);
			if (oh < 0 || oh > 23 || om < 0 || om > 59)
				return -1;
			int64_t off = ((int64_t)oh * 60 + om) * 60000;
			t += *p == '+' ? -off : off;
			p += p[3] == ':' ? 6 : 5;
		}
	}
	if (*p)
		return -1;
	*ms = t;
	return 0;
}
