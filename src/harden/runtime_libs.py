"""Which OS packages a build needs and which the built program needs at run time.

A builder stage installs compilers and ``-dev`` packages (headers plus the shared library);
the production stage needs only the shared library those headers stood for. These tables map
one to the other for Debian (apt) and Alpine (apk), and list the packages that are only ever
needed to build.

Debian names are those of Debian 12 (bookworm); releases where a library has another name
override them in ``DEBIAN_RELEASE``. A ``-dev`` package not in the table is not guessed:
the caller keeps it in production and tells the user.
"""

from __future__ import annotations

import re

# packages only needed to build: never installed in production
BUILD_ONLY_APT = {
    "build-essential", "gcc", "g++", "cpp", "make", "cmake", "ninja-build", "autoconf", "automake",
    "libtool", "pkg-config", "pkgconf", "git", "python3-dev", "python-dev", "libc6-dev", "libc-dev",
    "clang", "llvm", "rustc", "cargo", "gfortran", "swig", "bison", "flex", "patch", "dpkg-dev",
    "python3-pip", "python3-venv", "python3-setuptools", "python3-wheel", "linux-headers-amd64",
    "golang", "golang-go", "meson",
}
BUILD_ONLY_APK = {
    "build-base", "alpine-sdk", "gcc", "g++", "musl-dev", "libc-dev", "linux-headers", "make", "cmake",
    "ninja", "autoconf", "automake", "libtool", "pkgconf", "pkgconfig", "git", "python3-dev", "clang",
    "llvm", "rust", "cargo", "gfortran", "swig", "bison", "flex", "patch", "py3-pip", "py3-setuptools",
    "py3-wheel", "go", "meson",
}
_BUILD_ONLY_RE = re.compile(r"^(gcc|g\+\+|cpp|clang|llvm)-[0-9.]+$")

# -dev package -> runtime packages (Debian 12 names)
DEV_TO_RUNTIME_APT: dict[str, tuple[str, ...]] = {
    "libpq-dev": ("libpq5",),
    "default-libmysqlclient-dev": ("libmariadb3",),
    "libmariadb-dev": ("libmariadb3",),
    "libmariadb-dev-compat": ("libmariadb3",),
    "libmariadbclient-dev": ("libmariadb3",),
    "libxml2-dev": ("libxml2",),
    "libxslt1-dev": ("libxslt1.1",),
    "libxslt-dev": ("libxslt1.1",),
    "libjpeg-dev": ("libjpeg62-turbo",),
    "libjpeg62-turbo-dev": ("libjpeg62-turbo",),
    "zlib1g-dev": ("zlib1g",),
    "libffi-dev": ("libffi8",),
    "libssl-dev": ("libssl3",),
    "libyaml-dev": ("libyaml-0-2",),
    "libpng-dev": ("libpng16-16",),
    "libfreetype6-dev": ("libfreetype6",),
    "libfreetype-dev": ("libfreetype6",),
    "libwebp-dev": ("libwebp7", "libwebpdemux2", "libwebpmux3"),
    "libtiff-dev": ("libtiff6",),
    "libtiff5-dev": ("libtiff6",),
    "liblcms2-dev": ("liblcms2-2",),
    "libopenjp2-7-dev": ("libopenjp2-7",),
    "libsqlite3-dev": ("libsqlite3-0",),
    "libcurl4-openssl-dev": ("libcurl4",),
    "libcurl4-gnutls-dev": ("libcurl3-gnutls",),
    "libldap2-dev": ("libldap-2.5-0",),
    "libldap-dev": ("libldap-2.5-0",),
    "libsasl2-dev": ("libsasl2-2",),
    "libmagic-dev": ("libmagic1",),
    "libgeos-dev": ("libgeos-c1v5",),
    "libproj-dev": ("libproj25",),
    "libgdal-dev": ("libgdal32",),
    "libpcre3-dev": ("libpcre3",),
    "libpcre2-dev": ("libpcre2-8-0",),
    "libzmq3-dev": ("libzmq5",),
    "libbz2-dev": ("libbz2-1.0",),
    "liblzma-dev": ("liblzma5",),
    "libreadline-dev": ("libreadline8",),
    "libncurses-dev": ("libncursesw6",),
    "libncurses5-dev": ("libncursesw6",),
    "libncursesw5-dev": ("libncursesw6",),
    "libgmp-dev": ("libgmp10",),
    "libsnappy-dev": ("libsnappy1v5",),
    "libkrb5-dev": ("libkrb5-3", "libgssapi-krb5-2"),
    "unixodbc-dev": ("unixodbc",),
    "libcairo2-dev": ("libcairo2",),
    "libglib2.0-dev": ("libglib2.0-0",),
    "libxmlsec1-dev": ("libxmlsec1", "libxmlsec1-openssl"),
    "libvips-dev": ("libvips42",),
    "libmemcached-dev": ("libmemcached11",),
    "libev-dev": ("libev4",),
    "libuv1-dev": ("libuv1",),
    "libsodium-dev": ("libsodium23",),
    "libgdbm-dev": ("libgdbm6",),
    "libedit-dev": ("libedit2",),
    "libzstd-dev": ("libzstd1",),
    "liblz4-dev": ("liblz4-1",),
    "libexpat1-dev": ("libexpat1",),
    "libcap-dev": ("libcap2",),
    "libsystemd-dev": ("libsystemd0",),
    "libdbus-1-dev": ("libdbus-1-3",),
    "libusb-1.0-0-dev": ("libusb-1.0-0",),
    "libopenblas-dev": ("libopenblas0",),
    "libblas-dev": ("libblas3",),
    "liblapack-dev": ("liblapack3",),
    "libhdf5-dev": ("libhdf5-103-1",),
    "libgpgme-dev": ("libgpgme11",),
    "libargon2-dev": ("libargon2-1",),
    "libonig-dev": ("libonig5",),
    "libzip-dev": ("libzip4",),
    "libicu-dev": ("libicu72",),
    "libgraphviz-dev": ("libgvc6", "libcgraph6"),
    "libsnmp-dev": ("libsnmp40",),
}

