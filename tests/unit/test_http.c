/* Unit test for the loopback decision behind the plain-HTTP warning (http_server.c); the
 * integration suites cannot listen on another address. */
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
	return check_done("test_http");
}
