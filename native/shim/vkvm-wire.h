/*
 * Message framing of the vkvm wire protocol (vkvm-proto.h), shared by the shim (vkvm-shim.c) and
 * the server helper (vkvm-server.c): send a header + payload with an optional fd (SCM_RIGHTS),
 * receive a header with its fds, receive a payload. Short transfers are resumed, EINTR retried.
 * Each returns 0 (vkvm_recv_hdr: the fd count) or -errno, with errno set too.
 *
 * The includer defines VKVM_WIRE_CLOSE(fd) to close a surplus received fd (the shim must not go
 * through its own close()); the default is close().
 */
#ifndef VKVM_WIRE_H
#define VKVM_WIRE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vkvm-proto.h"

#ifndef VKVM_WIRE_CLOSE
#define VKVM_WIRE_CLOSE(fd) close(fd)
#endif

/* Sends h then payload (plen bytes; may be NULL), with `fd` attached when >= 0. */
static inline int vkvm_send(int s, const struct vkvm_hdr *h, const void *payload, size_t plen, int fd)
{
	struct iovec iov[2] = {{(void *)h, sizeof *h}, {(void *)payload, plen}};
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = plen ? 2 : 1};
	if (fd >= 0) {
		memset(&cm, 0, sizeof cm);
		m.msg_control = cm.b;
		m.msg_controllen = sizeof cm.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	size_t total = sizeof *h + plen;
	while (total) {
		ssize_t n = sendmsg(s, &m, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		total -= (size_t)n;
		/* The fd went with the first bytes. */
		m.msg_control = NULL;
		m.msg_controllen = 0;
		while (n > 0) {
			if ((size_t)n >= m.msg_iov[0].iov_len) {
				n -= (ssize_t)m.msg_iov[0].iov_len;
				m.msg_iov++;
				m.msg_iovlen--;
			} else {
				m.msg_iov[0].iov_base = (char *)m.msg_iov[0].iov_base + n;
				m.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

/*
 * Receives a header into h and the fds that came with it into fds (up to VKVM_MAX_FDS_PER_MSG;
 * more are closed). Returns the fd count; the peer's end is -ECONNRESET.
 */
static inline int vkvm_recv_hdr(int s, struct vkvm_hdr *h, int *fds)
{
	size_t got = 0;
	int nfds = 0;
	while (got < sizeof *h) {
		struct iovec iov = {(char *)h + got, sizeof *h - got};
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(sizeof(int) * VKVM_MAX_FDS_PER_MSG)];
		} cm;
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b};
		ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		if (n == 0) return -(errno = ECONNRESET);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
				if (nfds < VKVM_MAX_FDS_PER_MSG) fds[nfds++] = fd;
				else VKVM_WIRE_CLOSE(fd);
			}
		}
		got += (size_t)n;
	}
	return nfds;
}

/* Receives exactly len bytes into buf; the peer's end is -ECONNRESET. */
static inline int vkvm_recv_all(int s, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(s, (char *)buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		if (n == 0) return -(errno = ECONNRESET);
		got += (size_t)n;
	}
	return 0;
}

#endif
