//! The files of the official `nginx` image that the emulation reads and a
//! learner looks at: the configuration (`/etc/nginx/nginx.conf`,
//! `conf.d/default.conf`, `mime.types`), the welcome and error pages in
//! `/usr/share/nginx/html`, the entrypoint's directory and the log links.

/// The packaged `conf.d/default.conf` (before the entrypoint adds the IPv6
/// listen line).
pub const DEFAULT_CONF: &str = r#"server {
    listen       80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }

    # proxy the PHP scripts to Apache listening on 127.0.0.1:80
    #
    #location ~ \.php$ {
    #    proxy_pass   http://127.0.0.1;
    #}

    # pass the PHP scripts to FastCGI server listening on 127.0.0.1:9000
    #
    #location ~ \.php$ {
    #    root           html;
    #    fastcgi_pass   127.0.0.1:9000;
    #    fastcgi_index  index.php;
    #    fastcgi_param  SCRIPT_FILENAME  /scripts$fastcgi_script_name;
    #    include        fastcgi_params;
    #}

    # deny access to .htaccess files, if Apache's document root
    # concurs with nginx's one
    #
    #location ~ /\.ht {
    #    deny  all;
    #}
}

"#;

pub const NGINX_CONF: &str = r#"
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"#;

/// The common part of nginx's `mime.types`.
pub const MIME_TYPES: &str = r#"
types {
    text/html                                        html htm shtml;
    text/css                                         css;
    text/xml                                         xml;
    image/gif                                        gif;
    image/jpeg                                       jpeg jpg;
    application/javascript                           js;
    application/atom+xml                             atom;
    application/rss+xml                              rss;

    text/mathml                                      mml;
    text/plain                                       txt;
    text/vnd.sun.j2me.app-descriptor                 jad;
    text/vnd.wap.wml                                 wml;
    text/x-component                                 htc;

    image/avif                                       avif;
    image/png                                        png;
    image/svg+xml                                    svg svgz;
    image/tiff                                       tif tiff;
    image/vnd.wap.wbmp                               wbmp;
    image/webp                                       webp;
    image/x-icon                                     ico;
    image/x-jng                                      jng;
    image/x-ms-bmp                                   bmp;

    font/woff                                        woff;
    font/woff2                                       woff2;

    application/java-archive                         jar war ear;
    application/json                                 json;
    application/mac-binhex40                         hqx;
    application/msword                               doc;
    application/pdf                                  pdf;
    application/postscript                           ps eps ai;
    application/rtf                                  rtf;
    application/vnd.apple.mpegurl                    m3u8;
    application/vnd.ms-excel                         xls;
    application/vnd.ms-fontobject                    eot;
    application/vnd.ms-powerpoint                    ppt;
    application/wasm                                 wasm;
    application/x-7z-compressed                      7z;
    application/x-perl                               pl pm;
    application/x-rar-compressed                     rar;
    application/x-sh                                 sh;
    application/x-tcl                                tcl tk;
    application/x-x509-ca-cert                       der pem crt;
    application/xhtml+xml                            xhtml;
    application/xspf+xml                             xspf;
    application/zip                                  zip;

    application/octet-stream                         bin exe dll;
    application/octet-stream                         deb;
    application/octet-stream                         dmg;
    application/octet-stream                         iso img;
    application/octet-stream                         msi msp msm;

    audio/midi                                       mid midi kar;
    audio/mpeg                                       mp3;
    audio/ogg                                        ogg;
    audio/x-m4a                                      m4a;
    audio/x-realaudio                                ra;

    video/3gpp                                       3gpp 3gp;
    video/mp2t                                       ts;
    video/mp4                                        mp4;
    video/mpeg                                       mpeg mpg;
    video/quicktime                                  mov;
    video/webm                                       webm;
    video/x-flv                                      flv;
    video/x-m4v                                      m4v;
    video/x-mng                                      mng;
    video/x-ms-asf                                   asx asf;
    video/x-ms-wmv                                   wmv;
    video/x-msvideo                                  avi;
}
"#;

/// The welcome page (615 bytes).
pub const INDEX_HTML: &str = r#"<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"#;

pub const ERROR_50X_HTML: &str = r#"<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"#;

/// What the entrypoint scripts do here is done by the emulation itself
/// (their messages are in the container's log); the files are there so
/// `ls /docker-entrypoint.d` shows what the image has.
const SCRIPT_NOTE: &str = "#!/bin/sh\n# kubetutor sandbox: this step of the nginx image's entrypoint is emulated;\n# its messages are in the container's log.\n";

/// The entrypoint scripts, in the order the entrypoint runs them.
pub const ENTRYPOINT_SCRIPTS: &[&str] = &[
    "10-listen-on-ipv6-by-default.sh",
    "15-local-resolvers.envsh",
    "20-envsubst-on-templates.sh",
    "30-tune-worker-processes.sh",
];

/// The configuration files (path, text).
pub fn config_files() -> Vec<(&'static str, String)> {
    vec![
        ("/etc/nginx/nginx.conf", NGINX_CONF.to_string()),
        ("/etc/nginx/conf.d/default.conf", DEFAULT_CONF.to_string()),
        ("/etc/nginx/mime.types", MIME_TYPES.to_string()),
    ]
}

/// Every file the image adds to a container's filesystem (path, text).
pub fn image_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = config_files()
        .into_iter()
        .map(|(p, t)| (p.to_string(), t))
        .collect();
    files.push(("/usr/share/nginx/html/index.html".into(), INDEX_HTML.into()));
    files.push((
        "/usr/share/nginx/html/50x.html".into(),
        ERROR_50X_HTML.into(),
    ));
    files.push(("/docker-entrypoint.sh".into(), SCRIPT_NOTE.into()));
    for s in ENTRYPOINT_SCRIPTS {
        files.push((format!("/docker-entrypoint.d/{s}"), SCRIPT_NOTE.into()));
    }
    files
}

/// Directories the image has beyond the common skeleton.
pub const IMAGE_DIRS: &[&str] = &["/var/cache/nginx", "/var/log/nginx"];

#[cfg(test)]
mod tests {
    #[test]
    fn the_welcome_page_is_615_bytes() {
        assert_eq!(super::INDEX_HTML.len(), 615);
    }
}
