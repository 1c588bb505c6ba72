"""The ``hueyd`` command: run, check, reload, status, dead-letter.

Order matters in ``run``: the configuration is read first with nothing but the
standard library and PyYAML loaded, because greenlet workers need gevent's
monkey-patching before redis, anything that uses threads, or the application
is imported. Only then are logging, the application and the master loaded.

Operator mistakes (a bad option, key or value, an unimportable APP) print one
line and exit 78, which the systemd unit keeps from restart-looping; anything
else is a bug: logged with its traceback, exit 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from hueyd.daemon.config import SETTINGS, Config, ConfigError, load_config
from hueyd.exitcodes import EX_CONFIG, EX_OK, EX_SOFTWARE, EX_UNAVAILABLE

#: the settings that are options of run and check (the others are YAML-only)
RUN_OPTIONS = [s for s in SETTINGS.values() if s.flags or s.switches]
DEAD_LETTER_ACTIONS = ("list", "requeue", "purge")
#: how long ``hueyd reload`` waits for the daemon's verdict (systemd stops waiting for
#: ExecReload= after TimeoutStartSec=, 90 s by default)
RELOAD_WAIT = 120.0


class UsageError(Exception):
    """argparse's complaint, as one line (not usage + exit 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def version() -> str:
    import hueyd
    return hueyd.__version__


def build_parser(command: str | None = None) -> Parser:
    """``command``: the one that will run (``argv``'s first word); the setting options,
    ~60 arguments that take argparse a few milliseconds, go only to its parser (every
    parser's when None)."""
    parser = Parser(prog="hueyd", description="A huey-compatible task queue consumer daemon.")
    parser.add_argument("--version", action="version", version=f"hueyd {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the consumer (the daemon)")
    check = commands.add_parser("check", help="validate the configuration and import the "
                                "app, like nginx -t")
    for name, sub in (("run", run), ("check", check)):
        add_app_arguments(sub)
        if command in (None, name):
            add_setting_options(sub)
    check.add_argument("--offline", action="store_true", help="do not try to reach the storage")
    status = commands.add_parser("status", help="show queue, workers and dead letters "
                                 "(APP, or NAME for /etc/hueyd/NAME.yaml)")
    add_app_arguments(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    dead = commands.add_parser("dead-letter", help="inspect or handle dead letters")
    dead.add_argument("action", choices=DEAD_LETTER_ACTIONS)
    add_app_arguments(dead)
    dead.add_argument("--limit", type=int, default=None, help="at most this many")
    migrate = commands.add_parser("migrate", help="move what a stopped huey deployment of "
                                  "the same name holds into the instance's storage (APP, or "
                                  "NAME for /etc/hueyd/NAME.yaml)")
    migrate.add_argument("source", choices=("from-huey",), help="from-huey: a stopped huey "
                         "3.x RedisHuey or PriorityRedisHuey of the app's name")
    add_app_arguments(migrate)
    migrate.add_argument("--dry-run", action="store_true", help="change nothing, print "
                         "what would move")
    migrate.add_argument("--from-url", metavar="URL", help="huey's Redis (default: the "
                         "instance's own)")
    reload = commands.add_parser("reload", help="send SIGHUP to the daemon PID and exit 0 "
                                 "once it accepted the new configuration and code, 78 if it "
                                 "refused them (ExecReload= of hueyd@.service)")
    reload.add_argument("pid", type=int, metavar="PID", help="the daemon's main process")
    reload.add_argument("--timeout", type=float, default=RELOAD_WAIT, metavar="SECONDS",
                        help=f"wait at most this long for the verdict (default: {RELOAD_WAIT:g})")
    return parser


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", nargs="?", metavar="APP", default=argparse.SUPPRESS,
                        help="import path of the app's Huey instance, e.g. blog.main.huey")
    parser.add_argument("--config", metavar="FILE", help="YAML configuration file")


