/* Unit tests for name, version, file-name and path validation (validate.c). */
#include <string.h>

#include "check.h"
#include "validate.h"

#define OK(x) CHECK((x) == NULL)
#define INVALID(x) CHECK((x) != NULL && strcmp((x), "is invalid") == 0)
#define BADPATH(x) CHECK((x) != NULL && strcmp((x), "should be a valid file path") == 0)

static void names(void)
{
	OK(check_package_name("my_package"));
	OK(check_package_name("A.b-c+d_e"));
	OK(check_package_name("..."));
	INVALID(check_package_name(""));
	INVALID(check_package_name("a b"));
	INVALID(check_package_name("a/b"));
	INVALID(check_package_name("a~b"));
	INVALID(check_package_name("a@b"));
	INVALID(check_package_name("\xc3\xa9"));
	BADPATH(check_package_name("."));
	BADPATH(check_package_name(".."));
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	longname[255] = '\0';
	OK(check_package_name(longname));
	longname[255] = 'a';
	longname[256] = '\0';
	INVALID(check_package_name(longname));
}

static void versions(void)
{
	OK(check_package_version("1.0.0"));
	OK(check_package_version("v1.0-rc.1+build_7"));
	OK(check_package_version("."));
	OK(check_package_version(".1."));
	INVALID(check_package_version(""));
	INVALID(check_package_version("1..0"));
	INVALID(check_package_version(".."));
	INVALID(check_package_version("1.0/2"));
	INVALID(check_package_version("1.0~2"));
	INVALID(check_package_version("1.0 2"));
	INVALID(check_package_version("1@2"));
}

static void file_names(void)
{
	OK(check_file_name("file.txt"));
	OK(check_file_name("a~b@c"));
	OK(check_file_name("myfile@1.1.tar.gz"));
	OK(check_file_name("..hidden"));
	INVALID(check_file_name(""));
	INVALID(check_file_name("~a"));
	INVALID(check_file_name("a~"));
	INVALID(check_file_name("@a"));
	INVALID(check_file_name("a@"));
	INVALID(check_file_name("a/b"));
	INVALID(check_file_name("a b"));
	INVALID(check_file_name("a\nb"));
	BADPATH(check_file_name("."));
	BADPATH(check_file_name(".."));
}

static void paths(void)
{
	OK(check_dir_path("dir"));
	OK(check_dir_path("dir/sub"));
	OK(check_dir_path("a b/c d"));
	OK(check_dir_path("\xc3\xa9t\xc3\xa9"));
	OK(check_dir_path("..x/y.."));
	BADPATH(check_dir_path("/abs"));
	BADPATH(check_dir_path(".."));
	BADPATH(check_dir_path("."));
	BADPATH(check_dir_path("a/../b"));
	BADPATH(check_dir_path("a/.."));
	BADPATH(check_dir_path("../a"));
	BADPATH(check_dir_path("a/./b"));
	BADPATH(check_dir_path("a//b"));
	BADPATH(check_dir_path("a/"));
	BADPATH(check_dir_path("a\\b"));
	BADPATH(check_dir_path("a\nb"));
	BADPATH(check_dir_path("a\x7f"));
	BADPATH(check_dir_path("\xff"));
	BADPATH(check_dir_path("\xc0\xaf"));	   /* overlong '/' */
	BADPATH(check_dir_path("\xed\xa0\x80")); /* surrogate */
	BADPATH(check_dir_path("%2e%2e"));	   /* decodes to .. */
	BADPATH(check_dir_path("a/%2E%2E/b"));
	BADPATH(check_dir_path("%252e"));	   /* double encoding */
	BADPATH(check_dir_path("%2Fetc"));	   /* decodes absolute */
	BADPATH(check_dir_path("a%5cb"));	   /* decodes to a backslash */
	BADPATH(check_dir_path("a%0ab"));	   /* decodes to a newline */
	OK(check_dir_path("a+b"));		   /* '+' decodes to a space: still fine */
}

static void utf8(void)
{
	CHECK(valid_utf8("plain", 5));
	CHECK(valid_utf8("\xf0\x9f\x98\x80", 4));
	CHECK(!valid_utf8("\xf0\x9f\x98", 3));
	CHECK(!valid_utf8("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	CHECK(!valid_utf8("\xe0\x80\xaf", 3));	    /* overlong */
}

int main(void)
{
	names();
	versions();
	file_names();
	paths();
	utf8();
	return check_done("test_validate");
}
