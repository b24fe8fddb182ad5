#include "zones/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int p53_file_map(const char *path, const uint8_t **base, size_t *size, struct p53_err *err)
{
	/* Non-blocking: a FIFO or device given as a path must be refused,
	 * not wait for a writer while its caller holds locks. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return p53_err_set(err, P53_EIO, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(fd);
		return p53_err_set(err, P53_EINVAL, "%s: not a regular file", path);
	}
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return p53_err_set(err, P53_ECORRUPT, "%s: empty or unreadable", path);
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED)
		return p53_err_set(err, P53_EIO, "%s: mmap: %s", path, strerror(e));
	*base = m;
	*size = (size_t)st.st_size;
	return 0;
}

void p53_file_unmap(const uint8_t *base, size_t size)
{
	if (base)
		munmap((void *)base, size);
}

int p53_file_write_atomic(const char *path, const void *data, size_t len, const void *tail,
			  size_t tail_len, struct p53_err *err)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return p53_err_set(err, P53_EINVAL, "%s: path too long", path);
	FILE *f = fopen(tmp, "wb");
	if (f == NULL)
		return p53_err_set(err, P53_EIO, "%s: %s", tmp, strerror(errno));
	bool ok = fwrite(data, 1, len, f) == len;
	if (tail)
		ok = fwrite(tail, 1, tail_len, f) == tail_len && ok;
	ok = (fflush(f) == 0) && ok;
	ok = (fsync(fileno(f)) == 0) && ok;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return p53_err_set(err, P53_EIO, "%s: %s", path, strerror(e));
	}
	return 0;
}