def add_setting_options(parser: argparse.ArgumentParser, skip: Sequence[str] = (),
                        renamed: Mapping[str, str] | None = None) -> None:
    """One option per flag of the setting table (consumer letters and long names);
    ``skip``: settings left out, ``renamed``: flags spelled otherwise (manage.py run_huey,
    where Django owns -v)."""
    def flags(names: Sequence[str]) -> list[str]:
        return [(renamed or {}).get(name, name) for name in names]

    for spec in RUN_OPTIONS:
        if spec.name in skip:
            continue
        if spec.flags:
            default = "" if spec.default in (None, ()) else f" (default: {spec.default})"
            parser.add_argument(*flags(spec.flags), dest=spec.name, default=argparse.SUPPRESS,
                                metavar=spec.metavar or spec.name.upper(),
                                help=f"{spec.help}{default}")
        for switch in spec.switches:
            parser.add_argument(*flags(switch.flags), dest=spec.name, action="store_const",
                                const=switch.value, default=argparse.SUPPRESS,
                                help=switch.help)


def config_from(args: argparse.Namespace) -> Config:
    """The YAML file (if any) with the command-line options laid over it (for status,
    dead-letter and migrate, NAME, an instance, stands for its YAML file); the app's virtualenv, if
    it names one, is active from here on."""
    given = vars(args)
    path = args.config
    if args.command in ("status", "dead-letter", "migrate") and path is None and "app" in given:
        from hueyd.daemon.instances import instance_config
        path = instance_config(given["app"])
        if path is not None:
            del given["app"]
    overrides = {name: given[name] for name in [*SETTINGS, "app"] if name in given}
    config = load_config(path, overrides)
    from hueyd.daemon import virtualenv
    virtualenv.activate(config)  # before redis, gevent or the app are imported
    return config


def say(message: str, warning: bool = False) -> None:
    """One line for the operator on stderr, no password in it (with journald's error
    or warning priority there)."""
    import logging

    from hueyd.daemon import logs
    from hueyd.daemon.redact import redact
    message, level = redact(message), logging.WARNING if warning else logging.ERROR
    print(logs.journal_line(message, level) if logs.stderr_is_journal() else message,
          file=sys.stderr, flush=True)


def fail(error: ConfigError) -> int:
    """Report an operator mistake: stderr, and the log file if one is set up."""
    import logging

    from hueyd.daemon import logs
    if not logs.writes_to_stderr():
        say(str(error))
    if logging.getLogger().handlers:
        logging.getLogger("hueyd").error("%s", str(error).removeprefix("hueyd: "))
    return EX_CONFIG


# -- commands ------------------------------------------------------------------------
def run_command(config: Config, options: list[str]) -> int:
    """``options``: what ``hueyd run`` was given, for the ``hueyd check`` of a reload."""
    if config.worker_type == "greenlet":
        patch_for_gevent()  # before logging handlers, redis or the app exist
    if not config.daemonize:
        return serve(config, options)
    from hueyd.daemon import daemonize
    if not daemonize.already_detached(os.environ):
        daemonize.check(config, os.environ)
        code = daemonize.preflight(lambda: trial(config))
        if code != EX_OK:
            return code
    with daemonize.detached(config):
        return serve(config, options)


def patch_for_gevent() -> None:
    try:
        import gevent.monkey  # noqa: F401
    except ImportError:
        raise ConfigError(None, "worker_type", "greenlet workers need gevent (apt install "
                          "python3-gevent, or pip install 'hueyd[gevent]')") from None
    from hueyd.daemon import gevent_setup
    gevent_setup.patch()


def trial(config: Config) -> None:
    """What a detached daemon would fail on, tried while stderr is still the terminal."""
    from hueyd.daemon.loader import load_app
    try:
        open(config.log_file, "a", encoding="utf-8").close()
    except OSError as exc:
        raise log_file_error(config, exc) from None
    load_app(config)
    check_open_files(config)


def log_file_error(config: Config, exc: OSError) -> ConfigError:
    key = "logging.file" if config.config_path else SETTINGS["log_file"].option
    return ConfigError(config.config_path, key, f"cannot open {config.log_file}: "
                       f"{exc.strerror or exc}")


def serve(config: Config, options: list[str] | None = None) -> int:
    """Run the daemon; on SIGHUP a child checks the new files with ``run``'s ``options``."""
    import logging

    from hueyd.daemon import logs, master
    from hueyd.daemon.loader import load_app
    try:
        logs.setup(config.log_level, config.log_file, config.log_format, config.simple_log)
    except OSError as exc:
        raise log_file_error(config, exc) from None
    from hueyd.daemon.security import security_warnings
    huey = load_app(config)
    check_open_files(config)
    logging.getLogger("hueyd").info("hueyd %s: app %s, %d %s worker(s)%s", version(),
                                    config.app, config.workers, config.worker_type,
                                    f", config {config.config_path}" if config.config_path
                                    else "")
    for warning in security_warnings(config, huey):
        logging.getLogger("hueyd").warning("%s", warning)
    return master.run(config, huey, options)