# Debian releases whose library names differ from bookworm's
DEBIAN_RELEASE: dict[str, dict[str, tuple[str, ...]]] = {
    "bullseye": {
        "libffi-dev": ("libffi7",), "libssl-dev": ("libssl1.1",), "libtiff-dev": ("libtiff5",),
        "libtiff5-dev": ("libtiff5",), "libldap2-dev": ("libldap-2.4-2",), "libldap-dev": ("libldap-2.4-2",),
        "libwebp-dev": ("libwebp6", "libwebpdemux2", "libwebpmux3"), "libproj-dev": ("libproj19",),
        "libgdal-dev": ("libgdal28",), "libicu-dev": ("libicu67",), "libsnmp-dev": ("libsnmp40",),
    },
    "trixie": {
        "libssl-dev": ("libssl3t64",), "libcurl4-openssl-dev": ("libcurl4t64",),
        "libcurl4-gnutls-dev": ("libcurl3t64-gnutls",), "libldap2-dev": ("libldap2",), "libldap-dev": ("libldap2",),
        "libpng-dev": ("libpng16-16t64",), "libglib2.0-dev": ("libglib2.0-0t64",), "libmagic-dev": ("libmagic1t64",),
        "libmemcached-dev": ("libmemcached11t64",), "libreadline-dev": ("libreadline8t64",),
        "libgdbm-dev": ("libgdbm6t64",), "libuv1-dev": ("libuv1t64",), "libev-dev": ("libev4t64",),
        "libhdf5-dev": ("libhdf5-310",), "libgpgme-dev": ("libgpgme11t64",), "libproj-dev": ("libproj25",),
        "libgdal-dev": ("libgdal36",), "libicu-dev": ("libicu76",), "libzip-dev": ("libzip5",),
        "libvips-dev": ("libvips42t64",), "libsnmp-dev": ("libsnmp40t64",),
    },
}

