/* make bench's floor for a small GET: a bare libmicrohttpd server (epoll, a pool of two
 * threads, depot's 32 KiB connection memory) that answers every GET with the same 1 KiB
 * from memory. Counting its instructions per request under callgrind next to depot's shows
 * what depot's own work per request costs. Usage: mhd_min PORT; runs until SIGTERM. */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int first_call; /* con_cls between the two calls of a GET */

/* Answers on the second call: queued on the first, libmicrohttpd 0.9.75 closes the
 * connection after the reply (no keep-alive). */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *data,
				 size_t *size, void **con_cls)
{
	(void)url, (void)version, (void)data, (void)size;
	if (!*con_cls) {
		*con_cls = &first_call;
		return MHD_YES;
	}
	*con_cls = NULL;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return MHD_NO;
	return MHD_queue_response(c, MHD_HTTP_OK, cls);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mhd_min PORT\n");
		return 2;
	}
	static char body[1024];
	memset(body, 'x', sizeof(body));
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(sizeof(body), body, MHD_RESPMEM_PERSISTENT);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the daemon's threads inherit the mask */
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)strtol(argv[1], NULL, 10), NULL, NULL,
		on_access, resp, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)32 * 1024, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
		4096u, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_min: cannot listen on port %s\n", argv[1]);
		return 1;
	}
	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	return 0;
}
