#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "media.h"

static bool
media_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 128 || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

/* Writes all of data to fd; short writes are continued. */
static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

enum sj_err
media_write(const char *dir, const char *name, const void *data, size_t len)
{
	static unsigned seq;
	char tmp[4096], dst[4096];
	int fd = -1, dfd = -1;
	enum sj_err e = SJ_EIO;

	if (!media_name_ok(name))
		return SJ_EINVAL;
	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >=
		sizeof(dst) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%ld-%u", dir, name,
			     (long)getpid(),
			     __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED)) >=
		sizeof(tmp))
		return SJ_EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0)
		goto out;
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		goto out;
	/* make the rename itself durable */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	e = SJ_OK;
out:
	if (e != SJ_OK) {
		log_warn("media write %s failed: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	return e;
}

bool
media_exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	if (!media_name_ok(name) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* PUBLIC_BASE_URL without trailing slashes: *len bytes of the result. */
static const char *
media_base(const struct cfg *c, size_t *len)
{
	const char *base = c->public_base_url ? c->public_base_url : "";

	*len = strlen(base);
	while (*len > 0 && base[*len - 1] == '/')
		(*len)--;
	return base;
}

enum sj_err
media_url(const struct cfg *c, const char *name, char *out, size_t outsz)
{
	size_t bl;
	const char *base = media_base(c, &bl);

	if (!media_name_ok(name) ||
	    (size_t)snprintf(out, outsz, "%.*s/media/%s", (int)bl, base,
			     name) >= outsz)
		return SJ_EINVAL;
	return SJ_OK;
}

enum sj_err
media_own_name(const struct cfg *c, const char *url, char *name, size_t namesz)
{
	size_t bl;
	const char *base = media_base(c, &bl);
	const char *rest;

	if (strncmp(url, base, bl) == 0 && strncmp(url + bl, "/media/", 7) == 0)
		rest = url + bl + 7;
	else if (strncmp(url, "/media/", 7) == 0)
		rest = url + 7;
	else
		return SJ_ENOTFOUND;
	if (!media_name_ok(rest) || strlen(rest) >= namesz)
		return SJ_EINVAL;
	memcpy(name, rest, strlen(rest) + 1);
	return SJ_OK;
}

enum sj_err
media_read(const char *dir, const char *name, size_t max, struct buf *out)
{
	char path[4096], chunk[65536];
	enum sj_err e = SJ_OK;
	ssize_t n;
	int fd;

	buf_init(out, max);
	if (!media_name_ok(name) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		sizeof(path))
		return SJ_EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? SJ_ENOTFOUND : SJ_EIO;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_free(out);
			e = SJ_EIO;
			break;
		}
		if ((e = buf_add(out, chunk, (size_t)n)) != SJ_OK)
			break;
	}
	close(fd);
	return e;
}

/* Removes dir/name when it is a stale temporary file: 1 removed, 0 not. */
static int
sweep_one(int dfd, const char *name, time_t cutoff)
{
	struct stat st;

	if (strncmp(name, ".tmp-", 5) != 0)
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
		return 0;
	if (unlinkat(dfd, name, 0) != 0) {
		log_warn("media sweep: %s: %s", name, strerror(errno));
		return 0;
	}
	return 1;
}

enum sj_err
media_sweep_tmp(const char *dir, long max_age_s, long long *removed)
{
	time_t cutoff = time(NULL) - max_age_s;
	struct dirent *de;
	DIR *d;

	*removed = 0;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return SJ_OK;
		log_warn("media sweep: %s: %s", dir, strerror(errno));
		return SJ_EIO;
	}
	while ((de = readdir(d)) != NULL)
		*removed += sweep_one(dirfd(d), de->d_name, cutoff);
	closedir(d);
	return SJ_OK;
}
