/*
 * Memslot memory shared with the server in place (VKVM_OP_CB_SHARE): the file a shared mapping
 * maps, or private memory moved onto the address-space memfd at the same address; the program's
 * own anonymous mappings, where that memory is looked up; and forgetting it when the program
 * unmaps or maps over it.
 */
#include "vkvm-shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>


static struct region *regions;
int nregions;
static int capregions;
int asfd = -1;

static struct anon *anons;
int nanons;
static int capanons;
pthread_mutex_t anon_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the program's own anonymous mappings ---- */

void anon_add(uint64_t addr, uint64_t len, int prot)
{
	if (nanons == capanons) {
		int c = capanons ? 2 * capanons : 64;
		struct anon *a = realloc(anons, (size_t)c * sizeof *a);
		if (!a) return;
		anons = a;
		capanons = c;
	}
	anons[nanons++] = (struct anon){addr, len, prot};
}

/* [addr, addr+len) is no longer what the table says: cut it out (records outside stay). */
void anon_cut(uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;
	for (int i = 0; i < nanons;) {
		struct anon a = anons[i];
		if (!(a.addr < end && addr < a.addr + a.len)) {
			i++;
			continue;
		}
		anons[i] = anons[--nanons];
		if (a.addr < addr) anon_add(a.addr, addr - a.addr, a.prot);
		if (end < a.addr + a.len) anon_add(end, a.addr + a.len - end, a.prot);
	}
}

/* The record holding `addr`, or NULL. */
struct anon *anon_at(uint64_t addr)
{
	for (int i = 0; i < nanons; i++)
		if (anons[i].addr <= addr && addr < anons[i].addr + anons[i].len) return &anons[i];
	return NULL;
}

/*
 * The program's own private anonymous memory around [addr, addr+len), from the table: fills `v`
 * (as vmas_in would, in address order) with the contiguous records from the one holding `addr`
 * through the one holding addr+len-1 and their neighbours. Returns the count, 0 if the table does
 * not cover the range.
 */
struct vma;
static int anon_vmas(uint64_t addr, uint64_t len, struct vma *v, int max);

/* ---- sharing memslot memory (VKVM_OP_CB_SHARE) ---- */

struct vma {
	uint64_t start, end, off, dev, ino;
	char perms[5];
	int special; /* [heap], [stack], [vdso]...: never moved beyond the range asked */
};

static int anon_vmas(uint64_t addr, uint64_t len, struct vma *v, int max)
{
	int n = 0;
	pthread_mutex_lock(&anon_lock);
	/* Extend down and up through touching records, so the whole mapping moves at once. */
	uint64_t lo = addr, hi = addr + len;
	for (struct anon *a; (a = anon_at(lo - 1)) && lo > 0;) lo = a->addr;
	for (struct anon *a; (a = anon_at(hi));) hi = a->addr + a->len;
	for (uint64_t at = lo; at < hi;) {
		struct anon *a = anon_at(at);
		if (!a || n == max) {
			n = 0; /* a hole, or too many pieces: not covered */
			break;
		}
		uint64_t e = a->addr + a->len;
		v[n] = (struct vma){at, e, 0, 0, 0, {a->prot & PROT_READ ? 'r' : '-', a->prot & PROT_WRITE ? 'w' : '-', a->prot & PROT_EXEC ? 'x' : '-', 'p', 0}, 0};
		n++;
		at = e;
	}
	pthread_mutex_unlock(&anon_lock);
	/* Still mapped? (The table does not see libc's own munmap calls.) */
	if (n && !mapped(lo, hi - lo)) n = 0;
	return n;
}

/* The mappings of /proc/self/maps that intersect [lo, hi). Returns the count, or -errno. */
static int vmas_in(uint64_t lo, uint64_t hi, struct vma *out, int max)
{
	int fd = real_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -errno;
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap + 1);
	if (!b) {
		real_close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			char *nb = realloc(b, 2 * cap + 1);
			if (!nb) {
				free(b);
				real_close(fd);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t n = real_read(fd, b + len, cap - len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		len += (size_t)n;
	}
	real_close(fd);
	b[len] = 0;
	int k = 0;
	for (char *line = b; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl) *nl = 0;
		unsigned long long s, e, off, ino;
		unsigned maj, min;
		char perms[5];
		int at = 0;
		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino, &at) == 7 && e > lo && s < hi) {
			if (k == max) {
				k = -E2BIG;
				break;
			}
			out[k] = (struct vma){s, e, off, makedev(maj, min), ino, {0}, line[at] == '['};
			memcpy(out[k].perms, perms, 5);
			k++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(b);
	return k;
}