def check_open_files(config: Config) -> None:
    """Enough open files for the workers (the soft limit raised if the hard one allows)."""
    from hueyd.daemon import limits
    problem = limits.open_files_problem(config.workers, config.worker_type)
    if problem:
        key = "workers" if config.config_path else SETTINGS["workers"].option
        raise ConfigError(config.config_path, key, problem)


def check_command(config: Config, offline: bool = False) -> int:
    """Validate as ``run`` would start: the config, the app, open files, the storage."""
    from hueyd.consumer.banner import storage_warnings
    from hueyd.daemon.loader import check_storage, load_app
    from hueyd.daemon.security import security_warnings
    huey = load_app(config)
    check_open_files(config)
    # the storage first: a refusal is the one line to print, no warnings before it
    unreachable = None if offline else check_storage(config, huey)
    for warning in security_warnings(config, huey):
        say(f"hueyd: warning: {warning}", warning=True)
    if not (offline or unreachable):
        storage_warnings(huey, lambda line: say(f"hueyd: warning: {line}", warning=True))
    if config.metrics_listen:
        from hueyd.daemon.metrics_view import library_problem
        problem = library_problem()
        if problem:
            say(f"hueyd: warning: metrics.listen {config.metrics_listen}: no metrics "
                f"endpoint: {problem}", warning=True)
    if unreachable:
        say(f"hueyd: warning: the storage is not ready now ({unreachable}); run waits up to "
            f"startup_timeout ({config.startup_timeout:g}s) for it", warning=True)
    source = config.config_path or "from the command line"
    plural = "s" if config.workers != 1 else ""
    print(f"hueyd: configuration {source} is valid (app {config.app}, {config.workers} "
          f"{config.worker_type} worker{plural})")
    return EX_OK


def reload_command(args: argparse.Namespace) -> int:
    """ExecReload=: SIGHUP, then the daemon's verdict as the exit status. A refusal's
    reason is the daemon's own error line; said again here only off the journal."""
    from hueyd.daemon import logs, reload_reply
    folder = reload_reply.runtime_folder(os.environ)
    if folder is None:
        say("hueyd: reload: $RUNTIME_DIRECTORY is not set (this is ExecReload= of "
            "hueyd@.service); elsewhere send SIGHUP to the daemon")
        return EX_CONFIG
    try:
        accepted, text = reload_reply.request(args.pid, folder, args.timeout)
    except OSError as exc:
        say(f"hueyd: reload: cannot wait in {folder}: {exc.strerror or exc}")
        return EX_UNAVAILABLE
    if accepted:
        return EX_OK
    if accepted is None:
        say(f"hueyd: reload: {text}")
        return EX_UNAVAILABLE
    if not logs.stderr_is_journal():
        say(f"hueyd: reload refused: {text}")
    return EX_CONFIG


def admin_command(args: argparse.Namespace, config: Config) -> int:
    from hueyd.daemon import admin, logs

    logs.setup("WARNING")
    if args.command == "status":
        return admin.status_command(config, as_json=args.json)
    if args.command == "migrate":
        from hueyd.daemon import migrate
        return migrate.from_huey_command(config, args.dry_run, args.from_url)
    return admin.dead_letter_command(config, args.action, args.limit)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(next((a for a in argv if not a.startswith("-")), None)
                            ).parse_args(argv)
        if args.command is None:
            raise UsageError("a command is required: run, check, reload, status or "
                             "dead-letter (hueyd --help)")
        if args.command == "reload":
            return reload_command(args)
        config = config_from(args)
        if args.command == "run":
            return run_command(config, argv[argv.index("run") + 1:])
        if args.command == "check":
            return check_command(config, args.offline)
        return admin_command(args, config)
    except UsageError as exc:
        say(f"hueyd: {exc}")
        return EX_CONFIG
    except ConfigError as exc:
        return fail(exc)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EX_SOFTWARE
    except KeyboardInterrupt:
        return 130
    except BaseException:  # noqa: B036 - a bug: say so with the traceback, exit 1
        import logging
        if not logging.getLogger().handlers:
            from hueyd.daemon import logs
            logs.setup("INFO")
        logging.getLogger("hueyd").exception("internal error")
        return EX_SOFTWARE
