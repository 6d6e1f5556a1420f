/* Unit tests for the loopback decision behind the plain-HTTP warning (http_server.c; the
 * integration suites cannot listen on another address) and for the Host values accepted
 * as the base of absolute URLs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "http.h"

static bool v4(const char *ip)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return http_addr_is_loopback((struct sockaddr *)&sa);
}

static bool v6(const char *ip)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, ip, &sa.sin6_addr);
	return http_addr_is_loopback((struct sockaddr *)&sa);
}

int main(void)
{
	CHECK(v4("127.0.0.1"));
	CHECK(v4("127.255.0.9"));
	CHECK(!v4("0.0.0.0"));
	CHECK(!v4("10.0.0.1"));
	CHECK(!v4("128.0.0.1"));
	CHECK(v6("::1"));
	CHECK(!v6("::"));
	CHECK(!v6("fe80::1"));

	CHECK(http_host_valid("depot.example.com"));
	CHECK(http_host_valid("depot.example.com:8080"));
	CHECK(http_host_valid("10.0.0.1:1"));
	CHECK(http_host_valid("my_host-1"));
	CHECK(http_host_valid("[::1]"));
	CHECK(http_host_valid("[2001:db8::1]:65535"));
	CHECK(!http_host_valid(""));
	CHECK(!http_host_valid(":80"));
	CHECK(!http_host_valid("a.example:"));
	CHECK(!http_host_valid("a.example:0"));
	CHECK(!http_host_valid("a.example:65536"));
	CHECK(!http_host_valid("a.example:080808"));
	CHECK(!http_host_valid("a.example:80x"));
	CHECK(!http_host_valid("a.example/x"));
	CHECK(!http_host_valid("a.example>; rel=\"x\""));
	CHECK(!http_host_valid("user@a.example"));
	CHECK(!http_host_valid("a example"));
	CHECK(!http_host_valid("h\xc3\xa9.example"));
	CHECK(!http_host_valid("[::1"));
	CHECK(!http_host_valid("[]"));
	CHECK(!http_host_valid("[::1]x"));
	CHECK(!http_host_valid("[v1.x]"));
	char longest[HTTP_HOST_NAME_MAX + 2];
	memset(longest, 'a', sizeof(longest));
	longest[HTTP_HOST_NAME_MAX] = '\0';
	CHECK(http_host_valid(longest));
	longest[HTTP_HOST_NAME_MAX] = 'a';
	longest[HTTP_HOST_NAME_MAX + 1] = '\0';
	CHECK(!http_host_valid(longest));
	return check_done("test_http");
}