/* A new reference (high, close-on-exec) to an fd of this process open on (dev, ino). */
static int fd_of_file(uint64_t dev, uint64_t ino)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) return -1;
	int found = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		struct stat st;
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
		if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
			found = real_fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
			break;
		}
	}
	closedir(d);
	return found;
}

static int prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
}

static struct region *add_region(struct region r)
{
	/* A region that continues another (same file, contiguous offsets) joins it. */
	for (int i = 0; i < nregions; i++) {
		struct region *o = &regions[i];
		if (o->dev != r.dev || o->ino != r.ino || o->off - o->addr != r.off - r.addr) continue;
		if (o->addr + o->len == r.addr || r.addr + r.len == o->addr) {
			if (r.addr < o->addr) o->off = r.off, o->addr = r.addr;
			o->len += r.len;
			real_close(r.fd);
			/* It may now touch a third one. */
			struct region m = *o;
			regions[i] = regions[--nregions];
			return add_region(m);
		}
	}
	if (nregions == capregions) {
		capregions = capregions ? 2 * capregions : 16;
		regions = realloc(regions, (size_t)capregions * sizeof *regions);
		if (!regions) die("out of memory");
	}
	regions[nregions] = r;
	return &regions[nregions++];
}

/* Copies the resident pages of [addr, addr+len) to `dst` (pages never touched are zero anyway). */
static void copy_resident(uint8_t *dst, uint64_t addr, uint64_t len)
{
	unsigned char vec[256];
	for (uint64_t p = addr; p < addr + len;) {
		uint64_t chunk = addr + len - p < 256 * PAGE ? addr + len - p : 256 * PAGE;
		if (mincore((void *)p, chunk, vec) < 0) memset(vec, 1, sizeof vec);
		for (uint64_t i = 0; i < chunk / PAGE; i++)
			if (vec[i] & 1) memcpy(dst + (p - addr) + i * PAGE, (void *)(p + i * PAGE), PAGE);
		p += chunk;
	}
}

/*
 * The file private memory moves onto: one memfd per process standing for its whole address space
 * (the page at address A lives at offset A), so memory moved in pieces is one file at contiguous
 * offsets: the kernel merges the mappings and the server maps it as one range.
 */
#define AS_FILE_SIZE (1ull << 48)

static int as_file(void)
{
	if (asfd >= 0) return asfd;
	int fd = (int)syscall(SYS_memfd_create, "vkvm-guest-memory", MFD_CLOEXEC);
	if (fd < 0) return -errno;
	fd = high_fd(fd);
	if (ftruncate(fd, (off_t)AS_FILE_SIZE) < 0) {
		int e = errno;
		real_close(fd);
		return -e;
	}
	asfd = fd;
	return fd;
}

/*
 * Makes [addr, addr+len) shared memory: finds the file a shared mapping there maps, or moves
 * private memory onto the address-space memfd in place (the whole mapping it belongs to, so later
 * memslots in the same mapping find it shared already). Returns the region holding the range.
 * Lock held.
 */
struct region *share(uint64_t addr, uint64_t len, int *err)
{
	*err = 0;
	if (!len || (addr | len) & (PAGE - 1) || addr + len < addr) {
		*err = -EINVAL;
		return NULL;
	}
	for (int i = 0; i < nregions; i++)
		if (regions[i].addr <= addr && addr + len <= regions[i].addr + regions[i].len) return &regions[i];

	struct vma v[256];
	int n = anon_vmas(addr, len, v, 256);
	if (!n) n = vmas_in(addr, addr + len, v, 256);
	if (n < 0) {
		*err = n;
		return NULL;
	}
	*err = -EFAULT; /* a hole in the range */
	if (n == 0 || v[0].start > addr || v[n - 1].end < addr + len) return NULL;
	for (int i = 1; i < n; i++)
		if (v[i].start != v[i - 1].end) return NULL;
	*err = 0;

