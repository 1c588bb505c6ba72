"""``python -m hueyd`` and the ``hueyd`` command (its console-script entry point).

``hueyd run`` holds SIGHUP and SIGUSR1 before anything else is imported: both kill
by default, and an operator's SIGHUP or logrotate's SIGUSR1 may arrive while the
command line, the configuration and the app are still loading, before the master
has its handlers. Held signals stay pending; the master's ``SignalWakeup.install()``
releases them once it handles them (a SIGHUP while starting only reopens logs).
"""
import signal
import sys

#: held from the first instant of ``hueyd run`` (a subset of wakeup.MASTER_SIGNALS,
#: which install() releases); spelled out here so that nothing else loads first
HELD_AT_START = (signal.SIGHUP, signal.SIGUSR1)


def main() -> int:
    """The command line, with the reload signals held first when it runs the daemon."""
    if sys.argv[1:2] == ["run"]:
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD_AT_START)
    from hueyd.cli import main as cli_main
    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
