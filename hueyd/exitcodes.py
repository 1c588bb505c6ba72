"""Exit codes, named in one place (sysexits.h where one fits)."""

EX_OK = 0
#: a task or internal failure that is not the operator's mistake
EX_SOFTWARE = 1
#: storage unreachable at start within ``startup_timeout``
EX_UNAVAILABLE = 69
#: bad YAML, bad option, unimportable app: systemd must not restart-loop on it
EX_CONFIG = 78
