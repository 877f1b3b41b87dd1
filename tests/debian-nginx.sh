# shellcheck shell=bash
# tests/debian-nginx.sh: sourced by tests/install.sh and
# tests/install-run.sh, which run the installed site in an nginx.conf
# shaped as Debian's.
#
# debian_nginx_conf CONF PREFIX [USER]: writes CONF (the nginx.conf of an
# installed nginx folder, next to its conf.d/ and sites-enabled/) as
# Debian's is, http { include conf.d/*.conf; include sites-enabled/*; },
# the relative includes resolving beside CONF.  What Debian keeps in
# /run and /var goes under PREFIX: PREFIX/nginx.pid, PREFIX/log/error.log
# and access.log, the temporary folders.  USER: the workers' user (nginx
# started as root), as Debian's "user www-data;".
debian_nginx_conf() {
	local conf=$1 prefix=$2 user=${3:-}
	install -d -m 755 "$prefix/log"
	{
		[ -z "$user" ] || printf 'user %s;\n' "$user"
		cat <<EOF
pid $prefix/nginx.pid;
error_log $prefix/log/error.log;
events { }
http {
	include /etc/nginx/mime.types;
	client_body_temp_path $prefix/client_body_temp;
	proxy_temp_path $prefix/proxy_temp;
	fastcgi_temp_path $prefix/fastcgi_temp;
	uwsgi_temp_path $prefix/uwsgi_temp;
	scgi_temp_path $prefix/scgi_temp;
	access_log $prefix/log/access.log;
	include conf.d/*.conf;
	include sites-enabled/*;
}
EOF
	} >"$conf"
}
