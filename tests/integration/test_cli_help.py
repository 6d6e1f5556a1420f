"""Help is a contract too: `depot --help`, `depot help [COMMAND]` and `depot COMMAND --help`
print usage on stdout and exit 0; a mistake prints it on stderr and exits 2; every option
`serve` accepts is in its usage."""
import os
import re
import subprocess

import pytest

from conftest import DEPOT, ROOT

COMMANDS = ["serve", "user", "group", "project", "member", "token", "gc", "fsck", "audit",
            "settings", "protection", "cleanup-policy", "cleanup", "push", "pull"]
# the client commands speak to a server: no data directory, no stores
CLIENT_COMMANDS = {"push", "pull"}


def run(*args, env=None):
    return subprocess.run([DEPOT, *args], capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_top_level_help(args):
    r = run(*args)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith("usage: depot COMMAND")
    for cmd in COMMANDS:  # every command has its synopsis there
        assert re.search(rf"^  depot {re.escape(cmd)}( |$)", r.stdout, re.M), (cmd, r.stdout)


# what users type before asking for help: a verb, options
TYPED = {"serve": ["--listen", "nowhere"], "user": ["create"], "group": ["create", "g"],
         "project": ["create"], "member": ["add", "--role", "boss"], "token": ["create", "job"],
         "gc": ["--data", "DIR"], "fsck": ["--repair"], "audit": ["--limit", "5"],
         "settings": ["show"], "protection": ["list"], "cleanup-policy": ["show"],
         "cleanup": ["run", "--dry-run"], "push": ["dist", "-j", "8", "--no-atomic"],
         "pull": ["pkg/@latest", "--json"]}


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("form", ["COMMAND --help", "help COMMAND", "COMMAND -h",
                                  "COMMAND TYPED --help"])
def test_command_help(cmd, form, tmp_path):
    args = []
    for w in form.split():
        args += [cmd] if w == "COMMAND" else TYPED[cmd] if w == "TYPED" else [w]
    args = [str(tmp_path / "x") if a == "DIR" else a for a in args]
    # help never touches a data directory
    env = dict(os.environ, DEPOT_DATA=str(tmp_path / "data"))
    r = run(*args, env=env)
    assert (r.returncode, r.stderr) == (0, ""), args
    assert re.match(rf"usage: depot {re.escape(cmd)}[ \n]", r.stdout), r.stdout
    assert r.stdout.endswith("\n")
    assert ("--data DIR" in r.stdout) == (cmd not in CLIENT_COMMANDS), r.stdout
    assert not os.path.exists(tmp_path / "data") and not os.path.exists(tmp_path / "x")


def test_help_of_unknown_command():
    r = run("help", "frobnicate")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("depot: unknown command 'frobnicate'\n")


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["--frobnicate"], ["frobnicate", "--help"]])
def test_mistakes_print_usage_on_stderr_and_exit_2(args):
    r = run(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert "usage: depot COMMAND" in r.stderr


def test_version():
    r = run("--version")
    assert (r.returncode, r.stderr) == (0, "")
    assert re.fullmatch(r"depot \d+\.\d+\.\d+\n", r.stdout)


def serve_usage_options():
    """The options serve's usage lists, each with its description."""
    out = run("serve", "--help").stdout
    opts = {}
    for line in out.splitlines():
        m = re.match(r"^  (--[a-z-]+)(?: ([A-Z:_]+))?  +(\S.*)$", line)
        if m:
            opts[m.group(1)] = (m.group(2), m.group(3))
    return out, opts


def serve_parser_options():
    """The options serve's parser takes: the names in its option table, read from the
    source (the table is the parser's only input), plus --data and --meta, which every command
    takes."""
    src = open(os.path.join(ROOT, "src", "cli", "cli_serve.c")).read()
    table = re.search(r"serve_options\[[A-Z_]*\] = \{(.*?)\n\};", src, re.S)
    assert table, "serve's option table not found in src/cli/cli_serve.c"
    names = re.findall(r'\.name = "([a-z-]+)"', table.group(1))
    if "CLI_BLOB_OPTIONS" in table.group(1):  # the blob-store options, shared with gc, fsck
        cli_h = open(os.path.join(ROOT, "src", "cli", "cli.h")).read()
        macro = re.search(r"#define CLI_BLOB_OPTIONS(.*?)\n#define", cli_h, re.S)
        names += re.findall(r'\.name = "([a-z-]+)"', macro.group(1))
    assert len(names) >= 15, names
    return {"--" + n for n in names} | {"--data", "--meta"}


def test_serve_usage_lists_every_option_serve_accepts():
    out, usage = serve_usage_options()
    assert set(usage) == serve_parser_options(), out
    for name, (arg, text) in usage.items():
        assert text.strip(), name


def test_serve_parser_accepts_every_listed_option(tmp_path):
    """Each listed option is one the parser knows: with a bad --listen after it, serve
    stops at --listen (or at the option's own value check), never at 'unknown option'."""
    _, usage = serve_usage_options()
    assert len(usage) >= 16, usage
    for name, (arg, _) in usage.items():
        args = [name, str(tmp_path)] if name == "--data" else [name] + (["1"] if arg else [])
        r = run("serve", *args, "--listen", "nowhere", "--data", str(tmp_path))
        assert r.returncode != 0, name
        assert "unknown option" not in r.stderr, r.stderr
        assert "takes no value" not in r.stderr and "needs a value" not in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", sorted(CLIENT_COMMANDS))
def test_client_usage_lists_every_option_it_accepts(cmd, tmp_path):
    """push and pull: each option their usage lists is one their parser takes (a URL that is
    not one stops them after parsing), and the token is never an option."""
    out = run(cmd, "--help").stdout
    names = re.findall(r"^  (--[a-z-]+)(?: ([A-Z]+))?  ", out, re.M)
    assert {"--token-file", "--jobs", "--retries", "--dry-run", "--json"} <= {n for n, _ in names}
    assert not any("token" in n and n != "--token-file" for n, _ in names), out
    assert ("--no-atomic" in out) == (cmd == "push")
    for name, arg in names:
        args = ["dist"] if cmd == "push" else []
        r = run(cmd, *args, "not-a-url", name, *(["1"] if arg else []),
                env=dict(os.environ, CI_API_V4_URL="", CI_PROJECT_ID=""))
        assert r.returncode == 1, (name, r.stderr)
        assert "is not a package URL" in r.stderr, (name, r.stderr)