DEV_TO_RUNTIME_APK: dict[str, tuple[str, ...]] = {
    "postgresql-dev": ("libpq",),
    "libpq-dev": ("libpq",),
    "mariadb-dev": ("mariadb-connector-c",),
    "mariadb-connector-c-dev": ("mariadb-connector-c",),
    "mysql-dev": ("mariadb-connector-c",),
    "libxml2-dev": ("libxml2",),
    "libxslt-dev": ("libxslt",),
    "jpeg-dev": ("libjpeg-turbo",),
    "libjpeg-turbo-dev": ("libjpeg-turbo",),
    "zlib-dev": ("zlib",),
    "libffi-dev": ("libffi",),
    "openssl-dev": ("libssl3", "libcrypto3"),
    "yaml-dev": ("yaml",),
    "libpng-dev": ("libpng",),
    "freetype-dev": ("freetype",),
    "libwebp-dev": ("libwebp",),
    "tiff-dev": ("tiff",),
    "lcms2-dev": ("lcms2",),
    "openjpeg-dev": ("openjpeg",),
    "sqlite-dev": ("sqlite-libs",),
    "curl-dev": ("libcurl",),
    "openldap-dev": ("libldap",),
    "cyrus-sasl-dev": ("libsasl",),
    "file-dev": ("libmagic",),
    "geos-dev": ("geos",),
    "proj-dev": ("proj",),
    "gdal-dev": ("gdal",),
    "pcre-dev": ("pcre",),
    "pcre2-dev": ("pcre2",),
    "zeromq-dev": ("libzmq",),
    "bzip2-dev": ("libbz2",),
    "xz-dev": ("xz-libs",),
    "readline-dev": ("readline",),
    "ncurses-dev": ("ncurses-libs",),
    "gmp-dev": ("gmp",),
    "snappy-dev": ("snappy",),
    "krb5-dev": ("krb5-libs",),
    "unixodbc-dev": ("unixodbc",),
    "cairo-dev": ("cairo",),
    "pango-dev": ("pango",),
    "glib-dev": ("glib",),
    "libsodium-dev": ("libsodium",),
    "libuv-dev": ("libuv",),
    "libev-dev": ("libev",),
    "zstd-dev": ("zstd-libs",),
    "lz4-dev": ("lz4-libs",),
    "expat-dev": ("libexpat",),
    "libcap-dev": ("libcap",),
    "vips-dev": ("vips",),
    "libxmlsec1-dev": ("xmlsec",),
    "xmlsec-dev": ("xmlsec",),
    "libmemcached-dev": ("libmemcached",),
    "icu-dev": ("icu-libs",),
    "libzip-dev": ("libzip",),
    "oniguruma-dev": ("oniguruma",),
}

# Libraries the official python:*-slim / python:*-alpine images already carry (CPython links
# them): no need to install them again.
PYTHON_IMAGE_HAS_APT = {
    "libssl3", "libssl3t64", "libssl1.1", "libffi8", "libffi7", "zlib1g", "libbz2-1.0", "liblzma5",
    "libsqlite3-0", "libreadline8", "libreadline8t64", "libncursesw6", "libexpat1", "libuuid1",
}
PYTHON_IMAGE_HAS_APK = {"libssl3", "libcrypto3", "libffi", "zlib", "libbz2", "xz-libs", "sqlite-libs",
                        "readline", "ncurses-libs", "libexpat"}

# PyPI distributions that have no binary wheel for Linux and link a system library: built in a
# full python:X image against its preinstalled headers, they need these in python:X-slim.
PYPI_SOURCE_BUILT: dict[str, tuple[str, ...]] = {
    "mysqlclient": ("libmariadb3",),
    "psycopg2": ("libpq5",),
    "pyodbc": ("unixodbc",),
}


def is_build_only(pkg: str, family: str) -> bool:
    name = strip_version(pkg)
    table = BUILD_ONLY_APK if family == "apk" else BUILD_ONLY_APT
    return name in table or bool(_BUILD_ONLY_RE.match(name))


def is_dev(pkg: str) -> bool:
    return strip_version(pkg).endswith("-dev")


def strip_version(pkg: str) -> str:
    """``curl=7.88.1-10`` (apt) or ``curl=~8.5`` / ``curl>8`` (apk) -> ``curl``."""
    return re.split(r"[=<>~]", pkg, maxsplit=1)[0]


def runtime_of(pkg: str, family: str, release: str | None = None) -> tuple[str, ...] | None:
    """Runtime packages for a ``-dev`` package, or None when unknown."""
    name = strip_version(pkg)
    if family == "apk":
        return DEV_TO_RUNTIME_APK.get(name)
    if release and name in DEBIAN_RELEASE.get(release, {}):
        return DEBIAN_RELEASE[release][name]
    return DEV_TO_RUNTIME_APT.get(name)