	/* Already a shared mapping of one file at contiguous offsets: share that file. */
	int shared = 1;
	for (int i = 0; i < n; i++)
		if (v[i].perms[3] != 's' || !v[i].ino || v[i].dev != v[0].dev || v[i].ino != v[0].ino || v[i].off - v[0].off != v[i].start - v[0].start) shared = 0;
	if (shared) {
		struct stat st;
		int fd = -1;
		if (asfd >= 0 && fstat(asfd, &st) == 0 && st.st_dev == v[0].dev && st.st_ino == v[0].ino)
			fd = real_fcntl(asfd, F_DUPFD_CLOEXEC, HIGH_FD); /* ours, mapped by an earlier move */
		else
			fd = fd_of_file(v[0].dev, v[0].ino);
		if (fd < 0) {
			*err = -ENOENT;
			return NULL;
		}
		return add_region((struct region){v[0].start, v[n - 1].end - v[0].start, v[0].off, fd, v[0].dev, v[0].ino});
	}
	for (int i = 0; i < n; i++)
		if (v[i].perms[3] == 's' || v[i].perms[0] != 'r') {
			*err = -EINVAL;
			return NULL;
		}

	/* Private memory: the whole mapping (or just the range, for [heap]/[stack]) moves. */
	uint64_t lo = v[0].start, hi = v[n - 1].end;
	for (int i = 0; i < n; i++)
		if (v[i].special) lo = addr, hi = addr + len;
	if (hi > AS_FILE_SIZE) {
		*err = -EFAULT;
		return NULL;
	}
	uint64_t size = hi - lo;
	int fd = as_file();
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	/* Pages left in the file by memory that used to live at these addresses are not ours. */
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)size);
	uint8_t *tmp = real_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)lo);
	if (tmp == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	copy_resident(tmp, lo, size);
	real_munmap(tmp, size);
	if (real_mmap((void *)lo, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, (off_t)lo) == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		uint64_t s = v[i].start < lo ? lo : v[i].start, e = v[i].end > hi ? hi : v[i].end;
		int prot = prot_of(v[i].perms);
		if (prot != (PROT_READ | PROT_WRITE)) real_mprotect((void *)s, e - s, prot);
	}
	pthread_mutex_lock(&anon_lock);
	anon_cut(lo, size);
	pthread_mutex_unlock(&anon_lock);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		*err = -errno;
		return NULL;
	}
	int ref = real_fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	return add_region((struct region){lo, size, lo, ref < 0 ? fd : ref, st.st_dev, st.st_ino});
}

/*
 * The program unmapped (or mapped over) [addr, addr+len): regions there shrink or split (they
 * keep their file), moved memory there leaves the file, and the server drops the range.
 */
void forget_shared(uint64_t addr, uint64_t len)
{
	int hit = 0;
	uint64_t end = addr + len;
	pthread_mutex_lock(&lock);
	struct stat st;
	int as_ok = asfd >= 0 && fstat(asfd, &st) == 0;
	for (int i = 0; i < nregions;) {
		struct region r = regions[i];
		if (!(r.addr < end && addr < r.addr + r.len)) {
			i++;
			continue;
		}
		hit = 1;
		regions[i] = regions[--nregions];
		uint64_t lo = r.addr < addr ? addr : r.addr, hi = r.addr + r.len > end ? end : r.addr + r.len;
		if (as_ok && r.dev == st.st_dev && r.ino == st.st_ino) fallocate(asfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(r.off + (lo - r.addr)), (off_t)(hi - lo));
		int keep = 0;
		if (r.addr < addr) {
			add_region((struct region){r.addr, addr - r.addr, r.off, r.fd, r.dev, r.ino});
			keep = 1;
		}
		if (r.addr + r.len > end) {
			int fd = keep ? real_fcntl(r.fd, F_DUPFD_CLOEXEC, HIGH_FD) : r.fd;
			add_region((struct region){end, r.addr + r.len - end, r.off + (end - r.addr), fd, r.dev, r.ino});
			keep = 1;
		}
		if (!keep) real_close(r.fd);
	}
	pthread_mutex_unlock(&lock);
	if (!hit || proc_pid != getpid()) return;
	struct vkvm_hdr h = {.op = VKVM_OP_UNMAP, .a = {addr, len}};
	uint32_t fl;
	call(&h, NULL, -1, &fl, 0);
}

int overlaps_shared(uint64_t addr, uint64_t len)
{
	int hit = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nregions && !hit; i++)
		if (regions[i].addr < addr + len && addr < regions[i].addr + regions[i].len) hit = 1;
	pthread_mutex_unlock(&lock);
	return hit;
}
